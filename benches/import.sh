#!/usr/bin/env bash
# Bulk import of 100 000 enterprise filings (R-IF-3: "100 000 rows import within a minute").
#
# Starts the release binary with a fresh database, generates a CSV of N valid enterprise
# filings (distinct credit codes with their GB 32100 check characters), and measures in the
# same run:
#   1. the baseline: the same rows inserted by raw SQL — one prepared INSERT, one transaction —
#      into a table of the same shape, on the same database server/disk
#      (SQLite: Python's sqlite3 executemany; PostgreSQL: psql COPY);
#   2. a dry run through the API (upload, parse, check every row, report);
#   3. the import through the API (all of that, issued codes, batched INSERTs in one
#      transaction, the audit record).
# Times run from the upload to the job's `done`, polled every 100 ms.
#
# Usage: cargo build --release -p suyuan_platform && bash benches/import.sh [sqlite|postgres] [rows]
set -euo pipefail
# The audit key lives outside the database; PostgreSQL deployments must set one.
export SUYUAN_AUDIT_KEY="${SUYUAN_AUDIT_KEY:-bench-audit-key-kept-outside-the-database-0001}"
cd "$(dirname "$0")/.."
. benches/lib.sh
DB="${1:-sqlite}"
N="${2:-100000}"
BIN="${CARGO_TARGET_DIR:-/var/tmp/suyuan-target}/release/suyuan"
[ -x "$BIN" ] || { echo "build it first: cargo build --release -p suyuan_platform" >&2; exit 1; }
PORT="${PORT:-18098}"
DIR="$(mktemp -d)"
PASS='Bench-Init-2026'
NEW='Bench-Pass-2027'
PGDB="suyuan_bench_import"
cleanup() {
  [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null
  rm -rf "$DIR"
  if [ "$DB" = postgres ]; then psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $PGDB" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

if [ "$DB" = postgres ]; then
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $PGDB" >/dev/null
  psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $PGDB" >/dev/null
  export SUYUAN_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$PGDB"
fi

(cd "$DIR" && SUYUAN_ADMIN_PASSWORD="$PASS" SUYUAN_LISTEN="127.0.0.1:$PORT" SUYUAN_LOG_LEVEL=warn exec "$BIN" serve >"$DIR/log" 2>&1) &
PID=$!
wait_up "$PORT"
KEY=$(admin_key "$PORT" "$DIR/jar" "$PASS" "$NEW" operator bench)

python3 - "$N" "$DIR/enterprises.csv" <<'PY'
import csv, random, sys
n, path = int(sys.argv[1]), sys.argv[2]
C = "0123456789ABCDEFGHJKLMNPQRTUWXY"
W = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
def uscc(i):
    body = "913701" + "00" + "MA" + format(i, "07d")  # 17 characters
    s = sum(C.index(c) * w for c, w in zip(body, W))
    return body + C[(31 - s % 31) % 31]
cities = ["370102", "370783", "320102", "440106", "510104", "110105"]
random.seed(7)
with open(path, "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f)
    w.writerow(["企业名称", "统一社会信用代码", "企业类型", "经营品类", "追溯环节", "地址", "地区代码",
                "经度", "纬度", "联系人", "联系电话", "电子邮箱"])
    for i in range(n):
        w.writerow([f"测试企业{i:06d}有限公司", uscc(i), "生产企业", "0101 0102", "初级生产 产品消费或使用",
                    f"示范路 {i} 号", random.choice(cities), f"{110 + random.random() * 10:.5f}",
                    f"{30 + random.random() * 8:.5f}", "张三", "0531-88881234", f"e{i}@example.cn"])
PY
SIZE=$(du -h "$DIR/enterprises.csv" | cut -f1)
echo "== $N rows, CSV $SIZE, database: $DB"

# 1. Baseline: raw SQL, one prepared statement, one transaction, the same rows.
BASE=$(python3 - "$DB" "$DIR" "$PGDB" <<'PY'
import csv, os, subprocess, sqlite3, sys, time, uuid
db, d, pgdb = sys.argv[1], sys.argv[2], sys.argv[3]
rows = list(csv.reader(open(os.path.join(d, "enterprises.csv"), encoding="utf-8")))[1:]
cols = "id, tenant_id, code, name, uscc, enterprise_type, categories, stages, licence_no, address, division_code, longitude, latitude, contact_name, contact_phone, contact_email, status, version, reason, created_at, updated_at"
tid = str(uuid.uuid4())
def rec(i, r):
    return (str(uuid.uuid4()), tid, f"E100000{i:07d}X", r[0], r[1], "producer", '["0101","0102"]', "primary_production,sale",
            None, r[5], r[6], float(r[7]), float(r[8]), r[9], r[10], r[11], "draft", 0, None,
            "2026-11-27T00:00:00+00:00", "2026-11-27T00:00:00+00:00")
data = [rec(i, r) for i, r in enumerate(rows)]
ddl = """CREATE TABLE bench_enterprises (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, code TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
 uscc TEXT NOT NULL UNIQUE, enterprise_type TEXT NOT NULL, categories TEXT NOT NULL, stages TEXT NOT NULL, licence_no TEXT,
 address TEXT NOT NULL, division_code TEXT NOT NULL, longitude DOUBLE PRECISION, latitude DOUBLE PRECISION, contact_name TEXT NOT NULL,
 contact_phone TEXT NOT NULL, contact_email TEXT, status TEXT NOT NULL, version INTEGER NOT NULL, reason TEXT,
 created_at TEXT NOT NULL, updated_at TEXT NOT NULL)"""
if db == "sqlite":
    con = sqlite3.connect(os.path.join(d, "baseline.db"))
    con.execute("PRAGMA journal_mode=WAL"); con.execute("PRAGMA synchronous=NORMAL")
    con.execute(ddl)
    t = time.perf_counter()
    with con:
        con.executemany(f"INSERT INTO bench_enterprises ({cols}) VALUES ({','.join('?' * 21)})", data)
    print(time.perf_counter() - t)
else:
    path = os.path.join(d, "baseline.csv")
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        for r in data:
            w.writerow(["" if v is None else v for v in r])
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", pgdb, "-qc"]
    subprocess.run(psql + [ddl], check=True)
    t = time.perf_counter()
    subprocess.run(psql + [f"\\copy bench_enterprises ({cols}) FROM '{path}' WITH (FORMAT csv)"], check=True)
    print(time.perf_counter() - t)
PY
)

run() {
  local mode="$1"
  local t0 t1 id status
  t0=$(date +%s.%N)
  id=$(curl -fs -H "Authorization: Bearer $KEY" -H 'content-type: text/csv' --data-binary "@$DIR/enterprises.csv" \
    "http://127.0.0.1:$PORT/api/v1/imports?kind=enterprise&mode=$mode" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  while :; do
    status=$(curl -fs -H "Authorization: Bearer $KEY" "http://127.0.0.1:$PORT/api/v1/imports/$id" \
      | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["status"], j["good_rows"], j["bad_rows"], j["imported_rows"])')
    case "$status" in done*|failed*) break ;; esac
    sleep 0.1
  done
  t1=$(date +%s.%N)
  echo "$(echo "$t1 - $t0" | bc) $status"
}
DRY=$(run dry_run)
REAL=$(run all_or_nothing)
python3 - "$N" "$BASE" "$DRY" "$REAL" <<'PY'
import sys
n = int(sys.argv[1]); base = float(sys.argv[2])
dry = sys.argv[3].split(); real = sys.argv[4].split()
print(f"baseline raw SQL insert : {base:7.2f} s  {n / base:>10,.0f} rows/s")
print(f"API dry run (check only): {float(dry[0]):7.2f} s  {n / float(dry[0]):>10,.0f} rows/s   status={' '.join(dry[1:])}")
print(f"API import              : {float(real[0]):7.2f} s  {n / float(real[0]):>10,.0f} rows/s   status={' '.join(real[1:])}")
print(f"import / baseline time  : {float(real[0]) / base:7.1f}x   rows per minute: {n / float(real[0]) * 60:,.0f}")
PY
