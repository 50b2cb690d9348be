#!/usr/bin/env python3
"""Load generator and probes for benches/federation.sh (Python standard library only).

  case  a steady ingest load on one city's API key: RATE requests a second (each request one
        change: BATCH trace records, one outbox row), for DURATION seconds, from CONNS threads
        with a keep-alive connection each, paced by a shared schedule (request i is due at
        t0 + i / RATE; a thread that is late sends at once; nothing is sent after the window).
        Around it: the federation status of both deployments every second (backlog and lag of
        every link), then every 0.2 s after the load until every link is at backlog 0 (the
        drain time), and the freshness histograms of /metrics before and after.
  dash  the national dashboard: GET /api/v1/federation/rollup (warm-up, then REQS requests one
        after the other), the statements the roll-up runs and the same figures from the raw
        rows timed with psql \\timing (first run a warm-up, median of RUNS), the API's figures
        checked against the raw ones, and the statements of one API request from the
        PostgreSQL log (log_min_duration_statement = 0 for that request only).

Called by benches/federation.sh; see there for what is measured and why.
"""

import argparse
import glob
import http.client
import itertools
import json
import math
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

INF = float("inf")
SUMMARY = None


def say(line=""):
    """Prints a line and appends it to the summary file."""
    print(line, flush=True)
    if SUMMARY:
        with open(SUMMARY, "a", encoding="utf-8") as f:
            f.write(line + "\n")


def request(port, method, path, body=None, headers=None, timeout=60):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        h = {"Content-Type": "application/json", **(headers or {})}
        c.request(method, path, body, h)
        r = c.getresponse()
        return r.status, r.read(), r
    finally:
        c.close()


def login(port, username, password):
    """A session cookie header for `username`."""
    status, body, r = request(port, "POST", "/api/v1/auth/login", json.dumps({"username": username, "password": password}))
    if status != 200:
        sys.exit(f"login of {username} on port {port}: HTTP {status} {body[:300]!r}")
    cookies = [h.split(";", 1)[0] for h in (r.headers.get_all("Set-Cookie") or [])]
    return {"Cookie": "; ".join(cookies)}


def get_json(port, path, auth):
    status, body, _ = request(port, "GET", path, headers=auth)
    if status != 200:
        raise RuntimeError(f"GET {path} on port {port}: HTTP {status} {body[:300]!r}")
    return json.loads(body)


def nearest_rank(sorted_values, q):
    if not sorted_values:
        return float("nan")
    return sorted_values[max(0, min(len(sorted_values) - 1, math.ceil(q * len(sorted_values)) - 1))]


# ---------------------------------------------------------------------------------------------
# Histograms from /metrics
# ---------------------------------------------------------------------------------------------
FAMILY = "suyuan_federation_freshness_seconds"
LABELS = re.compile(r'(\w+)="([^"]*)"')


def freshness(port):
    """{via: {"buckets": {le: cumulative}, "sum": s, "count": n}} from /metrics."""
    status, body, _ = request(port, "GET", "/metrics")
    if status != 200:
        raise RuntimeError(f"/metrics on port {port}: HTTP {status}")
    out = {}
    for line in body.decode().splitlines():
        if not line.startswith(FAMILY):
            continue
        m = re.match(rf"^{FAMILY}_(bucket|sum|count)\{{([^}}]*)\}}\s+(\S+)", line)
        if not m:
            continue
        kind, labels, value = m.group(1), dict(LABELS.findall(m.group(2))), float(m.group(3))
        h = out.setdefault(labels.get("via", "?"), {"buckets": {}, "sum": 0.0, "count": 0.0})
        if kind == "bucket":
            le = labels["le"]
            h["buckets"][INF if le in ("+Inf", "Inf") else float(le)] = value
        else:
            h[kind] = value
    return out


def hist_diff(after, before, via):
    a = after.get(via, {"buckets": {}, "sum": 0.0, "count": 0.0})
    b = before.get(via, {"buckets": {}, "sum": 0.0, "count": 0.0})
    les = sorted(set(a["buckets"]) | set(b["buckets"]))
    buckets = [(le, a["buckets"].get(le, 0.0) - b["buckets"].get(le, 0.0)) for le in les]
    return {"buckets": buckets, "sum": a["sum"] - b["sum"], "count": a["count"] - b["count"]}


