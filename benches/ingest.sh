#!/usr/bin/env bash
# Trace-record ingest through the HTTP API (R-PERF-1, issue 6), batches of 1 000.
#
# Starts the release binary with the demo data (for approved subjects), then in the same run:
#   1. the baselines: the same N rows written without the API on the same database —
#      a. raw SQL into `trace_events` itself (its columns, types and indexes, partitioned by month
#         on PostgreSQL), in a scratch copy of the demo database: one prepared INSERT in one
#         transaction (SQLite, Python's sqlite3), COPY (PostgreSQL, psql \copy);
#      b. the same raw SQL into a plain table of 27 TEXT/DOUBLE columns with two indexes (the
#         lightest table these rows fit; the baseline of earlier runs);
#      c. sea-orm `insert_many` into `trace_events`, in one transaction, in another scratch copy
#         (platform/benches/insert_many.rs);
#   2. the API: POST /api/v1/trace/events, N/1000 requests of 1 000 records each, one after the
#      other over one keep-alive connection, then (other records) over CONNS connections at once
#      (default 2), with everything the API does (checking, idempotency, lineage edges, the
#      trace-code index, the statistics deltas, the outbox row, the audit record).
#
# Usage: cargo build --release -p suyuan_platform && [CONNS="2 4"] [PGPORT=5432] [PG_SOCKET=1] bash benches/ingest.sh [sqlite|postgres] [rows]
set -euo pipefail
# The audit key lives outside the database; PostgreSQL deployments must set one.
export SUYUAN_AUDIT_KEY="${SUYUAN_AUDIT_KEY:-bench-audit-key-kept-outside-the-database-0001}"
cd "$(dirname "$0")/.."
. benches/lib.sh
DB="${1:-sqlite}"
N="${2:-100000}"
BIN="${CARGO_TARGET_DIR:-/var/tmp/suyuan-target}/release/suyuan"
[ -x "$BIN" ] || { echo "build it first: cargo build --release -p suyuan_platform" >&2; exit 1; }
PORT="${PORT:-18096}"
DIR="$(mktemp -d)"
PASS='Bench-Init-2026'
NEW='Bench-Pass-2027'
PGDB="suyuan_bench_ingest"
cleanup() {
  [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null
  if [ -n "${KEEP:-}" ]; then cp "$DIR/log" /tmp/ingest-server.log; fi
  rm -rf "$DIR"
  if [ "$DB" = postgres ]; then
    for b in base seaorm; do psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS ${PGDB}_$b" >/dev/null 2>&1 || true; done
    [ -z "${KEEP:-}" ] && psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $PGDB" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
if [ "$DB" = postgres ]; then
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $PGDB" >/dev/null
  psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $PGDB" >/dev/null
  # SLOW_MS=50: the server logs every statement slower than that (to find where time goes).
  if [ -n "${SLOW_MS:-}" ]; then psql -h 127.0.0.1 -U postgres -qc "ALTER DATABASE $PGDB SET log_min_duration_statement = $SLOW_MS" >/dev/null; fi
  # The server reaches PostgreSQL over TCP (127.0.0.1), as deployments do; PG_SOCKET=1: over
  # the Unix socket instead (lib.sh pg_url). PGPORT (psql's own variable) picks another cluster
  # of this host, for every connection here.
  PG_PORT="${PGPORT:-5432}"
  export SUYUAN_DATABASE_URL="$(pg_url "$PGDB" "$PG_PORT")"
  echo "server to PostgreSQL: ${SUYUAN_DATABASE_URL%%/$PGDB}" >&2
else
  export SUYUAN_DATABASE_URL="sqlite://$DIR/suyuan.db"
fi
(cd "$DIR" && SUYUAN_ADMIN_PASSWORD="$PASS" "$BIN" demo >/dev/null)
# Scratch copies of the demo database for the baselines into trace_events (1a, 1c).
if [ "$DB" = postgres ]; then
  for b in base seaorm; do
    psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS ${PGDB}_$b" >/dev/null
    psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE ${PGDB}_$b TEMPLATE $PGDB" >/dev/null
  done
  BASE_URL="${SUYUAN_DATABASE_URL%/*}/${PGDB}_base"
  SEAORM_URL="${SUYUAN_DATABASE_URL%/*}/${PGDB}_seaorm"
  TENANT=$(psql -h 127.0.0.1 -U postgres -d "$PGDB" -tAc "SELECT id FROM tenants ORDER BY path LIMIT 1")
else
  # SQLite's backup copies what the write-ahead log holds too.
  for b in base seaorm; do
    python3 -c 'import sqlite3,sys; sqlite3.connect(sys.argv[1]).backup(sqlite3.connect(sys.argv[2]))' "$DIR/suyuan.db" "$DIR/$b.db"
  done
  BASE_URL="$DIR/base.db"
  SEAORM_URL="sqlite://$DIR/seaorm.db"
  TENANT=$(python3 -c 'import sqlite3,sys,uuid; v=sqlite3.connect(sys.argv[1]).execute("SELECT id FROM tenants ORDER BY path LIMIT 1").fetchone()[0]; print(uuid.UUID(bytes=v) if isinstance(v, bytes) else v)' "$DIR/suyuan.db")
fi
(cd "$DIR" && SUYUAN_LISTEN="127.0.0.1:$PORT" SUYUAN_LOG_LEVEL="${LOG_LEVEL:-warn}" exec "$BIN" serve >"$DIR/log" 2>&1) &
PID=$!
wait_up "$PORT"
KEY=$(admin_key "$PORT" "$DIR/jar" "$PASS" "$NEW" operator bench)
FARM=$(curl -fs -H "Authorization: Bearer $KEY" "http://127.0.0.1:$PORT/api/v1/enterprises?name=%E5%AF%BF%E5%85%89%E7%A4%BA%E8%8C%83%E8%94%AC%E8%8F%9C" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["code"])')
MARKET=$(curl -fs -H "Authorization: Bearer $KEY" "http://127.0.0.1:$PORT/api/v1/enterprises?name=%E5%A0%A4%E5%8F%A3%E8%B7%AF" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["code"])')

python3 - "$DB" "$DIR" "$N" "$PGDB" "$PORT" "$KEY" "$FARM" "$MARKET" "$BASE_URL" "$SEAORM_URL" "$TENANT" <<'PY'
import csv, http.client, json, os, sqlite3, subprocess, sys, time, uuid
db, d, n, pgdb, port, key, farm, market = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), sys.argv[6], sys.argv[7], sys.argv[8]
base_url, seaorm_url, tenant = sys.argv[9], sys.argv[10], sys.argv[11]
def record(i):
    ship = i % 2 == 1
    return {"client_event_id": f"bench-{i}", "stage": "transport" if ship else "primary_production",
            "action": "ship" if ship else "harvest", "subject_code": farm, "product_name": "寿光番茄",
            "batch_no": f"B{i // 2:07d}", "trace_codes": [f"BENCH{i:08d}"], "quantity": 1000.0, "unit": "kg",
            "price": 3.2 if ship else None, "event_time": "2026-11-20T06:30:00+08:00", "division_code": "370783",
            "longitude": 118.79, "latitude": 36.86, **({"counterpart_code": market} if ship else {})}
records = [record(i) for i in range(n)]

# 1. Baselines: the same rows without the API.
cols = ["id", "tenant_id", "client_event_id", "stage", "action", "subject_code", "subject_name", "product_code",
        "product_name", "category_code", "batch_no", "trace_codes", "quantity", "unit", "price", "amount", "event_time",
        "event_offset_minutes", "recorded_at", "division_code", "longitude", "latitude", "counterpart_code",
        "counterpart_name", "inputs", "inspection", "extra"]
tid = uuid.UUID(tenant)
def row(r):
    return [uuid.uuid4(), tid, r["client_event_id"], r["stage"], r["action"], r["subject_code"], "寿光示范", None,
            r["product_name"], None, r["batch_no"], json.dumps(r["trace_codes"]), r["quantity"], r["unit"], r.get("price"),
            None, "2026-11-19T22:30:00+00:00", 480, "2026-11-27T00:00:00+00:00", r["division_code"], r["longitude"],
            r["latitude"], r.get("counterpart_code"), None, "[]", None, None]
rows = [row(r) for r in records]
plain_ddl = ("CREATE TABLE bench_events (" + ", ".join(f"{c} TEXT" if c not in ("quantity", "price", "amount", "longitude", "latitude", "event_offset_minutes") else f"{c} DOUBLE PRECISION" for c in cols)
             + ", PRIMARY KEY (id), UNIQUE (tenant_id, client_event_id))")
base = {}
if db == "sqlite":
    data = [[v.bytes if isinstance(v, uuid.UUID) else v for v in r] for r in rows]
    def prepared(path, table, ddl=None):
        con = sqlite3.connect(path)
        con.execute("PRAGMA journal_mode=WAL"); con.execute("PRAGMA synchronous=NORMAL")
        if ddl:
            con.execute(ddl)
        t = time.perf_counter()
        with con:
            con.executemany(f"INSERT INTO {table} ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})", data)
        return time.perf_counter() - t
    base["a"] = prepared(base_url, "trace_events")
    base["b"] = prepared(os.path.join(d, "plain.db"), "bench_events", plain_ddl)
else:
    path = os.path.join(d, "rows.csv")
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        for r in rows:
            w.writerow(["" if v is None else v for v in r])
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", pgdb + "_base", "-qc"]
    subprocess.run(psql + [plain_ddl], check=True)
    def copy(table):
        t = time.perf_counter()
        subprocess.run(psql + [f"\\copy {table} ({','.join(cols)}) FROM '{path}' WITH (FORMAT csv)"], check=True)
        return time.perf_counter() - t
    base["a"] = copy("trace_events")
    base["b"] = copy("bench_events")
out = subprocess.run(["cargo", "bench", "-q", "-p", "suyuan_platform", "--bench", "insert_many", "--",
                      seaorm_url, str(n), tenant, farm, market], check=True, capture_output=True, text=True).stdout
base["c"] = float(out.split()[-1])

# 2. The API, batches of 1 000: over one keep-alive connection, then over CONNS connections at once
#    (other records, so every run writes). One connection leaves a core idle while the server waits
#    for PostgreSQL and the client for the server; several pushing systems use it.
import threading
def push(run, conns):
    recs = records if run == 0 else [dict(r, client_event_id=f"{r['client_event_id']}-r{run}", batch_no=f"{r['batch_no']}R{run}",
                                          trace_codes=[f"{c}R{run}" for c in r["trace_codes"]]) for r in records]
    bodies = [json.dumps({"events": recs[i:i + 1000]}).encode() for i in range(0, n, 1000)]
    accepted, errors, lock = [0], [], threading.Lock()
    def worker(mine):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port)
            for body in mine:
                conn.request("POST", "/api/v1/trace/events", body, {"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
                res = conn.getresponse()
                raw = res.read()
                if res.status != 200:
                    errors.append(f"HTTP {res.status}: {raw[:300]!r}")
                    return
                with lock:
                    accepted[0] += json.loads(raw)["accepted"]
        except Exception as e:  # a dead thread must fail the run, not shorten it
            errors.append(repr(e))
    threads = [threading.Thread(target=worker, args=(bodies[k::conns],)) for k in range(conns)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - t
    if errors or accepted[0] != n:
        raise SystemExit(errors[0] if errors else f"accepted {accepted[0]} of {n}")
    return elapsed, accepted[0]
runs = [(c, *push(run, c)) for run, c in enumerate([1] + [int(c) for c in os.environ.get("CONNS", "2").split() if c != "1"])]
api, accepted = runs[0][1], runs[0][2]
import urllib.request
try:  # /metrics answers only with the metrics token
    m = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
    print("\n".join(l for l in m.splitlines() if "trace/events" in l and ("_sum" in l or "_count" in l)))
except Exception as e:
    print(f"(metrics not read: {e})")
raw = "COPY" if db == "postgres" else "prepared INSERT"
print(f"== {n} records, database {db}, batches of 1000")
lines = [(f"a. {raw} into trace_events", base["a"]), (f"b. {raw} into a plain 2-index table", base["b"]),
         ("c. sea-orm insert_many into trace_events", base["c"])]
lines += [(f"API, {c} connection{'s' if c > 1 else ''} (accepted {acc})", secs) for c, secs, acc in runs]
for label, secs in lines:
    print(f"{label:<44} {secs:7.2f} s  {n / secs:>9,.0f} rows/s")
for c, secs, _ in runs:
    print(f"API rate / baseline rate, {c} conn: a {base['a'] / secs:.2f}x   b {base['b'] / secs:.2f}x   c {base['c'] / secs:.2f}x")
PY
