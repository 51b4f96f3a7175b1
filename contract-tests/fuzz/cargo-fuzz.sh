#!/usr/bin/env bash
# cargo-fuzz targets of the parsers that face the outside (contract-tests/fuzz/targets):
#   bash contract-tests/fuzz/cargo-fuzz.sh [SECONDS] [TARGET...]
# runs each TARGET (default: every target) for SECONDS (default 20) with libFuzzer and
# AddressSanitizer, starting from the committed seeds, and fails on any crash, panic, leak or
# timeout. The stable toolchain is told to accept cargo-fuzz's nightly flags (RUSTC_BOOTSTRAP=1).
# New inputs go to targets/corpus/TARGET and findings to targets/artifacts/TARGET (both ignored
# by git); the build stays in targets/target. Reproduce a finding with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir contract-tests/fuzz/targets \
#     --target-dir contract-tests/fuzz/targets/target -a TARGET FILE   (--features gateway: csv_import)
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-20}"
shift || true
fuzz_dir=contract-tests/fuzz/targets
all=(identity_code kanta_ack suomifi_events saml_response saml_assertion csv_import)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

export RUSTC_BOOTSTRAP=1 CARGO_TERM_COLOR=never
command -v cargo-fuzz >/dev/null || cargo install --locked --quiet cargo-fuzz@0.13.2

# csv_import needs the whole gateway: only built when asked for.
flags=(--fuzz-dir "$fuzz_dir" --target-dir "$fuzz_dir/target" --release --debug-assertions)
for t in "${targets[@]}"; do
  [ "$t" = csv_import ] && flags+=(--features gateway)
done

dict_of() {
  case "$1" in
    identity_code) echo identity_code ;;
    csv_import) echo csv ;;
    suomifi_events) echo json ;;
    *) echo xml ;;
  esac
}

start=$(date +%s)
for t in "${targets[@]}"; do
  cargo fuzz build "${flags[@]}" "$t"
done
echo "cargo-fuzz: built ${targets[*]} in $(($(date +%s) - start)) s"

failed=()
for t in "${targets[@]}"; do
  corpus="$fuzz_dir/corpus/$t"
  mkdir -p "$corpus" "$fuzz_dir/artifacts/$t"
  echo "cargo-fuzz: $t for ${seconds} s"
  log="$fuzz_dir/target/fuzz-$t.log"
  if cargo fuzz run "${flags[@]}" "$t" "$corpus" "$fuzz_dir/seeds/$t" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -dict="$fuzz_dir/dict/$(dict_of "$t").dict" -print_final_stats=1 >"$log" 2>&1; then
    grep -E '^(#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)' "$log" || true
  else
    tail -n 80 "$log"
    failed+=("$t")
  fi
done
echo "cargo-fuzz: done in $(($(date +%s) - start)) s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "cargo-fuzz: FAILED: ${failed[*]} (inputs in $fuzz_dir/artifacts/)" >&2
  exit 1
fi
