#!/usr/bin/env bash
# Federation (issue 7) on PostgreSQL: how fresh the national roll-up is under a steady load of
# changes, locally and over HTTP, and what the national dashboard costs from the roll-up
# against the same figures computed from the raw rows.
#
# 1. Freshness. Two deployments of the release binary on this machine:
#      B  the national platform (root 100000 全国), port PORT_B, database suyuan_bench_fed_b:
#         山东省 370000 (the tenant deployment A reports as; B issues it a federation
#         credential) and 江苏省 320000 → 南京市 320100 (an approved enterprise, an operator key);
#      A  a provincial platform (root 370000 山东省), port PORT_A, database suyuan_bench_fed_a,
#         upstream → B with that credential: 济南市 370100 (an approved enterprise, a key).
#    Two cases one after the other, each at the full rate: RATE ingest requests a second for
#    DURATION seconds, BATCH records each. An accepted request is one change: one outbox row
#    (its statistics delta) that federation carries up the tree:
#      local  南京 →(local) 江苏 →(local) 全国, all inside B;
#      http   济南 →(local) 山东 in A →(signed HTTP) 全国 in B.
#    benches/federation_load.py drives the load: Python stdlib, CONNS threads with keep-alive
#    connections on one schedule. It reports the rate it achieved, ingest p50/p99 and the CPU
#    used by each process meanwhile. Then for each case:
#    - Freshness: suyuan_federation_freshness_seconds from B's /metrics, before and after. The
#      metric runs from the commit in the city to the apply at the receiving tenant, and every
#      hop observes it.
#      http: B's via="http" observations are exactly the national tenant's arrivals from A:
#        their p50/p99. A's via="local" gives the first hop (济南 → 山东) for comparison.
#      local: B's via="local" observations mix both hops, 南京 → 江苏 and 江苏 → 全国, each
#        measured from the commit in 南京. The script prints the mixed p50/p75/p99/p99.5. It
#        then bounds the national arrivals' own p50 and p99: a change's second hop is never
#        earlier than its first, and each hop is half of the observations, so the national
#        quantile p lies between the mixed quantiles p and (1+p)/2.
#      Quantiles come from the bucket counts (after − before), interpolated linearly inside a
#      bucket; each is printed with its bucket's upper bound.
#    - The backlog and lag of every link, from GET /api/v1/federation/status of A and B: every
#      second during the load, every 0.2 s afterwards. The drain time runs from the load's last
#      answer until every link is at backlog 0.
#    - The national roll-up's growth, checked against the records accepted.
#    Both servers, PostgreSQL and the load generator share the machine's cores.
# 2. Dashboard. The database suyuan_bench_fed_dash gets its schema from the binary's migrations
#    (one start). It is then filled by SQL (generate_series), not through the API:
#    - 31 provinces × CITIES cities as tenants;
#    - ROWS trace records spread evenly over the cities, with random days among the last DAYS,
#      4 stages, 3 product categories and 3 counties per city. They go into the partitioned
#      trace_events; its indexes are dropped for the load and built again after;
#    - the national tenant's federation_rollup (and its sums per source, federation_rollup_totals,
#      which the dashboard reads), made from those records by INSERT … SELECT …
#      GROUP BY: what the incremental roll-up holds, with source_code = the city;
#    - FILINGS approved enterprises in the cities, and their read-model rows at the national
#      tenant (federation_filings, source_code = the city);
#    - VACUUM ANALYZE.
#    Then the server starts again and, in the same run:
#    (a) GET /api/v1/federation/rollup as the national tenant: REQS requests after a warm-up,
#        p50/p99. Its two statements that read the roll-up (platform/src/modules/federation/
#        service.rs, fn rollup) are timed with psql \timing. The statements of one request, with
#        their durations, come from the PostgreSQL log;
#    (b) the same per-province figures from the raw rows: trace_events and enterprises
#        GROUP BY province, timed the same way.
#    Each time is the median of RUNS runs after a warm-up. The script prints the ratios and
#    checks the API's figures against (b).
#
# Usage: cargo build --release -p suyuan_platform && bash benches/federation.sh
#   env: RATE (1000), DURATION (20 s), BATCH (1 record per request), CONNS (32), DRAIN_MAX (300 s)
#        ROWS (10000000), FILINGS (1000000), DAYS (90), CITIES (4 per province), RUNS (5), REQS (50)
#        PARTS ("freshness dashboard": both), PORT_B/PORT_A/PORT_D (18111/18112/18113)
#        PG_SOCKET=1: the servers reach PostgreSQL over the Unix socket instead of TCP
#        KEEP=1: keep the databases; the server logs and the summary go to /tmp/federation-*
#        REUSE=1: reuse a kept dashboard database filled with the same ROWS/FILINGS/DAYS/CITIES
#   quick try: RATE=200 DURATION=5 ROWS=200000 FILINGS=20000 bash benches/federation.sh
#   The full run takes about 15 minutes on 2 cores, most of it filling the dashboard database.
set -euo pipefail
# The audit key lives outside the database; PostgreSQL deployments must set one.
export SUYUAN_AUDIT_KEY="${SUYUAN_AUDIT_KEY:-bench-audit-key-kept-outside-the-database-0001}"
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
. benches/lib.sh
BIN="${CARGO_TARGET_DIR:-/var/tmp/suyuan-target}/release/suyuan"
[ -x "$BIN" ] || { echo "build it first: cargo build --release -p suyuan_platform" >&2; exit 1; }
for tool in psql python3 curl; do command -v "$tool" >/dev/null || { echo "$tool is missing" >&2; exit 1; }; done
RATE="${RATE:-1000}"
DURATION="${DURATION:-20}"
BATCH="${BATCH:-1}"
CONNS="${CONNS:-32}"
DRAIN_MAX="${DRAIN_MAX:-300}"
ROWS="${ROWS:-10000000}"
FILINGS="${FILINGS:-1000000}"
DAYS="${DAYS:-90}"
CITIES="${CITIES:-4}"
RUNS="${RUNS:-5}"
REQS="${REQS:-50}"
PARTS="${PARTS:-freshness dashboard}"
PORT_B="${PORT_B:-18111}"
PORT_A="${PORT_A:-18112}"
PORT_D="${PORT_D:-18113}"
[ "$CITIES" -ge 1 ] && [ "$CITIES" -le 99 ] || { echo "CITIES: 1 to 99" >&2; exit 2; }
PASS='Bench-Init-2026'
NEW='Bench-Pass-2027'
DB_A=suyuan_bench_fed_a
DB_B=suyuan_bench_fed_b
DB_D=suyuan_bench_fed_dash
PSQL=(psql -h 127.0.0.1 -U postgres -X -q -v ON_ERROR_STOP=1)
LOAD=benches/federation_load.py
DIR="$(mktemp -d)"
SUM="$DIR/summary"
: >"$SUM"
PID_A="" PID_B="" PID_D=""

