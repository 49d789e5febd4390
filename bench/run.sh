#!/usr/bin/env bash
# Manual benchmark: a fake OpenAI upstream called directly, through nginx (the
# floor), and through the Switchyard gateway. Never run in CI. See bench/README.md.
#
#   cargo build --release          # the gateway: target/release/switchyard
#   bench/run.sh                   # all three targets
#   TARGETS="direct nginx" bench/run.sh
#
# Proxies run on core 0 (PROXY_CPU); the fake upstream and the load generator
# share core 1 (CLIENT_CPU).
set -euo pipefail

# ================================ gateway ====================================
# run.sh writes $CONFIG to bench/switchyard.toml, then runs $GATEWAY_CMD (from
# the repo root, pinned to core 0). Auth is on (master key from the
# environment) and metrics are recorded, as in production; request logging is off.
GATEWAY_PORT=9103
SWITCHYARD_BIN="${SWITCHYARD_BIN:-target/release/switchyard}"
GATEWAY_CMD="env SWITCHYARD_BENCH_KEY=sk-bench-0001 SWITCHYARD_LOG=warn SWITCHYARD_DATABASE_URL=sqlite:///tmp/switchyard-bench/ledger.db $SWITCHYARD_BIN serve --config bench/switchyard.toml"
GATEWAY_HEADERS=("Authorization: Bearer sk-bench-0001")
read -r -d '' CONFIG <<'TOML' || true
listen = "127.0.0.1:9103"
master_key_env = "SWITCHYARD_BENCH_KEY"

[providers.upstream]
kind = "openai_compatible"
base_url = "http://127.0.0.1:9101/v1"
models = ["gpt-4o-mini"]

[models.gpt-4o-mini]
deployments = [{ provider = "upstream", model = "gpt-4o-mini" }]
TOML
# "governed": the same gateway as a real deployment runs it — a virtual key with RPM, TPM
# and a budget (created in its own SQLite ledger before it starts), priced deployments so every
# request is costed and reserved, the ledger, metrics and the per-request log line all on.
GOVERNED_PORT=9104
GOVERNED_DB=/tmp/switchyard-bench/governed.db
GOVERNED_CMD="env SWITCHYARD_BENCH_KEY=sk-bench-0001 SWITCHYARD_LOG=info SWITCHYARD_DATABASE_URL=sqlite://$GOVERNED_DB $SWITCHYARD_BIN serve --config bench/switchyard-governed.toml"
read -r -d '' GOVERNED_CONFIG <<'TOML' || true
listen = "127.0.0.1:9104"
master_key_env = "SWITCHYARD_BENCH_KEY"

[providers.upstream]
kind = "openai_compatible"
base_url = "http://127.0.0.1:9101/v1"
models = ["gpt-4o-mini"]

[models.gpt-4o-mini]
deployments = [{ provider = "upstream", model = "gpt-4o-mini", input_price = 0.15, output_price = 0.6 }]
TOML
# GOVERNED_REDIS=redis://…: the governed gateway shares its limits and budget through that
# Redis (one round trip per request), as a fleet's replicas do.
if [[ -n "${GOVERNED_REDIS:-}" ]]; then
    GOVERNED_CONFIG="redis_url = \"$GOVERNED_REDIS\"
$GOVERNED_CONFIG"
fi
# =============================================================================

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

TARGETS="${TARGETS:-direct nginx gateway governed}"
DURATION="${DURATION:-10s}"           # each load phase
RATE="${RATE:-2000}"                  # phase 1, requests per second
RATE_CONNS="${RATE_CONNS:-16}"        # phase 1 connections
MAX_CONNS="${MAX_CONNS:-50}"          # phase 2 connections
BURST_CONNS="${BURST_CONNS:-1000}"    # phase 3 connections (memory under a connection spike)
BURST_DURATION="${BURST_DURATION:-5s}"
STREAM_REQUESTS="${STREAM_REQUESTS:-200}"
STREAM_CONNS="${STREAM_CONNS:-8}"
CHUNK_DELAY_MS="${CHUNK_DELAY_MS:-50}"
LOW_RATE="${LOW_RATE:-500}"           # phase 1c, requests per second
SERIAL_DURATION="${SERIAL_DURATION:-$DURATION}"   # phase 1b, one request at a time
STREAM_RATE="${STREAM_RATE:-500}"     # phase 5, streams started per second
STREAM_RATE_SECONDS="${STREAM_RATE_SECONDS:-6}"
STREAM_RATE_CONNS="${STREAM_RATE_CONNS:-96}"
STREAM_DELTAS="${STREAM_DELTAS:-18}"  # phase 5: role + deltas + finish + usage ≈ 20 chunks
STREAM_CHUNK_MS="${STREAM_CHUNK_MS:-5}"
SLOW_CONNS="${SLOW_CONNS:-1000}"      # phase 6: connections against a slow upstream
SLOW_REPLY_MS="${SLOW_REPLY_MS:-50}"
SLOW_SETTLE_S="${SLOW_SETTLE_S:-10}"  # phase 6: memory read again this long after
PROXY_CPU="${PROXY_CPU:-0}"
CLIENT_CPU="${CLIENT_CPU:-1}"

