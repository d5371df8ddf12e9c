#include "image.h"

#include <cstring>
#include <utility>
#include <vector>

#include "cache.h"
#include "classify.h"
#include "crc32c.h"

namespace pp {
namespace {

// The two layouts version 1 knows (FORMAT.md 1.1), compared byte for byte: a pfn per
// page, or one base pfn for a run of consecutive pfns (byte streams, sequential sends),
// which saves 8 bytes a page before the codec (about 1 % of a zstd stream of memory).
// The payload comes first, right after the header: a decoder that decompresses the image
// to (its output - H) finds the pages' bytes already at their place in the output
// (in-place decode, no copy of the payload).
// A `P` payload ("dense") holds every page at i * P, zero and duplicate pages included:
// an encoder whose pages already sit in the image (in-place encode) then copies nothing,
// and zstd, whose window spans the batch, stores a zero or repeated page in a few bytes.
struct KnownLayout {
  const char* text;
  bool run, dense;
};
constexpr KnownLayout kLayouts[] = {
    {"payload:B|8 pfn:A(U) kind:A(c)|4 ref:A(u)", false, false},
    {"payload:B|8 pfn:R(U) kind:A(c)|4 ref:A(u)", true, false},
    {"payload:P|8 pfn:A(U) kind:A(c)|4 ref:A(u)", false, true},
    {"payload:P|8 pfn:R(U) kind:A(c)|4 ref:A(u)", true, true},
};
constexpr size_t kLayoutLen = 41;  // all four: one header length, so in-place offsets are fixed
const char* LayoutText(bool run, bool dense) {
  for (const auto& l : kLayouts)
    if (l.run == run && l.dense == dense) return l.text;
  return nullptr;
}
constexpr size_t kFixedHeader = 32;
constexpr size_t kHeaderLen = (kFixedHeader + kLayoutLen + 7) & ~size_t{7};
constexpr uint64_t kMaxPfn = uint64_t{1} << 52;  // exclusive; also exact in a double

inline uint16_t Load16(const uint8_t* p) {
  uint16_t v;
  memcpy(&v, p, 2);
  return v;
}
inline uint32_t Load32(const uint8_t* p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}
inline uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}
inline void Store16(uint8_t* p, uint16_t v) { memcpy(p, &v, 2); }
inline void Store32(uint8_t* p, uint32_t v) { memcpy(p, &v, 4); }
inline void Store64(uint8_t* p, uint64_t v) { memcpy(p, &v, 8); }
inline size_t Align4(size_t v) { return (v + 3) & ~size_t{3}; }
inline size_t Align8(size_t v) { return (v + 7) & ~size_t{7}; }

// Section offsets for n pages after a header of H bytes (FORMAT.md 1.2).
struct Layout {
  size_t payload, pfn, kind, ref, end;
  Layout(size_t H, size_t n, bool run, size_t D)
      : payload(H), pfn(H + Align8(D)), kind(pfn + (run ? 8 : 8 * n)), ref(kind + Align4(n)), end(ref + 4 * n) {}
};

inline bool Overlaps(const void* a, size_t alen, const void* b, size_t blen) {
  auto x = reinterpret_cast<uintptr_t>(a), y = reinterpret_cast<uintptr_t>(b);
  return alen && blen && x < y + blen && y < x + alen;
}

const char* KindName(unsigned k) {
  static const char* const names[] = {"ZERO", "LITERAL", "DUP", "UNCHANGED", "DELTA"};
  return k < kKinds ? names[k] : "?";
}

// checksum = CRC32C over (u64le pfn ‖ u32le page crc) for every page (FORMAT.md 1.4).
uint32_t HashList(const uint8_t* pfnSection, const uint32_t* crcs, size_t n) {
  uint8_t buf[12 * 64];
  uint32_t c = 0;
  for (size_t i = 0; i < n;) {
    size_t m = 0;
    for (; m < 64 && i < n; m++, i++) {
      memcpy(buf + 12 * m, pfnSection + 8 * i, 8);
      Store32(buf + 12 * m + 8, crcs[i]);
    }
    c = Crc32c(buf, 12 * m, c);
  }
  return c;
}

bool CheckStats(uint32_t* stats, size_t len, Error* e) {
  if (len < 7) return Fail(e, Status::ARG, -1, -1, "stats has %zu entries, expected at least 7", len);
  memset(stats, 0, len < 8 ? len * 4 : 32);
  return true;
}

}  // namespace

