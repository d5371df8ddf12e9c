// ParseImageHeader over arbitrary bytes (FORMAT.md 1.1). On success every field is within
// its documented limits, and the header parses the same from exactly its H bytes.
#include "harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  pp::ImageInfo h;
  pp::Error e;
  // A copy of exactly `size` bytes, so ASan sees any read past the end.
  std::vector<uint8_t> in(data, data + size);
  if (!pp::ParseImageHeader(in.data(), in.size(), &h, &e)) {
    fuzz::CheckInputError(e, size);
    return 0;
  }
  FUZZ_CHECK(h.pageSize >= 512 && h.pageSize <= 65536 && (h.pageSize & (h.pageSize - 1)) == 0, "page size %u",
             h.pageSize);
  FUZZ_CHECK(h.pageCount >= 1 && h.pageCount <= 4096, "page count %u", h.pageCount);
  FUZZ_CHECK(h.tailBytes >= 1 && h.tailBytes <= h.pageSize, "tail %u", h.tailBytes);
  FUZZ_CHECK(uint64_t{h.payloadLength} <= uint64_t{h.pageCount} * h.pageSize, "payload %u", h.payloadLength);
  FUZZ_CHECK(h.byteLength == uint64_t{h.pageCount - 1} * h.pageSize + h.tailBytes, "byteLength %llu",
             (unsigned long long)h.byteLength);
  FUZZ_CHECK(h.headerLength >= 32 && h.headerLength % 8 == 0 && h.headerLength <= size, "header length %u of %zu",
             h.headerLength, size);
  FUZZ_CHECK(h.imageLength > h.headerLength && h.imageLength <= pp::ImageBound(h.pageCount, h.pageSize),
             "image length %llu outside (H, imageBound]", (unsigned long long)h.imageLength);
  FUZZ_CHECK(!h.dense || h.payloadLength == h.byteLength, "dense payload %u != %llu", h.payloadLength,
             (unsigned long long)h.byteLength);
  pp::ImageInfo again;
  FUZZ_CHECK(pp::ParseImageHeader(in.data(), h.headerLength, &again, &e), "header fails on its own %u bytes: %s",
             h.headerLength, e.message.c_str());
  FUZZ_CHECK(again.pageSize == h.pageSize && again.pageCount == h.pageCount && again.tailBytes == h.tailBytes &&
                 again.payloadLength == h.payloadLength && again.checksum == h.checksum &&
                 again.imageLength == h.imageLength && again.dense == h.dense && again.pfnRun == h.pfnRun,
             "header parses differently from its own bytes");
  return 0;
}
