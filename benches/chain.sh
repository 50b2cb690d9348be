#!/usr/bin/env bash
# Trace-chain synthesis (R-EMG-3) on PostgreSQL: GET /api/v1/trace/chain against a hand-written
# recursive SQL query over the same data, plus one recall query from a hub lot.
#
# Data (generated inside PostgreSQL with generate_series, about BATCHES (subject, batch) nodes,
# ~1.09 lineage edges per node), in the shape the ingest writes it (a shipment keeps the batch
# number and changes the subject; a processing record links input batches to its output batch
# at the same subject; ~10 % of shipments are also reported by the receiver):
#   raw lots      farm F, lot L ──ship──▶ plant P, lot L           (2 000 farms, 300 plants)
#   processed     (P, L1..L4) ──process──▶ (P, X)                  2–4 lots per batch, lots split
#   distribution  (P, X) ──ship──▶ (market M, X)                   1–3 of 120 wholesale markets
#   retail        (M, X) ──ship──▶ (supermarket or merchant S, X)  4–12 of 2 500 retailers
# Subjects are copies of the demo enterprises / merchants (their tenants, regions in several
# provinces). One recall hub: a contaminated raw lot that went into ~6 000 processed batches, so
# everything downstream of it is ≥ 100 000 nodes at BATCHES=1000000.
#
# Measured in the same run:
#   1. API: a full chain (direction=both, default depth) from random processed or distribution
#      nodes, with wrk at 1 and 8 connections: p50 / p99 latency and requests/s;
#   2. baseline: one recursive CTE doing the same work (start lookup, upstream + downstream walk,
#      the nodes' subject name / region / tenant, the flows with their product, merged, as JSON;
#      its lineage joins compare COLLATE "C" like the API's, so both use the same indexes)
#      from the same starts, with pgbench -M prepared at the same concurrency: p50 / p99 / tps;
#   1 and 2 take turns: ROUNDS rounds (default 3) of DURATION/ROUNDS seconds each per concurrency,
#      the order flipping every round, latencies pooled per side (wrk's histogram, pgbench's log),
#      after a CHECKPOINT, so that a slow moment of the machine falls on both alike;
#   3. recall: direction=down&depth=50&max_nodes=200000 from the hub, via the API (three times: the
#      first, then warm) and via the CTE.
# Also: nodes per chain and API/CTE agreement on a sample; statements per API chain
# and rows fetched (pg_stat_database); one chain with every statement logged (a second server on PORT+1
# whose connections set log_min_duration_statement=0); the server's statements slower than
# SLOW_MS during the run (PostgreSQL log). Warns when other processes used the CPU meanwhile.
#
# Usage: cargo build --release -p suyuan_platform && \
#        [BATCHES=1000000] [PORT=18097] [DURATION=12] [ROUNDS=3] [CONNS="1 8"] [SLOW_MS=20] [KEEP=1] [REUSE=1] \
#        bash benches/chain.sh
#   KEEP=1 keeps the database suyuan_bench_chain (dropped on exit otherwise); REUSE=1 reuses a
#   kept one generated with the same BATCHES instead of generating again.
set -euo pipefail
# The audit key lives outside the database; PostgreSQL deployments must set one.
export SUYUAN_AUDIT_KEY="${SUYUAN_AUDIT_KEY:-bench-audit-key-kept-outside-the-database-0001}"
cd "$(dirname "$0")/.."
. benches/lib.sh
BIN="${CARGO_TARGET_DIR:-/var/tmp/suyuan-target}/release/suyuan"
PORT="${PORT:-18097}"
BATCHES="${BATCHES:-1000000}"
DURATION="${DURATION:-12}"
CONNS="${CONNS:-1 8}"
SLOW_MS="${SLOW_MS:-20}"
WAIT_MIN="${WAIT_MIN:-40}"
PGDB="suyuan_bench_chain"
PASS='Bench-Init-2026'
NEW='Bench-Pass-2027'
PSQL=(psql -h 127.0.0.1 -U postgres -X -q -v ON_ERROR_STOP=1)
PGBENCH="$(ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | sort -V | tail -1)"
PGLOG="$(ls -t /var/log/postgresql/*.log 2>/dev/null | head -1 || true)"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
[ -x "$PGBENCH" ] || { echo "pgbench is missing (postgresql-contrib / postgresql-15)" >&2; exit 1; }

# A build may be running: wait for the binary (every 60 s, up to WAIT_MIN minutes).
for ((i = 0; ; i++)); do
  [ -x "$BIN" ] && break
  [ "$i" -ge "$WAIT_MIN" ] && { echo "no $BIN after $WAIT_MIN min: cargo build --release -p suyuan_platform" >&2; exit 1; }
  echo "waiting for $BIN ($i min)…" >&2
  sleep 60
done