def hist_quantile(h, q):
    """(linear interpolation inside the bucket, the bucket's upper bound) of quantile q; the
    lower bound of the first bucket is 0. Beyond the last finite bound: (that bound, inf)."""
    buckets = h["buckets"]
    total = buckets[-1][1] if buckets else 0
    if total <= 0:
        return None, None
    rank = q * total
    prev_le, prev_c = 0.0, 0.0
    for le, c in buckets:
        if c >= rank and c > prev_c:
            if le == INF:
                return prev_le, INF
            return prev_le + (le - prev_le) * (rank - prev_c) / (c - prev_c), le
        prev_le, prev_c = (le if le != INF else prev_le), c
    return prev_le, INF


def ms(x):
    if x is None:
        return "n/a"
    if x == INF:
        return "> last bucket"
    return f"{x * 1000:.0f} ms" if x >= 0.1 else f"{x * 1000:.1f} ms"


def q_text(h, q):
    v, le = hist_quantile(h, q)
    if v is None:
        return "n/a"
    if le == INF:
        return f"> {ms(v)} (beyond the last bucket)"
    return f"{ms(v)} (bucket <= {ms(le)})"


# ---------------------------------------------------------------------------------------------
# CPU accounting
# ---------------------------------------------------------------------------------------------
TCK = os.sysconf("SC_CLK_TCK")