UPSTREAM_PORT=9101
NGINX_PORT=9102
REQUEST="$ROOT/bench/request.json"
UPSTREAM_BIN="$ROOT/bench/target/release/fake-upstream"
case "$SWITCHYARD_BIN" in /*) GATEWAY_BIN="$SWITCHYARD_BIN" ;; *) GATEWAY_BIN="$ROOT/$SWITCHYARD_BIN" ;; esac
WORK=/tmp/switchyard-bench
RESULTS="$WORK/results-$(date +%Y%m%d-%H%M%S)"
PATH_CHAT=/v1/chat/completions

say() { printf '\n== %s ==\n' "$*"; }
die() { echo "bench: $*" >&2; exit 1; }

# --- tools -------------------------------------------------------------------
OHA="$ROOT/bench/.tools/bin/oha"
[[ -x "$OHA" ]] || OHA="$(command -v oha || true)"
[[ -n "$OHA" ]] || die "oha not found: nice -n 15 cargo install oha --locked --root bench/.tools"
command -v nginx >/dev/null || die "nginx not found: apt-get install -y nginx-light"
for t in taskset curl python3 ss; do command -v "$t" >/dev/null || die "$t not found"; done

if [[ ! -x "$UPSTREAM_BIN" ]]; then
    say "building bench/upstream"
    CARGO_TARGET_DIR="$ROOT/bench/target" nice -n 10 \
        cargo build --release --manifest-path "$ROOT/bench/upstream/Cargo.toml"
fi

want() { [[ " $TARGETS " == *" $1 "* ]]; }
if want governed && [[ ! -x "$GATEWAY_BIN" ]]; then
    TARGETS="${TARGETS//governed/}"
fi
if want gateway; then
    if [[ ! -x "$GATEWAY_BIN" ]]; then
        echo "bench: skipping the gateway: $GATEWAY_BIN is missing (run: cargo build --release)"
        TARGETS="${TARGETS//gateway/}"
    elif grep -q SWITCHYARD-BENCH-PLACEHOLDER <<<"$CONFIG"; then
        echo "bench: skipping the gateway: fill in GATEWAY_CMD and CONFIG at the top of bench/run.sh"
        TARGETS="${TARGETS//gateway/}"
    fi
fi

for port in "$UPSTREAM_PORT" "$NGINX_PORT" "$GATEWAY_PORT" "$GOVERNED_PORT"; do
    if ss -Htln "sport = :$port" | grep -q .; then die "port $port is already in use"; fi
done

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
mkdir -p "$RESULTS" "$WORK/nginx"

# --- processes -----------------------------------------------------------------
UPSTREAM_PID="" NGINX_PID="" GATEWAY_PID="" GOVERNED_PID="" GOVERNED_HEADERS=()
cleanup() {
    for pid in "$GOVERNED_PID" "$GATEWAY_PID" "$NGINX_PID" "$UPSTREAM_PID"; do
        [[ -n "$pid" ]] && kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "$GOVERNED_PID" "$GATEWAY_PID" "$NGINX_PID" "$UPSTREAM_PID"; do
        [[ -n "$pid" ]] && wait "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

wait_http() { # url, seconds, [curl args...]: until a 200 comes back
    local url="$1" secs="$2"; shift 2
    local deadline=$((SECONDS + secs))
    until [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$@" "$url" || true)" == 200 ]]; do
        (( SECONDS < deadline )) || return 1
        sleep 0.1
    done
}

start_upstream() { # chunk delay in ms, [more fake-upstream args]
    if [[ -n "$UPSTREAM_PID" ]]; then
        kill -TERM "$UPSTREAM_PID" 2>/dev/null || true
        wait "$UPSTREAM_PID" 2>/dev/null || true
    fi
    local delay="$1"; shift
    taskset -c "$CLIENT_CPU" "$UPSTREAM_BIN" --port "$UPSTREAM_PORT" --chunk-delay-ms "$delay" "$@" \
        >>"$RESULTS/upstream.log" 2>&1 &
    UPSTREAM_PID=$!
    wait_http "http://127.0.0.1:$UPSTREAM_PORT/health" 10 || die "fake upstream did not start"
}

# URL and extra oha/curl header args of a target.
url_of() {
    case "$1" in
        direct) echo "http://127.0.0.1:$UPSTREAM_PORT$PATH_CHAT" ;;
        nginx) echo "http://127.0.0.1:$NGINX_PORT$PATH_CHAT" ;;
        gateway) echo "http://127.0.0.1:$GATEWAY_PORT$PATH_CHAT" ;;
        governed) echo "http://127.0.0.1:$GOVERNED_PORT$PATH_CHAT" ;;
    esac
}
header_args() { # prints -H args, one per line
    local h
    case "$1" in
        gateway) for h in "${GATEWAY_HEADERS[@]+"${GATEWAY_HEADERS[@]}"}"; do printf -- '-H\n%s\n' "$h"; done ;;
        governed) for h in "${GOVERNED_HEADERS[@]+"${GOVERNED_HEADERS[@]}"}"; do printf -- '-H\n%s\n' "$h"; done ;;
    esac
}
# The process whose CPU and memory count for a target (nginx: master and workers).
pids_of() {
    case "$1" in
        direct) echo "$UPSTREAM_PID" ;;
        nginx) echo "$NGINX_PID $(pgrep -P "$NGINX_PID" | tr '\n' ' ')" ;;
        gateway) echo "$GATEWAY_PID" ;;
        governed) echo "$GOVERNED_PID" ;;
    esac
}
cpu_ticks() { # utime+stime of the given pids, in clock ticks
    local total=0 pid fields
    for pid in "$@"; do
        [[ -r "/proc/$pid/stat" ]] || continue
        fields="$(sed 's/^.*) //' "/proc/$pid/stat")"   # drop "pid (comm) ", comm may hold spaces
        read -r -a f <<<"$fields"
        total=$((total + f[11] + f[12]))               # fields 14 and 15 of stat
    done
    echo "$total"
}
rss_kib() { # VmRSS of the given pids, summed, in KiB
    local total=0 pid kb
    for pid in "$@"; do
        kb="$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)"
        total=$((total + ${kb:-0}))
    done
    echo "$total"
}

oha_run() { # target, name, oha args...
    local target="$1" name="$2"; shift 2
    local -a hdr=()
    mapfile -t hdr < <(header_args "$target")
    taskset -c "$CLIENT_CPU" "$OHA" --no-tui --worker-threads 1 --output-format json \
        -m POST -T application/json -D "$REQUEST" "${hdr[@]+"${hdr[@]}"}" "$@" "$(url_of "$target")" \
        >"$RESULTS/$name-$target.json" 2>>"$RESULTS/oha.log"
}

say "starting: fake upstream (core $CLIENT_CPU), nginx (core $PROXY_CPU)$(want gateway && echo ", gateway (core $PROXY_CPU)")"
echo "results: $RESULTS"
start_upstream 0

if want nginx; then
    taskset -c "$PROXY_CPU" nginx -e "$WORK/nginx/error.log" -c "$ROOT/bench/nginx.conf" \
        >>"$RESULTS/nginx.log" 2>&1 &
    NGINX_PID=$!
    wait_http "http://127.0.0.1:$NGINX_PORT/health" 10 || die "nginx did not start (see $WORK/nginx/error.log)"
fi

if want gateway; then
    printf '%s\n' "$CONFIG" >"$ROOT/bench/switchyard.toml"
    taskset -c "$PROXY_CPU" bash -c "exec $GATEWAY_CMD" >>"$RESULTS/gateway.log" 2>&1 &
    GATEWAY_PID=$!
    mapfile -t ghdr < <(header_args gateway)
    if ! wait_http "$(url_of gateway)" 30 -X POST -H 'content-type: application/json' \
            --data-binary "@$REQUEST" "${ghdr[@]+"${ghdr[@]}"}"; then
        echo "bench: the gateway did not answer 200 on $(url_of gateway) within 30 s; skipping it. Its log:"
        tail -n 30 "$RESULTS/gateway.log" || true
        kill -TERM "$GATEWAY_PID" 2>/dev/null || true
        wait "$GATEWAY_PID" 2>/dev/null || true
        GATEWAY_PID=""
        TARGETS="${TARGETS//gateway/}"
    fi
fi

if want governed; then
    rm -f "$GOVERNED_DB" "$GOVERNED_DB"-*
    printf '%s\n' "$GOVERNED_CONFIG" >"$ROOT/bench/switchyard-governed.toml"
    key="$("$GATEWAY_BIN" keys create --name bench --rpm 100000000 --tpm 100000000000 --budget-usd 1000000 \
        --database-url "sqlite://$GOVERNED_DB" 2>/dev/null | cut -f2)"
    GOVERNED_HEADERS=("Authorization: Bearer $key")
    taskset -c "$PROXY_CPU" bash -c "exec $GOVERNED_CMD" >>"$RESULTS/governed.log" 2>&1 &
    GOVERNED_PID=$!
    wait_http "http://127.0.0.1:$GOVERNED_PORT/health" 30 || die "the governed gateway did not start (see $RESULTS/governed.log)"
fi

# Every target must answer a chat.completion before anything is measured.
for t in $TARGETS; do
    mapfile -t hdr < <(header_args "$t")
    body="$(curl -sS --max-time 5 -H 'content-type: application/json' --data-binary "@$REQUEST" \
        "${hdr[@]+"${hdr[@]}"}" "$(url_of "$t")")" || die "$t: request failed"
    grep -q '"chat.completion"' <<<"$body" || die "$t: unexpected answer: ${body:0:300}"
done

declare -A RSS_IDLE RSS_LOAD RSS_END CPU_US
for t in $TARGETS; do RSS_IDLE[$t]="$(rss_kib $(pids_of "$t"))"; done

say "warm-up"
for t in $TARGETS; do oha_run "$t" warmup -n 5000 -c "$MAX_CONNS"; done

say "1. fixed rate: $RATE req/s for $DURATION ($RATE_CONNS connections)"
for t in $TARGETS; do
    echo "  $t"
    oha_run "$t" fixed -z "$DURATION" -q "$RATE" -c "$RATE_CONNS" --latency-correction
done

say "1b. one request at a time for $SERIAL_DURATION"
for t in $TARGETS; do
    echo "  $t"
    oha_run "$t" serial -z "$SERIAL_DURATION" -c 1
done

say "1c. fixed rate: $LOW_RATE req/s for $DURATION ($RATE_CONNS connections)"
for t in $TARGETS; do
    echo "  $t"
    oha_run "$t" low -z "$DURATION" -q "$LOW_RATE" -c "$RATE_CONNS" --latency-correction
done

say "2. max throughput: $MAX_CONNS connections for $DURATION"
hz="$(getconf CLK_TCK)"
for t in $TARGETS; do
    echo "  $t"
    before="$(cpu_ticks $(pids_of "$t"))"
    oha_run "$t" max -z "$DURATION" -c "$MAX_CONNS"
    after="$(cpu_ticks $(pids_of "$t"))"
    ok="$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum(v for k,v in d["statusCodeDistribution"].items() if k.startswith("2")))' "$RESULTS/max-$t.json")"
    CPU_US[$t]="$(python3 -c "print(round(($after - $before) / $hz * 1e6 / max(1, $ok), 1))")"
done

say "3. connection burst: $BURST_CONNS connections for $BURST_DURATION"
for t in $TARGETS; do
    echo "  $t"
    oha_run "$t" burst -z "$BURST_DURATION" -c "$BURST_CONNS"
done

for t in $TARGETS; do RSS_LOAD[$t]="$(rss_kib $(pids_of "$t"))"; done

say "4. streaming: time to first token, upstream chunk delay ${CHUNK_DELAY_MS} ms, $STREAM_REQUESTS requests over $STREAM_CONNS connections"
start_upstream "$CHUNK_DELAY_MS"
for t in $TARGETS; do
    echo "  $t"
    mapfile -t hdr < <(header_args "$t" | sed -n '2~2p')
    hargs=()
    for h in "${hdr[@]+"${hdr[@]}"}"; do hargs+=(--header "$h"); done
    taskset -c "$CLIENT_CPU" python3 "$ROOT/bench/ttfb.py" --url "$(url_of "$t")" --body "$REQUEST" \
        --requests "$STREAM_REQUESTS" --concurrency "$STREAM_CONNS" "${hargs[@]+"${hargs[@]}"}" \
        >"$RESULTS/stream-$t.json" || echo "  $t: streaming run failed (see $RESULTS/stream-$t.json)"
done

stream_run() { # target, name, ttfb.py args...
    local t="$1" name="$2"; shift 2
    mapfile -t hdr < <(header_args "$t" | sed -n '2~2p')
    hargs=()
    for h in "${hdr[@]+"${hdr[@]}"}"; do hargs+=(--header "$h"); done
    taskset -c "$CLIENT_CPU" python3 "$ROOT/bench/ttfb.py" --url "$(url_of "$t")" --body "$REQUEST" \
        "$@" "${hargs[@]+"${hargs[@]}"}" >"$RESULTS/$name-$t.json" \
        || echo "  $t: $name run failed (see $RESULTS/$name-$t.json)"
}

say "5. streams of $((STREAM_DELTAS + 4)) chunks ${STREAM_CHUNK_MS} ms apart: one at a time, then $STREAM_RATE a second for ${STREAM_RATE_SECONDS} s"
start_upstream "$STREAM_CHUNK_MS" --deltas "$STREAM_DELTAS"
for t in $TARGETS; do
    echo "  $t"
    stream_run "$t" stream1 --requests 100 --concurrency 1
    stream_run "$t" streamrate --requests "$((STREAM_RATE * STREAM_RATE_SECONDS))" \
        --concurrency "$STREAM_RATE_CONNS" --rate "$STREAM_RATE" --warmup 1
done

for t in $TARGETS; do RSS_END[$t]="$(rss_kib $(pids_of "$t"))"; done

say "6. $SLOW_CONNS connections against a ${SLOW_REPLY_MS} ms upstream for $DURATION"
start_upstream 0 --reply-delay-ms "$SLOW_REPLY_MS"
declare -A RSS_SLOW RSS_SETTLED
for t in $TARGETS; do
    echo "  $t"
    oha_run "$t" slow -z "$DURATION" -c "$SLOW_CONNS"
    RSS_SLOW[$t]="$(rss_kib $(pids_of "$t"))"
done
sleep "$SLOW_SETTLE_S"
for t in $TARGETS; do RSS_SETTLED[$t]="$(rss_kib $(pids_of "$t"))"; done

{
    for t in $TARGETS; do
        printf '%s %s %s %s %s %s %s\n' "$t" "${RSS_IDLE[$t]}" "${RSS_LOAD[$t]}" "${RSS_END[$t]}" "${CPU_US[$t]}" \
            "${RSS_SLOW[$t]}" "${RSS_SETTLED[$t]}"
    done
} >"$RESULTS/procs.txt"

say "results"
python3 - "$RESULTS" "$TARGETS" "$RATE" "$LOW_RATE" "$STREAM_RATE" "$SLOW_CONNS" "$SLOW_REPLY_MS" <<'PY'
import json, os, sys

results, targets, rate = sys.argv[1], sys.argv[2].split(), sys.argv[3]
low_rate, stream_rate, slow_conns, slow_ms = sys.argv[4:8]
procs, slow_rss = {}, {}
with open(os.path.join(results, "procs.txt")) as f:
    for line in f:
        t, idle, mid, end, cpu, slow, settled = line.split()
        procs[t] = (int(idle), int(mid), int(end), float(cpu))
        slow_rss[t] = (int(slow), int(settled))

def load(name, t):
    try:
        with open(os.path.join(results, f"{name}-{t}.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None

def ms(v):
    return "-" if v is None else f"{v * 1000:.2f}"

def failures(d):
    if d is None:
        return "?"
    bad = sum(v for k, v in d.get("statusCodeDistribution", {}).items() if not k.startswith("2"))
    bad += sum(v for k, v in d.get("errorDistribution", {}).items() if "deadline" not in k)
    return str(bad)

cols = [
    ("target", 8), (f"p50@{rate}", 10), (f"p99@{rate}", 10), ("fail", 5),
    ("max rps", 8), ("p99@max", 8), ("cpu us/req", 10), ("fail", 5),
    ("p99@burst", 9), ("fail", 5),
    ("ttft p50", 8), ("ttft p99", 8), ("fail", 5),
    ("rss idle", 8), ("rss load", 8), ("rss end", 8),
]
print("  ".join(name.rjust(w) for name, w in cols))
for t in targets:
    fx, mx, bu, st = load("fixed", t), load("max", t), load("burst", t), load("stream", t)
    idle, mid, end, cpu = procs.get(t, (0, 0, 0, 0.0))
    row = [
        t,
        ms(fx and fx["latencyPercentiles"]["p50"]), ms(fx and fx["latencyPercentiles"]["p99"]), failures(fx),
        "-" if mx is None else f"{mx['summary']['requestsPerSec']:.0f}",
        ms(mx and mx["latencyPercentiles"]["p99"]), f"{cpu:.1f}", failures(mx),
        ms(bu and bu["latencyPercentiles"]["p99"]), failures(bu),
        "-" if not st or st.get("first_p50_ms") is None else f"{st['first_p50_ms']:.2f}",
        "-" if not st or st.get("first_p99_ms") is None else f"{st['first_p99_ms']:.2f}",
        "?" if not st else str(st.get("errors", "?")),
        f"{idle / 1024:.1f}M", f"{mid / 1024:.1f}M", f"{end / 1024:.1f}M",
    ]
    print("  ".join(v.rjust(w) for v, (_, w) in zip(row, cols)))
print()
print("latencies in ms; cpu us/req = CPU time of the server process (direct: the fake upstream;")
print("nginx: master + worker; gateway: the gateway) during the max-throughput phase / 2xx answers;")
print("rss = resident memory of the same processes: idle before the warm-up, after phases 1-3")
print("(load, ending with the connection burst) and after streaming (end; for direct, the restarted upstream).")
print()

# The same run as the performance targets are stated: latency added to the upstream's own
# (each target minus `direct`), by load.
def pct(d, p):
    return None if d is None else d["latencyPercentiles"].get(p)

def added(name, t, p):
    base, mine = pct(load(name, "direct"), p), pct(load(name, t), p)
    return None if base is None or mine is None else (mine - base) * 1000

def stream_added(name, t, key):
    base, mine = load(name, "direct"), load(name, t)
    if not base or not mine or base.get(key) is None or mine.get(key) is None:
        return None
    return mine[key] - base[key]

def fmt(v, unit=""):
    return "-" if v is None else f"{v:.2f}{unit}"

rows = [("CPU per request at max throughput", lambda t: f"{procs.get(t, (0, 0, 0, 0.0))[3]:.1f} us"),
        ("max requests/s", lambda t: "-" if load("max", t) is None else f"{load('max', t)['summary']['requestsPerSec']:.0f}")]
for label, name in (("one at a time", "serial"), (f"{low_rate} req/s", "low"), (f"{rate} req/s", "fixed")):
    rows.append((f"added p50 / p99 ms, {label}",
                 lambda t, n=name: f"{fmt(added(n, t, 'p50'))} / {fmt(added(n, t, 'p99'))}"))
rows += [
    ("added first byte p50 ms, one stream", lambda t: fmt(stream_added("stream1", t, "first_p50_ms"))),
    (f"added first byte p50 ms, {stream_rate} streams/s", lambda t: fmt(stream_added("streamrate", t, "first_p50_ms"))),
    (f"added total stream p50 ms, {stream_rate} streams/s", lambda t: fmt(stream_added("streamrate", t, "total_p50_ms"))),
    (f"{stream_rate} streams/s: errors, started late", lambda t: "-" if not load("streamrate", t) else f"{load('streamrate', t)['errors']}, {load('streamrate', t).get('late', '?')}"),
    (f"{slow_conns} conns, {slow_ms} ms upstream: req/s", lambda t: "-" if load("slow", t) is None else f"{load('slow', t)['summary']['requestsPerSec']:.0f}"),
    (f"{slow_conns} conns: added p50 / p99 ms", lambda t: f"{fmt(added('slow', t, 'p50'))} / {fmt(added('slow', t, 'p99'))}"),
    (f"{slow_conns} conns: failures", lambda t: failures(load("slow", t))),
    ("rss MB: idle / after 1-3 / after 6 / 10 s on", lambda t: "/".join(f"{v / 1024:.0f}" for v in (procs.get(t, (0, 0, 0, 0))[0], procs.get(t, (0, 0, 0, 0))[1], slow_rss.get(t, (0, 0))[0], slow_rss.get(t, (0, 0))[1]))),
]
width = max(len(r[0]) for r in rows)
print("  ".join(["".ljust(width)] + [t.rjust(16) for t in targets]))
for label, cell in rows:
    print("  ".join([label.ljust(width)] + [cell(t).rjust(16) for t in targets]))
print()
print("added = the target's figure minus direct's in the same run; for direct itself, 0.")
print(f"raw oha and ttfb.py output: {results}")
PY
