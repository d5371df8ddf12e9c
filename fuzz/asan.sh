#!/usr/bin/env bash
# AddressSanitizer + UndefinedBehaviorSanitizer build of the addon (docs/HARDENING.md):
# a second node-gyp build, from the same binding.gyp and native/, into build-asan/, then
# the native unit tests against it (PAGEPRESS_ADDON points lib/native.ts at it).
#   fuzz/asan.sh              build if stale, run test/native.test.ts and test/stream/batch.test.ts
#   fuzz/asan.sh --build      build only
#   fuzz/asan.sh FILE.js...   run these compiled test files instead
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
out="$root/build-asan"
addon="$out/build/Release/pagepress.node"
cxx="${CXX:-g++}"
# node-gyp builds into <dir>/build: give it a directory of its own that sees the sources.
mkdir -p "$out"
for f in binding.gyp native node_modules; do ln -sfn "../$f" "$out/$f"; done
stale=0
[ -f "$addon" ] || stale=1
if [ "$stale" = 0 ]; then for f in binding.gyp native/*; do [ "$f" -nt "$addon" ] && stale=1 && break; done; fi
if [ "$stale" = 1 ]; then
  echo "building $addon with -fsanitize=address,undefined ($cxx)"
  san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
  (cd "$out" && CXX="$cxx" CXXFLAGS="$san" CFLAGS="$san" LDFLAGS="-fsanitize=address,undefined" \
    node "$(dirname "$(command -v npm)")/../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js" rebuild --nodedir="${NODEDIR:-/usr}" >"$out/build.log" 2>&1) \
    || { tail -30 "$out/build.log" >&2; exit 1; }
fi
[ "${1:-}" = "--build" ] && exit 0
# Node itself is not instrumented: the ASan runtime must be loaded first (LD_PRELOAD).
# Leak checking is off (Node frees little at exit); UBSan stops at the first report.
runtime="$("$cxx" -print-file-name=libasan.so)"
[ -f "$runtime" ] || { echo "ASan runtime $runtime not found" >&2; exit 1; }
tests=("$@")
[ "${#tests[@]}" -gt 0 ] || tests=(dist/test/native.test.js dist/test/stream/batch.test.js)
[ -f dist/test/native.test.js ] || npx tsc -p tsconfig.json
export PAGEPRESS_ADDON="$addon"
export LD_PRELOAD="$runtime"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-}"
# Proof that the sanitized addon is the one loaded (and that the runtime is in place).
node -e "const a=require('./dist/lib/native'); if (!process.env.PAGEPRESS_ADDON) process.exit(1); console.log('addon', process.env.PAGEPRESS_ADDON, 'crc32c(123456789) =', a.addon.crc32c(Buffer.from('123456789')).toString(16))"
# --no-config: .mocharc.json would add the whole suite to the files named here.
npx mocha --no-config --timeout 120000 "${tests[@]}"
