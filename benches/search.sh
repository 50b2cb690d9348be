#!/usr/bin/env bash
# Filing search at 1 000 000 enterprise filings (R-SUBJ-5), on SQLite or PostgreSQL.
#
# Loads the demo tenant tree (`suyuan demo`), then N enterprise filings spread over the demo
# tenants, their regions, types, categories and two years of filing dates — written straight
# into the table by SQL, as a migration from an older system would (the API's import is
# measured by benches/import.sh). Then starts the release binary and loads, with wrk over
# loopback, in the same run:
#   - the baseline: GET /healthz (the bare HTTP path);
#   - searches as the national level (its whole subtree): every filing, a city with its
#     counties, a province and a type, a code prefix, a filing-time window newest first, a
#     deep page by name, a part of a name, a product category.
# Each line gives the mean and p99 latency and the ratio of the mean to the baseline's.
#
# Usage: cargo build --release -p suyuan_platform && bash benches/search.sh [sqlite|postgres] [filings]
set -euo pipefail
# The audit key lives outside the database; PostgreSQL deployments must set one.
export SUYUAN_AUDIT_KEY="${SUYUAN_AUDIT_KEY:-bench-audit-key-kept-outside-the-database-0001}"
cd "$(dirname "$0")/.."
. benches/lib.sh
DB="${1:-sqlite}"
N="${2:-1000000}"
BIN="${CARGO_TARGET_DIR:-/var/tmp/suyuan-target}/release/suyuan"
[ -x "$BIN" ] || { echo "build it first: cargo build --release -p suyuan_platform" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is needed (Debian: apt-get install wrk)" >&2; exit 1; }
PORT="${PORT:-18097}"
DIR="$(mktemp -d)"
PASS='Bench-Init-2026'
NEW='Bench-Pass-2027'
PGDB="suyuan_bench_search"
cleanup() {
  [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null
  if [ -n "${KEEP:-}" ]; then echo "kept $DIR" >&2; else rm -rf "$DIR"; fi
  if [ "$DB" = postgres ] && [ -z "${KEEP:-}" ]; then psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $PGDB" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

if [ "$DB" = postgres ]; then
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $PGDB" >/dev/null
  psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $PGDB" >/dev/null
  export SUYUAN_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$PGDB"
else
  export SUYUAN_DATABASE_URL="sqlite://$DIR/suyuan.db"
fi
(cd "$DIR" && SUYUAN_ADMIN_PASSWORD="$PASS" "$BIN" demo >/dev/null)

echo "== loading $N enterprise filings into $DB"
python3 - "$DB" "$DIR" "$N" "$PGDB" <<'PY'
import csv, io, os, random, sqlite3, subprocess, sys, time, uuid, datetime
db, d, n, pgdb = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
random.seed(11)
# Each demo tenant, with division codes inside its region.
regions = {
    "110000": ["110101", "110105", "110106", "110108", "110115"],
    "370000": ["370300", "370302", "370400", "370500", "370600"],
    "370100": ["370102", "370103", "370104", "370112", "370113"],
    "370200": ["370202", "370211", "370212", "370214"],
    "370700": ["370702", "370703", "370781", "370784"],
    "370783": ["370783"],
    "320000": ["320200", "320500", "320600"],
    "320100": ["320102", "320104", "320114", "320115"],
    "440000": ["440600", "441900", "442000"],
    "440100": ["440103", "440106", "440111", "440113"],
    "440300": ["440303", "440304", "440305", "440307"],
    "510000": ["510300", "510700"],
    "510100": ["510104", "510107", "510108", "510112"],
}
types = ["producer", "processor", "wholesaler", "market", "retailer", "catering", "logistics", "laboratory"]
cats = [["0101"], ["0102"], ["0101", "0102"], ["0103"], ["0104"], ["0201"], ["0203"], ["0301", "0302"], ["0204"]]
stages = ["primary_production", "processing,sale", "sale", "transport", "testing"]
start = datetime.datetime(2024, 12, 1, tzinfo=datetime.timezone.utc)
if db == "sqlite":
    con = sqlite3.connect(os.path.join(d, "suyuan.db"))
    tenants = {code: tid for tid, code in con.execute("SELECT id, code FROM tenants")}
else:
    out = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", pgdb, "-Atc", "SELECT id, code FROM tenants"],
                         check=True, capture_output=True, text=True).stdout
    tenants = {code: uuid.UUID(tid) for tid, code in (l.split("|") for l in out.split())}
codes = [c for c in regions if c in tenants]
rows = []
for i in range(n):
    t = codes[i % len(codes)]
    div = random.choice(regions[t])
    created = start + datetime.timedelta(seconds=random.randrange(730 * 86400))
    ts = created.isoformat(timespec="microseconds")
    tid = tenants[t]
    rows.append((uuid.uuid4(), tid, f"E{t}{i:07d}X", f"示范企业{i:07d}有限公司", f"91{div}MA{i:07d}X",
                 random.choice(types), '["' + '","'.join(random.choice(cats)) + '"]', random.choice(stages), None,
                 "示范地址", div, 100 + random.random() * 20, 25 + random.random() * 15, "张三", "0531-88881234", None,
                 "approved", 1, None, ts, ts))
cols = ("id, tenant_id, code, name, uscc, enterprise_type, categories, stages, licence_no, address, division_code, "
        "longitude, latitude, contact_name, contact_phone, contact_email, status, version, reason, created_at, updated_at")
t0 = time.perf_counter()
if db == "sqlite":
    with con:
        con.executemany(f"INSERT INTO enterprises ({cols}) VALUES ({','.join('?' * 21)})",
                        [(r[0].bytes, r[1]) + r[2:] for r in rows])
    con.execute("ANALYZE")
    con.close()
else:
    path = os.path.join(d, "rows.csv")
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        for r in rows:
            w.writerow(["" if v is None else v for v in r])
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", pgdb, "-qc"]
    subprocess.run(psql + [f"\\copy enterprises ({cols}) FROM '{path}' WITH (FORMAT csv)"], check=True)
    # As autovacuum would have by the time anyone searches: statistics of every table.
    subprocess.run(psql + ["VACUUM ANALYZE"], check=True)
print(f"loaded in {time.perf_counter() - t0:.1f} s")
PY

(cd "$DIR" && SUYUAN_LISTEN="127.0.0.1:$PORT" SUYUAN_LOG_LEVEL=warn exec "$BIN" serve >"$DIR/log" 2>&1) &
PID=$!
wait_up "$PORT"
KEY=$(admin_key "$PORT" "$DIR/jar" "$PASS" "$NEW" viewer bench)

measure() {
  local label="$1" path="$2"
  local total
  total=$(curl -fs -H "Authorization: Bearer $KEY" "http://127.0.0.1:$PORT$path" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("total","-"))' 2>/dev/null || echo "-")
  wrk -t1 -c2 -d"${SECS:-5}"s --latency -H "Authorization: Bearer $KEY" "http://127.0.0.1:$PORT$path" >"$DIR/wrk" 2>&1
  python3 - "$label" "$total" "$DIR/wrk" "${BASE_MS:-0}" <<'PY'
import re, sys
label, total, path, base = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
text = open(path).read()
def ms(s):
    v, u = float(re.match(r"([\d.]+)", s).group(1)), re.sub(r"[\d.]", "", s)
    return v / 1000 if u == "us" else v * 1000 if u == "s" else v
mean = ms(re.search(r"Latency\s+(\S+)", text).group(1))
p99 = ms(re.search(r"99%\s+(\S+)", text).group(1))
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
ratio = f"{mean / base:8.0f}x" if base else "     1x"
print(f"{label:<44} matches {total:>8}  mean {mean:8.2f} ms  p99 {p99:8.2f} ms  {rps:8.0f} req/s  {ratio}")
with open(path + ".mean", "w") as f:
    f.write(str(mean))
PY
}

echo "== $N filings, database $DB, wrk -t1 -c2 -d${SECS:-5}s each"
measure "baseline: GET /healthz" "/healthz"
BASE_MS=$(cat "$DIR/wrk.mean")
export BASE_MS
measure "all filings, first page (by code)" "/api/v1/enterprises?page_size=20"
measure "region 370100 (a city and its counties)" "/api/v1/enterprises?region=370100"
measure "region 370000 + type processor" "/api/v1/enterprises?region=370000&enterprise_type=processor"
measure "code prefix E3701000001" "/api/v1/enterprises?code=E3701000001"
measure "filed in one month, newest first" "/api/v1/enterprises?filed_from=2025-06-01T00:00:00Z&filed_to=2025-07-01T00:00:00Z&sort=-created_at"
measure "by name, page 500" "/api/v1/enterprises?sort=name&page=500"
measure "part of a name (示范企业0123456)" "/api/v1/enterprises?name=%E7%A4%BA%E8%8C%83%E4%BC%81%E4%B8%9A0123456"
measure "category 0104" "/api/v1/enterprises?category=0104"
