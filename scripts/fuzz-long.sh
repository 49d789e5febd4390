#!/usr/bin/env bash
# A long fuzzing run of the dialect crate's no-panic properties (crates/dialect/tests/no_panic.rs):
# a release build, many cases per property, and a cap on the test process's memory so that an
# unbounded allocation aborts instead of swapping. Prints each property's case count and a total.
#
#   scripts/fuzz-long.sh                         # 200000 cases per property
#   PROPTEST_CASES=20000 scripts/fuzz-long.sh    # fewer
#   FUZZ_MEMORY_KB=4194304 FUZZ_THREADS=2        # the defaults for the cap and test threads
#
# Builds into $CARGO_TARGET_DIR when set. A failing case is shrunk, printed, and saved by
# proptest to crates/dialect/tests/no_panic.proptest-regressions, which every later run
# replays first.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cases="${PROPTEST_CASES:-200000}"
memory_kb="${FUZZ_MEMORY_KB:-4194304}"
threads="${FUZZ_THREADS:-2}"

cd "$root"
bin="$(cargo test -p dialect --release --test no_panic --no-run --message-format=json 2>/dev/null \
    | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)"
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
    echo "fuzz-long: could not build the no_panic test binary" >&2
    exit 2
fi

log="$(mktemp "${TMPDIR:-/tmp}/fuzz-long.XXXXXX")"
echo "fuzz-long: $cases cases per property, memory cap ${memory_kb} KiB, $threads threads; log in $log"
start="$(date +%s)"
set +e
(
    cd "$root/crates/dialect"
    ulimit -v "$memory_kb"
    PROPTEST_CASES="$cases" "$bin" --nocapture --test-threads="$threads"
) 2>&1 | tee "$log"
status="${PIPESTATUS[0]}"
set -e
elapsed="$(( $(date +%s) - start ))"

# The test harness's own output can share a line with a `fuzz:` line, so match anywhere.
total="$(sed -n 's/.*fuzz: [a-z_]*: \([0-9]*\) cases.*/\1/p' "$log" | awk '{ s += $1 } END { print s + 0 }')"
inputs="$(sed -n 's/.*inputs decoded so far: \([0-9]*\).*/\1/p' "$log" | sort -n | tail -n 1)"
echo "fuzz-long: $total property cases (${inputs:-0} inputs through the decoders) in ${elapsed}s, exit status $status"
exit "$status"