uint64_t ImageBound(uint64_t n, uint32_t P) { return Layout(kHeaderLen, n, false, n * P).end; }

// ---------------------------------------------------------------------------------
// Encode. Any thread.
bool EncodeBatch(const EncodeJob& j, uint64_t* outLen, Error* e) {
  if (!ValidPageSize(j.pageSize))
    return Fail(e, Status::ARG, -1, -1, "page size %g is not a power of two in 512..65536", j.pageSize);
  const size_t P = static_cast<size_t>(j.pageSize);
  if (j.pagesLen == 0) return Fail(e, Status::ARG, -1, -1, "pages is empty, expected 1..4096 pages");
  const size_t n = (j.pagesLen + P - 1) / P;
  if (n > kMaxPages)
    return Fail(e, Status::ARG, -1, -1, "pages holds %zu pages of %zu bytes, which exceeds the limit 4096", n, P);
  const size_t T = j.pagesLen - (n - 1) * P;
  const uint64_t bound = ImageBound(n, static_cast<uint32_t>(P));
  if (j.outLen < bound)
    return Fail(e, Status::ARG, -1, -1, "out has %zu bytes, expected at least imageBound(%zu, %zu) = %llu", j.outLen, n,
                P, (unsigned long long)bound);
  if (!CheckStats(j.stats, j.statsLen, e)) return false;
  if (j.hasPfns && j.pfnsLen < n)
    return Fail(e, Status::ARG, -1, -1, "pfns has %zu entries, expected at least %zu", j.pfnsLen, n);
  if (j.inPlace) {
    // The pages already sit where the payload goes: the image is built around them.
    if (j.pages != j.out + kHeaderLen)
      return Fail(e, Status::ARG, -1, -1, "in-place encode needs pages == out + %zu", kHeaderLen);
  } else if (Overlaps(j.out, j.outLen, j.pages, j.pagesLen)) {
    return Fail(e, Status::ARG, -1, -1, "out and pages must not overlap");
  }
  if (Overlaps(j.out, j.outLen, j.cache, j.cacheLen) || Overlaps(j.pages, j.pagesLen, j.cache, j.cacheLen))
    return Fail(e, Status::ARG, -1, -1, "out, pages and cache must not overlap");
  Batch b{j.pages, P, n, T, nullptr, Cache{}};
  if (j.hasCache && !CacheOpen(j.cache, j.cacheLen, static_cast<uint32_t>(P), &b.cache, e)) return false;

  uint8_t* out = j.out;
  // pfns, validated, into a scratch list; the run layout when they are consecutive.
  uint64_t pfnList[kMaxPages];
  bool run = true;
  for (size_t i = 0; i < n; i++) {
    double v = j.hasPfns ? j.pfns[i] : j.pfnBase + static_cast<double>(i);
    if (!(v >= 0 && v < static_cast<double>(kMaxPfn) && v == static_cast<double>(static_cast<uint64_t>(v))))
      return Fail(e, Status::ARG, -1, static_cast<int64_t>(i),
                  "pfn of page %zu (%s) = %.17g is not an integer in 0..2^52-1", i,
                  j.hasPfns ? "from pfns" : "pfnBase + index", v);
    Store64(reinterpret_cast<uint8_t*>(pfnList + i), static_cast<uint64_t>(v));
    if (i && static_cast<uint64_t>(v) !=
                 static_cast<uint64_t>(j.hasPfns ? j.pfns[i - 1] : j.pfnBase + static_cast<double>(i - 1)) + 1)
      run = false;
  }
  b.pfns = reinterpret_cast<const uint8_t*>(pfnList);

  // Kinds and refs are collected on the side: their place follows the payload, whose
  // length is known only after classification.
  uint32_t crcs[kMaxPages];
  uint32_t counts[kKinds] = {};
  uint8_t kindList[kMaxPages];
  uint8_t refList[4 * kMaxPages];
  size_t D;
  bool dense = false;
  if (j.inPlace || (j.mayBeDense && !b.cache.enabled())) {
    // Classify first, build the payload after: compaction overwrites pages that a later
    // DUP or the cache comparison may still read. DELTA payloads wait on the side (a
    // per-thread buffer, reused) until their turn in the compaction. Pages that are not
    // in place are copied in the same pass (all of them, as one block, when dense).
    uint8_t* deltas = nullptr;
    if (b.cache.enabled()) {
      thread_local std::vector<uint8_t> side;
      if (side.size() < n * P) side.resize(n * P);
      deltas = side.data();
    }
    ClassifyBatch(b, kindList, refList, nullptr, crcs, counts, deltas);
    // Dense unless leaving pages out pays (never with a cache: DELTA payloads are short);
    // otherwise compact in place: each payload moves down, never past a page not yet moved.
    dense = !b.cache.enabled() && (counts[ZERO] + counts[DUP]) * 8 < n;
    if (dense) {
      D = j.pagesLen;
      if (!j.inPlace) memcpy(out + kHeaderLen, j.pages, j.pagesLen);
    } else {
      D = 0;
      size_t q = 0;  // read position in `deltas`
      for (size_t i = 0; i < n; i++) {
        if (kindList[i] == LITERAL) {
          const size_t len = i + 1 < n ? P : T;
          if (!j.inPlace || D != i * P) memmove(out + kHeaderLen + D, j.pages + i * P, len);
          D += len;
        } else if (kindList[i] == DELTA) {
          const size_t dl = Load32(refList + 4 * i);
          memcpy(out + kHeaderLen + D, deltas + q, dl);
          q += dl;
          D += dl;
        }
      }
    }
  } else {
    D = ClassifyBatch(b, kindList, refList, out + kHeaderLen, crcs, counts);
  }
  const Layout lay(kHeaderLen, n, run, D);
  memset(out + lay.payload + D, 0, lay.pfn - lay.payload - D);  // payload padding
  memcpy(out + lay.pfn, pfnList, run ? 8 : 8 * n);
  memcpy(out + lay.kind, kindList, n);
  memset(out + lay.kind + n, 0, Align4(n) - n);  // kind section padding
  memcpy(out + lay.ref, refList, 4 * n);

  // Header last: D and the checksum are known only now.
  memset(out, 0, kHeaderLen);
  memcpy(out, "PPIM", 4);
  out[4] = 1;  // version
  out[5] = 0;  // flags
  Store16(out + 6, static_cast<uint16_t>(kHeaderLen));
  Store32(out + 8, static_cast<uint32_t>(P));
  Store32(out + 12, static_cast<uint32_t>(n));
  Store32(out + 16, static_cast<uint32_t>(T));
  Store32(out + 20, static_cast<uint32_t>(D));
  Store32(out + 24, HashList(reinterpret_cast<const uint8_t*>(pfnList), crcs, n));
  Store16(out + 28, static_cast<uint16_t>(kLayoutLen));
  memcpy(out + kFixedHeader, LayoutText(run, dense), kLayoutLen);  // reserved and pad stay 0

  const uint64_t total = lay.end;
  for (unsigned k = 0; k < kKinds; k++) j.stats[k] = counts[k];
  j.stats[5] = static_cast<uint32_t>(D);
  j.stats[6] = static_cast<uint32_t>(total);
  *outLen = total;
  return true;
}

