// Page cache region layout (docs/FORMAT.md 1.5). The region is caller-owned memory
// (a Uint8Array, possibly shared); nothing here allocates.
//
//   offset 0   "PPCA"
//          4   u32 page size
//          8   u64 slot count S
//         16   zero up to 64
//         64   u64 tags[S]      (pfn + 1; 0 = empty)
//   64 + 8S    S pages of `page size` bytes
//
// The region may sit at any byteOffset, so tags are read/written with memcpy.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "status.h"

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace pp {

constexpr size_t kCacheHeader = 64;
constexpr uint64_t kMaxCacheSlots = 0xFFFFFFFFu;

inline uint64_t CacheBytes(uint64_t slots, uint32_t pageSize) {
  return kCacheHeader + slots * (8 + uint64_t{pageSize});
}

struct Cache {
  uint8_t* tags = nullptr;
  uint8_t* data = nullptr;
  uint64_t slots = 0;  // 0 = no cache
  uint32_t pageSize = 0;

  bool enabled() const { return slots != 0; }
  uint64_t Slot(uint64_t pfn) const { return pfn % slots; }
  uint64_t Tag(uint64_t s) const {
    uint64_t t;
    memcpy(&t, tags + 8 * s, 8);
    return t;
  }
  void SetTag(uint64_t s, uint64_t t) { memcpy(tags + 8 * s, &t, 8); }
  uint8_t* Page(uint64_t s) const { return data + s * pageSize; }
};

// Any thread. Formats `region` for pages of `pageSize`: as many slots as fit, all empty.
inline void CacheInit(uint8_t* region, size_t len, uint32_t pageSize) {
  uint64_t slots = (len - kCacheHeader) / (8 + uint64_t{pageSize});
  if (slots > kMaxCacheSlots) slots = kMaxCacheSlots;
  memset(region, 0, kCacheHeader);
  memcpy(region, "PPCA", 4);
  memcpy(region + 4, &pageSize, 4);
  memcpy(region + 8, &slots, 8);
  memset(region + kCacheHeader, 0, slots * 8);
}

// Any thread. Checks a caller-supplied region (header, page size, length) -> *c.
inline bool CacheOpen(uint8_t* region, size_t len, uint32_t pageSize, Cache* c, Error* e) {
  if (len < kCacheHeader || memcmp(region, "PPCA", 4) != 0)
    return Fail(e, Status::ARG, -1, -1, "cache region of %zu bytes is not initialised (call cacheInit)", len);
  uint32_t p;
  uint64_t slots;
  memcpy(&p, region + 4, 4);
  memcpy(&slots, region + 8, 8);
  if (p != pageSize)
    return Fail(e, Status::ARG, -1, -1, "cache page size %u does not match the page size %u", p, pageSize);
  if (slots > kMaxCacheSlots || CacheBytes(slots, p) > len)
    return Fail(e, Status::ARG, -1, -1, "cache header says %llu slots, which do not fit in %zu bytes",
                (unsigned long long)slots, len);
  c->tags = region + kCacheHeader;
  c->data = region + kCacheHeader + slots * 8;
  c->slots = slots;
  c->pageSize = p;
  return true;
}

// Any thread, no turn needed. Makes the kernel provide the memory of the still-empty slots
// that the pages `pfns[0..n)` (or base..base+n-1) will go to, without writing to it, so
// that the first-touch page faults (zero-filling a fresh page: about 2 us each, half a
// second per GiB) happen here, in parallel, rather than inside the cache's turn, where
// batches run one at a time. Linux 5.14+ (MADV_POPULATE_WRITE); elsewhere a no-op. A slot
// whose tag a concurrent turn is setting is at worst populated twice, which is harmless.
inline void CachePrefault(const Cache& c, const double* pfns, double base, size_t n) {
#if defined(MADV_POPULATE_WRITE)
  static const uintptr_t os = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  uintptr_t lo = 0, hi = 0;
  auto flush = [&] {
    if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_POPULATE_WRITE);
  };
  for (size_t i = 0; i < n; i++) {
    const double v = pfns ? pfns[i] : base + static_cast<double>(i);
    if (!(v >= 0 && v < 4503599627370496.0)) continue;  // the encoder reports bad pfns
    const uint64_t s = c.Slot(static_cast<uint64_t>(v));
    if (c.Tag(s) != 0) continue;  // written before: already backed
    const uintptr_t a = reinterpret_cast<uintptr_t>(c.Page(s)) & ~(os - 1);
    const uintptr_t b = (reinterpret_cast<uintptr_t>(c.Page(s)) + c.pageSize + os - 1) & ~(os - 1);
    if (hi > lo && a <= hi && b >= lo) {
      lo = a < lo ? a : lo;
      hi = b > hi ? b : hi;
    } else {
      flush();
      lo = a;
      hi = b;
    }
  }
  flush();
#else
  (void)c, (void)pfns, (void)base, (void)n;
#endif
}

}  // namespace pp
