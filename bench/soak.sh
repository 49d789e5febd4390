#!/usr/bin/env bash
# A replica as a fleet runs it, under a steady load for a long time: ledger in PostgreSQL, limits
# and budget shared through Redis, a virtual key with RPM, TPM and a budget on every request.
# Prints the gateway's resident memory every SAMPLE_SECS and the load's outcome, so a leak shows
# as a rising column. By hand, not in CI:
#
#   SOAK_DURATION=30m SOAK_RATE=500 bench/soak.sh
#
# Needs a release build (cargo build --release -p gateway --bin switchyard), oha (see run.sh),
# and a PostgreSQL and Redis to use (SOAK_DATABASE_URL, default: database switchyard_soak on the
# local server, created if missing; SOAK_REDIS_URL, default redis://127.0.0.1:6379).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

DURATION="${SOAK_DURATION:-30m}"
RATE="${SOAK_RATE:-500}"
CONNS="${SOAK_CONNS:-16}"
SAMPLE_SECS="${SAMPLE_SECS:-60}"
DATABASE_URL="${SOAK_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/switchyard_soak}"
REDIS_URL="${SOAK_REDIS_URL:-redis://127.0.0.1:6379}"
BIN="${SWITCHYARD_BIN:-$ROOT/target/release/switchyard}"
UPSTREAM_BIN="$ROOT/bench/target/release/fake-upstream"
OHA="$ROOT/bench/.tools/bin/oha"
[[ -x "$OHA" ]] || OHA="$(command -v oha || true)"
UPSTREAM_PORT=9111
GATEWAY_PORT=9112
WORK=/tmp/switchyard-soak
mkdir -p "$WORK"

die() { echo "soak: $*" >&2; exit 1; }
[[ -x "$BIN" ]] || die "$BIN missing: cargo build --release -p gateway --bin switchyard"
[[ -n "$OHA" ]] || die "oha not found: cargo install oha --locked --root bench/.tools"
if [[ ! -x "$UPSTREAM_BIN" ]]; then
    CARGO_TARGET_DIR="$ROOT/bench/target" cargo build --release --manifest-path "$ROOT/bench/upstream/Cargo.toml"
fi
if [[ -z "${SOAK_DATABASE_URL:-}" ]]; then
    psql -h 127.0.0.1 -U postgres -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = 'switchyard_soak'" \
        | grep -q 1 || psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE switchyard_soak"
fi

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

"$UPSTREAM_BIN" --port "$UPSTREAM_PORT" --chunk-delay-ms 0 >"$WORK/upstream.log" 2>&1 &
PIDS+=($!)
cat >"$WORK/switchyard.toml" <<TOML
listen = "127.0.0.1:$GATEWAY_PORT"
master_key_env = "SOAK_MASTER"
database_url = "$DATABASE_URL"
redis_url = "$REDIS_URL"

[providers.upstream]
kind = "openai_compatible"
base_url = "http://127.0.0.1:$UPSTREAM_PORT/v1"
models = ["gpt-4o-mini"]

[models.gpt-4o-mini]
deployments = [{ provider = "upstream", model = "gpt-4o-mini", input_price = 0.15, output_price = 0.6 }]
TOML
SOAK_MASTER=sk-soak-master SWITCHYARD_LOG=info "$BIN" serve --config "$WORK/switchyard.toml" >"$WORK/gateway.log" 2>&1 &
GW=$!
PIDS+=("$GW")
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$GATEWAY_PORT/health" >/dev/null && break; sleep 0.1; done
key="$(curl -sf "http://127.0.0.1:$GATEWAY_PORT/admin/keys" -H 'authorization: Bearer sk-soak-master' \
    -H 'content-type: application/json' \
    -d '{"name": "soak", "rpm": 100000000, "tpm": 100000000000, "budget_usd": 1000000}' \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["key"])')"

rss() { awk '/VmRSS/ {print $2}' "/proc/$GW/status"; }
echo "soak: $RATE req/s for $DURATION; resident memory of the gateway (KiB) every ${SAMPLE_SECS}s"
echo "elapsed_s rss_kib" | tee "$WORK/rss.txt"
echo "0 $(rss)" | tee -a "$WORK/rss.txt"
"$OHA" --no-tui --output-format json -z "$DURATION" -q "$RATE" -c "$CONNS" -m POST -T application/json \
    -H "authorization: Bearer $key" -D "$ROOT/bench/request.json" \
    "http://127.0.0.1:$GATEWAY_PORT/v1/chat/completions" >"$WORK/oha.json" &
LOAD=$!
start=$SECONDS
while kill -0 "$LOAD" 2>/dev/null; do
    sleep "$SAMPLE_SECS"
    kill -0 "$LOAD" 2>/dev/null && echo "$((SECONDS - start)) $(rss)" | tee -a "$WORK/rss.txt"
done
wait "$LOAD" || true
echo "end $(rss)" | tee -a "$WORK/rss.txt"
python3 - "$WORK/oha.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s, codes = r["summary"], r.get("statusCodeDistribution", {})
lat = r.get("latencyPercentiles", {})
print(f"requests/s {s['requestsPerSec']:.0f}  success {s['successRate']:.4f}  statuses {codes}  "
      f"p50 {lat.get('p50', 0) * 1000:.2f} ms  p99 {lat.get('p99', 0) * 1000:.2f} ms")
PY
