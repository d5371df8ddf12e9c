// Batch image encode/decode (docs/FORMAT.md section 1). Plain structs in, Error out:
// runs on the JS thread (*Sync) or a libuv pool thread (async); never touches JS.
#pragma once
#include <cstddef>
#include <cstdint>

#include "status.h"

namespace pp {

constexpr uint32_t kMinPage = 512, kMaxPage = 65536;

inline bool ValidPageSize(double p) {
  return p >= kMinPage && p <= kMaxPage && p == static_cast<uint32_t>(p) &&
         (static_cast<uint32_t>(p) & (static_cast<uint32_t>(p) - 1)) == 0;
}

// Worst-case image length (every page LITERAL). pageCount <= 4096.
uint64_t ImageBound(uint64_t pageCount, uint32_t pageSize);

// Caller-owned memory for one encode. Pointers may be null when the length is 0.
struct EncodeJob {
  const uint8_t* pages = nullptr;
  size_t pagesLen = 0;
  const double* pfns = nullptr;
  size_t pfnsLen = 0;
  bool hasPfns = false;
  double pfnBase = 0;
  double pageSize = 0;
  uint8_t* out = nullptr;
  size_t outLen = 0;
  uint8_t* cache = nullptr;
  size_t cacheLen = 0;
  bool hasCache = false;
  uint32_t* stats = nullptr;
  size_t statsLen = 0;
  // pages == out + header length: the image is built around the pages (no payload copy;
  // dense layout when few pages can be left out). No cache.
  bool inPlace = false;
  // pages elsewhere, no cache: dense layout too when few pages can be left out (the pages
  // are then copied as one block); otherwise only the payload pages are copied.
  bool mayBeDense = false;
};

struct DecodeJob {
  const uint8_t* image = nullptr;
  size_t imageLen = 0;
  uint8_t* out = nullptr;
  size_t outLen = 0;
  double* pfns = nullptr;
  size_t pfnsLen = 0;
  bool hasPfns = false;
  uint8_t* cache = nullptr;
  size_t cacheLen = 0;
  bool hasCache = false;
  uint32_t* stats = nullptr;
  size_t statsLen = 0;
  // ZERO pages are left unwritten in `out` (the caller writes them as file holes and
  // never reads them); DUPs of a ZERO page are still written.
  bool zeroPagesAsHoles = false;
  // The image lies inside `out`: image + headerLength == out (the caller decompressed it
  // there). Pages are expanded in place; no cache allowed.
  bool inPlace = false;
};

struct ImageInfo {
  uint32_t pageSize, pageCount, tailBytes, payloadLength, checksum;
  uint32_t headerLength;
  bool pfnRun;  // layout "pfn:R(U)": one base pfn, page i has pfn base + i
  bool dense;   // layout "payload:P": every page at payload + i * P
  uint64_t imageLength, byteLength;
};

// Returns false with *e filled on failure. *len = image length / bytes written.
bool EncodeBatch(const EncodeJob& j, uint64_t* len, Error* e);
bool ParseImageHeader(const uint8_t* image, size_t len, ImageInfo* info, Error* e);
bool DecodeBatch(const DecodeJob& j, uint64_t* len, Error* e);

}  // namespace pp
