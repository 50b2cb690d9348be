#!/usr/bin/env bash
# Single-record ingest of one tenant from several clients at once (R-PERF-1, issue 18 item 12):
# a province's enterprise systems each pushing records as they happen.
#
# Starts the release binary with the demo data, takes an operator key of the national tenant and
# a demo farm, then in the same run, ROUNDS rounds (default 3) taking turns, each SECS seconds:
#   1. baseline: wrk on GET /healthz (constant JSON, same server, same middleware, no database);
#   2. the API: wrk POST /api/v1/trace/events, one record per request, each with its own
#      client_event_id (so every request writes: record, lineage, code index, queued audit entry),
#      from CONNS connections (default 8) of the same key.
# Then every answer is accounted for: the records stored equal the 200s wrk counted, and
# `suyuan audit verify` checks the tenant's chain (every ingest's entry chained, in order, MACs,
# and every record accounted for by an entry).
#
# Usage: cargo build --release -p suyuan_platform && \
#        [CONNS=8] [SECS=10] [ROUNDS=3] [PORT=18098] [PG_SOCKET=1] bash benches/ingest_single.sh [postgres|sqlite]
set -euo pipefail
export SUYUAN_AUDIT_KEY="${SUYUAN_AUDIT_KEY:-bench-audit-key-kept-outside-the-database-0001}"
cd "$(dirname "$0")/.."
. benches/lib.sh
DB="${1:-postgres}"
case "$DB" in sqlite | postgres) ;; *) echo "usage: bash benches/ingest_single.sh [postgres|sqlite]" >&2; exit 2 ;; esac
BIN="${CARGO_TARGET_DIR:-/var/tmp/suyuan-target}/release/suyuan"
[ -x "$BIN" ] || { echo "build it first: cargo build --release -p suyuan_platform" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
PORT="${PORT:-18098}"
CONNS="${CONNS:-8}"
SECS="${SECS:-10}"
ROUNDS="${ROUNDS:-3}"
BASE="http://127.0.0.1:$PORT"
DIR="$(mktemp -d)"
PASS='Bench-Init-2026'
NEW='Bench-Pass-2027'
PGDB="suyuan_bench_single"
PSQL=(psql -h 127.0.0.1 -U postgres -X -q -v ON_ERROR_STOP=1)
cleanup() {
  [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  if [ -n "${KEEP:-}" ]; then cp "$DIR/log" /tmp/ingest-single-server.log 2>/dev/null || true; fi
  rm -rf "$DIR"
  if [ "$DB" = postgres ] && [ -z "${KEEP:-}" ]; then "${PSQL[@]}" -c "DROP DATABASE IF EXISTS $PGDB WITH (FORCE)" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
if curl -s -o /dev/null "$BASE/healthz"; then echo "port $PORT is in use (another server?): set PORT" >&2; exit 1; fi
if [ "$DB" = postgres ]; then
  "${PSQL[@]}" -c "DROP DATABASE IF EXISTS $PGDB WITH (FORCE)" >/dev/null
  "${PSQL[@]}" -c "CREATE DATABASE $PGDB" >/dev/null
  export SUYUAN_DATABASE_URL="$(pg_url "$PGDB")"
  sql() { "${PSQL[@]}" -d "$PGDB" -Atc "$1"; }
else
  export SUYUAN_DATABASE_URL="sqlite://$DIR/suyuan.db"
  sql() { python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])' "$DIR/suyuan.db" "$1"; }
fi
(cd "$DIR" && SUYUAN_ADMIN_PASSWORD="$PASS" "$BIN" demo >/dev/null)
# No rate limit: the benchmark is the limit.
(cd "$DIR" && SUYUAN_LISTEN="127.0.0.1:$PORT" SUYUAN_LOG_LEVEL="${LOG_LEVEL:-warn}" SUYUAN_RATE_LIMIT_API=0 \
  exec "$BIN" serve >"$DIR/log" 2>&1) &
PID=$!
wait_up "$PORT"
KEY=$(admin_key "$PORT" "$DIR/jar" "$PASS" "$NEW" operator bench)
FARM=$(curl -fs -H "Authorization: Bearer $KEY" "$BASE/api/v1/enterprises?name=%E5%AF%BF%E5%85%89%E7%A4%BA%E8%8C%83%E8%94%AC%E8%8F%9C" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["code"])')
BEFORE=$(sql "SELECT count(*) FROM trace_events")

# One record per request, a client_event_id of its own: wrk's threads each number theirs.
cat >"$DIR/single.lua" <<LUA
-- tag: a global each thread gets from setup (thread:set), so ids never repeat across threads.
local threads, counter = 0, 0
function setup(thread)
  threads = threads + 1
  thread:set("tag", tostring(threads) .. "-" .. os.time() .. "-" .. math.random(1000000))
end
function init(args)
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Bearer $KEY"
  wrk.headers["Content-Type"] = "application/json"
end
function request()
  counter = counter + 1
  local id = "ws-" .. tag .. "-" .. counter
  local body = '{"events":[{"client_event_id":"' .. id .. '","stage":"primary_production","action":"harvest",'
    .. '"subject_code":"$FARM","product_name":"寿光番茄","batch_no":"' .. id .. '","trace_codes":["' .. id .. '"],'
    .. '"quantity":10.0,"unit":"kg","event_time":"2026-11-20T06:30:00+08:00","division_code":"370783"}]}'
  return wrk.format(nil, "/api/v1/trace/events", nil, body)
end
LUA

# run NAME URL [script] -> appends "req/s p50_ms p99_ms requests non2xx" to $DIR/NAME
run() {
  wrk -t2 -c"$CONNS" -d"${SECS}s" --latency ${3:+-s "$3"} "$2" >"$DIR/wrk.txt" 2>&1 || true
  awk 'function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
       /requests in/ {n = $1} /Requests\/sec/ {r = $2} $1 == "50%" {p50 = ms($2)} $1 == "99%" {p99 = ms($2)} /Non-2xx/ {bad = $NF}
       END {printf "%s %.3f %.3f %d %d\n", r, p50, p99, n, bad}' "$DIR/wrk.txt" >>"$DIR/$1"
}
echo "== single-record ingest, one tenant, $CONNS connections, database $DB ($(echo "$SUYUAN_DATABASE_URL" | sed 's|//.*@|//|; s|/[^/]*$||')), $(nproc) cores shared by server and wrk"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
run warm "$BASE/healthz" >/dev/null
for r in $(seq 1 "$ROUNDS"); do
  if [ $((r % 2)) -eq 1 ]; then run base "$BASE/healthz"; run api "$BASE/api/v1/trace/events" "$DIR/single.lua"
  else run api "$BASE/api/v1/trace/events" "$DIR/single.lua"; run base "$BASE/healthz"; fi
done
echo "load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$DIR/base" "$DIR/api" "$DIR/ok" <<'PY'
import statistics, sys
base = [l.split() for l in open(sys.argv[1])]
api = [l.split() for l in open(sys.argv[2])]
print(f"{'round':<6} {'':<34} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'requests':>9} {'non-2xx':>7}")
ratios, ok = [], 0
for n, (b, a) in enumerate(zip(base, api), 1):
    print(f"{n:<6} {'GET /healthz':<34} {float(b[0]):9.0f} {float(b[1]):8.2f} {float(b[2]):8.2f} {int(b[3]):9d} {int(b[4]):7d}")
    print(f"{'':<6} {'POST trace/events (1 record)':<34} {float(a[0]):9.0f} {float(a[1]):8.2f} {float(a[2]):8.2f} {int(a[3]):9d} {int(a[4]):7d}")
    ratios.append(float(a[0]) / float(b[0]))
    print(f"{'':<6} {'ingest / healthz':<34} {ratios[-1]:9.3f}x")
    ok += int(a[3]) - int(a[4])
rates = [float(a[0]) for a in api]
print(f"median of {len(rates)} rounds: ingest {statistics.median(rates):.0f} requests/s = {statistics.median(ratios):.3f}x the bare endpoint")
open(sys.argv[3], "w").write(str(ok))
PY
OK=$(cat "$DIR/ok")
sleep 1
AFTER=$(sql "SELECT count(*) FROM trace_events")
echo "records stored: $((AFTER - BEFORE)); 200 answers counted by wrk: $OK (wrk stops mid-request: a few answered after it stopped may be stored, never fewer stored than answered)"
[ $((AFTER - BEFORE)) -ge "$OK" ] || { echo "FEWER RECORDS STORED THAN ANSWERED" >&2; exit 1; }
echo "queued audit entries not yet chained 1 s after the load: $(sql "SELECT count(*) FROM audit_pending")"
echo "suyuan audit verify (every tenant):"
(cd "$DIR" && "$BIN" audit verify 2>&1 | tail -8) || true
