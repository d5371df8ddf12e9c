#!/usr/bin/env bash
# Builds every libFuzzer harness in this folder (one .cc = one harness) straight from
# native/*.cc, with libFuzzer, AddressSanitizer and UndefinedBehaviorSanitizer, into
# fuzz/build/<harness>. Needs clang (Debian: apt-get install clang). Usage: build.sh [harness...]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$root/fuzz/build"
cxx="${CXX_FUZZ:-$(command -v clang++ || command -v clang++-14 || true)}"
if [ -z "$cxx" ]; then
  echo "clang++ not found (apt-get install clang)" >&2
  exit 127
fi
mkdir -p "$out"
# The addon's core sources that take no Node headers (addon.cc binds them to JS; deflate.cc
# links Node's own zlib).
sources=(image.cc classify.cc crc32c.cc)
flags=(-std=c++17 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=undefined -I"$root/native")
if [ "$#" -gt 0 ]; then harnesses=("$@"); else
  harnesses=()
  for f in "$here"/*.cc; do harnesses+=("$(basename "$f" .cc)"); done
fi
for h in "${harnesses[@]}"; do
  bin="$out/$h"
  deps=("$here/$h.cc" "$here/harness.h" "${sources[@]/#/$root/native/}" "$root"/native/*.h)
  fresh=1
  [ -x "$bin" ] || fresh=0
  if [ "$fresh" = 1 ]; then for d in "${deps[@]}"; do [ "$d" -nt "$bin" ] && fresh=0 && break; done; fi
  if [ "$fresh" = 1 ]; then echo "fuzz/build/$h is up to date"; continue; fi
  echo "building fuzz/build/$h"
  "$cxx" "${flags[@]}" -o "$bin.tmp" "$here/$h.cc" "${sources[@]/#/$root/native/}"
  mv "$bin.tmp" "$bin"
done
