#ifndef EXOREC_CSNDFILE_SHIM_H
#define EXOREC_CSNDFILE_SHIM_H
#include <sndfile.h>
#endif