# The servers reach PostgreSQL over TCP (lib.sh pg_url; PG_SOCKET=1: the Unix socket).

# start_server NAME PORT DATABASE [SUYUAN_X=value …]: the release binary in the background,
# its pid in PID_<NAME>, its log in $DIR/NAME.log.
start_server() {
  local name=$1 port=$2 db=$3
  shift 3
  if curl -s -o /dev/null "http://127.0.0.1:$port/healthz"; then
    echo "port $port is in use (another server?): set PORT_$name" >&2
    exit 1
  fi
  (cd "$DIR" && exec env SUYUAN_DATABASE_URL="$(pg_url "$db")" SUYUAN_LISTEN="127.0.0.1:$port" \
    SUYUAN_ADMIN_PASSWORD="$PASS" SUYUAN_LOG_LEVEL="${LOG_LEVEL:-warn}" "$@" "$BIN" serve >>"$DIR/$name.log" 2>&1) &
  printf -v "PID_$name" '%s' "$!"
  local var="PID_$name"
  if ! wait_up "$port" || ! kill -0 "${!var}" 2>/dev/null; then
    echo "server $name did not start:" >&2
    tail -20 "$DIR/$name.log" >&2
    exit 1
  fi
}
stop_server() {
  local var="PID_$1"
  if [ -n "${!var}" ]; then
    kill "${!var}" 2>/dev/null || true
    wait "${!var}" 2>/dev/null || true
    printf -v "$var" '%s' ""
  fi
}
cleanup() {
  set +e
  stop_server A
  stop_server B
  stop_server D
  if [ -n "${KEEP:-}" ]; then
    for n in A B D; do [ -f "$DIR/$n.log" ] && cp "$DIR/$n.log" "/tmp/federation-$n.log"; done
    cp "$SUM" /tmp/federation-summary.txt
  else
    for db in "$DB_A" "$DB_B" "$DB_D"; do "${PSQL[@]}" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1; done
  fi
  rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
say() { echo "$*" | tee -a "$SUM"; }
log() { echo "-- $*" >&2; }
now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(now)"; }
has_part() { [[ " $PARTS " == *" $1 "* ]]; }

# call STATUS CURL-ARGS…: a JSON request that must answer STATUS; prints the body.
call() {
  local want=$1 code
  shift
  code=$(curl -s -o "$DIR/resp" -w '%{http_code}' -H 'content-type: application/json' "$@" || true)
  if [ "$code" != "$want" ]; then
    echo "request failed (HTTP $code, expected $want): curl $*" >&2
    { head -c 600 "$DIR/resp" 2>/dev/null || true; } >&2
    echo >&2
    exit 1
  fi
  cat "$DIR/resp"
}
# jget PATH: a field of the JSON on stdin, e.g. jget '["tenant"]["id"]'.
jget() { python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval("d" + sys.argv[1]))' "$1"; }

# onboard PORT PARENT_JAR CODE NAME JAR: a tenant below the one whose administrator is signed in
# in PARENT_JAR; its administrator accepts the invitation and signs in in JAR. Prints its id.
onboard() {
  local url="http://127.0.0.1:$1/api/v1" body token id
  body=$(call 201 -b "$2" -d "{\"code\":\"$3\",\"name\":\"$4\",\"admin_username\":\"admin_$3\",\"admin_display_name\":\"$4管理员\"}" "$url/tenants")
  token=$(jget '["admin"]["token"]' <<<"$body")
  id=$(jget '["tenant"]["id"]' <<<"$body")
  call 204 -d "{\"new_password\":\"$NEW\"}" "$url/auth/invitations/$token" >/dev/null
  call 200 -c "$5" -d "{\"username\":\"admin_$3\",\"password\":\"$NEW\"}" "$url/auth/login" >/dev/null
  echo "$id"
}
# enterprise PORT JAR NAME USCC DIVISION: files and approves an enterprise in the tenant of the
# administrator signed in in JAR. Prints its code.
enterprise() {
  local url="http://127.0.0.1:$1/api/v1" body id
  body=$(call 201 -b "$2" -d "{\"name\":\"$3\",\"uscc\":\"$4\",\"enterprise_type\":\"market\",\"categories\":[\"0101\"],
    \"stages\":[\"sale\"],\"address\":\"示范路 1 号\",\"division_code\":\"$5\",\"contact_name\":\"李\",
    \"contact_phone\":\"0531-88881234\",\"submit\":true}" "$url/enterprises")
  id=$(jget '["id"]' <<<"$body")
  call 200 -b "$2" -X POST "$url/enterprises/$id/approve" >/dev/null
  jget '["code"]' <<<"$body"
}
# operator_key PORT JAR: a new operator API key of the tenant of JAR's administrator.
operator_key() {
  call 201 -b "$2" -d '{"name":"bench-federation","role":"operator"}' "http://127.0.0.1:$1/api/v1/api-keys" | jget '["secret"]'
}

CPU_MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
PG_VERSION=$("${PSQL[@]}" -Atc "SHOW server_version")
PG_SETTINGS=$("${PSQL[@]}" -Atc "SELECT string_agg(name || '=' || current_setting(name), ' ' ORDER BY name) FROM pg_settings
  WHERE name IN ('shared_buffers', 'work_mem', 'max_parallel_workers_per_gather', 'synchronous_commit', 'effective_cache_size')")
say "== federation benchmark: $(date -u '+%F %T') UTC"
say "machine: $(nproc) cores, $CPU_MODEL, $(awk '/^MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM"
say "PostgreSQL $PG_VERSION ($PG_SETTINGS); servers reach it via $(pg_url x | sed 's|/x$||')"
say "binary: $BIN ($(date -r "$BIN" '+%F %T'))"
say "command: RATE=$RATE DURATION=$DURATION BATCH=$BATCH CONNS=$CONNS ROWS=$ROWS FILINGS=$FILINGS DAYS=$DAYS CITIES=$CITIES RUNS=$RUNS REQS=$REQS PARTS=\"$PARTS\" bash benches/federation.sh"

# -------------------------------------------------------------------------------------------
# 1. Freshness
# -------------------------------------------------------------------------------------------
if has_part freshness; then
  for db in "$DB_A" "$DB_B"; do
    "${PSQL[@]}" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
    "${PSQL[@]}" -c "CREATE DATABASE $db" >/dev/null
  done
  B="http://127.0.0.1:$PORT_B/api/v1"
  A="http://127.0.0.1:$PORT_A/api/v1"

  log "deployment B (national) on port $PORT_B"
  start_server B "$PORT_B" "$DB_B"
  admin_key "$PORT_B" "$DIR/b.jar" "$PASS" "$NEW" viewer bench-federation >/dev/null
  SD_IN_B=$(onboard "$PORT_B" "$DIR/b.jar" 370000 山东省 "$DIR/b-370000.jar")
  onboard "$PORT_B" "$DIR/b.jar" 320000 江苏省 "$DIR/b-320000.jar" >/dev/null
  onboard "$PORT_B" "$DIR/b-320000.jar" 320100 南京市 "$DIR/b-320100.jar" >/dev/null
  NJ_SUBJECT=$(enterprise "$PORT_B" "$DIR/b-320100.jar" 南京示范批发市场 91350100M000100Y43 320104)
  NJ_KEY=$(operator_key "$PORT_B" "$DIR/b-320100.jar")
  CRED=$(call 201 -b "$DIR/b.jar" -d "{\"tenant_id\":\"$SD_IN_B\"}" "$B/federation/credentials")
  CRED_KEY=$(jget '["key_id"]' <<<"$CRED")
  CRED_SECRET=$(jget '["secret"]' <<<"$CRED")

  log "deployment A (provincial, 370000 山东省) on port $PORT_A, upstream -> B"
  start_server A "$PORT_A" "$DB_A" SUYUAN_ROOT_CODE=370000 SUYUAN_ROOT_NAME=山东省
  admin_key "$PORT_A" "$DIR/a.jar" "$PASS" "$NEW" viewer bench-federation >/dev/null
  call 204 -b "$DIR/a.jar" -X PUT \
    -d "{\"parent_url\":\"http://127.0.0.1:$PORT_B\",\"key_id\":\"$CRED_KEY\",\"secret\":\"$CRED_SECRET\"}" \
    "$A/federation/upstream" >/dev/null
  onboard "$PORT_A" "$DIR/a.jar" 370100 济南市 "$DIR/a-370100.jar" >/dev/null
  JN_SUBJECT=$(enterprise "$PORT_A" "$DIR/a-370100.jar" 济南示范批发市场 91110108551385082Q 370104)
  JN_KEY=$(operator_key "$PORT_A" "$DIR/a-370100.jar")

  COMMON=(--rate "$RATE" --duration "$DURATION" --batch "$BATCH" --conns "$CONNS" --drain-max "$DRAIN_MAX"
    --servers "A=$PORT_A,B=$PORT_B" --national B --password "$NEW" --pids "A=$PID_A,B=$PID_B" --summary "$SUM")
  say ""
  say "-- 1a. local: 南京市 320100 →(local) 江苏省 320000 →(local) 全国, in deployment B"
  log "case local: $RATE req/s for $DURATION s"
  python3 "$LOAD" case --name local --port "$PORT_B" --key "$NJ_KEY" --subject "$NJ_SUBJECT" --division 320104 \
    --via local --region 320000 --show 320100,320000 "${COMMON[@]}"
  say ""
  say "-- 1b. http: 济南市 370100 →(local) 山东省 370000 in deployment A →(signed HTTP) 全国 in deployment B"
  log "case http: $RATE req/s for $DURATION s"
  python3 "$LOAD" case --name http --port "$PORT_A" --key "$JN_KEY" --subject "$JN_SUBJECT" --division 370104 \
    --via http --hop1 A --region 370000 --show 370100,370000 "${COMMON[@]}"
  for n in A B; do
    WARN=$(grep -ci 'warn\|error' "$DIR/$n.log" || true)
    [ "$WARN" -eq 0 ] || say "server $n log: $WARN warning/error lines, e.g.: $(grep -i 'warn\|error' "$DIR/$n.log" | head -1 | cut -c1-240)"
  done
  stop_server A
  stop_server B
fi

# -------------------------------------------------------------------------------------------
# 2. Dashboard
# -------------------------------------------------------------------------------------------
if has_part dashboard; then
  NC=$((31 * CITIES))
  PER=$((FILINGS / NC))
  [ "$PER" -ge 1 ] || PER=1
  HAVE=""
  if [ -n "${REUSE:-}" ]; then
    HAVE=$("${PSQL[@]}" -d "$DB_D" -Atc "SELECT format('%s %s %s %s', rows, filings, days, cities) FROM bench.meta" 2>/dev/null || true)
  fi
  say ""
  if [ "$HAVE" = "$ROWS $FILINGS $DAYS $CITIES" ]; then
    say "-- 2. dashboard: reusing $DB_D ($ROWS records, $FILINGS filings, $DAYS days, $CITIES cities per province)"
  else
    say "-- 2. dashboard: filling $DB_D with $ROWS trace records and $FILINGS filings ($NC cities, $DAYS days)"
    "${PSQL[@]}" -c "DROP DATABASE IF EXISTS $DB_D WITH (FORCE)" >/dev/null
    "${PSQL[@]}" -c "CREATE DATABASE $DB_D" >/dev/null
    log "migrations (one start of the binary)"
    start_server D "$PORT_D" "$DB_D" SUYUAN_FEDERATION_DELIVERY=false
    stop_server D
    FILL0=$(now)
    # fill LABEL: the SQL on stdin in the dashboard database, with the sizes as psql variables;
    # prints how long it took.
    fill() {
      local t0
      t0=$(now)
      log "fill: $1"
      PGOPTIONS="-c synchronous_commit=off -c maintenance_work_mem=1GB -c work_mem=256MB -c TimeZone=Asia/Shanghai" \
        "${PSQL[@]}" -d "$DB_D" -v ROWS="$ROWS" -v FILINGS="$FILINGS" -v DAYS="$DAYS" -v CITIES="$CITIES" \
        -v NC="$NC" -v PER="$PER" >/dev/null
      say "   $(printf '%-58s %7s s' "$1" "$(since "$t0")")"
    }

    fill "tenants: 31 provinces, $NC cities" <<'SQL'
CREATE SCHEMA bench;
CREATE TABLE bench.meta (rows bigint, filings bigint, days int, cities int, filled_at timestamptz);
CREATE TABLE bench.prov (k int PRIMARY KEY, code text NOT NULL, name text NOT NULL);
INSERT INTO bench.prov
SELECT (o - 1)::int, c, n FROM unnest(
  ARRAY['110000', '120000', '130000', '140000', '150000', '210000', '220000', '230000', '310000', '320000', '330000',
        '340000', '350000', '360000', '370000', '410000', '420000', '430000', '440000', '450000', '460000', '500000',
        '510000', '520000', '530000', '540000', '610000', '620000', '630000', '640000', '650000'],
  ARRAY['北京市', '天津市', '河北省', '山西省', '内蒙古自治区', '辽宁省', '吉林省', '黑龙江省', '上海市', '江苏省', '浙江省',
        '安徽省', '福建省', '江西省', '山东省', '河南省', '湖北省', '湖南省', '广东省', '广西壮族自治区', '海南省', '重庆市',
        '四川省', '贵州省', '云南省', '西藏自治区', '陕西省', '甘肃省', '青海省', '宁夏回族自治区', '新疆维吾尔自治区'])
  WITH ORDINALITY AS u(c, n, o);
INSERT INTO tenants (id, code, name, level, parent_id, path, status, created_at, updated_at)
SELECT gen_random_uuid(), p.code, p.name, 'provincial', n.id, n.path || p.code || '/', 'active', now(), now()
FROM bench.prov p CROSS JOIN (SELECT id, path FROM tenants WHERE code = '100000') n;
CREATE TABLE bench.city AS
SELECT (p.k * :CITIES + c - 1)::int AS k, left(p.code, 2) || lpad(c::text, 2, '0') || '00' AS code,
       p.name || '第' || c || '市' AS name, p.code AS province
FROM bench.prov p CROSS JOIN generate_series(1, :CITIES) c;
INSERT INTO tenants (id, code, name, level, parent_id, path, status, created_at, updated_at)
SELECT gen_random_uuid(), c.code, c.name, 'municipal', t.id, t.path || c.code || '/', 'active', now(), now()
FROM bench.city c JOIN tenants t ON t.code = c.province;
ALTER TABLE bench.city ADD COLUMN id uuid;
UPDATE bench.city c SET id = t.id FROM tenants t WHERE t.code = c.code;
CREATE UNIQUE INDEX ON bench.city (k);
CREATE TABLE bench.stage (k int PRIMARY KEY, stage text, action text);
INSERT INTO bench.stage VALUES (0, 'primary_production', 'harvest'), (1, 'processing', 'process'),
  (2, 'transport', 'ship'), (3, 'sale', 'sell');
CREATE TABLE bench.product (k int PRIMARY KEY, name text, category text);
INSERT INTO bench.product VALUES (0, '番茄', '0101'), (1, '冷鲜猪肉', '0103'), (2, '巴氏杀菌乳', '0201');
-- A table's indexes dropped for a bulk load and built again after, as they were.
CREATE TABLE bench.saved_index (tbl text, name text, is_constraint bool, def text);
CREATE FUNCTION bench.drop_indexes(t regclass, constraints bool) RETURNS void AS $$
DECLARE r record;
BEGIN
  FOR r IN SELECT i.indexrelid::regclass::text AS name, c.conname, pg_get_indexdef(i.indexrelid) AS idef,
                  CASE WHEN c.oid IS NOT NULL THEN pg_get_constraintdef(c.oid) END AS cdef
           FROM pg_index i LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid
           WHERE i.indrelid = t LOOP
    IF r.conname IS NULL THEN
      INSERT INTO bench.saved_index VALUES (t::text, r.name, false, r.idef);
      EXECUTE format('DROP INDEX %s', r.name);
    ELSIF constraints THEN
      INSERT INTO bench.saved_index VALUES (t::text, r.conname, true, r.cdef);
      EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', t, r.conname);
    END IF;
  END LOOP;
END $$ LANGUAGE plpgsql;
CREATE FUNCTION bench.restore_indexes(t regclass) RETURNS void AS $$
DECLARE r record;
BEGIN
  FOR r IN SELECT * FROM bench.saved_index WHERE tbl = t::text ORDER BY is_constraint DESC, name LOOP
    IF r.is_constraint THEN
      EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', t, r.name, r.def);
    ELSE
      EXECUTE r.def;
    END IF;
  END LOOP;
  DELETE FROM bench.saved_index WHERE tbl = t::text;
END $$ LANGUAGE plpgsql;
SQL

    fill "trace_events: $ROWS records (indexes dropped)" <<'SQL'
SELECT setseed(0.2026);
-- The months of the records (the partitions exist from the migration's month on).
SELECT suyuan_trace_partitions((current_date - (:DAYS + 2))::date, 3);
SELECT bench.drop_indexes('trace_events', true);
INSERT INTO trace_events (id, tenant_id, client_event_id, stage, action, subject_code, subject_name, product_code,
    product_name, category_code, batch_no, trace_codes, quantity, unit, price, amount, event_time, event_offset_minutes,
    recorded_at, division_code, longitude, latitude, counterpart_code, counterpart_name, inputs, inspection, extra)
SELECT gen_random_uuid(), c.id, 'bench-' || r.g, s.stage, s.action, 'E' || c.code || lpad(r.e::text, 8, '0'),
       '示范企业' || r.e || '有限公司', NULL, p.name, p.category, 'B' || c.code || '-' || (r.g / 50),
       '["T' || c.code || lpad(r.g::text, 10, '0') || '"]', r.qty, 'kg', NULL, NULL, r.t, 480,
       r.t + interval '3 minutes', left(c.code, 4) || lpad((1 + r.d)::text, 2, '0'), NULL, NULL,
       CASE WHEN s.stage = 'transport' THEN 'E' || c.code || lpad(((r.e + :NC) % greatest(:FILINGS, 1))::text, 8, '0') END,
       NULL,
       CASE WHEN s.stage = 'processing' THEN '[{"batch_no":"B' || c.code || '-' || (r.g / 50 - 1) || '"}]' ELSE '[]' END,
       NULL, NULL
FROM (SELECT g, (g % :NC)::int AS k, g % :NC + :NC * floor(random() * :PER)::bigint AS e,
             floor(random() * 4)::int AS si, floor(random() * 3)::int AS pi, floor(random() * 3)::int AS d,
             date_trunc('day', now()) - (1 + floor(random() * :DAYS)::int) * interval '1 day'
               + floor(random() * 86400) * interval '1 second' AS t,
             (1 + floor(random() * 1000))::float8 AS qty
      FROM generate_series(0, :ROWS - 1) g) r
JOIN bench.city c ON c.k = r.k
JOIN bench.stage s ON s.k = r.si
JOIN bench.product p ON p.k = r.pi;
SQL

    fill "trace_events: indexes built again" <<'SQL'
SELECT bench.restore_indexes('trace_events');
SQL

    fill "federation_rollup of the national tenant (GROUP BY)" <<'SQL'
INSERT INTO federation_rollup (holder_tenant_id, source_code, day, stage, category_code, division_code, records, quantity)
SELECT n.id, c.code, to_char((e.event_time AT TIME ZONE 'UTC') + e.event_offset_minutes * interval '1 minute', 'YYYY-MM-DD'),
       e.stage, coalesce(e.category_code, ''), e.division_code, count(*), sum(e.quantity)
FROM trace_events e JOIN bench.city c ON c.id = e.tenant_id
CROSS JOIN (SELECT id FROM tenants WHERE code = '100000') n
GROUP BY n.id, c.code, 3, e.stage, 5, e.division_code;
-- Its sums per source, as the incremental roll-up keeps them beside the detail.
INSERT INTO federation_rollup_totals (holder_tenant_id, source_code, records, quantity, filings)
SELECT holder_tenant_id, source_code, sum(records), sum(quantity), 0 FROM federation_rollup GROUP BY 1, 2;
SQL

    fill "enterprises: $FILINGS approved filings" <<'SQL'
-- The search indexes (not the keys) dropped for the load and built again after.
SELECT bench.drop_indexes('enterprises', false);
INSERT INTO enterprises (id, tenant_id, code, name, uscc, enterprise_type, categories, stages, licence_no, address,
    division_code, longitude, latitude, contact_name, contact_phone, contact_email, status, version, reason, created_at,
    updated_at)
SELECT gen_random_uuid(), c.id, 'E' || c.code || lpad(g::text, 8, '0'), '示范企业' || g || '有限公司',
       '91' || c.code || lpad(g::text, 9, '0') || 'X',
       (ARRAY['producer', 'processor', 'wholesaler', 'market', 'retailer'])[1 + g % 5],
       (ARRAY['["0101"]', '["0103"]', '["0201"]', '["0101","0103"]'])[1 + g % 4],
       (ARRAY['primary_production', 'processing,transport', 'transport', 'sale'])[1 + g % 4], NULL,
       c.name || '示范路' || g || '号', left(c.code, 4) || lpad((1 + (g / :NC) % 3)::text, 2, '0'), NULL, NULL,
       '张三', '0531-88881234', NULL, 'approved', 1, NULL, ts, ts
FROM (SELECT g, now() - floor(random() * 730 * 86400) * interval '1 second' AS ts
      FROM generate_series(0, :FILINGS - 1) g) x
JOIN bench.city c ON c.k = x.g % :NC;
SELECT bench.restore_indexes('enterprises');
SQL

    fill "federation_filings of the national tenant" <<'SQL'
INSERT INTO federation_filings (receiver_tenant_id, filing_type, filing_code, source_code, source_name, version, status,
    data, updated_at)
SELECT n.id, 'enterprise', e.code, c.code, c.name, e.version, 'active',
       json_build_object('code', e.code, 'name', e.name, 'uscc', e.uscc, 'enterprise_type', e.enterprise_type,
                         'categories', e.categories::json, 'stages', e.stages, 'address', e.address,
                         'division_code', e.division_code, 'contact_name', e.contact_name,
                         'contact_phone', e.contact_phone, 'status', e.status, 'version', e.version,
                         'created_at', e.created_at, 'updated_at', e.updated_at)::text,
       e.updated_at
FROM enterprises e JOIN bench.city c ON c.id = e.tenant_id
CROSS JOIN (SELECT id FROM tenants WHERE code = '100000') n;
-- The count per source the totals keep as filings arrive.
INSERT INTO federation_rollup_totals (holder_tenant_id, source_code, records, quantity, filings)
SELECT receiver_tenant_id, source_code, 0, 0, count(*) FROM federation_filings WHERE status = 'active' GROUP BY 1, 2
ON CONFLICT (holder_tenant_id, source_code) DO UPDATE SET filings = excluded.filings;
SQL

    fill "VACUUM ANALYZE" <<'SQL'
VACUUM ANALYZE trace_events;
VACUUM ANALYZE enterprises;
VACUUM ANALYZE federation_rollup;
VACUUM ANALYZE federation_rollup_totals;
VACUUM ANALYZE federation_filings;
VACUUM ANALYZE tenants;
INSERT INTO bench.meta VALUES (:ROWS, :FILINGS, :DAYS, :CITIES, now());
SQL
    say "   $(printf '%-58s %7s s' "filled in" "$(since "$FILL0")")"
  fi
  SIZES=$("${PSQL[@]}" -d "$DB_D" -Atc "SELECT string_agg(format('%s %s', t, pg_size_pretty(pg_total_relation_size(t::regclass))), ', ')
    FROM unnest(ARRAY['enterprises', 'federation_rollup', 'federation_filings']) t")
  TRACE_SIZE=$("${PSQL[@]}" -d "$DB_D" -Atc "SELECT pg_size_pretty(sum(pg_total_relation_size(inhrelid))) FROM pg_inherits
    WHERE inhparent = 'trace_events'::regclass")
  say "   sizes (with indexes): trace_events $TRACE_SIZE ($("${PSQL[@]}" -d "$DB_D" -Atc "SELECT count(*) FROM pg_inherits WHERE inhparent = 'trace_events'::regclass") partitions), $SIZES"
  NATIONAL_ID=$("${PSQL[@]}" -d "$DB_D" -Atc "SELECT id FROM tenants WHERE code = '100000'")

  log "dashboard server on port $PORT_D"
  start_server D "$PORT_D" "$DB_D" SUYUAN_FEDERATION_DELIVERY=false
  DKEY=$(admin_key "$PORT_D" "$DIR/d.jar" "$PASS" "$NEW" viewer bench-federation-dashboard)
  python3 "$LOAD" dash --port "$PORT_D" --key "$DKEY" --pgdb "$DB_D" --national-id "$NATIONAL_ID" \
    --reqs "$REQS" --runs "$RUNS" --summary "$SUM"
  stop_server D
fi

echo
echo "================ summary ================"
cat "$SUM"
