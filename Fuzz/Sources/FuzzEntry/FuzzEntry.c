// The entry point of every fuzz target.
//
// SwiftPM builds an executable target's entry point under the name `<Target>_main` and links with
// `--defsym main=<Target>_main` (so that tests can link executables); the targets are compiled
// with `-parse-as-library`, so nothing defines that name, and libFuzzer's own `main` is never
// used. Each `<Target>_main` here hands the command line to libFuzzer's driver with the target's
// `LLVMFuzzerTestOneInput`. (Where SwiftPM does not rename, libFuzzer's `main` is linked instead
// and these are unused.)
#include <stddef.h>
#include <stdint.h>

extern int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
extern int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *, size_t));

static int run(int argc, char **argv) { return LLVMFuzzerRunDriver(&argc, &argv, LLVMFuzzerTestOneInput); }

int FuzzStreamMessage_main(int argc, char **argv) { return run(argc, argv); }
int FuzzStreamEvents_main(int argc, char **argv) { return run(argc, argv); }
int FuzzCallback_main(int argc, char **argv) { return run(argc, argv); }
int FuzzCampaignFile_main(int argc, char **argv) { return run(argc, argv); }
int FuzzByteRange_main(int argc, char **argv) { return run(argc, argv); }
int FuzzWavHeaderRepair_main(int argc, char **argv) { return run(argc, argv); }
int FuzzConfig_main(int argc, char **argv) { return run(argc, argv); }
int FuzzConsoleInput_main(int argc, char **argv) { return run(argc, argv); }
int FuzzS3Response_main(int argc, char **argv) { return run(argc, argv); }
