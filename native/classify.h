// Page classification (encoder side) and XBZRLE deltas (docs/FORMAT.md 1.3, 1.5).
// Everything here is plain computation on raw pointers: it runs on whichever thread
// calls it (the JS thread for *Sync, a libuv pool thread for the async variants).
#pragma once
#include <cstddef>
#include <cstdint>

#include "cache.h"

namespace pp {

enum Kind : uint8_t { ZERO = 0, LITERAL = 1, DUP = 2, UNCHANGED = 3, DELTA = 4 };
constexpr unsigned kKinds = 5;
constexpr size_t kMaxPages = 4096;

// True when all `len` bytes are 0. Exits at the first non-zero 64-byte block.
bool IsZero(const uint8_t* p, size_t len);

// XBZRLE delta of `cur` against `old` (both `len` bytes, len a multiple of 8) into
// dst, which has room for len - 1 bytes. Returns the delta length: 0 = identical,
// `len` = the delta would not be shorter than the page (dst content then undefined).
size_t XbzrleEncode(const uint8_t* old, const uint8_t* cur, size_t len, uint8_t* dst);

// Checks the delta src[0..d) against a page of `len` bytes and, when `page` is not
// null, applies it in place. On failure returns false with *errAt = offset in src.
bool XbzrleDecode(const uint8_t* src, size_t d, uint8_t* page, size_t len, size_t* errAt, const char** why);

struct Batch {
  const uint8_t* pages;  // n pages back to back, the last one `tail` bytes
  size_t pageSize;
  size_t count;
  size_t tail;
  const uint8_t* pfns;  // u64le section already written into the image
  Cache cache;          // cache.enabled() == false: no UNCHANGED/DELTA
};

// Classifies every page in order and writes the kind, ref and payload sections.
// kinds/refs/payload point into the output image; payload has room for the worst
// case (every page literal). Fills crcs[n] (CRC32C of each page) and counts[kKinds].
// Returns the payload length. Updates the cache as FORMAT.md 1.5 says.
// payload == nullptr: classify without building the payload (the in-place encoder then
// compacts the pages where they are); DELTA payloads, which only exist with a cache, go
// back to back into `deltas` (room for (count - 1) x pageSize bytes), in page order.
size_t ClassifyBatch(Batch& b, uint8_t* kinds, uint8_t* refs, uint8_t* payload, uint32_t* crcs, uint32_t* counts,
                     uint8_t* deltas = nullptr);

}  // namespace pp
