#!/usr/bin/env bash
# The authorization check's share of a whole HTTP request (R-SEC-2, R-PERF-1).
#
# Starts the release binary (embedded SQLite, a fresh data folder), creates an API key with the
# viewer role and loads, with wrk over loopback, in the same run:
#   1. GET /healthz           — the baseline: the bare HTTP path (no database, no auth)
#   2. GET /api/v1/tenants     — a guarded read with the key: key lookup, tenant check, the
#                                casbin guard, one query, JSON
# and prints both latencies; the guard's own cost comes from `cargo bench -p suyuan_policies
# --bench authz` (criterion). Results and reading go to docs/performance.md.
#
# Usage: cargo build --release -p suyuan_platform && bash benches/authz-share.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh
BIN="${CARGO_TARGET_DIR:-/var/tmp/suyuan-target}/release/suyuan"
[ -x "$BIN" ] || { echo "build it first: cargo build --release -p suyuan_platform" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is needed (Debian: apt-get install wrk)" >&2; exit 1; }
PORT="${PORT:-18099}"
DIR="$(mktemp -d)"
PASS='Bench-Init-2026'
NEW='Bench-Pass-2027'
cleanup() { [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null; rm -rf "$DIR"; }
trap cleanup EXIT

(cd "$DIR" && SUYUAN_ADMIN_PASSWORD="$PASS" SUYUAN_LISTEN="127.0.0.1:$PORT" SUYUAN_LOG_LEVEL=warn exec "$BIN" serve >"$DIR/log" 2>&1) &
PID=$!
wait_up "$PORT"
KEY=$(admin_key "$PORT" "$DIR/jar" "$PASS" "$NEW" viewer bench)

echo "== warm-up"
wrk -t2 -c8 -d3s "http://127.0.0.1:$PORT/healthz" >/dev/null
wrk -t2 -c8 -d3s -H "Authorization: Bearer $KEY" "http://127.0.0.1:$PORT/api/v1/tenants" >/dev/null
echo "== baseline: GET /healthz"
wrk -t2 -c8 -d10s --latency "http://127.0.0.1:$PORT/healthz"
echo "== guarded: GET /api/v1/tenants with an API key"
wrk -t2 -c8 -d10s --latency -H "Authorization: Bearer $KEY" "http://127.0.0.1:$PORT/api/v1/tenants"
