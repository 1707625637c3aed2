#!/bin/sh
# fuzz.sh [SECONDS] - build the libFuzzer targets of tests/fuzz/ with clang
# (ASan + UBSan, in build-fuzz/) and run each for SECONDS (default 20) on a
# copy of its seed corpus (tests/fuzz/corpus/<target>/). Fails on the first
# target that crashes, leaks or breaks a property; the input that did it is
# kept in build-fuzz/fuzz/crash-* (replay: build-fuzz/fuzz/<target> FILE).
# SECONDS = 0 runs each target on its seeds only. FUZZ_TARGETS="fuzz_frame
# fuzz_envelope" runs only those.
set -eu
cd "$(dirname "$0")/.."
seconds="${1:-20}"
case "$seconds" in '' | *[!0-9]*) echo "usage: tools/fuzz.sh [SECONDS]" >&2; exit 2 ;; esac
command -v clang >/dev/null || { echo "fuzz.sh: clang is not installed (tools/setup-deps.sh)" >&2; exit 1; }
if [ "$seconds" -eq 0 ]; then limit="-runs=0"; else limit="-max_total_time=$seconds"; fi
targets="${FUZZ_TARGETS:-fuzz_envelope fuzz_control fuzz_frame fuzz_changeset fuzz_bootstrap fuzz_config_value fuzz_license_key fuzz_digest fuzz_rowscan}"

echo "== build-fuzz: configure and build ($targets)"
CC=clang cmake -S . -B build-fuzz -DCW_FUZZ=ON -DCW_TESTS=OFF -DCMAKE_BUILD_TYPE=Debug >/dev/null
# shellcheck disable=SC2086
cmake --build build-fuzz -j"$(nproc)" --target $targets

out="$PWD/build-fuzz/fuzz"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
cat tests/lsan.supp tests/fuzz/lsan.supp >"$PWD/build-fuzz/lsan.supp"
export LSAN_OPTIONS="suppressions=$PWD/build-fuzz/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
for t in $targets; do
  seeds="$PWD/tests/fuzz/corpus/$t"
  [ -d "$seeds" ] || { echo "fuzz.sh: no seed corpus $seeds" >&2; exit 1; }
  work="$out/corpus-$t"        # what the run adds stays out of the checkout
  rm -rf "$work" && mkdir -p "$work"
  echo "== $t: ${seconds}s, $(ls "$seeds" | wc -l) seeds"
  if ! (cd "$out" && "./$t" "$limit" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
          -print_final_stats=1 "$work" "$seeds" >"$out/$t.log" 2>&1); then
    tail -n 60 "$out/$t.log" >&2
    echo "fuzz.sh: $t FAILED (log: $out/$t.log; the input is $out/crash-* / leak-* / timeout-*)" >&2
    exit 1
  fi
  grep -E '^stat::number_of_executed_units|^stat::new_units_added' "$out/$t.log" | tr '\n' ' '
  echo
done
echo "== fuzz: every target ran ${seconds}s without a crash"
