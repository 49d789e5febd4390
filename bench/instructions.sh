#!/usr/bin/env bash
# Instructions per request of the governed gateway, counted by valgrind's callgrind: the same
# binary, requests and settings give the same count whatever else the machine is doing, so
# two builds compare on a busy machine where CPU time does not. User-space instructions only
# (system calls are counted by `strace -c`, not here). Never run in CI. See bench/README.md.
#
#   bench/instructions.sh                       # target/release/switchyard, 2,000 requests
#   SWITCHYARD_BIN=/tmp/old N=5000 bench/instructions.sh
#
# Needs valgrind, oha (bench/.tools/bin) and the fake upstream (bench/target/release).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BIN="${SWITCHYARD_BIN:-target/release/switchyard}"
N="${N:-2000}"                 # requests counted, after 500 uncounted
CONNS="${CONNS:-10}"
OHA="$ROOT/bench/.tools/bin/oha"
UPSTREAM="$ROOT/bench/target/release/fake-upstream"
for tool in valgrind callgrind_control; do
    command -v "$tool" >/dev/null || { echo "instructions.sh: $tool not found (apt-get install -y valgrind)" >&2; exit 1; }
done
[[ -x "$OHA" && -x "$UPSTREAM" && -x "$BIN" ]] || { echo "instructions.sh: build oha, the fake upstream and the gateway first (bench/README.md)" >&2; exit 1; }

WORK="$(mktemp -d /tmp/switchyard-instructions.XXXXXX)"
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

"$UPSTREAM" --port 9101 >"$WORK/upstream.log" 2>&1 &
PIDS+=($!)
# The governed target's config, as run.sh has it (listening on 127.0.0.1:9104).
sed -n "/^read -r -d '' GOVERNED_CONFIG <<'TOML'/,/^TOML\$/p" bench/run.sh | sed '1d;$d' >"$WORK/governed.toml"
grep -q '^listen = "127.0.0.1:9104"' "$WORK/governed.toml" || { echo "instructions.sh: no governed config in bench/run.sh" >&2; exit 1; }
key="$("$BIN" keys create --name bench --rpm 100000000 --tpm 100000000000 --budget-usd 1000000 \
    --database-url "sqlite://$WORK/ledger.db" 2>/dev/null | cut -f2)"
SWITCHYARD_BENCH_KEY=sk-bench-0001 SWITCHYARD_LOG=info SWITCHYARD_DATABASE_URL="sqlite://$WORK/ledger.db" \
    valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.%p" \
    "$BIN" serve --config "$WORK/governed.toml" >"$WORK/gateway.log" 2>&1 &
GATEWAY=$!
PIDS+=("$GATEWAY")
for _ in $(seq 300); do curl -sf http://127.0.0.1:9104/health >/dev/null && break; sleep 0.2; done

load() {
    "$OHA" --no-tui -m POST -D bench/request.json -H "Content-Type: application/json" \
        -H "Authorization: Bearer $key" -n "$1" -c "$CONNS" http://127.0.0.1:9104/v1/chat/completions
}
load 500 >/dev/null
sleep 1
callgrind_control -z "$GATEWAY" >/dev/null
load "$N" | grep -E "Success rate|\[200\]"
sleep 1
callgrind_control -d "$GATEWAY" >/dev/null
sleep 1
dump="$(ls -t "$WORK"/callgrind.*.1 | head -1)"
total="$(awk '/^(summary|totals):/ {print $2}' "$dump" | tail -1)"
echo "instructions per request: $((total / N)) (callgrind_annotate --inclusive=yes $dump)"
