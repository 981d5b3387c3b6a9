#!/usr/bin/env bash
# Runs every fuzz target of team's parsers for a bounded time each.
#
#   bash fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 60 s, all targets)
#
# With cargo-fuzz installed (`cargo install cargo-fuzz`), the libFuzzer targets run under
# AddressSanitizer. cargo-fuzz needs nightly flags (-Zsanitizer); on a stable toolchain this
# script sets RUSTC_BOOTSTRAP=1, which lets stable rustc accept them. Without cargo-fuzz (or
# with FUZZ_STABLE=1), the stable fallback `stable-fuzz` runs instead: seeded random
# mutations of the seed corpus, panics caught, no coverage guidance.
#
# A crash is saved under fuzz/artifacts/TARGET/ and the script exits non-zero; turn the input
# into a regression test next to the parser's own tests.
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(agent_file config workflow cassette)
fi
status=0
if [ -z "${FUZZ_STABLE:-}" ] && cargo fuzz --version >/dev/null 2>&1; then
  for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    echo "== cargo fuzz run $t ($secs s)"
    RUSTC_BOOTSTRAP=1 cargo fuzz run --features libfuzzer "$t" "corpus/$t" -- \
      -max_total_time="$secs" -max_len=65536 || status=$?
  done
else
  # Share the workspace's target directory: the dependencies are already built there.
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$(cd .. && pwd)/target}"
  cargo build --quiet --bin stable-fuzz
  for t in "${targets[@]}"; do
    echo "== stable-fuzz $t ($secs s)"
    "$CARGO_TARGET_DIR/debug/stable-fuzz" "$t" "$secs" "${FUZZ_SEED:-1}" || status=$?
  done
fi
exit "$status"
