#!/usr/bin/env bash
# Generated clients (issue 18 point 10): builds a TypeScript client and a Python client from the
# OpenAPI document, so a document that breaks client generators fails CI.
#
#   bash scripts/clients.sh [document]     # default: openapi/openapi.json
#
# TypeScript: openapi-typescript (npm) writes the types, and `tsc --strict --noEmit` compiles
# scripts/clients/check.ts, which imports them. Python: openapi-python-client (PyPI) generates a
# package named by scripts/clients/openapi-python-client.yaml, `pip install` builds and installs
# it into a temporary folder, and every module of it is imported. Any warning of either
# generator fails the run, and so does an operation of the document that the Python client
# lacks. The tools are pinned and installed once into /var/tmp (an npm prefix and a venv), so
# reruns are fast and a fresh clone needs nothing else than node, npm and python3.
set -euo pipefail
cd "$(dirname "$0")/.."

OPENAPI_TYPESCRIPT_VERSION=7.13.0
TYPESCRIPT_VERSION=5.9.3
OPENAPI_PYTHON_CLIENT_VERSION=0.29.1
SETUPTOOLS_VERSION=80.9.0

doc="$(realpath "${1:-openapi/openapi.json}")"
tools=/var/tmp/suyuan-clients
npm_prefix="$tools/npm-$OPENAPI_TYPESCRIPT_VERSION-$TYPESCRIPT_VERSION"
venv="$tools/venv-$OPENAPI_PYTHON_CLIENT_VERSION"

fail() { printf 'clients: %s\n' "$*" >&2; exit 1; }
[ -f "$doc" ] || fail "no document at $doc"

work="$(mktemp -d /var/tmp/suyuan-clients.XXXXXX)"
trap 'rm -rf "$work"' EXIT

# --- TypeScript -------------------------------------------------------------------------------
if [ ! -x "$npm_prefix/node_modules/.bin/tsc" ] || [ ! -x "$npm_prefix/node_modules/.bin/openapi-typescript" ]; then
  mkdir -p "$npm_prefix"
  npm install --prefix "$npm_prefix" --no-audit --no-fund --save-exact --loglevel=error \
    "openapi-typescript@$OPENAPI_TYPESCRIPT_VERSION" "typescript@$TYPESCRIPT_VERSION" \
    || fail "cannot install openapi-typescript and typescript from npm"
fi
mkdir -p "$work/ts"
cp scripts/clients/check.ts "$work/ts/check.ts"
if ! "$npm_prefix/node_modules/.bin/openapi-typescript" "$doc" --output "$work/ts/suyuan.d.ts" \
  >"$work/ts.log" 2>&1; then
  cat "$work/ts.log" >&2
  fail "openapi-typescript failed"
fi
if grep -Eiq 'warn|error' "$work/ts.log"; then
  cat "$work/ts.log" >&2
  fail "openapi-typescript reported problems"
fi
"$npm_prefix/node_modules/.bin/tsc" --strict --noEmit --target es2022 --module esnext \
  --moduleResolution bundler "$work/ts/check.ts" || fail "the TypeScript types do not compile with --strict"
echo "TypeScript: types generated and compiled with tsc --strict"

# --- Python -----------------------------------------------------------------------------------
if [ ! -x "$venv/bin/openapi-python-client" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "openapi-python-client==$OPENAPI_PYTHON_CLIENT_VERSION" "setuptools==$SETUPTOOLS_VERSION" \
    || fail "cannot install openapi-python-client from PyPI"
fi
(
  cd "$work"
  # The generator's post hooks run ruff (one of its dependencies) from PATH.
  export PATH="$venv/bin:$PATH"
  "$venv/bin/openapi-python-client" generate --path "$doc" --meta setup \
    --config "$OLDPWD/scripts/clients/openapi-python-client.yaml" --output-path "$work/py" >"$work/py.log" 2>&1
) || { cat "$work/py.log" >&2; fail "openapi-python-client failed"; }
if grep -Eiq 'warning|error|unable|skipp' "$work/py.log"; then
  cat "$work/py.log" >&2
  fail "openapi-python-client reported problems (an operation or model left out)"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps --no-build-isolation \
  --target "$work/site" "$work/py" || fail "the Python client does not build with pip"
PYTHONPATH="$work/site" "$venv/bin/python" - "$doc" <<'PY' || fail "the Python client does not import or lacks operations"
import importlib, json, pkgutil, sys
import suyuan_client
modules = [m.name for m in pkgutil.walk_packages(suyuan_client.__path__, "suyuan_client.")]
for name in modules:
    importlib.import_module(name)
doc = json.load(open(sys.argv[1], encoding="utf-8"))
wanted = {op["operationId"] for item in doc["paths"].values() for op in item.values() if isinstance(op, dict) and "operationId" in op}
def snake(s):
    out = []
    for i, ch in enumerate(s):
        if ch.isupper() and i and not s[i - 1].isupper():
            out.append("_")
        out.append(ch.lower())
    return "".join(out)
have = {m.rsplit(".", 1)[1] for m in modules if ".api." in m}
missing = sorted(op for op in wanted if snake(op) not in have)
if missing:
    sys.exit(f"operations missing from the Python client: {', '.join(missing)}")
print(f"Python: {len(modules)} modules imported, {len(wanted)} operations present")
PY
echo "clients: ok"