DIR="$(mktemp -d)"
cleanup() {
  [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  if [ -n "${KEEP:-}" ]; then cp "$DIR/server.log" /tmp/chain-server.log 2>/dev/null || true; fi
  rm -rf "$DIR"
  if [ -z "${KEEP:-}" ]; then "${PSQL[@]}" -c "DROP DATABASE IF EXISTS $PGDB" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
# Over TCP, as deployments do; PG_SOCKET=1: the Unix socket (lib.sh pg_url).
export SUYUAN_DATABASE_URL="$(pg_url "$PGDB")"

# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------
HAVE=""
if [ -n "${REUSE:-}" ]; then
  HAVE=$("${PSQL[@]}" -d "$PGDB" -Atc "SELECT batches FROM bench.meta" 2>/dev/null || true)
fi
if [ "$HAVE" = "$BATCHES" ]; then
  echo "== reusing $PGDB (BATCHES=$BATCHES)"
else
  "${PSQL[@]}" -c "DROP DATABASE IF EXISTS $PGDB" >/dev/null
  "${PSQL[@]}" -c "CREATE DATABASE $PGDB" >/dev/null
  (cd "$DIR" && SUYUAN_ADMIN_PASSWORD="$PASS" "$BIN" demo >/dev/null)
  # Sizing: ~23 nodes per processed batch (4 lot nodes, 1 processed, ~2 distribution, ~16 retail).
  P=$(( BATCHES / 23 )); [ "$P" -ge 100 ] || P=100
  NPL=300; R=$(( 2 * P )); LPP=$(( R / NPL )); [ "$LPP" -ge 1 ] || LPP=1
  HSTEP=$(( P / 6000 )); [ "$HSTEP" -ge 1 ] || HSTEP=1
  echo "== generating ~$BATCHES nodes: $P processed batches, $R raw lots, recall hub in every ${HSTEP}th processed batch"
  T0=$(date +%s.%N)
  "${PSQL[@]}" -d "$PGDB" -v P="$P" -v R="$R" -v LPP="$LPP" -v NPL="$NPL" -v NF=2000 -v NMK=120 \
    -v NRE=1500 -v NME=1000 -v HSTEP="$HSTEP" -v HUB='BF000000-20260715-RECALL' -v BATCHES="$BATCHES" <<'SQL'
SET synchronous_commit = off;
SET maintenance_work_mem = '512MB';
SET work_mem = '256MB';
SET TimeZone = 'Asia/Shanghai';
CREATE SCHEMA bench;
SELECT setseed(0.2026) \g /dev/null

-- Subjects: copies of the demo filings, round robin over them (their tenant, region, position).
CREATE TEMP TABLE tpl AS SELECT (row_number() OVER (ORDER BY code) - 1)::int AS k, e.* FROM enterprises e;
INSERT INTO enterprises
SELECT (jsonb_populate_record(NULL::enterprises, to_jsonb(t) || jsonb_build_object(
    'id', gen_random_uuid(),
    'code', v.pfx || lpad(g::text, 6, '0'),
    'uscc', 'BENCH' || v.tier || lpad(g::text, 12, '0'),
    'name', left(t.name, 2) || '示范' || v.word || g || '号',
    'enterprise_type', v.typ, 'stages', v.stages, 'licence_no', NULL,
    'longitude', round((t.longitude + (random() - 0.5) * 0.6)::numeric, 4),
    'latitude', round((t.latitude + (random() - 0.5) * 0.6)::numeric, 4)))).*
FROM (VALUES ('F', 'BF', :NF, 'producer', '农场', 'primary_production,transport'),
             ('P', 'BP', :NPL, 'processor', '食品加工厂', 'processing,transport'),
             ('M', 'BM', :NMK, 'market', '农产品批发市场', 'transport,sale'),
             ('R', 'BR', :NRE, 'retailer', '生鲜超市', 'sale')) v(tier, pfx, n, typ, word, stages)
CROSS JOIN LATERAL generate_series(0, v.n - 1) g
JOIN tpl t ON t.k = g % (SELECT count(*) FROM tpl);
CREATE TEMP TABLE mtpl AS SELECT (row_number() OVER (ORDER BY code) - 1)::int AS k, m.* FROM merchants m;
INSERT INTO merchants
SELECT (jsonb_populate_record(NULL::merchants, to_jsonb(t) || jsonb_build_object(
    'id', gen_random_uuid(), 'code', 'BS' || lpad(g::text, 6, '0'), 'uscc', NULL,
    'name', left(t.node_name, 2) || t.name || g || '号'))).*
FROM generate_series(0, :NME - 1) g JOIN mtpl t ON t.k = g % (SELECT count(*) FROM mtpl);
CREATE TABLE bench.si AS
  SELECT code, tenant_id, name, division_code, longitude, latitude FROM enterprises
  UNION ALL SELECT code, tenant_id, name, division_code, NULL, NULL FROM merchants;
CREATE INDEX ON bench.si (code);
CREATE TABLE bench.product (c int PRIMARY KEY, raw text, made text, cat text);
INSERT INTO bench.product VALUES (0, '生猪', '冷鲜猪肉分割品', '0103'), (1, '肉牛', '冷鲜牛肉', '0103'),
  (2, '活禽', '冰鲜鸡肉', '0103'), (3, '生鲜乳', '巴氏杀菌乳', '0201'), (4, '番茄', '番茄酱', '0101'),
  (5, '小麦', '小麦粉', '0106');

-- Processed batches (plant, time, how many inputs and markets) and raw lots (lot r is at plant r % NPL).
CREATE TABLE bench.proc AS
SELECT j, plant, pcode, pcode || '-' || to_char(t, 'YYYYMMDD') || '-' || j AS x, t, n_in, n_mk, qty
FROM (SELECT j, plant, 'BP' || lpad(plant::text, 6, '0') AS pcode,
             timestamptz '2026-08-01 08:00+08' + (j * 90.0 / :P) * interval '1 day' AS t,
             2 + floor(random() * 3)::int AS n_in, 1 + floor(random() * 3)::int AS n_mk,
             (500 + floor(random() * 4500))::float8 AS qty
      FROM (SELECT j, floor(random() * :NPL)::int AS plant FROM generate_series(0, :P - 1) j) a) b;
CREATE TABLE bench.lot AS
SELECT r, plant, 'BP' || lpad(plant::text, 6, '0') AS pcode, fcode, fcode || '-' || to_char(t, 'YYYYMMDD') || '-L' || r AS lb, t, qty
FROM (SELECT r, r % :NPL AS plant, 'BF' || lpad(floor(random() * :NF)::int::text, 6, '0') AS fcode,
             timestamptz '2026-07-30 06:00+08' + (r * 90.0 / :R) * interval '1 day' AS t,
             (1000 + floor(random() * 4000))::float8 AS qty
      FROM generate_series(0, :R - 1) r) a;
CREATE UNIQUE INDEX ON bench.lot (r);
-- Inputs: 2–4 lots of the batch's plant (a lot may go into several batches); r = -1 is the hub.
CREATE TABLE bench.inp AS
SELECT DISTINCT p.j, p.plant + :NPL * floor(random() * :LPP)::int AS r
FROM bench.proc p CROSS JOIN LATERAL generate_series(1, p.n_in) k;
INSERT INTO bench.inp SELECT j, -1 FROM bench.proc WHERE j % :HSTEP = 0;
-- Distribution: 1–3 wholesale markets per batch; retail: 4–12 retailers per market
-- (q < NRE: a supermarket enterprise, otherwise a merchant).
CREATE TABLE bench.dist AS
SELECT j, m, 4 + floor(random() * 9)::int AS n_rt
FROM (SELECT DISTINCT p.j, floor(random() * :NMK)::int AS m FROM bench.proc p CROSS JOIN LATERAL generate_series(1, p.n_mk) k) a;
CREATE TABLE bench.ret AS
SELECT DISTINCT d.j, d.m, floor(random() * (:NRE + :NME))::int AS q
FROM bench.dist d CROSS JOIN LATERAL generate_series(1, d.n_rt) k;

-- Shipments (one ship record each; ~10 % also a receive record by the buyer).
CREATE TABLE bench.mv AS
SELECT l.fcode AS fc, l.lb AS fb, l.pcode AS tc, l.lb AS tb, l.qty, l.t, pr.raw AS product, pr.cat
  FROM bench.lot l JOIN bench.product pr ON pr.c = l.plant % 6
UNION ALL
SELECT 'BF000000', :'HUB', h.pcode, :'HUB', 3000, timestamptz '2026-07-15 10:00+08', pr.raw, pr.cat
  FROM (SELECT DISTINCT p.plant, p.pcode FROM bench.inp i JOIN bench.proc p USING (j) WHERE i.r = -1) h
  JOIN bench.product pr ON pr.c = h.plant % 6
UNION ALL
SELECT p.pcode, p.x, 'BM' || lpad(d.m::text, 6, '0'), p.x, round(p.qty / p.n_mk), p.t + interval '6 hours', pr.made, pr.cat
  FROM bench.dist d JOIN bench.proc p USING (j) JOIN bench.product pr ON pr.c = p.plant % 6
UNION ALL
SELECT 'BM' || lpad(r.m::text, 6, '0'), p.x,
       CASE WHEN r.q < :NRE THEN 'BR' || lpad(r.q::text, 6, '0') ELSE 'BS' || lpad((r.q - :NRE)::text, 6, '0') END,
       p.x, round(p.qty / 16), p.t + interval '1 day', pr.made, pr.cat
  FROM bench.ret r JOIN bench.proc p USING (j) JOIN bench.product pr ON pr.c = p.plant % 6;
CREATE TABLE bench.ev AS
SELECT gen_random_uuid() AS id, fc AS subj, tc AS cp, 'transport' AS stage, 'ship' AS action, t AS at, m.* FROM bench.mv m
UNION ALL
SELECT gen_random_uuid(), tc, fc, 'sale', 'receive', t + interval '4 hours', m.* FROM bench.mv m WHERE random() < 0.1;
CREATE TABLE bench.pev AS SELECT j, gen_random_uuid() AS id FROM bench.proc;
CREATE UNIQUE INDEX ON bench.pev (j);
CREATE SEQUENCE bench.seq;

INSERT INTO trace_events (id, tenant_id, client_event_id, stage, action, subject_code, subject_name, product_code,
    product_name, category_code, batch_no, trace_codes, quantity, unit, price, amount, event_time, event_offset_minutes,
    recorded_at, division_code, longitude, latitude, counterpart_code, counterpart_name, inputs, inspection, extra)
SELECT e.id, s.tenant_id, 'bench-' || nextval('bench.seq'), e.stage, e.action, e.subj, s.name, NULL, e.product, e.cat,
       e.fb, '[]', e.qty, 'kg', NULL, NULL, e.at, 480, now(), s.division_code, s.longitude, s.latitude, e.cp, c.name,
       '[]', NULL, NULL
FROM bench.ev e JOIN bench.si s ON s.code = e.subj JOIN bench.si c ON c.code = e.cp;
INSERT INTO trace_events (id, tenant_id, client_event_id, stage, action, subject_code, subject_name, product_code,
    product_name, category_code, batch_no, trace_codes, quantity, unit, price, amount, event_time, event_offset_minutes,
    recorded_at, division_code, longitude, latitude, counterpart_code, counterpart_name, inputs, inspection, extra)
SELECT pe.id, s.tenant_id, 'bench-' || nextval('bench.seq'), 'processing', 'process', p.pcode, s.name, NULL, pr.made,
       pr.cat, p.x, '[]', p.qty, 'kg', NULL, NULL, p.t, 480, now(), s.division_code, s.longitude, s.latitude, NULL, NULL,
       i.inputs, NULL, NULL
FROM bench.proc p JOIN bench.pev pe USING (j) JOIN bench.si s ON s.code = p.pcode JOIN bench.product pr ON pr.c = p.plant % 6
JOIN (SELECT i.j, json_agg(json_build_object('batch_no', coalesce(l.lb, :'HUB'), 'product_code', NULL,
             'quantity', round(coalesce(l.qty, 3000) / 2)))::text AS inputs
      FROM bench.inp i LEFT JOIN bench.lot l ON l.r = i.r GROUP BY i.j) i USING (j);
INSERT INTO trace_lineage (id, tenant_id, event_id, kind, from_subject_code, from_batch, to_subject_code, to_batch,
    quantity, event_time, product_name)
SELECT gen_random_uuid(), s.tenant_id, e.id, 'ship', e.fc, e.fb, e.tc, e.tb, e.qty, e.at, e.product
  FROM bench.ev e JOIN bench.si s ON s.code = e.subj
UNION ALL
SELECT gen_random_uuid(), s.tenant_id, pe.id, 'process', p.pcode, coalesce(l.lb, :'HUB'), p.pcode, p.x,
       round(coalesce(l.qty, 3000) / 2), p.t, pr.made
  FROM bench.inp i JOIN bench.proc p USING (j) JOIN bench.pev pe USING (j) JOIN bench.si s ON s.code = p.pcode
  JOIN bench.product pr ON pr.c = p.plant % 6
  LEFT JOIN bench.lot l ON l.r = i.r;

-- Start nodes of the chain test: 1 000 processed and 1 000 distribution nodes.
CREATE TABLE bench.starts (id serial PRIMARY KEY, tier text NOT NULL, subject text NOT NULL, batch text NOT NULL);
INSERT INTO bench.starts (tier, subject, batch)
  SELECT 'processed', pcode, x FROM bench.proc ORDER BY random() LIMIT 1000;
INSERT INTO bench.starts (tier, subject, batch)
  SELECT 'distribution', 'BM' || lpad(d.m::text, 6, '0'), p.x FROM bench.dist d JOIN bench.proc p USING (j)
  ORDER BY random() LIMIT 1000;
CREATE TABLE bench.meta AS SELECT CAST(:BATCHES AS int) AS batches,
  (SELECT count(*) FROM trace_events) AS events, (SELECT count(*) FROM trace_lineage) AS edges,
  (SELECT count(*) FROM (SELECT from_subject_code, from_batch FROM trace_lineage
                         UNION SELECT to_subject_code, to_batch FROM trace_lineage) n) AS nodes,
  (SELECT count(*) FROM enterprises) + (SELECT count(*) FROM merchants) AS subjects,
  (SELECT count(DISTINCT left(division_code, 2)) FROM bench.si) AS provinces,
  'BF000000'::text AS hub_subject, :'HUB'::text AS hub_batch, 0::float8 AS gen_seconds;
DROP TABLE bench.mv, bench.ev, bench.pev, bench.ret, bench.dist, bench.inp, bench.lot, bench.proc;
VACUUM ANALYZE trace_events;
VACUUM ANALYZE trace_lineage;
ANALYZE enterprises;
ANALYZE merchants;
ANALYZE tenants;
SQL
  GEN=$(python3 -c "import time; print(f'{time.time() - $T0:.1f}')")
  "${PSQL[@]}" -d "$PGDB" -c "UPDATE bench.meta SET gen_seconds = $GEN"
fi
# SLOW_MS: the server's statements slower than that go to the PostgreSQL log (read at the end).
"${PSQL[@]}" -c "ALTER DATABASE $PGDB SET log_min_duration_statement = $SLOW_MS" >/dev/null
# Dirty pages written now, not by a checkpoint spread over the measurements.
"${PSQL[@]}" -c "CHECKPOINT" >/dev/null

# ---------------------------------------------------------------------------------------------
# Server, administrator, API key
# ---------------------------------------------------------------------------------------------
LOGPOS=$( [ -n "$PGLOG" ] && stat -c %s "$PGLOG" || echo 0)
(cd "$DIR" && SUYUAN_LISTEN="127.0.0.1:$PORT" SUYUAN_LOG_LEVEL="${LOG_LEVEL:-warn}" exec "$BIN" serve >"$DIR/server.log" 2>&1) &
PID=$!
wait_up "$PORT"
KEY=$(admin_key "$PORT" "$DIR/jar" "$PASS" "$NEW" manager bench-chain)  # a manager: the recall asks for 200 000 nodes

# ---------------------------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------------------------
python3 - "$DIR" "$PGDB" "$PORT" "$KEY" "$DURATION" "$CONNS" "$PGBENCH" "${PGLOG:-}" "$LOGPOS" "$SLOW_MS" "$BIN" <<'PY'
import glob, http.client, json, os, random, re, statistics, subprocess, sys, time
d, db, port, key, dur, conns, pgbench, pglog, logpos, slow_ms, binary = sys.argv[1:12]
port, dur, conns, logpos = int(port), int(dur), [int(c) for c in conns.split()], int(logpos)
PSQL = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1"]
QUIET = dict(os.environ, PGOPTIONS="-c log_min_duration_statement=-1")  # our own queries stay out of the slow log

def psql(sql):
    return subprocess.run(PSQL + ["-c", sql], check=True, capture_output=True, text=True, env=QUIET).stdout.strip()

busy = set()
def note_busy():
    """Other CPU users during a measurement (a compiler on a 2-core machine skews everything)."""
    out = subprocess.run(["ps", "-eo", "pcpu=,comm="], capture_output=True, text=True).stdout
    for line in out.splitlines():
        cpu, _, comm = line.strip().partition(" ")
        if float(cpu) >= 20 and comm.strip() not in ("suyuan", "postgres", "wrk", "pgbench", "python3", "psql"):
            busy.add(comm.strip())

meta = dict(zip(["batches", "events", "edges", "nodes", "subjects", "provinces", "hub_subject", "hub_batch", "gen_seconds"],
                psql("SELECT batches, events, edges, nodes, subjects, provinces, hub_subject, hub_batch, gen_seconds FROM bench.meta").split("|")))
starts = [l.split("|") for l in psql("SELECT id, tier, subject, batch FROM bench.starts ORDER BY id").splitlines()]

def cte(start, up=True, down=True, depth=20):
    """The baseline: the API's answer (start, nodes with subject and tenant, merged flows with product) in one query."""
    return f"""WITH RECURSIVE
s AS (SELECT DISTINCT e.subject_code AS c, e.batch_no AS b FROM trace_events e WHERE {start}),
dn(c, b, d) AS (SELECT c, b, 0 FROM s WHERE {str(down).lower()}
  UNION SELECT l.to_subject_code, l.to_batch, dn.d + 1 FROM dn
  JOIN trace_lineage l ON l.from_batch = dn.b COLLATE "C" AND l.from_subject_code = dn.c COLLATE "C" WHERE dn.d < {depth}),
up(c, b, d) AS (SELECT c, b, 0 FROM s WHERE {str(up).lower()}
  UNION SELECT l.from_subject_code, l.from_batch, up.d + 1 FROM up
  JOIN trace_lineage l ON l.to_batch = up.b COLLATE "C" AND l.to_subject_code = up.c COLLATE "C" WHERE up.d < {depth}),
nodes AS (SELECT DISTINCT ON (c, b) c, b, d FROM (SELECT c, b, d FROM dn UNION ALL SELECT c, b, -d FROM up
  UNION ALL SELECT c, b, 0 FROM s) x ORDER BY c, b, abs(d), d DESC),
fl AS (SELECT l.* FROM (SELECT DISTINCT c, b FROM dn WHERE d < {depth}) x
         JOIN trace_lineage l ON l.from_batch = x.b COLLATE "C" AND l.from_subject_code = x.c COLLATE "C"
       UNION SELECT l.* FROM (SELECT DISTINCT c, b FROM up WHERE d < {depth}) x
         JOIN trace_lineage l ON l.to_batch = x.b COLLATE "C" AND l.to_subject_code = x.c COLLATE "C"),
f AS (SELECT fl.from_subject_code || '|' || fl.from_batch AS fr, fl.to_subject_code || '|' || fl.to_batch AS tt, fl.kind,
         min(fl.product_name) AS product, min(fl.to_batch) AS batch, max(fl.quantity) AS quantity,
         min(fl.event_time) AS at, count(*) AS reports
      FROM fl GROUP BY 1, 2, 3)
SELECT json_build_object(
 'start', (SELECT json_agg(c || '|' || b) FROM s),
 'nodes', (SELECT json_agg(json_build_object('id', n.c || '|' || n.b, 'subject_code', n.c,
     'subject_name', coalesce(e.name, m.name, ''), 'subject_type', coalesce(e.enterprise_type, CASE WHEN m.code IS NOT NULL THEN 'merchant' END, ''),
     'batch_no', n.b, 'depth', n.d, 'division_code', coalesce(e.division_code, m.division_code, ''),
     'longitude', e.longitude, 'latitude', e.latitude, 'tenant_code', t.code, 'tenant_name', t.name,
     'contact_name', coalesce(e.contact_name, m.contact_name), 'contact_phone', coalesce(e.contact_phone, m.contact_phone))
     ORDER BY n.d, n.c || '|' || n.b COLLATE "C")
   FROM nodes n LEFT JOIN enterprises e ON e.code = n.c LEFT JOIN merchants m ON m.code = n.c
   LEFT JOIN tenants t ON t.id = coalesce(e.tenant_id, m.tenant_id)),
 'flows', (SELECT json_agg(json_build_object('from', fr, 'to', tt, 'kind', kind, 'product_name', product, 'batch_no', batch,
     'quantity', quantity, 'time', at, 'reports', reports) ORDER BY at, fr COLLATE "C") FROM f))"""

def lit(s):
    return "'" + s.replace("'", "''") + "'"

def start_of(subject, batch):
    return f"e.batch_no = {lit(batch)} AND e.subject_code = {lit(subject)}"

conn = None
def api(query):
    """One request over a kept-alive connection (opened again when the server has closed it)."""
    global conn
    for attempt in range(2):
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            conn.connect()
        t = time.perf_counter()
        try:
            conn.request("GET", "/api/v1/trace/chain?" + query, headers={"Authorization": f"Bearer {key}"})
            res = conn.getresponse()
            body = res.read()
            return res.status, body, time.perf_counter() - t
        except (http.client.RemoteDisconnected, ConnectionError):
            conn.close()
            conn = None
            if attempt:
                raise

def db_stats():
    time.sleep(11)  # an idle backend flushes its counters within 10 s (PGSTAT_IDLE_INTERVAL)
    return [int(x) for x in psql(f"SELECT xact_commit + xact_rollback, tup_returned, tup_fetched FROM pg_stat_database WHERE datname = '{db}'").split("|")]

# Agreement and chain sizes on a sample, then statements and rows per API chain.
random.seed(7)
sample = random.sample(starts, 40)
sizes, mismatches = {"processed": [], "distribution": []}, []
for _, tier, subj, batch in sample:
    st, body, _ = api(f"batch={batch}&subject={subj}")
    if st != 200:
        raise SystemExit(f"chain {subj}/{batch}: HTTP {st} {body[:300]!r}")
    a = json.loads(body)
    c = json.loads(psql(cte(start_of(subj, batch))))
    sizes[tier].append(len(a["nodes"]))
    if (len(a["nodes"]), len(a["flows"])) != (len(c["nodes"] or []), len(c["flows"] or [])) or a["truncated"]:
        mismatches.append(f"{subj}/{batch}: API {len(a['nodes'])}n/{len(a['flows'])}f, CTE {len(c['nodes'] or [])}n/{len(c['flows'] or [])}f")
before = db_stats()
for _, _, subj, batch in sample[:20]:
    api(f"batch={batch}&subject={subj}")
after = db_stats()
per_chain = [(a - b) / 20 for a, b in zip(after, before)]

# 1. API with wrk.
with open(f"{d}/starts.txt", "w") as f:
    for _, _, subj, batch in starts:
        f.write(f"batch={batch}&subject={subj}\n")
with open(f"{d}/chain.lua", "w") as f:
    f.write("""
local starts = {}
for l in io.lines(os.getenv("STARTS")) do starts[#starts + 1] = l end
wrk.headers["Authorization"] = "Bearer " .. os.getenv("KEY")
local n = 0
function setup(thread) n = n + 1; thread:set("tid", n) end
function init(args) math.randomseed(os.time() * 1000 + tid) end
function request() return wrk.format("GET", "/api/v1/trace/chain?" .. starts[math.random(#starts)]) end
-- Every latency measured (its histogram: microseconds and count), for pooling rounds.
function done(summary, latency, requests)
  local f = io.open(os.getenv("LATFILE"), "w")
  for i = 1, #latency do
    local v, n = latency(i)
    f:write(string.format("%d %d\\n", v, n))
  end
  f:close()
end
""")
def pct(hist, q):
    """The q-quantile (0..1) of a histogram {ms: count}."""
    total, seen = sum(hist.values()), 0
    for v in sorted(hist):
        seen += hist[v]
        if seen >= q * total:
            return v
    return 0.0
def wrk(c, seconds):
    env = dict(os.environ, STARTS=f"{d}/starts.txt", KEY=key, LATFILE=f"{d}/wrk.lat")
    out = subprocess.run(["wrk", f"-t{min(c, 2)}", f"-c{c}", f"-d{seconds}s", "-s", f"{d}/chain.lua",
                          f"http://127.0.0.1:{port}"], check=True, capture_output=True, text=True, env=env).stdout
    hist = {}
    for line in open(f"{d}/wrk.lat"):
        us, n = line.split()
        hist[int(us) / 1000] = hist.get(int(us) / 1000, 0) + int(n)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errs = re.search(r"Socket errors: (.*)", out)
    return {"hist": hist, "secs": seconds, "n": int(re.search(r"(\d+) requests in", out).group(1)),
            "bad": int(bad.group(1)) if bad else 0, "errors": errs.group(1) if errs else ""}

# 2. The recursive CTE with pgbench, same starts, same concurrency.
script = f"{d}/chain.sql"
with open(script, "w") as f:
    f.write(f"\\set r random(1, {len(starts)})\n")
    f.write(cte("(e.batch_no, e.subject_code) = (SELECT batch, subject FROM bench.starts WHERE id = :r)") + ";\n")
def bench(c, seconds, tag):
    for p in glob.glob(f"{d}/{tag}.*"):
        os.remove(p)
    out = subprocess.run([pgbench, "-h", "127.0.0.1", "-U", "postgres", "-n", "-M", "prepared", "-c", str(c), "-j", str(min(c, 2)),
                          "-T", str(seconds), "-f", script, "-l", f"--log-prefix={d}/{tag}", db],
                         check=True, capture_output=True, text=True, env=QUIET).stdout
    hist = {}
    for p in glob.glob(f"{d}/{tag}.*"):
        for line in open(p):
            v = int(line.split()[2]) / 1000
            hist[v] = hist.get(v, 0) + 1
    failed = re.search(r"number of failed transactions: (\d+)", out)
    return {"hist": hist, "secs": seconds, "n": sum(hist.values()), "failed": int(failed.group(1)) if failed else 0}

# The API and the CTE take turns, ROUNDS times each per concurrency (DURATION split between the
# rounds; the order flips every round), and each one's latencies are pooled over its rounds: a
# moment when the machine is slow (a checkpoint, another VM) falls on both alike.
rounds = int(os.environ.get("ROUNDS", "3"))
wrk(2, 3)  # warm-up
bench(2, 3, "warm")
api_res, cte_res, per_round = {}, {}, {}
def pooled(parts):
    hist = {}
    for r in parts:
        for v, n in r["hist"].items():
            hist[v] = hist.get(v, 0) + n
    n = sum(r["n"] for r in parts)
    return {"p50": pct(hist, 0.5), "p99": pct(hist, 0.99), "rps": n / sum(r["secs"] for r in parts), "n": n,
            "mean": sum(v * k for v, k in hist.items()) / max(1, sum(hist.values())),
            "bad": sum(r.get("bad", 0) for r in parts), "errors": " ".join(r.get("errors", "") for r in parts).strip(),
            "failed": sum(r.get("failed", 0) for r in parts)}
for c in conns:
    secs = max(2, dur // rounds)
    parts = {"api": [], "cte": []}
    for r in range(rounds):
        for which in (("api", "cte") if r % 2 == 0 else ("cte", "api")):
            note_busy()
            parts[which].append(wrk(c, secs) if which == "api" else bench(c, secs, f"pgb{c}r{r}"))
    note_busy()
    api_res[c], cte_res[c] = pooled(parts["api"]), pooled(parts["cte"])
    per_round[c] = [(pct(a["hist"], 0.99), pct(b["hist"], 0.99)) for a, b in zip(parts["api"], parts["cte"])]

# 3. Recall from the hub.
hub_s, hub_b = meta["hub_subject"], meta["hub_batch"]
q = f"batch={hub_b}&subject={hub_s}&direction=down&depth=50&max_nodes=200000"
note = ""
before = db_stats()
st, body, api_t = api(q)
after = db_stats()
if st in (400, 422) and b"max_nodes" in body:
    note = f"this binary rejects max_nodes (HTTP {st}: {body[:160].decode(errors='replace')}); timed without it (5 000-node cap)"
    before = db_stats()
    q = q.replace("&max_nodes=200000", "")
    st, body, api_t = api(q)
    after = db_stats()
if st != 200:
    raise SystemExit(f"recall: HTTP {st} {body[:300]!r}")
rec = json.loads(body)
rec_stmts = after[0] - before[0]
rec_rows = after[2] - before[2]
# The first recall reads much of the graph from disk or the OS cache; two more show it warm.
api_ts = [api_t] + [api(q)[2] for _ in range(2)]
t = time.perf_counter()
cte_n = psql("SELECT json_array_length(j->'nodes'), json_array_length(j->'flows'), length(j::text) FROM (" +
             cte(start_of(hub_s, hub_b), up=False, depth=50) + ") q(j)").split("|")
cte_t = time.perf_counter() - t

# One chain with every statement logged: a second server whose connections log everything.
def log_size():
    return os.path.getsize(pglog) if pglog else 0
def log_lines(a, b):
    with open(pglog, "rb") as f:
        f.seek(a)
        return f.read(b - a).decode(errors="replace").splitlines()
trace = None
slow_end = log_size()
if pglog:
    env = dict(os.environ, SUYUAN_LISTEN=f"127.0.0.1:{port + 1}", SUYUAN_LOG_LEVEL="warn",
               SUYUAN_DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{db}?options=-c%20log_min_duration_statement%3D0")
    srv = subprocess.Popen([binary, "serve"], cwd=d, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                c2 = http.client.HTTPConnection("127.0.0.1", port + 1, timeout=60)
                c2.request("GET", "/healthz"); c2.getresponse().read(); break
            except OSError:
                time.sleep(0.2)
        _, _, subj, batch = next(s for s in sample if s[1] == "processed")
        def get2():
            t = time.perf_counter()
            c2.request("GET", f"/api/v1/trace/chain?batch={batch}&subject={subj}", headers={"Authorization": f"Bearer {key}"})
            c2.getresponse().read()
            return time.perf_counter() - t
        for _ in range(5):  # the pool's connections opened and their prepared statements cached
            get2()
        time.sleep(0.5)
        a = log_size(); wall = get2(); time.sleep(0.5); b = log_size()
        steps, db_ms, tables = 0, 0.0, {}
        for line in log_lines(a, b):
            m = re.search(rf"@{db} LOG:\s+duration: ([\d.]+) ms\s+(parse|bind|execute|statement)[^:]*: (.*)", line)
            if not m:
                continue
            db_ms += float(m.group(1))
            if m.group(2) in ("execute", "statement"):
                steps += 1
                t = re.search(r'FROM "?(\w+)"?', m.group(3))
                tables[t.group(1) if t else m.group(3)[:20]] = tables.get(t.group(1) if t else m.group(3)[:20], 0) + 1
        trace = (subj, batch, wall * 1000, steps, db_ms, tables)
    finally:
        srv.terminate(); srv.wait()

# The server's slow statements (PostgreSQL log, this database, since the server started).
slow = {}
if pglog:
    for line in log_lines(logpos, slow_end):
        m = re.search(rf"@{db} LOG:\s+duration: ([\d.]+) ms\s+(execute|statement|parse|bind)[^:]*: (.*)", line)
        if m:
            k = m.group(2) + " " + re.sub(r"\$\d+(, \$\d+)*", "$…", m.group(3))[:100]
            n, tot, mx = slow.get(k, (0, 0.0, 0.0))
            slow[k] = (n + 1, tot + float(m.group(1)), max(mx, float(m.group(1))))

# Summary.
def avg(x):
    return f"{statistics.fmean(x):.1f} (min {min(x)}, max {max(x)})" if x else "-"
print(f"\n== trace chain on PostgreSQL — {os.cpu_count()} cores; data generated in {float(meta['gen_seconds']):.0f} s")
print(f"data: {int(meta['nodes']):,} nodes (subject, batch), {int(meta['edges']):,} lineage edges, {int(meta['events']):,} trace records, "
      f"{int(meta['subjects']):,} subjects in {meta['provinces']} provinces (BATCHES={meta['batches']})")
print(f"nodes per chain (direction=both, depth 20): processed starts {avg(sizes['processed'])}; distribution starts {avg(sizes['distribution'])}")
print(f"API vs CTE on {len(sample)} starts: " + ("same node and flow counts" if not mismatches else "DIFFER: " + "; ".join(mismatches[:3])))
print(f"per API chain: {per_chain[0]:.1f} statements (pg_stat_database), {per_chain[2]:.0f} rows fetched")
if trace:
    subj, batch, wall, steps, db_ms, tables = trace
    print(f"one chain traced ({subj}|{batch}): {wall:.1f} ms wall, {steps} statements, {db_ms:.1f} ms in PostgreSQL "
          f"(parse+bind+execute); by table: " + ", ".join(f"{k} {v}" for k, v in sorted(tables.items(), key=lambda kv: -kv[1])))
print(f"\nAPI and CTE in turn, {rounds} rounds each of {max(2, dur // rounds)} s per concurrency, latencies pooled")
print(f"{'':16}{'conns':>6}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}{'requests':>10}")
for c in conns:
    a = api_res[c]
    extra = (f"  non-2xx {a['bad']}" if a["bad"] else "") + (f"  socket errors {a['errors']}" if a["errors"] else "")
    print(f"{'API (wrk)':16}{c:>6}{a['p50']:>9.2f}{a['p99']:>9.2f}{a['rps']:>9.1f}{a['n']:>10}{extra}")
for c in conns:
    b = cte_res[c]
    print(f"{'CTE (pgbench)':16}{c:>6}{b['p50']:>9.2f}{b['p99']:>9.2f}{b['rps']:>9.1f}{b['n']:>10}  mean {b['mean']:.2f} ms"
          + (f"  failed {b['failed']}" if b["failed"] else ""))
for c in conns:
    a, b = api_res[c], cte_res[c]
    print(f"ratio at {c} conn: API p50 / CTE p50 {a['p50'] / b['p50']:.1f}x, API p99 / CTE p99 {a['p99'] / b['p99']:.1f}x, "
          f"API req/s / CTE tps {a['rps'] / b['rps']:.2f}")
    print(f"  p99 by round (API / CTE, ms): " + ", ".join(f"{x:.2f} / {y:.2f}" for x, y in per_round[c]))
print(f"\nrecall from {hub_s}|{hub_b} (direction=down, depth 50, max_nodes 200000):")
print(f"  API: {api_t:7.2f} s  {len(rec['nodes']):>8,} nodes {len(rec['flows']):>8,} flows  {len(body) / 1e6:.1f} MB  "
      f"truncated={rec['truncated']}  {rec_stmts} statements, {rec_rows:,} rows fetched")
print(f"  CTE: {cte_t:7.2f} s  {int(cte_n[0]):>8,} nodes {int(cte_n[1]):>8,} flows  {int(cte_n[2]) / 1e6:.1f} MB (psql, one statement)")
print(f"  API, three runs: {', '.join(f'{t:.2f}' for t in api_ts)} s (median {statistics.median(api_ts):.2f} s)")
print(f"  recall API / CTE: {api_t / cte_t:.1f}x (first run), {statistics.median(api_ts) / cte_t:.1f}x (median)")
if note:
    print("  note: " + note)
if busy:
    print("\nWARNING: other processes used the CPU during the timed runs: " + ", ".join(sorted(busy)) + " — numbers are skewed")
if slow:
    print(f"\nserver statements slower than {slow_ms} ms (count, total s, max ms):")
    for k, (n, tot, mx) in sorted(slow.items(), key=lambda kv: -kv[1][1])[:8]:
        print(f"  {n:>5} {tot / 1000:>7.2f} {mx:>8.1f}  {k}")
PY
