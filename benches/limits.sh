#!/usr/bin/env bash
# What the rate limiter costs the cached public lookup (GET /api/v1/public/trace/{code}).
#
# Loads the demo data once, then starts the release binary PAIRS times with the public limit off
# (SUYUAN_RATE_LIMIT_PUBLIC=0) and PAIRS times on (1 000 000 000 a minute: above any rate wrk
# reaches, so every request is counted and none refused), alternating off/on, and runs
# wrk -t2 -cC -dSECS against one cached code each time (after a warm-up). Prints every run, the
# median of each side and on/off. Paired runs on one machine: a slower minute hits both sides.
# Without Redis (in-process governor); with REDIS_URL set, both sides use Redis and "on" pays a
# Redis round trip per request.
#
# Usage: bash benches/limits.sh [sqlite|postgres]
#   env: PORT (18096), SECS (10), CONNS (64), PAIRS (3), REDIS_URL
# Needs the release binary: cargo build --release -p suyuan_platform
set -euo pipefail
cd "$(dirname "$0")/.."
DB="${1:-sqlite}"
case "$DB" in sqlite | postgres) ;; *) echo "usage: bash benches/limits.sh [sqlite|postgres]" >&2; exit 2 ;; esac
BIN="${CARGO_TARGET_DIR:-/var/tmp/suyuan-target}/release/suyuan"
[ -x "$BIN" ] || { echo "build it first: cargo build --release -p suyuan_platform" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
PORT="${PORT:-18096}"
SECS="${SECS:-10}"
CONNS="${CONNS:-64}"
PAIRS="${PAIRS:-3}"
PGDB="suyuan_bench_limits"
PSQL=(psql -h 127.0.0.1 -U postgres -X -q)
BASE="http://127.0.0.1:$PORT"
DIR="$(mktemp -d)"
cleanup() {
  if [ -n "${PID:-}" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$DIR"
  if [ "$DB" = postgres ]; then "${PSQL[@]}" -c "DROP DATABASE IF EXISTS $PGDB WITH (FORCE)" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
if curl -s -o /dev/null "$BASE/healthz"; then echo "port $PORT is in use: set PORT" >&2; exit 1; fi
if [ "$DB" = postgres ]; then
  "${PSQL[@]}" -c "DROP DATABASE IF EXISTS $PGDB WITH (FORCE)" >/dev/null
  "${PSQL[@]}" -c "CREATE DATABASE $PGDB" >/dev/null
  export SUYUAN_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$PGDB"
else
  export SUYUAN_DATABASE_URL="sqlite://$DIR/suyuan.db"
fi
if [ -n "${REDIS_URL:-}" ]; then export SUYUAN_REDIS_URL="$REDIS_URL"; fi
(cd "$DIR" && SUYUAN_ADMIN_PASSWORD='Bench-Init-2026' "$BIN" demo >"$DIR/demo.txt" 2>&1)
CODE=$(grep -o '/t/[^[:space:]]*' "$DIR/demo.txt" | head -1 | cut -c4-)
[ -n "$CODE" ] || { echo "no code in the demo output" >&2; exit 1; }

run() { # $1 = limit -> req/s
  (cd "$DIR" && SUYUAN_LISTEN="127.0.0.1:$PORT" SUYUAN_LOG_LEVEL=warn SUYUAN_RATE_LIMIT_PUBLIC="$1" exec "$BIN" serve >"$DIR/log" 2>&1) &
  PID=$!
  for _ in $(seq 1 150); do curl -fs "$BASE/healthz" >/dev/null && break; sleep 0.2; done
  curl -fs -o /dev/null "$BASE/api/v1/public/trace/$CODE" || { echo "lookup failed" >&2; cat "$DIR/log" >&2; exit 1; }
  wrk -t2 -c"$CONNS" -d3s "$BASE/api/v1/public/trace/$CODE" >/dev/null 2>&1 || true
  wrk -t2 -c"$CONNS" -d"${SECS}s" "$BASE/api/v1/public/trace/$CODE" >"$DIR/wrk.txt" 2>&1 || true
  grep -q "Non-2xx" "$DIR/wrk.txt" && { echo "non-2xx answers (limited?):" >&2; cat "$DIR/wrk.txt" >&2; exit 1; }
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
  awk '/Requests\/sec/ {print $2}' "$DIR/wrk.txt"
}

echo "== limiter cost on the cached public lookup, $DB${REDIS_URL:+ + Redis}, $(nproc) cores, wrk -t2 -c$CONNS -d${SECS}s, $PAIRS pairs"
echo "binary $BIN ($(date -r "$BIN" '+%F %T')); code $CODE"
OFF=(); ON=()
for i in $(seq 1 "$PAIRS"); do
  a=$(run 0); b=$(run 1000000000)
  OFF+=("$a"); ON+=("$b")
  printf 'pair %d: off %8.0f req/s   on %8.0f req/s   on/off %.3f\n' "$i" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN {print b / a}')"
done
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
MOFF=$(median "${OFF[@]}"); MON=$(median "${ON[@]}")
printf 'median: off %.0f req/s, on %.0f req/s, on/off %.3f (target >= 0.97)\n' "$MOFF" "$MON" "$(awk -v a="$MOFF" -v b="$MON" 'BEGIN {print b / a}')"
