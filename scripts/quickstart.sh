#!/usr/bin/env bash
# One command to a working gateway with no API keys:
#   1. installs the local model server into .llm-venv (scripts/setup-llm.sh),
#   2. starts llama.cpp's server with SmolLM2-135M on 127.0.0.1:8080
#      (unless something already answers on :8080/health),
#   3. runs the gateway (`switchyard serve`), which finds the server on :8080
#      by itself when there is no config file.
# Extra arguments go to `switchyard serve`. Ctrl-C stops both.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SWITCHYARD_LLM_VENV:-$REPO_ROOT/.llm-venv}"
LLM_HOST=127.0.0.1
LLM_PORT=8080
LLM_LOG="$VENV/llm-server.log"

"$REPO_ROOT/scripts/setup-llm.sh"

LLM_PID=""
stop_llm() {
    if [[ -n "$LLM_PID" ]] && kill -0 "$LLM_PID" 2>/dev/null; then
        kill -TERM "$LLM_PID" 2>/dev/null || true
        wait "$LLM_PID" 2>/dev/null || true
    fi
}
# Covers failures and Ctrl-C before the exec below. After the exec this shell
# is gone; the server then follows the gateway's process (--exit-with-parent:
# exec keeps the PID, so the server stops when the gateway exits).
trap stop_llm EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if curl -fsS --max-time 2 "http://$LLM_HOST:$LLM_PORT/health" >/dev/null 2>&1; then
    echo "quickstart: something already answers on http://$LLM_HOST:$LLM_PORT/health; using it"
else
    echo "quickstart: starting the local model server (log: $LLM_LOG)"
    : > "$LLM_LOG"
    "$VENV/bin/python" "$REPO_ROOT/scripts/llm_server.py" \
        --host "$LLM_HOST" --port "$LLM_PORT" --exit-with-parent >>"$LLM_LOG" 2>&1 &
    LLM_PID=$!
    deadline=$((SECONDS + 120))
    until grep -q '^llm-server ready on ' "$LLM_LOG"; do
        if ! kill -0 "$LLM_PID" 2>/dev/null; then
            echo "quickstart: the model server exited early; last lines of $LLM_LOG:" >&2
            tail -n 20 "$LLM_LOG" >&2
            exit 1
        fi
        if (( SECONDS >= deadline )); then
            echo "quickstart: the model server was not ready after 120 s; see $LLM_LOG" >&2
            exit 1
        fi
        sleep 0.1
    done
    grep '^llm-server ready on ' "$LLM_LOG"
fi

trap - EXIT INT TERM
exec cargo run --manifest-path "$REPO_ROOT/Cargo.toml" --release -p gateway --bin switchyard -- serve "$@"
