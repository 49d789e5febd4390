#!/usr/bin/env bash
# Time to first token when the gateway translates between dialects: OpenAI Chat Completions,
# Anthropic Messages and OpenAI Responses API clients, each served by an OpenAI-format and an
# Anthropic-format upstream, and both upstreams called directly. Responses API clients'
# replies are stored (the API's default), so their rows include that.
# The fake upstream answers both formats with the same paced stream. Manual; see bench/README.md.
#
#   cargo build --release && bench/cross_dialect.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
REQUESTS="${REQUESTS:-200}"
CHUNK_DELAY_MS="${CHUNK_DELAY_MS:-50}"
UPSTREAM_BIN="$ROOT/bench/target/release/fake-upstream"
GATEWAY_BIN="${SWITCHYARD_BIN:-$ROOT/target/release/switchyard}"
WORK="$(mktemp -d /tmp/switchyard-cross-XXXXXX)"
[[ -x "$UPSTREAM_BIN" ]] || CARGO_TARGET_DIR="$ROOT/bench/target" cargo build --release --manifest-path bench/upstream/Cargo.toml
[[ -x "$GATEWAY_BIN" ]] || { echo "build the gateway first: cargo build --release" >&2; exit 1; }

cat > "$WORK/switchyard.toml" <<'TOML'
listen = "127.0.0.1:9103"
master_key_env = "SWITCHYARD_BENCH_KEY"
[providers.openai-format]
kind = "openai_compatible"
base_url = "http://127.0.0.1:9101/v1"
[providers.anthropic-format]
kind = "anthropic"
base_url = "http://127.0.0.1:9101"
api_key_env = "SWITCHYARD_BENCH_KEY"
[models.gpt]
deployments = [{ provider = "openai-format", model = "gpt-4o-mini" }]
[models.claude]
deployments = [{ provider = "anthropic-format", model = "claude-haiku-4-5" }]
TOML

pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
taskset -c 1 "$UPSTREAM_BIN" --port 9101 --chunk-delay-ms "$CHUNK_DELAY_MS" >"$WORK/upstream.log" 2>&1 & pids+=($!)
SWITCHYARD_BENCH_KEY=sk-bench-0001 SWITCHYARD_LOG=warn SWITCHYARD_DATABASE_URL="sqlite://$WORK/ledger.db" taskset -c 0 "$GATEWAY_BIN" serve --config "$WORK/switchyard.toml" \
    >"$WORK/gateway.log" 2>&1 & pids+=($!)
for _ in $(seq 1 100); do
    curl -fsS -o /dev/null http://127.0.0.1:9103/health 2>/dev/null && curl -fsS -o /dev/null http://127.0.0.1:9101/health && break
    sleep 0.1
done

run() { # label url model [body]
    taskset -c 1 python3 bench/ttfb.py --url "$2" --body "${4:-bench/request.json}" --model "$3" \
        --requests "$REQUESTS" --concurrency 8 --header "Authorization: Bearer sk-bench-0001" \
        --header "x-api-key: sk-bench-0001" --header "anthropic-version: 2023-06-01" > "$WORK/$1.json"
    python3 - "$1" "$WORK/$1.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[2]))
p = [r[f"first_p{q}_ms"] for q in (50, 90, 99)]
print(f"  {sys.argv[1]:<38} {p[0]:8.2f} {p[1]:8.2f} {p[2]:8.2f} {r['errors']:6d}" + (f"  {r.get('first_error')}" if r['errors'] else ""))
PY
}
echo "time to first SSE data line, ms ($REQUESTS streamed requests, 8 connections, ${CHUNK_DELAY_MS} ms between upstream events)"
echo "  path                                    p50      p90      p99   errs"
run "direct openai-format"                http://127.0.0.1:9101/v1/chat/completions gpt-4o-mini
run "direct anthropic-format"             http://127.0.0.1:9101/v1/messages claude-haiku-4-5 bench/request_anthropic.json
run "openai client → openai upstream"     http://127.0.0.1:9103/v1/chat/completions gpt
run "openai client → anthropic upstream"  http://127.0.0.1:9103/v1/chat/completions claude
run "anthropic client → openai upstream"  http://127.0.0.1:9103/v1/messages gpt bench/request_anthropic.json
run "anthropic client → anthropic upstream" http://127.0.0.1:9103/v1/messages claude bench/request_anthropic.json
run "responses client → openai upstream"  http://127.0.0.1:9103/v1/responses gpt bench/request_responses.json
run "responses client → anthropic upstream" http://127.0.0.1:9103/v1/responses claude bench/request_responses.json