def machine_cpu():
    """(busy, total) clock ticks of all cores so far."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v[:8]) - idle, sum(v[:8])


def proc_cpu(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return 0


def postgres_cpu():
    total = 0
    for p in glob.glob("/proc/[0-9]*/comm"):
        try:
            with open(p) as f:
                if f.read().strip() != "postgres":
                    continue
        except OSError:
            continue
        total += proc_cpu(p.split("/")[2])
    return total


def cpu_snapshot(pids):
    busy, total = machine_cpu()
    me = os.times()
    return {"busy": busy, "total": total, "pg": postgres_cpu(), "gen": (me.user + me.system) * TCK,
            **{name: proc_cpu(pid) for name, pid in pids.items()}}


# ---------------------------------------------------------------------------------------------
# case
# ---------------------------------------------------------------------------------------------
def links(servers, auth):
    """[(server, link)] of every link both deployments show."""
    out = []
    for name, port in servers.items():
        for link in get_json(port, "/api/v1/federation/status", auth[name])["links"]:
            out.append((name, link))
    return out


def case(a):
    servers = dict(s.split("=") for s in a.servers.split(","))
    servers = {k: int(v) for k, v in servers.items()}
    pids = {k: int(v) for k, v in (s.split("=") for s in a.pids.split(","))} if a.pids else {}
    auth = {name: login(port, "admin", a.password) for name, port in servers.items()}
    national = servers[a.national]

    def region_records():
        r = get_json(national, "/api/v1/federation/rollup", auth[a.national])
        line = next((x for x in r["regions"] if x["code"] == a.region), None)
        return (line or {}).get("records", 0)

    def backlog_zero():
        return all(link["backlog"] == 0 for _, link in links(servers, auth))

    # Everything of the setup (the filings, earlier cases) delivered first.
    t = time.perf_counter()
    while not backlog_zero():
        if time.perf_counter() - t > a.drain_max:
            say(f"   warning: links still have a backlog {a.drain_max} s before the load; measuring anyway")
            break
        time.sleep(0.2)
    before = {name: freshness(port) for name, port in servers.items()}
    records0 = region_records()

    total = int(a.rate * a.duration)
    day = (datetime.now(timezone(timedelta(hours=8))) - timedelta(hours=1)).replace(microsecond=0)
    event_time = day.isoformat()
    tag = f"{a.name}-{int(time.time())}"
    headers = {"Authorization": f"Bearer {a.key}", "Content-Type": "application/json"}

    def body(i):
        return json.dumps({"events": [
            {"client_event_id": f"{tag}-{i}-{j}", "stage": "sale", "action": "sell", "subject_code": a.subject,
             "product_name": "番茄", "batch_no": f"{tag}-B{i}", "quantity": 1.0, "unit": "kg",
             "event_time": event_time, "division_code": a.division} for j in range(a.batch)]}).encode()

    results = []
    counter = itertools.count()
    t0 = time.perf_counter() + 0.3
    t_stop = t0 + a.duration

    def worker():
        conn = None
        while True:
            i = next(counter)
            if i >= total:
                break
            due = t0 + i / a.rate
            now = time.perf_counter()
            if due > now:
                time.sleep(due - now)
            b = body(i)
            start = time.perf_counter()
            if start >= t_stop:
                break
            status, accepted, error = None, 0, None
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=120)
                conn.request("POST", "/api/v1/trace/events", b, headers)
                r = conn.getresponse()
                data = r.read()
                status = r.status
                if status == 200:
                    accepted = json.loads(data).get("accepted", 0)
                else:
                    error = data[:300]
                if (r.getheader("connection") or "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                status, error = "error", repr(e)
                if conn is not None:
                    conn.close()
                conn = None
            results.append((due, start, time.perf_counter(), status, accepted, error))
        if conn is not None:
            conn.close()

    peaks = {}  # (server, tenant code) -> [max backlog, max lag_secs, transport]
    samples = []  # (seconds since t0, backlog rows of all links or None, error)

    def sample():
        """One look at every link; whether all are at backlog 0 (None when it failed)."""
        t_s = time.perf_counter()
        try:
            ls = links(servers, auth)
        except (OSError, RuntimeError, ValueError, http.client.HTTPException) as e:
            samples.append((t_s - t0, None, repr(e)))
            return None
        for name, link in ls:
            p = peaks.setdefault((name, link["tenant_code"]), [0, 0, link.get("transport", "?")])
            p[0] = max(p[0], link["backlog"])
            p[1] = max(p[1], link["lag_secs"])
        samples.append((t_s - t0, sum(link["backlog"] for _, link in ls), None))
        return all(link["backlog"] == 0 for _, link in ls)

    stop = threading.Event()

    def sampler():
        while not stop.is_set():
            t_s = time.perf_counter()
            sample()
            stop.wait(max(0.0, 1.0 - (time.perf_counter() - t_s)))

    cpu0 = cpu_snapshot(pids)
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(a.conns)]
    sam = threading.Thread(target=sampler, daemon=True)
    sam.start()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    t_end = time.perf_counter()
    cpu1 = cpu_snapshot(pids)
    stop.set()
    sam.join()

    # Drain: every link at backlog 0.
    drained = None
    while True:
        zero = sample()
        now = time.perf_counter()
        if zero:
            drained = now - t_end
            break
        if now - t_end > a.drain_max:
            break
        time.sleep(0.2)
    time.sleep(0.3)
    after = {name: freshness(port) for name, port in servers.items()}
    records1 = region_records()

    # ---- report
    sent = len(results)
    ok = [r for r in results if r[3] == 200]
    changes = sum(1 for r in ok if r[4] > 0)
    accepted = sum(r[4] for r in ok)
    bad = [r for r in results if r[3] != 200]
    lat = sorted((r[2] - r[1]) * 1000 for r in ok)
    sched = sorted((r[2] - r[0]) * 1000 for r in ok)
    late = sum(1 for r in results if r[1] - r[0] > 0.010)
    last_answer = max((r[2] for r in results), default=t0)
    say(f"load: target {a.rate:g} req/s x {a.duration:g} s, {a.batch} record(s) per request, {a.conns} connections"
        f" -> sent {sent} of {total} in the window = {sent / a.duration:.0f} req/s"
        f" ({sent * a.batch / a.duration:.0f} records/s); last answer {last_answer - t0:.1f} s after the start")
    say(f"      answered 200: {len(ok)} ({changes} changes = outbox rows, {accepted} records accepted); "
        f"not 200: {len(bad)}" + (f", e.g. {bad[0][3]} {bad[0][5]!r}"[:300] if bad else "")
        + f"; sent > 10 ms behind schedule: {late} ({100 * late / max(sent, 1):.0f} %)")
    say(f"ingest latency (send -> answer): p50 {nearest_rank(lat, 0.5):.1f} ms, p99 {nearest_rank(lat, 0.99):.1f} ms, "
        f"max {nearest_rank(lat, 1.0):.1f} ms; from the scheduled time: p50 {nearest_rank(sched, 0.5):.1f} ms, "
        f"p99 {nearest_rank(sched, 0.99):.1f} ms")
    dt = max(cpu1["total"] - cpu0["total"], 1)
    busy = cpu1["busy"] - cpu0["busy"]
    ncpu = os.cpu_count() or 1
    parts = [f"{name} {(cpu1[name] - cpu0[name]) / TCK:.1f}" for name in pids]
    parts += [f"postgres {(cpu1['pg'] - cpu0['pg']) / TCK:.1f}", f"load generator {(cpu1['gen'] - cpu0['gen']) / TCK:.1f}"]
    accounted = sum(cpu1[name] - cpu0[name] for name in pids) + (cpu1["pg"] - cpu0["pg"]) + (cpu1["gen"] - cpu0["gen"])
    other = max(0, busy - accounted)
    say(f"CPU during the load: machine {100 * busy / dt:.0f} % busy of {ncpu} cores; CPU-seconds "
        + ", ".join(parts) + f", other {other / TCK:.1f}")
    if other > 0.1 * dt:
        say(f"      warning: other processes used {100 * other / dt:.0f} % of the machine meanwhile")
    shown = sorted(peaks.items(), key=lambda kv: (kv[0][0], kv[0][1]))
    say("backlog, sampled every 1 s during the load and 0.2 s while draining (max backlog rows / max lag s): "
        + "; ".join(f"{srv}:{code} ({v[2]}) {v[0]} / {v[1]} s" for (srv, code), v in shown if v[0] or v[1] or code in a.show))
    if drained is None:
        say(f"drain: NOT drained {a.drain_max} s after the last answer")
    else:
        say(f"drain: every link at backlog 0 {drained:.1f} s after the last answer")
    grew = records1 - records0
    say(f"national roll-up, region {a.region}: +{grew} records ({'= the accepted records' if grew == accepted else f'ACCEPTED {accepted}: MISMATCH'})")

    if a.via == "http":
        h = hist_diff(after[a.national], before[a.national], "http")
        say(f"FRESHNESS at the national tenant ({a.national} /metrics via=\"http\", the arrivals from the other "
            f"deployment, {int(h['count'])} observations for {changes} changes; from the commit in the city; "
            "linear interpolation inside the bucket):")
        say(f"      p50 {q_text(h, 0.5)}, p99 {q_text(h, 0.99)}, mean {ms(h['sum'] / h['count']) if h['count'] else 'n/a'}")
        if a.hop1:
            h1 = hist_diff(after[a.hop1], before[a.hop1], "local")
            say(f"      first hop only (city -> province, {a.hop1} via=\"local\", {int(h1['count'])} obs.): "
                f"p50 {q_text(h1, 0.5)}, p99 {q_text(h1, 0.99)}")
    else:
        h = hist_diff(after[a.national], before[a.national], "local")
        n = int(h["count"])
        say(f"FRESHNESS, local ({a.national} /metrics via=\"local\", {n} observations for {changes} changes: both hops "
            "mixed, city -> province and province -> national, each from the commit in the city; linear "
            "interpolation inside the bucket):")
        say(f"      mixed: p50 {q_text(h, 0.5)}, p75 {q_text(h, 0.75)}, p99 {q_text(h, 0.99)}, "
            f"p99.5 {q_text(h, 0.995)}")
        if n == 2 * changes and n > 0:
            # A change's second hop is never earlier than its first, and each hop is half of the
            # observations: the national arrivals' quantile p lies between the mixed quantiles p
            # and (1 + p) / 2.
            lo50, hi50 = hist_quantile(h, 0.5)[0], hist_quantile(h, 0.75)[0]
            lo99, hi99 = hist_quantile(h, 0.99)[0], hist_quantile(h, 0.995)[0]
            say(f"      => at the national tenant alone: p50 between {ms(lo50)} and {ms(hi50)}, "
                f"p99 between {ms(lo99)} and {ms(hi99)} (bounds from the mixed quantiles p / (1+p)/2)")
        else:
            say(f"      (observations are not 2 x changes: the bounds for the national arrivals alone are not derived)")
    kept, last = [], -10.0
    for s in samples:  # about one a second
        if s[1] is not None and s[0] >= last + 0.95:
            kept.append(s)
            last = s[0]
    if kept:
        say("backlog over time (seconds after the start: rows waiting on all links): "
            + " ".join(f"{max(s[0], 0):.0f}:{s[1]}" for s in kept))
    failed = [s for s in samples if s[1] is None]
    if failed:
        say(f"      {len(failed)} status samples failed, e.g. {failed[0][2][:200]}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"sent": sent, "ok": len(ok), "changes": changes, "accepted": accepted, "drain": drained,
                       "lat_p50": nearest_rank(lat, 0.5), "lat_p99": nearest_rank(lat, 0.99)}, f)


# ---------------------------------------------------------------------------------------------
# dash
# ---------------------------------------------------------------------------------------------
def psql_cmd(db):
    return ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-X", "-q", "-v", "ON_ERROR_STOP=1"]


QUIET = dict(os.environ, PGOPTIONS="-c log_min_duration_statement=-1")


def psql(db, sql):
    return subprocess.run(psql_cmd(db) + ["-At", "-c", sql], check=True, capture_output=True, text=True, env=QUIET).stdout


def sql_times(db, sql, runs):
    """The statement run 1 + runs times in one session (the first a warm-up): the times in ms."""
    script = "\\timing on\n\\o /dev/null\n" + "".join(f"{sql};\n" for _ in range(runs + 1))
    out = subprocess.run(psql_cmd(db), input=script, check=True, capture_output=True, text=True, env=QUIET).stdout
    times = [float(m) for m in re.findall(r"^Time: ([\d.]+) ms", out, re.M)]
    if len(times) != runs + 1:
        raise RuntimeError(f"expected {runs + 1} timings, got {out[:500]}")
    return times[1:]


def dash(a):
    nat = a.national_id
    auth = {"Authorization": f"Bearer {a.key}"}
    path = "/api/v1/federation/rollup"

    # 1. The API.
    conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=300)

    def get():
        t = time.perf_counter()
        conn.request("GET", path, headers=auth)
        r = conn.getresponse()
        data = r.read()
        if r.status != 200:
            sys.exit(f"GET {path}: HTTP {r.status} {data[:300]!r}")
        return time.perf_counter() - t, data

    first, data = get()
    for _ in range(a.warm):
        get()
    api = sorted(get()[0] * 1000 for _ in range(a.reqs))
    answer = json.loads(data)
    conn.close()

    # 2. The statements, timed.
    rollup_sql = ("SELECT source_code, records, quantity, filings "
                  f"FROM federation_rollup_totals WHERE holder_tenant_id = '{nat}'")
    # For scale: the filings counted from the read model, which the totals' count replaces.
    filings_sql = ("SELECT source_code, COUNT(*) AS n FROM federation_filings "
                   f"WHERE receiver_tenant_id = '{nat}' AND status = 'active' GROUP BY source_code")
    raw_records_sql = "SELECT substr(division_code, 1, 2), count(*), sum(quantity) FROM trace_events GROUP BY 1"
    raw_filings_sql = "SELECT substr(division_code, 1, 2), count(*) FROM enterprises WHERE version > 0 GROUP BY 1"
    timed = {}
    statements = [("rollup", rollup_sql), ("filings", filings_sql), ("raw_records", raw_records_sql),
                  ("raw_filings", raw_filings_sql)]
    for label, sql in statements:
        print(f"-- timing {label} ({a.runs} runs after a warm-up)", file=sys.stderr, flush=True)
        timed[label] = sql_times(a.pgdb, sql, a.runs)
    # The plans, for the record (not in the summary).
    for label, sql in statements:
        print(f"-- plan of {label}: {sql}\n{psql(a.pgdb, 'EXPLAIN (ANALYZE, BUFFERS) ' + sql).rstrip()}", flush=True)

    # 3. The API's figures against the raw rows.
    raw = {}
    for line in psql(a.pgdb, raw_records_sql).split():
        p, n, q = line.split("|")
        raw.setdefault(p, [0, 0.0, 0])[0:2] = [int(n), float(q)]
    for line in psql(a.pgdb, raw_filings_sql).split():
        p, n = line.split("|")
        raw.setdefault(p, [0, 0.0, 0])[2] = int(n)
    api_fig = {x["code"][:2]: (x["records"], x["quantity"], x["filings"]) for x in answer["regions"]}
    diffs = [p for p in set(raw) | set(api_fig)
             if p not in raw or p not in api_fig or raw[p][0] != api_fig[p][0] or raw[p][2] != api_fig[p][2]
             or abs(raw[p][1] - api_fig[p][1]) > 1e-9 * max(1.0, abs(raw[p][1]))]

    # 4. The statements of one API request, from the PostgreSQL log.
    breakdown = statement_log(a, get_once=lambda: request(a.port, "GET", path, headers=auth))

    # ---- report
    def med(label):
        return statistics.median(timed[label])

    def span(label):
        v = timed[label]
        return f"median {med(label):8.1f} ms  (min {min(v):.1f}, max {max(v):.1f}, {len(v)} runs)"

    rollup_rows = psql(a.pgdb, f"SELECT count(*) FROM federation_rollup_totals WHERE holder_tenant_id = '{nat}'").strip()
    detail_rows = psql(a.pgdb, f"SELECT count(*) FROM federation_rollup WHERE holder_tenant_id = '{nat}'").strip()
    filing_rows = psql(a.pgdb, f"SELECT count(*) FROM federation_filings WHERE receiver_tenant_id = '{nat}'").strip()
    say(f"national answer: {len(answer['regions'])} regions, total records {answer['total']['records']}, "
        f"filings {answer['total']['filings']}, quantity {answer['total']['quantity']:.0f}; "
        + ("the same per-province figures as the raw rows" if not diffs else f"DIFFERS from the raw rows in {sorted(diffs)}"))
    say(f"roll-up rows read: federation_rollup_totals {rollup_rows} (holder = national; the detail by day, stage, category and region, federation_rollup, holds {detail_rows}), federation_filings {filing_rows}")
    say(f"(a) GET {path} as the national tenant ({a.reqs} requests one after the other, one keep-alive "
        f"connection, after {a.warm} warm-up; first, cold request {first * 1000:.0f} ms):")
    say(f"      p50 {nearest_rank(api, 0.5):.1f} ms, p99 {nearest_rank(api, 0.99):.1f} ms "
        f"(of {a.reqs}: the p99 is about the slowest), mean {statistics.mean(api):.1f} ms")
    say(f"    its roll-up statement (federation_rollup_totals, one row per source, records and filings): {span('rollup')}")
    say(f"    for scale, counting the read model instead (federation_filings, COUNT per source): {span('filings')}")
    for line in breakdown:
        say(line)
    say("(b) the same figures from the raw rows:")
    say(f"    trace_events GROUP BY province (count, sum):                      {span('raw_records')}")
    say(f"    enterprises  GROUP BY province (count, version > 0):              {span('raw_filings')}")
    ru, raw_total = med("rollup"), med("raw_records") + med("raw_filings")
    say(f"RATIO raw / roll-up (SQL, medians: the two raw statements against the one roll-up statement): "
        f"{raw_total:.1f} / {ru:.2f} ms = {raw_total / ru:.0f}x")
    say(f"RATIO raw SQL / API p50: {raw_total:.1f} / {nearest_rank(api, 0.5):.1f} ms = "
        f"{raw_total / nearest_rank(api, 0.5):.1f}x (the raw SQL without HTTP, JSON, names or sorting)")


def statement_log(a, get_once):
    """The server's statements during one GET, with their durations, from the PostgreSQL log."""
    logs = sorted(glob.glob("/var/log/postgresql/*.log"), key=os.path.getmtime)
    if not logs:
        return ["    statements of one API request: n/a (no PostgreSQL log in /var/log/postgresql)"]
    log = logs[-1]
    tag = f"bench-federation-{os.getpid()}-{time.time_ns()}"
    try:
        psql("postgres", f"ALTER DATABASE {a.pgdb} SET log_min_duration_statement = 0")
        # The setting reaches new sessions only: close the server pool's idle connections.
        psql("postgres", f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{a.pgdb}' "
                         "AND pid <> pg_backend_pid() AND state = 'idle'")
        time.sleep(0.5)
        get_once()  # new connections, statements prepared
        pos = os.path.getsize(log)
        subprocess.run(psql_cmd(a.pgdb) + ["-c", f"SELECT '{tag}-begin'"], check=True, capture_output=True)
        t = time.perf_counter()
        status, _, _ = get_once()
        wall = (time.perf_counter() - t) * 1000
        subprocess.run(psql_cmd(a.pgdb) + ["-c", f"SELECT '{tag}-end'"], check=True, capture_output=True)
    finally:
        psql("postgres", f"ALTER DATABASE {a.pgdb} RESET log_min_duration_statement")
    time.sleep(0.3)
    with open(log, "rb") as f:
        f.seek(pos)
        lines = f.read().decode("utf-8", "replace").splitlines()
    try:
        begin = next(i for i, l in enumerate(lines) if f"{tag}-begin" in l)
        end = next(i for i, l in enumerate(lines) if f"{tag}-end" in l)
    except StopIteration:
        return ["    statements of one API request: n/a (markers not found in the PostgreSQL log)"]
    per = {}
    order = []
    for l in lines[begin + 1:end]:
        if f"@{a.pgdb} " not in l or f"{tag}" in l:
            continue
        m = re.search(r"duration: ([\d.]+) ms\s+(parse|bind|execute|statement)[^:]*: (.*)", l)
        if not m:
            continue
        text = re.sub(r"\s+", " ", m.group(3)).strip()
        if text not in per:
            per[text] = 0.0
            order.append(text)
        per[text] += float(m.group(1))
    out = [f"    statements of one request (PostgreSQL log, parse + bind + execute; request {wall:.1f} ms, HTTP {status}):"]
    for text in sorted(order, key=lambda s: -per[s]):
        out.append(f"      {per[text]:8.2f} ms  {text[:150]}")
    out.append(f"      {sum(per.values()):8.2f} ms  in all, {len(order)} statements")
    return out


