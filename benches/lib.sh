# Shared by the benchmark scripts (sourced, not run): waiting for the server, and an API key of
# the administrator the demo or the first start creates.

# wait_up PORT: waits up to 30 s for the server to answer /healthz.
wait_up() {
  for _ in $(seq 1 150); do curl -fs "http://127.0.0.1:$1/healthz" >/dev/null && return 0; sleep 0.2; done
  echo "the server on port $1 did not answer" >&2
  return 1
}

# admin_key PORT JAR INITIAL NEW ROLE NAME: signs in as admin — changing the initial password
# INITIAL to NEW the first time, or signing in with NEW when that was done before — and prints
# the secret of a new API key NAME with ROLE.
admin_key() {
  local port=$1 jar=$2 initial=$3 new=$4 role=$5 name=$6 url="http://127.0.0.1:$1/api/v1"
  login() { curl -fs -c "$jar" -H 'content-type: application/json' -d "{\"username\":\"admin\",\"password\":\"$1\"}" "$url/auth/login" >/dev/null; }
  if ! login "$new"; then
    login "$initial"
    curl -fs -b "$jar" -H 'content-type: application/json' \
      -d "{\"current_password\":\"$initial\",\"new_password\":\"$new\"}" "$url/auth/password" >/dev/null
    login "$new"
  fi
  curl -fs -b "$jar" -H 'content-type: application/json' -d "{\"name\":\"$name\",\"role\":\"$role\"}" "$url/api-keys" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])'
}

# pg_url DATABASE [PORT]: the URL the server reaches PostgreSQL with — over TCP on 127.0.0.1
# (default port 5432), as every production deployment does; PG_SOCKET=1 takes the Unix socket in
# /var/run/postgresql instead (a variant, for comparison).
pg_url() {
  local db=$1 port=${2:-5432}
  if [ -n "${PG_SOCKET:-}" ]; then
    echo "postgres://postgres@%2Fvar%2Frun%2Fpostgresql:$port/$db"
  else
    echo "postgres://postgres@127.0.0.1:$port/$db"
  fi
}
