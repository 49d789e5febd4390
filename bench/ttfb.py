#!/usr/bin/env python3
"""Time to first token of streamed chat completions, measured on raw sockets.

Sends N streaming POST /v1/chat/completions requests (the body of
bench/request.json with "stream": true and stream_options.include_usage) over
C keep-alive connections, and for each one records:

  headers  time from the request's first byte sent to the end of the
           response headers
  first    time to the first SSE `data:` line of the body (the first token
           as a client sees it)
  total    time to the end of the response (after `data: [DONE]`)

Prints one JSON object with p50/p90/p99 (milliseconds) of each, plus the
error count. Standard library only.

With --rate R, requests start on a fixed schedule (R per second in all, spread over the
connections) instead of back to back: the load of R streams a second whatever the proxy's
speed. A connection still busy when its next start comes starts it late (and the run
reports how many did: `late`).

    python3 bench/ttfb.py --url http://127.0.0.1:9102/v1/chat/completions \
        --body bench/request.json --requests 200 --concurrency 8
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time
import urllib.parse


def percentile(sorted_vals: list[float], p: float) -> float | None:
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, int(round(p / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


class Conn:
    def __init__(self, host: str, port: int, timeout: float):
        self.host, self.port, self.timeout = host, port, timeout
        self.sock: socket.socket | None = None

    def ensure(self) -> socket.socket:
        if self.sock is None:
            s = socket.create_connection((self.host, self.port), timeout=self.timeout)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock = s
        return self.sock

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None


def one_request(conn: Conn, request: bytes) -> tuple[float, float, float]:
    """Returns (headers, first, total) in seconds; raises on any failure."""
    sock = conn.ensure()
    buf = bytearray()
    t0 = time.perf_counter()
    sock.sendall(request)
    t_headers = t_first = None
    header_end = -1
    chunked = False
    content_length = None
    close_after = False
    while True:
        data = sock.recv(65536)
        now = time.perf_counter()
        if not data:
            raise ConnectionError("connection closed mid-response")
        buf += data
        if header_end < 0:
            header_end = buf.find(b"\r\n\r\n")
            if header_end < 0:
                continue
            t_headers = now
            head = bytes(buf[:header_end]).decode("latin-1").lower()
            status_line = head.split("\r\n", 1)[0]
            parts = status_line.split()
            if len(parts) < 2 or parts[1] != "200":
                raise RuntimeError(f"status: {status_line}")
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                name, value = name.strip(), value.strip()
                if name == "transfer-encoding" and "chunked" in value:
                    chunked = True
                elif name == "content-length":
                    content_length = int(value)
                elif name == "connection" and "close" in value:
                    close_after = True
        body = buf[header_end + 4:]
        if t_first is None and b"data:" in body:
            t_first = now
        if chunked:
            done = body.endswith(b"\r\n0\r\n\r\n")  # the last chunk of any SSE dialect
        elif content_length is not None:
            done = len(body) >= content_length
        else:
            done = False  # read to EOF
        if done:
            break
    if t_first is None:
        raise RuntimeError("no SSE data line in the response")
    if close_after:
        conn.close()
    return t_headers - t0, t_first - t0, now - t0


def main() -> int:
    ap = argparse.ArgumentParser(description="time to first token of streamed chat completions")
    ap.add_argument("--url", required=True)
    ap.add_argument("--body", required=True, help="chat request JSON (stream fields are added)")
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2, help="requests per connection, not counted")
    ap.add_argument("--stagger-ms", type=float, default=None,
                    help="delay between connections' starts (default: median warm-up stream time / concurrency)")
    ap.add_argument("--header", action="append", default=[], help="extra 'Name: value' header")
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--model", default=None, help="override the body's model")
    ap.add_argument("--rate", type=float, default=None, help="streams started per second, in all")
    args = ap.parse_args()

    url = urllib.parse.urlsplit(args.url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    with open(args.body, "rb") as f:
        req = json.loads(f.read())
    req["stream"] = True
    if args.model:
        req["model"] = args.model
    if path.endswith("/chat/completions"):  # the other APIs have no stream_options
        req["stream_options"] = {"include_usage": True}
    body = json.dumps(req, separators=(",", ":")).encode()
    head = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Content-Type: application/json",
        "Accept: text/event-stream",
        f"Content-Length: {len(body)}",
        *args.header,
    ]
    request = ("\r\n".join(head) + "\r\n\r\n").encode() + body

    results: list[tuple[float, float, float]] = []
    errors: list[str] = []
    lock = threading.Lock()
    per_worker = [args.requests // args.concurrency + (1 if i < args.requests % args.concurrency else 0)
                  for i in range(args.concurrency)]

    warm_totals: list[float] = []
    barrier = threading.Barrier(args.concurrency)
    late = [0]
    begin = [0.0]

    def timed(conn: Conn) -> None:
        """One counted request: its times, or its error."""
        try:
            r = one_request(conn, request)
            with lock:
                results.append(r)
        except Exception as e:  # noqa: BLE001
            conn.close()
            with lock:
                errors.append(f"{type(e).__name__}: {e}")

    def worker(idx: int, n: int) -> None:
        conn = Conn(host, port, args.timeout)
        for _ in range(args.warmup):
            try:
                r = one_request(conn, request)
                with lock:
                    warm_totals.append(r[2])
            except Exception:  # noqa: BLE001 - warm-up errors (stale pooled connections) are not counted
                conn.close()
        if barrier.wait() == 0:
            begin[0] = time.perf_counter() + 0.05
        if args.rate:
            # Open loop: this connection's k-th request starts at (k * C + idx) / rate.
            time.sleep(0.06)
            for k in range(n):
                due = begin[0] + (k * args.concurrency + idx) / args.rate
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                elif wait < -0.001:
                    with lock:
                        late[0] += 1
                timed(conn)
        else:
            # Spread the connections' request starts evenly over one stream's length, so
            # first tokens of different connections don't arrive (and get timed) at once.
            if args.stagger_ms is not None:
                stagger = args.stagger_ms / 1000.0
            else:
                totals = sorted(warm_totals)
                stagger = totals[len(totals) // 2] / args.concurrency if totals else 0.0
            time.sleep(idx * stagger)
            for _ in range(n):
                timed(conn)
        conn.close()

    threads = [threading.Thread(target=worker, args=(i, n)) for i, n in enumerate(per_worker)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start

    out: dict[str, object] = {"requests": len(results), "errors": len(errors), "seconds": round(elapsed, 2)}
    if args.rate:
        out["rate"] = args.rate
        out["late"] = late[0]
    for i, name in enumerate(("headers", "first", "total")):
        vals = sorted(r[i] * 1000.0 for r in results)
        for p in (50, 90, 99):
            v = percentile(vals, p)
            out[f"{name}_p{p}_ms"] = None if v is None else round(v, 3)
    if errors:
        out["first_error"] = errors[0]
    print(json.dumps(out))
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
