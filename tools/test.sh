#!/bin/sh
# test.sh - install dependencies, then build and run the whole test suite
# twice: a normal build (build/) and an ASan+UBSan build (build-asan/), the
# latter with leak detection on (suppressions for third-party libraries in
# tests/lsan.supp). Then every libFuzzer target of tests/fuzz/ runs for a
# bounded time (CW_FUZZ_SECONDS per target, default 15; tools/fuzz.sh).
set -eu
cd "$(dirname "$0")/.."
tools/setup-deps.sh
jobs="$(nproc)"
for variant in build build-asan; do
  if [ "$variant" = build-asan ]; then opts="-DCW_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug"; else opts="-DCMAKE_BUILD_TYPE=RelWithDebInfo"; fi
  echo "== $variant: configure and build"
  cmake -S . -B "$variant" $opts >/dev/null
  cmake --build "$variant" -j"$jobs"
  echo "== $variant: tests"
  ASAN_OPTIONS="detect_leaks=1:abort_on_error=1" \
  LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    ctest --test-dir "$variant" --output-on-failure
done
FUZZ_TARGETS="fuzz_envelope fuzz_control fuzz_frame fuzz_changeset fuzz_bootstrap fuzz_config_value fuzz_license_key fuzz_digest fuzz_rowscan" tools/fuzz.sh "${CW_FUZZ_SECONDS:-15}"
echo "== all tests passed (build, build-asan, fuzz)"
