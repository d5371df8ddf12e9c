// Shared by the libFuzzer harnesses in this folder (docs/HARDENING.md). Each harness is
// one .cc file defining LLVMFuzzerTestOneInput; build.sh builds every *.cc here.
// Invariant violations abort with a message, which libFuzzer reports as a crash.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "../../native/cache.h"
#include "../../native/classify.h"
#include "../../native/crc32c.h"
#include "../../native/image.h"
#include "../../native/status.h"

#define FUZZ_CHECK(cond, ...)                                                        \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      fprintf(stderr, "invariant failed at %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                                  \
      fprintf(stderr, "\n");                                                         \
      abort();                                                                       \
    }                                                                                \
  } while (0)

namespace fuzz {

// A failure from a decoder of untrusted bytes: a real status, a message, and (unless the
// caller's arguments were at fault) an offset inside the input, or just past its end.
inline void CheckInputError(const pp::Error& e, size_t inputLen) {
  FUZZ_CHECK(e.status != pp::Status::OK, "failed without a status");
  FUZZ_CHECK(!e.message.empty(), "status %s without a message", pp::StatusCode(e.status));
  FUZZ_CHECK(e.status != pp::Status::ARG, "input error reported as PP_ERR_ARG: %s", e.message.c_str());
  FUZZ_CHECK(e.offset >= 0 && static_cast<uint64_t>(e.offset) <= inputLen, "%s offset %lld outside 0..%zu: %s",
             pp::StatusCode(e.status), static_cast<long long>(e.offset), inputLen, e.message.c_str());
}

// FORMAT.md 1.4, computed independently of image.cc: CRC32C over (u64le pfn, u32le page CRC).
inline uint32_t ReferenceChecksum(const uint8_t* pages, const double* pfns, const pp::ImageInfo& h) {
  std::vector<uint8_t> list(12 * size_t{h.pageCount});
  for (size_t i = 0; i < h.pageCount; i++) {
    const uint64_t pfn = static_cast<uint64_t>(pfns[i]);
    const size_t len = i + 1 < h.pageCount ? h.pageSize : h.tailBytes;
    const uint32_t crc = pp::Crc32c(pages + i * h.pageSize, len);
    memcpy(&list[12 * i], &pfn, 8);
    memcpy(&list[12 * i + 8], &crc, 4);
  }
  return pp::Crc32c(list.data(), list.size());
}

// The pages of the batch that primes a page cache (pfn i, page size 4096): the same bytes
// as primePages() in fuzz/seeds.ts, so that seed images with UNCHANGED and DELTA pages
// find their pfns cached.
constexpr uint32_t kPrimePageSize = 4096, kPrimePages = 16, kPrimeSlots = 64;
inline std::vector<uint8_t> PrimePages() {
  std::vector<uint8_t> p(size_t{kPrimePages} * kPrimePageSize);
  for (size_t i = 0; i < kPrimePages; i++)
    for (size_t k = 0; k < kPrimePageSize; k++)
      p[i * kPrimePageSize + k] = i % 5 == 4 ? 0 : static_cast<uint8_t>((i * 131 + k * 7 + (k >> 6)) & 0xff);
  return p;
}

// A cache of kPrimeSlots slots that has decoded the prime batch (built by the real encoder).
inline const std::vector<uint8_t>& PrimedCache() {
  static const std::vector<uint8_t> cache = [] {
    std::vector<uint8_t> c(pp::CacheBytes(kPrimeSlots, kPrimePageSize));
    pp::CacheInit(c.data(), c.size(), kPrimePageSize);
    std::vector<uint8_t> pages = PrimePages();
    std::vector<uint8_t> image(pp::ImageBound(kPrimePages, kPrimePageSize));
    uint32_t stats[8];
    pp::EncodeJob ej;
    ej.pages = pages.data();
    ej.pagesLen = pages.size();
    ej.pageSize = kPrimePageSize;
    ej.out = image.data();
    ej.outLen = image.size();
    ej.stats = stats;
    ej.statsLen = 8;
    uint64_t len = 0;
    pp::Error e;
    if (!pp::EncodeBatch(ej, &len, &e)) {
      fprintf(stderr, "prime encode: %s\n", e.message.c_str());
      abort();
    }
    std::vector<uint8_t> out(pages.size());
    pp::DecodeJob dj;
    dj.image = image.data();
    dj.imageLen = len;
    dj.out = out.data();
    dj.outLen = out.size();
    dj.cache = c.data();
    dj.cacheLen = c.size();
    dj.hasCache = true;
    dj.stats = stats;
    dj.statsLen = 8;
    if (!pp::DecodeBatch(dj, &len, &e) || out != pages) {
      fprintf(stderr, "prime decode: %s\n", e.message.c_str());
      abort();
    }
    return c;
  }();
  return cache;
}

}  // namespace fuzz