// ---------------------------------------------------------------------------------
// Header. Any thread. Needs only the header bytes (imageInfo uses it on a prefix).
bool ParseImageHeader(const uint8_t* im, size_t len, ImageInfo* info, Error* e) {
  if (len < kFixedHeader)
    return Fail(e, Status::TRUNCATED, static_cast<int64_t>(len), -1,
                "image of %zu bytes ends inside the 32-byte header at offset %zu", len, len);
  if (memcmp(im, "PPIM", 4) != 0)
    return Fail(e, Status::MAGIC, 0, -1, "image magic %02x %02x %02x %02x at offset 0 is not PPIM (50 50 49 4d)", im[0],
                im[1], im[2], im[3]);
  if (im[4] != 1)
    return Fail(e, Status::VERSION, 4, -1, "image version %u at offset 4 is not supported, expected 1", im[4]);
  if (im[5] != 0) return Fail(e, Status::FORMAT, 5, -1, "image flags 0x%02x at offset 5 must be 0", im[5]);
  const uint32_t P = Load32(im + 8), n = Load32(im + 12), T = Load32(im + 16);
  const uint32_t D = Load32(im + 20);
  const uint16_t H = Load16(im + 6), L = Load16(im + 28), reserved = Load16(im + 30);
  if (P & (P - 1) || P == 0)
    return Fail(e, Status::FORMAT, 8, -1, "image page size %u at offset 8 is not a power of two", P);
  if (P < kMinPage || P > kMaxPage)
    return Fail(e, Status::LIMIT, 8, -1, "image page size %u at offset 8 is outside the limits 512..65536", P);
  if (n == 0) return Fail(e, Status::FORMAT, 12, -1, "image page count 0 at offset 12, expected 1..4096");
  if (n > kMaxPages)
    return Fail(e, Status::LIMIT, 12, -1, "image page count %u at offset 12 exceeds the limit 4096", n);
  if (T == 0 || T > P) return Fail(e, Status::FORMAT, 16, -1, "image tail bytes %u at offset 16, expected 1..%u", T, P);
  if (uint64_t{D} > uint64_t{n} * P)
    return Fail(e, Status::LIMIT, 20, -1, "image payload length %u at offset 20 exceeds %u pages of %u bytes", D, n, P);
  if (L == 0 || L > 255)
    return Fail(e, Status::FORMAT, 28, -1, "image layout string length %u at offset 28, expected 1..255", L);
  if (reserved != 0) return Fail(e, Status::FORMAT, 30, -1, "image reserved field %u at offset 30 must be 0", reserved);
  const size_t wantH = (kFixedHeader + L + 7) & ~size_t{7};
  if (H != wantH)
    return Fail(e, Status::FORMAT, 6, -1,
                "image header length %u at offset 6, expected %zu for a layout string of %u bytes", H, wantH, L);
  if (len < H)
    return Fail(e, Status::TRUNCATED, static_cast<int64_t>(len), -1,
                "image of %zu bytes ends inside the %u-byte header at offset %zu", len, H, len);
  const KnownLayout* known = nullptr;
  for (const auto& l : kLayouts)
    if (L == kLayoutLen && memcmp(im + kFixedHeader, l.text, kLayoutLen) == 0) known = &l;
  if (!known)
    return Fail(e, Status::LAYOUT, kFixedHeader, -1,
                "image layout string at offset 32 (%u bytes) is not one of the 4 known layouts, e.g. \"%s\"", L,
                kLayouts[0].text);
  const bool run = known->run;
  if (known->dense && uint64_t{D} != uint64_t{n - 1} * P + T)
    return Fail(e, Status::FORMAT, 20, -1,
                "dense image payload length %u at offset 20 is not the %llu bytes of its pages", D,
                (unsigned long long)(uint64_t{n - 1} * P + T));
  for (size_t k = kFixedHeader + L; k < H; k++)
    if (im[k])
      return Fail(e, Status::FORMAT, static_cast<int64_t>(k), -1,
                  "image header padding byte 0x%02x at offset %zu must be 0", im[k], k);
  const Layout lay(H, n, run, D);
  info->pfnRun = run;
  info->dense = known->dense;
  info->pageSize = P;
  info->pageCount = n;
  info->tailBytes = T;
  info->payloadLength = D;
  info->checksum = Load32(im + 24);
  info->headerLength = H;
  info->imageLength = lay.end;
  info->byteLength = uint64_t{n - 1} * P + T;
  return true;
}

