#!/usr/bin/env bash
# The response cache's gain and cost, at a fixed request rate: the fake upstream called directly,
# the gateway without a cache, the gateway answering every request from the exact cache, and the
# two halves of a miss — a lookup that finds nothing (the client's TTL of 0 stores nothing) and a
# store without a lookup (`Cache-Control: no-cache`). Manual; see bench/README.md.
#
#   cargo build --release && bench/cache.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
RATE="${RATE:-2000}"
DURATION="${DURATION:-10s}"
UPSTREAM_BIN="$ROOT/bench/target/release/fake-upstream"
GATEWAY_BIN="${SWITCHYARD_BIN:-$ROOT/target/release/switchyard}"
OHA="$ROOT/bench/.tools/bin/oha"
[[ -x "$OHA" ]] || OHA="$(command -v oha || true)"
[[ -n "$OHA" ]] || { echo "oha not found: nice -n 15 cargo install oha --locked --root bench/.tools" >&2; exit 1; }
[[ -x "$UPSTREAM_BIN" ]] || CARGO_TARGET_DIR="$ROOT/bench/target" cargo build --release --manifest-path bench/upstream/Cargo.toml
[[ -x "$GATEWAY_BIN" ]] || { echo "build the gateway first: cargo build --release" >&2; exit 1; }
WORK="$(mktemp -d /tmp/switchyard-cache-XXXXXX)"

cat > "$WORK/switchyard.toml" <<'TOML'
listen = "127.0.0.1:9103"
master_key_env = "SWITCHYARD_BENCH_KEY"
[providers.upstream]
kind = "openai_compatible"
base_url = "http://127.0.0.1:9101/v1"
models = ["gpt-4o-mini"]
[models.plain]
deployments = [{ provider = "upstream", model = "gpt-4o-mini" }]
[models.cached]
deployments = [{ provider = "upstream", model = "gpt-4o-mini" }]
cache = { ttl = "1h" }
[models.missing]
deployments = [{ provider = "upstream", model = "gpt-4o-mini" }]
cache = { ttl = "1h" }
TOML

pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
taskset -c 1 "$UPSTREAM_BIN" --port 9101 >"$WORK/upstream.log" 2>&1 & pids+=($!)
SWITCHYARD_BENCH_KEY=sk-bench-0001 SWITCHYARD_LOG=warn SWITCHYARD_DATABASE_URL="sqlite://$WORK/ledger.db" \
    taskset -c 0 "$GATEWAY_BIN" serve --config "$WORK/switchyard.toml" >"$WORK/gateway.log" 2>&1 & pids+=($!)
for _ in $(seq 1 100); do
    curl -fsS -o /dev/null http://127.0.0.1:9103/health 2>/dev/null && curl -fsS -o /dev/null http://127.0.0.1:9101/health && break
    sleep 0.1
done

body() { # model
    python3 -c 'import json,sys; b=json.load(open("bench/request.json")); b["model"]=sys.argv[1]; print(json.dumps(b))' "$1" > "$WORK/$1.json"
    echo "$WORK/$1.json"
}
run() { # label url body [header...]
    local label="$1" url="$2" file="$3"; shift 3
    local -a hdr=(-H "Authorization: Bearer sk-bench-0001")
    for h in "$@"; do hdr+=(-H "$h"); done
    taskset -c 1 "$OHA" --no-tui --worker-threads 1 --output-format json -m POST -T application/json -D "$file" \
        "${hdr[@]}" -n 2000 -c 16 "$url" >/dev/null 2>&1   # warm up
    taskset -c 1 "$OHA" --no-tui --worker-threads 1 --output-format json -m POST -T application/json -D "$file" \
        "${hdr[@]}" -z "$DURATION" -q "$RATE" -c 16 --latency-correction "$url" > "$WORK/$label.json"
    python3 - "$label" "$WORK/$label.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[2]))
p = r["latencyPercentiles"]
ok = sum(v for k, v in r["statusCodeDistribution"].items() if k.startswith("2"))
bad = sum(r["statusCodeDistribution"].values()) - ok + sum(r.get("errorDistribution", {}).values())
codes = {k: v for k, v in r["statusCodeDistribution"].items() if not k.startswith("2")}
errors = r.get("errorDistribution", {})
why = f"  {codes} {errors}" if bad else ""
print(f"  {sys.argv[1]:<34} {p['p50'] * 1000:8.3f} {p['p99'] * 1000:8.3f} {r['summary']['requestsPerSec']:9.0f} {bad:6d}{why}")
PY
}
echo "latency at $RATE requests/s for $DURATION (ms), 16 connections; gateway on core 0, upstream and load on core 1"
echo "  path                                    p50      p99       rps   fail"
run "direct upstream"               http://127.0.0.1:9101/v1/chat/completions "$(body gpt-4o-mini)"
run "gateway, no cache"             http://127.0.0.1:9103/v1/chat/completions "$(body plain)"
run "gateway, exact hit"            http://127.0.0.1:9103/v1/chat/completions "$(body cached)"
run "gateway, lookup that misses"   http://127.0.0.1:9103/v1/chat/completions "$(body missing)" "x-switchyard-cache-ttl: 0"
run "gateway, store (no-cache)"     http://127.0.0.1:9103/v1/chat/completions "$(body cached)" "cache-control: no-cache"
