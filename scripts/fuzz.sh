#!/usr/bin/env bash
# Fuzzes the parsers (issue 17 point 8) with cargo fuzz (libFuzzer): credit codes, trace codes
# and GS1 identifiers, import files, JSON request bodies — the targets in fuzz/fuzz_targets/.
#
#   bash scripts/fuzz.sh                 # every target for 20 s (CI's smoke run)
#   bash scripts/fuzz.sh 600             # every target for 10 minutes (the longer run)
#   bash scripts/fuzz.sh 600 uscc        # one target
#
# Only a stable toolchain is installed: RUSTC_BOOTSTRAP=1 lets it take the nightly flags cargo
# fuzz passes (-Z sanitizer coverage). No address sanitizer: our crates forbid `unsafe`, and the
# targets check panics and properties; the instrumented build is a dev build (optimised builds
# of the whole server take several times longer to compile on two cores).
# The build goes to CARGO_TARGET_DIR (default /var/tmp/suyuan-fuzz-target), the growing corpus
# to FUZZ_CORPUS (default /var/tmp/suyuan-fuzz-corpus/<target>), both outside the clone; the
# committed seeds in fuzz/corpus/<target>/ are read too. A crash leaves its input in
# fuzz/artifacts/<target>/ and fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-20}"
shift || true
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-/var/tmp/suyuan-fuzz-target}"
export RUSTC_BOOTSTRAP=1
corpus_root="${FUZZ_CORPUS:-/var/tmp/suyuan-fuzz-corpus}"
flags=(--sanitizer none --dev)

if ! command -v cargo-fuzz >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/cargo-fuzz" ]; then
  cargo install cargo-fuzz --locked --version 0.13.2
fi
export PATH="$HOME/.cargo/bin:$PATH"

targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi

cargo fuzz build "${flags[@]}"
for t in "${targets[@]}"; do
  mkdir -p "$corpus_root/$t"
  seeds=()
  [ -d "fuzz/corpus/$t" ] && seeds=("fuzz/corpus/$t")
  echo "fuzz: $t for $seconds s"
  cargo fuzz run "${flags[@]}" "$t" "$corpus_root/$t" "${seeds[@]}" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 2>&1 \
    | grep -v '^#[0-9]*[[:space:]]*\(NEW\|REDUCE\|pulse\)' || { echo "fuzz: $t FAILED" >&2; exit 1; }
done
echo "fuzz: no crash"