// ---------------------------------------------------------------------------------
// Decode. Any thread. Phase 1 validates everything without writing; phase 2 writes.
// Phase 2 re-checks the few bounds it relies on, so an image in a SharedArrayBuffer
// that changes under us yields garbage or an error, never an out-of-bounds access.
bool DecodeBatch(const DecodeJob& j, uint64_t* outLen, Error* e) {
  if (!CheckStats(j.stats, j.statsLen, e)) return false;
  ImageInfo h;
  if (!ParseImageHeader(j.image, j.imageLen, &h, e)) return false;
  const size_t P = h.pageSize, n = h.pageCount, T = h.tailBytes, D = h.payloadLength;
  const size_t full = T < P ? n - 1 : n;
  if (j.outLen < h.byteLength)
    return Fail(e, Status::ARG, -1, -1, "out has %zu bytes, the image decodes to %llu", j.outLen,
                (unsigned long long)h.byteLength);
  if (j.hasPfns && j.pfnsLen < n)
    return Fail(e, Status::ARG, -1, -1, "pfns has %zu entries, the image has %zu pages", j.pfnsLen, n);
  if (j.inPlace) {
    // The image sits in `out` with its payload at out[0]; pages expand in place.
    if (j.image + h.headerLength != j.out)
      return Fail(e, Status::ARG, -1, -1, "in-place decode needs image + %u == out", h.headerLength);
    if (j.hasCache) return Fail(e, Status::ARG, -1, -1, "in-place decode takes no page cache");
    if (j.outLen < j.imageLen - h.headerLength)
      return Fail(e, Status::ARG, -1, -1, "out has %zu bytes, the image needs %zu after its header", j.outLen,
                  j.imageLen - h.headerLength);
  } else if (Overlaps(j.out, j.outLen, j.image, j.imageLen)) {
    return Fail(e, Status::ARG, -1, -1, "out must not overlap image");
  }
  if (Overlaps(j.out, j.outLen, j.cache, j.cacheLen) || Overlaps(j.out, j.outLen, j.pfns, j.pfnsLen * 8))
    return Fail(e, Status::ARG, -1, -1, "out must not overlap cache or pfns");
  Cache c;
  if (j.hasCache && !CacheOpen(j.cache, j.cacheLen, static_cast<uint32_t>(P), &c, e)) return false;
  if (h.dense && c.enabled())
    return Fail(e, Status::FORMAT, kFixedHeader, -1,
                "dense image layout in a stream with a page cache (encoders make dense images only without one)");

  const uint8_t* im = j.image;
  const Layout lay(h.headerLength, n, h.pfnRun, D);
  if (j.imageLen < lay.end)
    return Fail(e, Status::TRUNCATED, static_cast<int64_t>(j.imageLen), -1,
                "image of %zu bytes is truncated: its header says %zu bytes", j.imageLen, lay.end);
  if (j.imageLen > lay.end)
    return Fail(e, Status::TRAILING, static_cast<int64_t>(lay.end), -1,
                "image has %zu bytes after its end at offset %zu", j.imageLen - lay.end, lay.end);
  for (size_t k = lay.payload + D; k < lay.pfn; k++)
    if (im[k])
      return Fail(e, Status::FORMAT, static_cast<int64_t>(k), -1, "payload padding byte 0x%02x at offset %zu must be 0",
                  im[k], k);
  // Sections are copied out first: an in-place decode overwrites them.
  uint64_t pfnList[kMaxPages];
  if (h.pfnRun) {
    const uint64_t base = Load64(im + lay.pfn);
    if (base >= kMaxPfn || base + n > kMaxPfn)
      return Fail(e, Status::FORMAT, static_cast<int64_t>(lay.pfn), -1,
                  "pfn run %llu..%llu at offset %zu is not below 2^52", (unsigned long long)base,
                  (unsigned long long)(base + n - 1), lay.pfn);
    for (size_t i = 0; i < n; i++) Store64(reinterpret_cast<uint8_t*>(pfnList + i), base + i);
  } else {
    memcpy(pfnList, im + lay.pfn, 8 * n);
  }
  const uint8_t* pfnBytes = reinterpret_cast<const uint8_t*>(pfnList);
  uint8_t kinds[kMaxPages];
  uint32_t refs[kMaxPages];
  memcpy(kinds, im + lay.kind, n);
  memcpy(refs, im + lay.ref, 4 * n);
  for (size_t k = lay.kind + n; k < lay.ref; k++)
    if (im[k])
      return Fail(e, Status::FORMAT, static_cast<int64_t>(k), -1,
                  "kind section padding byte 0x%02x at offset %zu must be 0", im[k], k);
  uint64_t sum = 0;
  for (size_t i = 0; i < n; i++) {
    const uint64_t pfn = Load64(pfnBytes + 8 * i);
    const unsigned kind = kinds[i];
    const uint32_t ref = refs[i];
    const int64_t pi = static_cast<int64_t>(i);
    const int64_t kindAt = static_cast<int64_t>(lay.kind + i), refAt = static_cast<int64_t>(lay.ref + 4 * i);
    if (pfn >= kMaxPfn)
      return Fail(e, Status::FORMAT, static_cast<int64_t>(lay.pfn + 8 * i), pi,
                  "pfn %llu of page %zu at offset %zu is not below 2^52", (unsigned long long)pfn, i, lay.pfn + 8 * i);
    if (kind >= kKinds)
      return Fail(e, Status::FORMAT, kindAt, pi, "kind %u of page %zu at offset %zu is not a known kind (0..4)", kind,
                  i, lay.kind + i);
    if (i >= full && kind != ZERO && kind != LITERAL)
      return Fail(e, Status::FORMAT, kindAt, pi,
                  "kind %s of the short last page %zu at offset %zu, expected ZERO or LITERAL", KindName(kind), i,
                  lay.kind + i);
    if (h.dense && (kind == UNCHANGED || kind == DELTA))
      return Fail(e, Status::FORMAT, kindAt, pi,
                  "kind %s of page %zu at offset %zu in a dense image, expected ZERO, LITERAL or DUP", KindName(kind),
                  i, lay.kind + i);
    switch (kind) {
      case DUP:
        if (ref >= i)
          return Fail(e, Status::FORMAT, refAt, pi,
                      "DUP ref %u of page %zu at offset %zu, expected an earlier page (< %zu)", ref, i, lay.ref + 4 * i,
                      i);
        break;
      case DELTA:
        if (ref == 0 || ref >= P)
          return Fail(e, Status::FORMAT, refAt, pi, "DELTA length %u of page %zu at offset %zu, expected 1..%zu", ref,
                      i, lay.ref + 4 * i, P - 1);
        sum += ref;
        break;
      default:
        if (ref != 0)
          return Fail(e, Status::FORMAT, refAt, pi, "ref %u of %s page %zu at offset %zu must be 0", ref,
                      KindName(kind), i, lay.ref + 4 * i);
        if (kind == LITERAL) sum += i < full ? P : T;
    }
  }
  if (!h.dense && sum != D)
    return Fail(e, Status::FORMAT, 20, -1,
                "image payload length %zu at offset 20 does not match the %llu payload bytes its pages need", D,
                (unsigned long long)sum);

  // Cache hits and delta payloads. Tags change as the batch proceeds (every full page is
  // stored in its slot), so simulate: `last` maps a slot to the last page stored there.
  {
    uint16_t last[2 * kMaxPages];
    memset(last, 0, sizeof last);
    constexpr size_t kMask = 2 * kMaxPages - 1;
    size_t q = lay.payload;
    for (size_t i = 0; i < full; i++) {
      const unsigned kind = kinds[i];
      const uint64_t pfn = Load64(pfnBytes + 8 * i);
      if (!c.enabled()) {
        if (kind == UNCHANGED || kind == DELTA)
          return Fail(e, Status::CACHE_MISS, static_cast<int64_t>(lay.kind + i), static_cast<int64_t>(i),
                      "%s page %zu (pfn %llu, kind at offset %zu) needs a page cache, but none was given",
                      KindName(kind), i, (unsigned long long)pfn, lay.kind + i);
        q += kind == LITERAL ? P : 0;
        continue;
      }
      const uint64_t s = c.Slot(pfn);
      size_t hh = static_cast<size_t>((s * 0x9E3779B97F4A7C15ull) >> 51) & kMask;
      for (; last[hh]; hh = (hh + 1) & kMask)
        if (c.Slot(Load64(pfnBytes + 8 * (last[hh] - 1u))) == s) break;
      if (kind == UNCHANGED || kind == DELTA) {
        const uint64_t tag = last[hh] ? Load64(pfnBytes + 8 * (last[hh] - 1u)) + 1 : c.Tag(s);
        if (tag != pfn + 1)
          return Fail(e, Status::CACHE_MISS, static_cast<int64_t>(lay.kind + i), static_cast<int64_t>(i),
                      "%s page %zu (pfn %llu, kind at offset %zu) is not in the page cache", KindName(kind), i,
                      (unsigned long long)pfn, lay.kind + i);
      }
      last[hh] = static_cast<uint16_t>(i + 1);
      if (kind == DELTA) {
        const size_t d = refs[i];
        size_t at;
        const char* why;
        if (!XbzrleDecode(im + q, d, nullptr, P, &at, &why))
          return Fail(e, Status::DELTA, static_cast<int64_t>(q + at), static_cast<int64_t>(i),
                      "DELTA payload of page %zu at offset %zu %s (delta byte %zu of %zu)", i, q + at, why, at, d);
        q += d;
      } else if (kind == LITERAL) {
        q += P;
      }
    }
  }

  // Phase 2: reconstruct, updating the cache in page order like the encoder did.
  uint8_t* out = j.out;
  const uint8_t* pay = im + lay.payload;
  uint32_t crcs[kMaxPages];
  uint16_t todo[kMaxPages];  // pages whose CRC must be computed from the output
  size_t ntodo = 0;
  uint32_t dups[kMaxPages];  // (page << 16 | ref) of DUP pages, in page order
  size_t ndups = 0;
  uint32_t counts[kKinds] = {};
  const uint32_t zeroCrc = Crc32cZeroPage(P);
  auto changed = [&](int64_t at, size_t i) {
    return Fail(e, Status::FORMAT, at, static_cast<int64_t>(i), "image changed while it was being decoded (page %zu)",
                i);
  };
  auto dup = [&](size_t i) {
    uint8_t* dst = out + i * P;
    const uint32_t ref = refs[i];
    if (j.zeroPagesAsHoles && kinds[ref] == ZERO)
      memset(dst, 0, P);  // its source was left as a hole
    else
      memcpy(dst, out + size_t{ref} * P, P);
    dups[ndups++] = static_cast<uint32_t>(i << 16 | ref);  // CRC copied from ref below
  };
  if (h.dense) {
    // Every page's bytes are in the payload; ZERO and DUP just say what they are. A ZERO
    // page must really be zero (a sparse writer leaves it out); all others are checked by
    // their CRC below.
    if (!j.inPlace) memcpy(out, pay, D);
    for (size_t i = 0; i < n; i++) {
      const size_t len = i < full ? P : T;
      if (kinds[i] == ZERO) {
        if (!IsZero(out + i * P, len))
          return Fail(e, Status::FORMAT, static_cast<int64_t>(lay.payload + i * P), static_cast<int64_t>(i),
                      "ZERO page %zu of a dense image holds non-zero bytes at offset %zu", i, lay.payload + i * P);
        crcs[i] = i < full ? zeroCrc : Crc32c(out + i * P, len);
      } else {
        todo[ntodo++] = static_cast<uint16_t>(i);
      }
      counts[kinds[i]]++;
    }
    if (j.hasPfns)
      for (size_t i = 0; i < n; i++) j.pfns[i] = static_cast<double>(Load64(pfnBytes + 8 * i));
  } else if (j.inPlace) {
    // No cache, so only ZERO, LITERAL and DUP. Payload offsets never pass their page's
    // place (the payload is the literal pages, compacted), so moving pages last to first
    // never overwrites payload not yet moved. DUPs go last, first to last.
    uint32_t at[kMaxPages];
    size_t q = 0;
    for (size_t i = 0; i < n; i++) {
      at[i] = static_cast<uint32_t>(q);
      if (kinds[i] == LITERAL) q += i < full ? P : T;
    }
    if (q != D) return changed(20, 0);
    for (size_t i = n; i-- > 0;) {
      const size_t len = i < full ? P : T;
      uint8_t* dst = out + i * P;
      switch (kinds[i]) {
        case ZERO:
          if (!j.zeroPagesAsHoles || i >= full) memset(dst, 0, len);  // a short one is always written
          crcs[i] = i < full ? zeroCrc : Crc32c(dst, len);
          break;
        case LITERAL:
          if (dst != pay + at[i]) memmove(dst, pay + at[i], len);
          todo[ntodo++] = static_cast<uint16_t>(i);
          break;
        case DUP:
          break;
        default:
          return changed(static_cast<int64_t>(lay.kind + i), i);
      }
      counts[kinds[i]]++;
    }
    // todo was filled last to first; CRC order does not matter, but keep it ascending.
    for (size_t a = 0, b = ntodo; a + 1 < b; a++, b--) std::swap(todo[a], todo[b - 1]);
    for (size_t i = 0; i < n; i++)
      if (kinds[i] == DUP) {
        if (refs[i] >= i || i >= full) return changed(static_cast<int64_t>(lay.ref + 4 * i), i);
        dup(i);
      }
    if (j.hasPfns)
      for (size_t i = 0; i < n; i++) j.pfns[i] = static_cast<double>(Load64(pfnBytes + 8 * i));
  } else {
    size_t q = 0;
    for (size_t i = 0; i < n; i++) {
      const size_t len = i < full ? P : T;
      uint8_t* dst = out + i * P;
      const unsigned kind = kinds[i];
      const uint32_t ref = refs[i];
      const uint64_t pfn = Load64(pfnBytes + 8 * i);
      if (j.hasPfns) j.pfns[i] = static_cast<double>(pfn);
      const bool cached = i < full && c.enabled();
      const uint64_t s = cached ? c.Slot(pfn) : 0;
      switch (kind) {
        case ZERO:
          if (!j.zeroPagesAsHoles || i >= full) memset(dst, 0, len);
          crcs[i] = i < full ? zeroCrc : Crc32c(dst, len);
          if (cached) memset(c.Page(s), 0, P);
          break;
        case LITERAL:
          if (len > D - q) return changed(static_cast<int64_t>(lay.payload + q), i);
          memcpy(dst, pay + q, len);
          q += len;
          todo[ntodo++] = static_cast<uint16_t>(i);
          if (cached) memcpy(c.Page(s), dst, P);
          break;
        case DUP:
          if (ref >= i || i >= full) return changed(static_cast<int64_t>(lay.ref + 4 * i), i);
          dup(i);
          if (cached) memcpy(c.Page(s), dst, P);
          break;
        case UNCHANGED:
        case DELTA: {
          if (!cached || c.Tag(s) != pfn + 1)
            return Fail(e, Status::CACHE_MISS, static_cast<int64_t>(lay.kind + i), static_cast<int64_t>(i),
                        "%s page %zu (pfn %llu) is not in the page cache", KindName(kind), i, (unsigned long long)pfn);
          uint8_t* slot = c.Page(s);
          if (kind == DELTA) {  // apply in place in the cache slot, then copy out
            size_t errAt;
            const char* why;
            if (ref > D - q || !XbzrleDecode(pay + q, ref, slot, P, &errAt, &why))
              return changed(static_cast<int64_t>(lay.payload + q), i);
            q += ref;
          }
          memcpy(dst, slot, P);
          todo[ntodo++] = static_cast<uint16_t>(i);
          break;
        }
        default:
          return changed(static_cast<int64_t>(lay.kind + i), i);
      }
      if (cached) c.SetTag(s, pfn + 1);
      counts[kind]++;
    }
  }
  // CRCs of the reconstructed bytes; full pages three at a time.
  size_t nfull = ntodo;
  if (nfull && todo[nfull - 1] >= full) {
    nfull--;
    crcs[todo[nfull]] = Crc32c(out + size_t{todo[nfull]} * P, T);
  }
  uint32_t todoCrc[kMaxPages];
  Crc32cPages(out, P, P, todo, nfull, todoCrc);
  for (size_t k = 0; k < nfull; k++) crcs[todo[k]] = todoCrc[k];
  for (size_t k = 0; k < ndups; k++) crcs[dups[k] >> 16] = crcs[dups[k] & 0xFFFF];  // ref < page: already set
  const uint32_t sum2 = HashList(pfnBytes, crcs, n);
  if (sum2 != h.checksum)
    return Fail(e, Status::CHECKSUM, 24, -1,
                "image checksum 0x%08x at offset 24 does not match 0x%08x computed from the decoded pages", h.checksum,
                sum2);
  for (unsigned k = 0; k < kKinds; k++) j.stats[k] = counts[k];
  j.stats[5] = static_cast<uint32_t>(D);
  j.stats[6] = static_cast<uint32_t>(h.byteLength);
  *outLen = h.byteLength;
  return true;
}

}  // namespace pp