namespace fuzz {

// Decodes `data` as one image (with the primed cache when `withCache`) and checks:
// a failure has an input error (status, offset within the input) and agrees with the
// header parse; a success writes exactly the header's byte length, its checksum matches
// one computed here from the output, the zero-as-holes and in-place decodes give the same
// bytes, and every cache slot touched holds the last page stored there.
inline void DecodeAndCheck(const uint8_t* data, size_t size, bool withCache) {
  std::vector<uint8_t> in(data, data + size);
  pp::ImageInfo h{};
  pp::Error he;
  const bool headerOk = pp::ParseImageHeader(in.data(), in.size(), &h, &he);
  // The stream decoder never hands DecodeBatch an image that decodes to more than one batch
  // of its stream (at most maxBatchBytes, 64 MiB by default: lib/format/body.ts checks the
  // image header first), so neither does the harness: a header claiming 4096 pages of
  // 64 KiB (256 MiB, three buffers of it here) is libFuzzer's rss limit, not a finding.
  if (headerOk && h.byteLength > (64u << 20)) return;
  std::vector<uint8_t> out(headerOk ? h.byteLength : 1);
  std::vector<double> pfns(headerOk ? h.pageCount : 1);
  std::vector<uint8_t> cache;
  if (withCache) cache = PrimedCache();
  uint32_t stats[8];
  pp::DecodeJob j;
  j.image = in.data();
  j.imageLen = in.size();
  j.out = out.data();
  j.outLen = out.size();
  j.pfns = pfns.data();
  j.pfnsLen = pfns.size();
  j.hasPfns = true;
  j.cache = withCache ? cache.data() : nullptr;
  j.cacheLen = cache.size();
  j.hasCache = withCache;
  j.stats = stats;
  j.statsLen = 8;
  uint64_t len = 0;
  pp::Error e;
  const bool ok = pp::DecodeBatch(j, &len, &e);
  if (!headerOk) {
    FUZZ_CHECK(!ok && e.status == he.status && e.offset == he.offset,
               "decode (%s) disagrees with the header parse (%s)", ok ? "ok" : e.message.c_str(), he.message.c_str());
  }
  if (!ok) {
    if (e.status == pp::Status::ARG && withCache && h.pageSize != kPrimePageSize)
      return;  // the cache's page size: caller's choice
    CheckInputError(e, size);
  } else {
    FUZZ_CHECK(len == h.byteLength && stats[6] == h.byteLength, "wrote %llu bytes, header says %llu",
               (unsigned long long)len, (unsigned long long)h.byteLength);
    uint64_t pages = 0;
    for (int k = 0; k < 5; k++) pages += stats[k];
    FUZZ_CHECK(pages == h.pageCount, "kind counts add up to %llu of %u pages", (unsigned long long)pages, h.pageCount);
    const uint32_t sum = ReferenceChecksum(out.data(), pfns.data(), h);
    FUZZ_CHECK(sum == h.checksum, "decoded pages hash to 0x%08x, header says 0x%08x", sum, h.checksum);
    if (withCache) {
      const std::vector<uint8_t>& before = PrimedCache();
      pp::Cache c;
      pp::Error ce;
      FUZZ_CHECK(pp::CacheOpen(cache.data(), cache.size(), kPrimePageSize, &c, &ce), "cache: %s", ce.message.c_str());
      const size_t full = h.tailBytes < h.pageSize ? h.pageCount - 1 : h.pageCount;
      std::vector<int64_t> lastIn(c.slots, -1);
      for (size_t i = 0; i < full; i++) lastIn[c.Slot(static_cast<uint64_t>(pfns[i]))] = static_cast<int64_t>(i);
      for (uint64_t s = 0; s < c.slots; s++) {
        if (lastIn[s] < 0) {
          FUZZ_CHECK(memcmp(c.Page(s), before.data() + (c.Page(s) - cache.data()), c.pageSize) == 0,
                     "slot %llu changed", (unsigned long long)s);
          continue;
        }
        const size_t i = static_cast<size_t>(lastIn[s]);
        FUZZ_CHECK(c.Tag(s) == static_cast<uint64_t>(pfns[i]) + 1, "slot %llu tag", (unsigned long long)s);
        FUZZ_CHECK(memcmp(c.Page(s), out.data() + i * h.pageSize, h.pageSize) == 0, "slot %llu does not hold page %zu",
                   (unsigned long long)s, i);
      }
    }
  }
  if (!headerOk) return;
  // Zero pages as holes: the same bytes once the holes read as zero.
  std::vector<uint8_t> holes(out.size(), 0);
  std::vector<uint8_t> cache2;
  if (withCache) cache2 = PrimedCache();
  pp::DecodeJob j2 = j;
  j2.out = holes.data();
  j2.zeroPagesAsHoles = true;
  j2.cache = withCache ? cache2.data() : nullptr;
  pp::Error e2;
  uint64_t len2 = 0;
  const bool ok2 = pp::DecodeBatch(j2, &len2, &e2);
  FUZZ_CHECK(ok2 == ok && (ok || (e2.status == e.status && e2.offset == e.offset)),
             "zero-as-holes decode disagrees: %s / %s", e.message.c_str(), e2.message.c_str());
  FUZZ_CHECK(!ok || holes == out, "zero-as-holes decode wrote other bytes");
  if (withCache || h.headerLength > size) return;
  // In place: the image sits headerLength bytes before the output, as the stream decoder
  // decompresses it.
  const size_t room = h.byteLength > size - h.headerLength ? h.byteLength : size - h.headerLength;
  std::vector<uint8_t> buf(h.headerLength + room);
  memcpy(buf.data(), in.data(), size);
  pp::DecodeJob j3 = j;
  j3.image = buf.data();
  j3.out = buf.data() + h.headerLength;
  j3.outLen = room;
  j3.inPlace = true;
  pp::Error e3;
  uint64_t len3 = 0;
  const bool ok3 = pp::DecodeBatch(j3, &len3, &e3);
  FUZZ_CHECK(ok3 == ok && (ok || e3.status == e.status), "in-place decode disagrees: %s / %s", e.message.c_str(),
             e3.message.c_str());
  FUZZ_CHECK(!ok || memcmp(buf.data() + h.headerLength, out.data(), out.size()) == 0,
             "in-place decode wrote other bytes");
}

}  // namespace fuzz
