// DecodeBatch without a page cache (FORMAT.md 1.2-1.6): copy, zero-as-holes and in-place
// decodes of arbitrary bytes; see fuzz::DecodeAndCheck for the invariants.
#include "harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::DecodeAndCheck(data, size, false);
  return 0;
}
