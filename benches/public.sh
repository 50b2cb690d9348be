#!/usr/bin/env bash
# The public trace-code lookup (R-PUB-3), GET /api/v1/public/trace/{code}: no sign-in, answered
# from the in-process cache (one database load per cold code).
#
# Starts the release binary on the demo data (3 500 trace records), then in the same run:
#   1. wrk -t2 -cC -dSECS --latency, after a warm-up, for each C in CONNS ("64 256"): the bare
#      endpoint GET /healthz (constant JSON, same server, same middleware) against the lookup of
#      one code already in the cache; req/s, p50, p99 and the ratio public/bare (target >= 0.7);
#      the server process's CPU time per request (user + system; PostgreSQL's own backends
#      not included); the cache loads and the queries recorded by the query log meanwhile;
#   2. a cold stampede: STAMPEDE (1 000) requests for one code never asked before, each on its
#      own connection: every connection first gets its request but the final CRLF, then that
#      last byte pair goes to all of them in one tight loop (a few ms; tighter than threads
#      behind a barrier, which the GIL wakes one by one); how many answered 200, how long after
#      the release, and how many database loads they caused (target 1):
#      suyuan_trace_public_loads_total from /metrics before and after and, on PostgreSQL, the
#      statement log (log_statement=all on the bench database for this phase only; statements
#      per table between two markers). For scale: one request for another cold code, one cached;
#   3. the server's VmRSS / VmHWM (/proc/PID/status): idle, during and after wrk, after the
#      stampede.
# wrk (or the stampede client) and the server share the machine's cores: on a 2-core box the
# server gets about half of it, and the bare endpoint pays the same price.
#
# Usage: bash benches/public.sh [sqlite|postgres]
#   env: PORT (18095), SECS (10), CONNS ("64 256"), STAMPEDE (1000), KEEP=1 (keep the postgres
#   database and copy the server log to /tmp/public-server.log)
# Needs the release binary: cargo build --release -p suyuan_platform
set -euo pipefail
# The audit key lives outside the database; PostgreSQL deployments must set one.
export SUYUAN_AUDIT_KEY="${SUYUAN_AUDIT_KEY:-bench-audit-key-kept-outside-the-database-0001}"
cd "$(dirname "$0")/.."
. benches/lib.sh
DB="${1:-sqlite}"
case "$DB" in sqlite | postgres) ;; *) echo "usage: bash benches/public.sh [sqlite|postgres]" >&2; exit 2 ;; esac
BIN="${CARGO_TARGET_DIR:-/var/tmp/suyuan-target}/release/suyuan"
[ -x "$BIN" ] || { echo "build it first: cargo build --release -p suyuan_platform" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
PORT="${PORT:-18095}"
SECS="${SECS:-10}"
CONNS="${CONNS:-64 256}"
STAMPEDE="${STAMPEDE:-1000}"
PASS='Bench-Init-2026'
# /metrics needs its token; the limiter stays on, its public limit far above the benchmark's rate
# (one address sends everything here), so it counts every request and refuses none.
export SUYUAN_METRICS_TOKEN="${SUYUAN_METRICS_TOKEN:-bench-metrics-token-0123456789}"
export SUYUAN_RATE_LIMIT_PUBLIC="${SUYUAN_RATE_LIMIT_PUBLIC:-1000000000}"
PGDB="suyuan_bench_public"
PSQL=(psql -h 127.0.0.1 -U postgres -X -q)
BASE="http://127.0.0.1:$PORT"
DIR="$(mktemp -d)"
SUM="$DIR/summary"
ulimit -n "$(ulimit -Hn)" # the stampede's connections, on both ends (the server inherits it)
cleanup() {
  if [ -n "${PID:-}" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  if [ -n "${KEEP:-}" ] && [ -f "$DIR/log" ]; then cp "$DIR/log" /tmp/public-server.log; fi
  rm -rf "$DIR"
  if [ "$DB" = postgres ]; then
    "${PSQL[@]}" -c "ALTER DATABASE $PGDB RESET log_statement" >/dev/null 2>&1 || true
    if [ -z "${KEEP:-}" ]; then "${PSQL[@]}" -c "DROP DATABASE IF EXISTS $PGDB WITH (FORCE)" >/dev/null 2>&1 || true; fi
  fi
}
trap cleanup EXIT
say() { echo "$*" | tee -a "$SUM"; }
log() { echo "-- $*" >&2; }

if curl -s -o /dev/null "$BASE/healthz"; then echo "port $PORT is in use (another server?): set PORT" >&2; exit 1; fi
if [ "$DB" = postgres ]; then
  "${PSQL[@]}" -c "DROP DATABASE IF EXISTS $PGDB WITH (FORCE)" >/dev/null
  "${PSQL[@]}" -c "CREATE DATABASE $PGDB" >/dev/null
  # Over TCP, as deployments do; PG_SOCKET=1: the Unix socket (lib.sh pg_url).
  export SUYUAN_DATABASE_URL="$(pg_url "$PGDB")"
  sql() { "${PSQL[@]}" -d "$PGDB" -Atc "$1"; }
else
  export SUYUAN_DATABASE_URL="sqlite://$DIR/suyuan.db"
  sql() { sqlite3 "$DIR/suyuan.db" "$1"; }
fi
log "demo data ($DB)"
(cd "$DIR" && SUYUAN_ADMIN_PASSWORD="$PASS" "$BIN" demo >"$DIR/demo.txt" 2>&1)
WARM=$(grep -o '/t/[^[:space:]]*' "$DIR/demo.txt" | head -1 | cut -c4- || true)
[ -n "$WARM" ] || WARM=$(sql "SELECT code FROM trace_code_index ORDER BY code LIMIT 1")
COLD=$(sql "SELECT DISTINCT code FROM trace_code_index WHERE code <> '$WARM' ORDER BY code DESC LIMIT 1")
COLD2=$(sql "SELECT DISTINCT code FROM trace_code_index WHERE code NOT IN ('$WARM', '$COLD') ORDER BY code DESC LIMIT 1")
NCODES=$(sql "SELECT count(DISTINCT code) FROM trace_code_index")

(cd "$DIR" && SUYUAN_LISTEN="127.0.0.1:$PORT" SUYUAN_LOG_LEVEL="${LOG_LEVEL:-warn}" exec "$BIN" serve >"$DIR/log" 2>&1) &
PID=$!
for _ in $(seq 1 150); do curl -fs "$BASE/healthz" >/dev/null && break; sleep 0.2; done
kill -0 "$PID" 2>/dev/null && curl -fs "$BASE/healthz" >/dev/null || { echo "the server did not start:" >&2; cat "$DIR/log" >&2; exit 1; }

rss() { awk '/^VmRSS|^VmHWM/ {printf "%s %6.1f MiB  ", $1, $2 / 1024}' "/proc/$PID/status"; }
# The cache loads so far (all samples of the family summed), or "absent".
loads() {
  curl -fs -H "Authorization: Bearer $SUYUAN_METRICS_TOKEN" "$BASE/metrics" | awk '$1 ~ /^suyuan_trace_public_loads_total($|\{)/ {s += $NF; n++} END {if (n) printf "%d", s; else printf "absent"}'
}
delta() { if [ "$1" = absent ] || [ "$2" = absent ]; then echo "n/a (no suyuan_trace_public_loads_total in /metrics)"; else echo $(($2 - $1)); fi; }
recorded() { sql "SELECT count(*) FROM trace_code_queries"; }
dropped() { grep -c 'query log is full' "$DIR/log" || true; }
# The server's CPU time so far (user + system), in clock ticks.
ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
# wrk URL C [secs] -> "req/s p50_ms p99_ms non2xx socket_errors server_cpu_us_per_request"
bench() {
  local t0 t1
  t0=$(ticks)
  wrk -t2 -c"$2" -d"${3:-$SECS}s" --latency "$1" >"$DIR/wrk.txt" 2>&1 || true
  t1=$(ticks)
  awk -v ticks=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" '
       function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
       /requests in/ {n = $1} /Requests\/sec/ {r = $2} $1 == "50%" {p50 = ms($2)} $1 == "99%" {p99 = ms($2)}
       /Non-2xx/ {bad = $NF} /Socket errors/ {err = $0; sub(/.*errors: /, "", err); gsub(/ /, "", err)}
       END {printf "%s %.3f %.3f %d %s %.1f\n", r, p50, p99, bad, (err == "" ? "-" : err), (n ? ticks / hz * 1e6 / n : 0)}' "$DIR/wrk.txt"
}

say "== public trace lookup, database $DB, $(nproc) cores shared by the server and the load generator"
say "binary $BIN ($(date -r "$BIN" '+%F %T')); $NCODES codes; cached code $WARM, cold code $COLD"
[ "$WARM" != "$COLD" ] || { echo "no second code for the stampede" >&2; exit 1; }
L0=$(loads)
say "idle:                   $(rss)  loads so far $L0"
STATUS=$(curl -s -o "$DIR/warm.json" -w '%{http_code}' "$BASE/api/v1/public/trace/$WARM")
[ "$STATUS" = 200 ] || { echo "GET public/trace/$WARM answered $STATUS: $(head -c 300 "$DIR/warm.json")" >&2; exit 1; }
say "answer: $(wc -c <"$DIR/warm.json") bytes (healthz: $(curl -fs "$BASE/healthz" | wc -c) bytes)"

# 1. wrk.
log "warm-up"
bench "$BASE/healthz" 64 3 >/dev/null
bench "$BASE/api/v1/public/trace/$WARM" 64 3 >/dev/null
L1=$(loads); Q1=$(recorded); D1=$(dropped)
say ""
say "-- 1. wrk -t2 -dSECS=${SECS}s --latency (one cached code; cache TTL 60 s, so a reload per minute is expected)"
printf '%-24s %8s %8s %8s %7s %15s  %s\n' "" "req/s" "p50 ms" "p99 ms" "non-2xx" "server CPU/req" "socket errors" | tee -a "$SUM"
for C in $CONNS; do
  log "wrk -c$C healthz"
  read -r HR HP50 HP99 HBAD HERR HCPU < <(bench "$BASE/healthz" "$C")
  log "wrk -c$C public"
  ( sleep $((SECS / 2)); rss >"$DIR/rss-during" ) &
  SAMPLER=$!
  read -r PR PP50 PP99 PBAD PERR PCPU < <(bench "$BASE/api/v1/public/trace/$WARM" "$C")
  wait "$SAMPLER"
  printf '%-24s %8.0f %8.2f %8.2f %7d %12.1f us  %s\n' "-c$C bare /healthz" "$HR" "$HP50" "$HP99" "$HBAD" "$HCPU" "$HERR" | tee -a "$SUM"
  printf '%-24s %8.0f %8.2f %8.2f %7d %12.1f us  %s\n' "-c$C public (cached)" "$PR" "$PP50" "$PP99" "$PBAD" "$PCPU" "$PERR" | tee -a "$SUM"
  RATIO=$(awk -v a="$PR" -v b="$HR" 'BEGIN {printf "%.2f", a / b}')
  OK=$(awk -v r="$RATIO" 'BEGIN {print (r >= 0.7 ? "meets" : "MISSES")}')
  say "-c$C ratio public/bare: $RATIO ($OK the target 0.7); p99 public/bare $(awk -v a="$PP99" -v b="$HP99" 'BEGIN {printf "%.1fx", a / b}')"
  say "   RSS during public -c$C: $(cat "$DIR/rss-during")"
done
say "right after wrk:        $(rss)"
# The query log writes in batches and may lag: wait until it has written everything.
DRAIN=$SECONDS; Q2=$(recorded)
while sleep 1; do Q=$(recorded); [ "$Q" != "$Q2" ] || break; Q2=$Q; [ $((SECONDS - DRAIN)) -lt 120 ] || break; done
L2=$(loads); D2=$(dropped)
say "after the query log drained ($((SECONDS - DRAIN)) s after wrk): $(rss)"
say "cache loads during wrk: $(delta "$L1" "$L2"); queries recorded by the query log: $((Q2 - Q1)); dropped (queue full) warnings: $((D2 - D1))"

# 2. The cold stampede.
log "stampede of $STAMPEDE on $COLD"
say ""
say "-- 2. cold stampede: $STAMPEDE concurrent requests, one connection each, for $COLD (never asked before)"
ms() { curl -s -o /dev/null -w '%{time_total}' "$BASE/api/v1/public/trace/$1" | awk '{printf "%.1f", $1 * 1000}'; }
say "for scale: one request for a cold code ($COLD2) $(ms "$COLD2") ms, for a cached one $(ms "$WARM") ms"
if [ "$DB" = postgres ]; then
  "${PSQL[@]}" -c "ALTER DATABASE $PGDB SET log_statement = 'all'" >/dev/null
  T=$(sql "SELECT now()")
  # The setting reaches new sessions only: close the pool's idle connections (the pool tests a
  # connection before handing it out and opens a new one, which logs).
  sql "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '$PGDB' AND pid <> pg_backend_pid() AND state = 'idle'" >/dev/null
  sleep 0.5
  STALE=$(sql "SELECT count(*) FROM pg_stat_activity WHERE datname = '$PGDB' AND pid <> pg_backend_pid() AND backend_start < '$T'")
  [ "$STALE" -eq 0 ] || say "warning: $STALE server connection(s) opened before log_statement=all (busy, not closed): the statement log may miss statements"
fi
L3=$(loads)
python3 - "$PORT" "$COLD" "$STAMPEDE" "$DB" "$PGDB" <<'PY' | tee -a "$SUM"
import collections, glob, json, os, selectors, socket, subprocess, sys, time
port, code, n, db, pgdb = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-X", "-q", "-d", pgdb, "-Atc"]
logs = {f: os.path.getsize(f) for f in glob.glob("/var/log/postgresql/*.log")} if db == "postgres" else {}
tag = f"bench-public-{os.getpid()}-{time.time_ns()}"
if db == "postgres":
    subprocess.run(psql + [f"SELECT '{tag}-begin'"], check=True, capture_output=True)
# Every connection gets its request head but the final CRLF (the server waits for it); then the
# last two bytes go out to all of them in one tight loop.
head = f"GET /api/v1/public/trace/{code} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n".encode()
socks = []
for _ in range(n):
    c = socket.create_connection(("127.0.0.1", port), timeout=30)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.sendall(head)
    socks.append(c)
time.sleep(0.5)
sel = selectors.DefaultSelector()
bufs, done = [bytearray() for _ in range(n)], [None] * n
for i, c in enumerate(socks):
    c.setblocking(False)
    sel.register(c, selectors.EVENT_READ, i)
t0 = time.perf_counter()
for c in socks:
    c.send(b"\r\n")
released = time.perf_counter() - t0
early = len(sel.select(timeout=0))  # answers already back when the last request went out
left = n
while left:
    ready = sel.select(timeout=60)
    if not ready:
        break
    for key, _ in ready:
        i = key.data
        try:
            data = key.fileobj.recv(65536)
        except OSError:
            data = b""
        if data:
            bufs[i] += data
        else:
            done[i] = time.perf_counter() - t0
            sel.unregister(key.fileobj)
            key.fileobj.close()
            left -= 1
def parse(raw):
    if not raw:
        return "no answer", None
    top, _, body = bytes(raw).partition(b"\r\n\r\n")
    status = int(top.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in top.lower():
        out, rest = b"", body
        while rest:
            size, _, rest = rest.partition(b"\r\n")
            k = int(size, 16)
            if k == 0:
                break
            out, rest = out + rest[:k], rest[k + 2:]
        body = out
    if status != 200:
        return status, None
    # The records' part; the count and dates differ by design.
    return 200, json.dumps({k: v for k, v in json.loads(body).items() if k not in ("queries", "first_queried_at", "warning")}, sort_keys=True)
answers = [parse(b) for b in bufs]
got = collections.Counter(s for s, _ in answers)
ok = got.get(200, 0)
lat = sorted(d * 1000 for d, (s, _) in zip(done, answers) if s == 200 and d is not None)
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")
print(f"answers: {dict(got)}  -> {'all' if ok == n else 'NOT all'} {n} answered 200; all with the same records: {len(set(b for _, b in answers if b)) == 1}")
print(f"released in {released * 1000:.1f} ms (the last byte to all {n}); answered after: first {q(0):.1f} ms, p50 {q(0.5):.1f} ms, p99 {q(0.99):.1f} ms, last {q(1.0):.1f} ms")
print(f"all {n} in flight before the first answer came back: {'yes' if early == 0 else f'NO ({early} answers back during the release: later ones found the code cached)'}")
if db == "postgres":
    time.sleep(1.5)  # the query log's batch
    subprocess.run(psql + [f"SELECT '{tag}-end'"], check=True, capture_output=True)
    time.sleep(0.5)
    text = ""
    for f in sorted(glob.glob("/var/log/postgresql/*.log")):
        with open(f, "rb") as fh:
            fh.seek(logs.get(f, 0))
            text += fh.read().decode("utf-8", "replace")
    lines = text.splitlines()
    try:
        a = next(i for i, l in enumerate(lines) if f"{tag}-begin" in l)
        b = next(i for i, l in enumerate(lines) if f"{tag}-end" in l)
    except StopIteration:
        print("statement log: markers not found (is log_statement honoured / the log readable?)")
        sys.exit(0)
    stmts = [l for l in lines[a + 1:b] if f"@{pgdb} " in l and (" statement: " in l or " execute " in l)]
    names = ("trace_code_index", "trace_events", "trace_code_stats", "trace_code_queries")
    per = collections.Counter(t for l in stmts for t in names if t in l)
    print(f"statement log between markers: {len(stmts)} statements from the server; naming " + ", ".join(f"{t} {per[t]}" for t in names))
    # A load's first statement reads the records carrying the code through trace_code_index; its
    # lineage walks (WITH RECURSIVE) start from the same index and are not further loads.
    first = [l for l in stmts if 'trace_code_index' in l and 'SELECT' in l.upper() and 'RECURSIVE' not in l.upper()]
    print(f"DB LOADS by the statement log (SELECTs naming trace_code_index, walks aside): {len(first)}")
PY
sleep 1
L4=$(loads)
say "DB LOADS by /metrics (suyuan_trace_public_loads_total): $(delta "$L3" "$L4")   (target 1)"
if [ "$DB" = postgres ]; then
  "${PSQL[@]}" -c "ALTER DATABASE $PGDB RESET log_statement" >/dev/null
fi
say "after the stampede:     $(rss)"
[ "$(dropped)" -eq 0 ] || say "server log: $(dropped) 'query log is full' warnings in all"
OTHER=$(grep -v 'query log is full' "$DIR/log" | grep -ci 'warn\|error' || true)
[ "$OTHER" -eq 0 ] || say "server log: $OTHER other warning/error lines, e.g.: $(grep -v 'query log is full' "$DIR/log" | grep -i 'warn\|error' | head -1 | cut -c1-200)"
echo
echo "================ summary ================"
cat "$SUM"
