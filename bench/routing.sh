#!/usr/bin/env bash
# Routing's own cost: the same load through an alias with 1 deployment and one with 10
# (lowest-latency strategy: filters, health reads, power of two choices, ordering), all to the
# same fake upstream. Gateway on core 0, upstream and oha on core 1. Manual; see bench/README.md.
#
#   cargo build --release && bench/routing.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DURATION="${DURATION:-10s}"
CONNS="${CONNS:-50}"
OHA="$ROOT/bench/.tools/bin/oha"; [[ -x "$OHA" ]] || OHA="$(command -v oha)"
UPSTREAM_BIN="$ROOT/bench/target/release/fake-upstream"
GATEWAY_BIN="${SWITCHYARD_BIN:-$ROOT/target/release/switchyard}"
WORK="$(mktemp -d /tmp/switchyard-routing-XXXXXX)"
[[ -x "$UPSTREAM_BIN" ]] || CARGO_TARGET_DIR="$ROOT/bench/target" cargo build --release --manifest-path bench/upstream/Cargo.toml

{
    echo 'listen = "127.0.0.1:9103"'
    echo 'master_key_env = "SWITCHYARD_BENCH_KEY"'
    for i in $(seq 1 10); do
        printf '[providers.up%d]\nkind = "openai_compatible"\nbase_url = "http://127.0.0.1:9101/v1"\n' "$i"
    done
    printf '[models.one]\nstrategy = "latency"\ndeployments = [{ provider = "up1", model = "gpt-4o-mini" }]\n'
    printf '[models.ten]\nstrategy = "latency"\ndeployments = ['
    for i in $(seq 1 10); do printf '{ provider = "up%d", model = "gpt-4o-mini" },' "$i"; done
    printf ']\n'
} > "$WORK/switchyard.toml"

pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
taskset -c 1 "$UPSTREAM_BIN" --port 9101 >/dev/null 2>&1 & pids+=($!)
SWITCHYARD_BENCH_KEY=sk-bench-0001 SWITCHYARD_LOG=warn SWITCHYARD_DATABASE_URL="sqlite://$WORK/ledger.db" taskset -c 0 "$GATEWAY_BIN" serve --config "$WORK/switchyard.toml" \
    >"$WORK/gateway.log" 2>&1 & pids+=($!)
for _ in $(seq 1 100); do curl -fsS -o /dev/null http://127.0.0.1:9103/health 2>/dev/null && break; sleep 0.1; done

load() { # model
    sed "s/\"gpt-4o-mini\"/\"$1\"/" bench/request.json > "$WORK/body-$1.json"
    taskset -c 1 "$OHA" -z "$DURATION" -c "$CONNS" --no-tui --output-format json -m POST \
        -H "Authorization: Bearer sk-bench-0001" -H "content-type: application/json" -D "$WORK/body-$1.json" \
        http://127.0.0.1:9103/v1/chat/completions > "$WORK/$1.json"
    python3 - "$1" "$WORK/$1.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[2]))
s, p = r["summary"], r["latencyPercentiles"]
print(f"  {sys.argv[1]:<5} deployments  {s['requestsPerSec']:10.0f} rps   p50 {p['p50']*1000:6.2f} ms   p99 {p['p99']*1000:6.2f} ms   ok {s['successRate']*100:5.1f}%")
PY
}
echo "routing cost: $CONNS connections for $DURATION each (lowest-latency strategy)"
load one >/dev/null  # warm-up
load one
load ten
