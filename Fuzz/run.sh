#!/usr/bin/env bash
# Runs the libFuzzer targets built in .build-fuzz (docs/FUZZING.md) and prints a summary:
# executions, coverage (cov = edges, ft = features) and findings per target.
#
#   Fuzz/run.sh SECONDS_PER_TARGET [TARGET...]
#
# Each target starts from its seed corpus (Fuzz/Corpus/<target>, read-only) plus its working
# corpus (.build-fuzz/corpus/<target>, kept between runs, never committed). A crash, a timeout or
# an out-of-memory input is written to .build-fuzz/findings/<target>/ and ends that target's run;
# the exit status is 1 if any target had a finding.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:?seconds per target}
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(FuzzStreamMessage FuzzStreamEvents FuzzCallback FuzzCampaignFile FuzzByteRange FuzzWavHeaderRepair FuzzConfig FuzzConsoleInput FuzzS3Response)
bin=.build-fuzz/debug
status=0
summary=()
# Swift's runtime keeps metadata caches for the process's life: leak reports would be noise.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1}
# A Swift trap is reported by libFuzzer's handler; the runtime's own backtracer trips ASan.
export SWIFT_BACKTRACE=enable=no
for target in "${targets[@]}"; do
    [ -x "$bin/$target" ] || { echo "missing $bin/$target: build with 'make fuzz-build'" >&2; exit 2; }
    corpus=.build-fuzz/corpus/$target
    findings=.build-fuzz/findings/$target
    log=.build-fuzz/logs/$target.log
    mkdir -p "$corpus" "$findings" .build-fuzz/logs
    before=$(ls "$findings" | wc -l)
    echo "== $target: ${seconds}s"
    "$bin/$target" "$corpus" "Fuzz/Corpus/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -max_len=16384 -artifact_prefix="$findings/" -print_final_stats=1 >"$log" 2>&1
    rc=$?
    execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | awk '{print $2}')
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' <<<"$last" | awk '{print $2}')
    ft=$(grep -o 'ft: [0-9]*' <<<"$last" | awk '{print $2}')
    corp=$(ls "$corpus" | wc -l)
    new=$(( $(ls "$findings" | wc -l) - before ))
    line=$(printf '%-20s execs %-10s cov %-6s ft %-7s corpus %-6s findings %s' "$target" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$corp" "$new")
    if [ "$rc" -ne 0 ] || [ "$new" -gt 0 ]; then
        status=1
        line="$line  FAILED (exit $rc)"
        for f in $(ls -t "$findings" | head -"$(( new > 0 ? new : 1 ))"); do line="$line
    crashing input: $findings/$f"; done
        grep -E 'ERROR: |Fatal error|failed: |SUMMARY: ' "$log" | head -5
        echo "   full log: $log"
    fi
    echo "$line"
    summary+=("$line")
done
echo
echo "== fuzz summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
# The plain closing line CI readers look for: a target with a finding (or a failed run) has failed.
failed=$(printf '%s\n' "${summary[@]}" | grep -c 'FAILED' || true)
echo "fuzz: $(( ${#summary[@]} - failed )) passed, $failed failed"
exit $status
