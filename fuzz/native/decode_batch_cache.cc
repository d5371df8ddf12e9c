// DecodeBatch with a page cache that has decoded a known batch first (pfns 0..15 of 4 KiB,
// fuzz::PrimePages), so that UNCHANGED and DELTA pages can hit; see fuzz::DecodeAndCheck.
#include "harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::DecodeAndCheck(data, size, true);
  return 0;
}