def main():
    global SUMMARY
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("case")
    c.add_argument("--name", required=True)
    c.add_argument("--port", type=int, required=True, help="the server that ingests")
    c.add_argument("--key", required=True, help="an operator API key of the city")
    c.add_argument("--subject", required=True, help="an approved enterprise code of the city")
    c.add_argument("--division", required=True)
    c.add_argument("--rate", type=float, default=1000)
    c.add_argument("--duration", type=float, default=20)
    c.add_argument("--batch", type=int, default=1)
    c.add_argument("--conns", type=int, default=32)
    c.add_argument("--servers", required=True, help="NAME=PORT,... whose federation status is sampled")
    c.add_argument("--national", required=True, help="the NAME of the server holding the national tenant")
    c.add_argument("--hop1", help="the NAME of the server where the first (local) hop of the http case lands")
    c.add_argument("--via", choices=["local", "http"], required=True, help="transport of the last hop")
    c.add_argument("--region", required=True, help="the province's code in the national roll-up")
    c.add_argument("--password", required=True, help="the root administrators' password (user admin)")
    c.add_argument("--pids", default="", help="NAME=PID,... of the servers, for their CPU time")
    c.add_argument("--show", default="", help="link codes always shown")
    c.add_argument("--drain-max", type=float, default=300)
    c.add_argument("--json")
    c.add_argument("--summary")
    d = sub.add_parser("dash")
    d.add_argument("--port", type=int, required=True)
    d.add_argument("--key", required=True, help="an API key of the national tenant (viewer)")
    d.add_argument("--pgdb", required=True)
    d.add_argument("--national-id", required=True)
    d.add_argument("--reqs", type=int, default=50)
    d.add_argument("--warm", type=int, default=5)
    d.add_argument("--runs", type=int, default=5)
    d.add_argument("--summary")
    a = p.parse_args()
    SUMMARY = a.summary
    if a.cmd == "case":
        a.show = set(filter(None, a.show.split(",")))
        case(a)
    else:
        dash(a)


if __name__ == "__main__":
    main()
