#include "classify.h"

#include <cstring>

#include "crc32c.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "pagepress native code assumes a little-endian host (x86-64, arm64)"
#endif

namespace pp {
namespace {

inline uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}
inline void Store32(uint8_t* p, uint32_t v) { memcpy(p, &v, 4); }

inline size_t UlebSize(size_t v) { return v < 0x80 ? 1 : v < 0x4000 ? 2 : 3; }
inline uint8_t* PutUleb(uint8_t* p, size_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<uint8_t>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<uint8_t>(v);
  return p;
}

}  // namespace

bool IsZero(const uint8_t* p, size_t len) {
  size_t i = 0;
  // Most non-zero pages differ in their first word: cheap early exit.
  if (len >= 8 && Load64(p) != 0) return false;
  for (; i + 64 <= len; i += 64) {
    uint64_t acc = Load64(p + i) | Load64(p + i + 8) | Load64(p + i + 16) | Load64(p + i + 24) | Load64(p + i + 32) |
                   Load64(p + i + 40) | Load64(p + i + 48) | Load64(p + i + 56);
    if (acc) return false;
  }
  uint8_t acc = 0;
  for (; i < len; i++) acc |= p[i];
  return acc == 0;
}

size_t XbzrleEncode(const uint8_t* old, const uint8_t* cur, size_t len, uint8_t* dst) {
  // Works on aligned 8-byte words (relative to the page start): a changed run starts at
  // the first differing byte and ends at the last differing byte before the next fully
  // equal word. Equal bytes inside a run are sent as-is: valid XBZRLE and cheaper than
  // a new pair for gaps shorter than a word.
  const size_t words = len / 8;
  size_t d = 0, pos = 0, w = 0;
  for (;;) {
    // Find the first differing byte at or after pos: first the rest of pos's word...
    uint64_t x = 0;
    if (w < words && 8 * w < pos) {
      x = (Load64(old + 8 * w) ^ Load64(cur + 8 * w)) & (~uint64_t{0} << (8 * (pos - 8 * w)));
      if (!x) w++;
    }
    if (!x) {
      // ...then skip equal 32-byte blocks (the common case), then single words.
      while (w + 4 <= words &&
             ((Load64(old + 8 * w) ^ Load64(cur + 8 * w)) | (Load64(old + 8 * w + 8) ^ Load64(cur + 8 * w + 8)) |
              (Load64(old + 8 * w + 16) ^ Load64(cur + 8 * w + 16)) |
              (Load64(old + 8 * w + 24) ^ Load64(cur + 8 * w + 24))) == 0)
        w += 4;
      for (; w < words; w++)
        if ((x = Load64(old + 8 * w) ^ Load64(cur + 8 * w)) != 0) break;
      if (w == words) return d;  // rest unchanged
    }
    size_t start = 8 * w + (__builtin_ctzll(x) >> 3);
    // Extend through words that still differ somewhere.
    uint64_t last = x;
    for (w++; w < words; w++) {
      uint64_t y = Load64(old + 8 * w) ^ Load64(cur + 8 * w);
      if (!y) break;
      last = y;
    }
    size_t end = 8 * (w - 1) + ((63 - __builtin_clzll(last)) >> 3) + 1;
    size_t zrun = start - pos, nzrun = end - start;
    if (d + UlebSize(zrun) + UlebSize(nzrun) + nzrun >= len) return len;  // bail: not smaller
    uint8_t* q = PutUleb(PutUleb(dst + d, zrun), nzrun);
    memcpy(q, cur + start, nzrun);
    d = static_cast<size_t>(q - dst) + nzrun;
    pos = end;
    w = end / 8;  // resume in the word holding `end` (its bytes from `end` on are equal)
  }
}

bool XbzrleDecode(const uint8_t* src, size_t d, uint8_t* page, size_t len, size_t* errAt, const char** why) {
  size_t q = 0, pos = 0;
  auto uleb = [&](size_t* v) {
    size_t r = 0;
    for (int k = 0; k < 3; k++) {
      if (q >= d) {
        *errAt = q;
        *why = "ends inside a ULEB128";
        return false;
      }
      uint8_t b = src[q++];
      r |= size_t{b & 0x7Fu} << (7 * k);
      if (!(b & 0x80)) {
        *v = r;
        return true;
      }
    }
    *errAt = q - 3;
    *why = "has a ULEB128 longer than 3 bytes";
    return false;
  };
  while (q < d) {
    size_t at = q, zrun, nzrun;
    if (!uleb(&zrun) || !uleb(&nzrun)) return false;
    if (nzrun == 0) {
      *errAt = at;
      *why = "has a zero nzrun";
      return false;
    }
    if (zrun > len - pos || nzrun > len - pos - zrun) {
      *errAt = at;
      *why = "runs past the page end";
      return false;
    }
    if (nzrun > d - q) {
      *errAt = q;
      *why = "ends inside a changed run";
      return false;
    }
    pos += zrun;
    if (page) memcpy(page + pos, src + q, nzrun);
    pos += nzrun;
    q += nzrun;
  }
  return true;
}

size_t ClassifyBatch(Batch& b, uint8_t* kinds, uint8_t* refs, uint8_t* payload, uint32_t* crcs, uint32_t* counts,
                     uint8_t* deltas) {
  const size_t P = b.pageSize, n = b.count;
  const bool shortTail = b.tail < P;
  const size_t full = shortTail ? n - 1 : n;  // pages 0..full-1 are full size
  Cache& c = b.cache;

  // Pages are processed in windows of ~128 KiB: zero check and CRC32C for the whole
  // window first (CRCs three pages at a time), then classify and copy it while it is
  // still in L2, instead of streaming the batch through the cache twice.
  const size_t window = P >= 32768 ? 3 : (size_t{1} << 17) / P;
  const uint32_t zeroCrc = Crc32cZeroPage(P);
  // Open-addressed table of earlier distinct full pages, keyed by CRC; 2x the page
  // limit so probes stay short. Holds page index + 1 (0 = empty).
  uint16_t table[2 * kMaxPages];
  memset(table, 0, sizeof table);
  constexpr size_t kMask = 2 * kMaxPages - 1;
  uint16_t todo[kMaxPages];
  uint32_t todoCrc[kMaxPages];
  size_t d = 0;
  size_t literalBytes = 0;  // part of d that is literal pages (the rest: deltas)
  for (size_t w0 = 0; w0 < full; w0 += window) {
    const size_t w1 = w0 + window < full ? w0 + window : full;
    size_t ntodo = 0;
    for (size_t i = w0; i < w1; i++) {
      if (IsZero(b.pages + i * P, P)) {
        kinds[i] = ZERO;
        crcs[i] = zeroCrc;
      } else {
        kinds[i] = LITERAL;  // provisional: "not zero"
        todo[ntodo++] = static_cast<uint16_t>(i);
      }
    }
    Crc32cPages(b.pages, P, P, todo, ntodo, todoCrc);
    for (size_t k = 0; k < ntodo; k++) crcs[todo[k]] = todoCrc[k];

    // In page order: DUP -> cache (UNCHANGED/DELTA) -> LITERAL.
    for (size_t i = w0; i < w1; i++) {
      const uint8_t* page = b.pages + i * P;
      uint8_t kind = kinds[i];
      uint32_t ref = 0;
      uint64_t pfn = Load64(b.pfns + 8 * i);
      if (kind == LITERAL) {
        const uint32_t crc = crcs[i];
        size_t h = crc & kMask;
        for (; table[h]; h = (h + 1) & kMask) {
          size_t j = table[h] - 1u;
          if (crcs[j] == crc && memcmp(b.pages + j * P, page, P) == 0) {
            kind = DUP;
            ref = static_cast<uint32_t>(j);
            break;
          }
        }
        if (kind != DUP) table[h] = static_cast<uint16_t>(i + 1);
      }
      if (c.enabled()) {
        uint64_t s = c.Slot(pfn);
        uint8_t* slot = c.Page(s);
        if (kind == LITERAL && c.Tag(s) == pfn + 1) {
          // memcmp first: libc's is vectorized and settles the common unchanged case.
          // Without a payload, a delta goes to `deltas` at the same offset d would have.
          uint8_t* dst = payload ? payload + d : deltas + (d - literalBytes);
          size_t dl = memcmp(slot, page, P) == 0 ? 0 : XbzrleEncode(slot, page, P, dst);
          if (dl == 0) {
            kind = UNCHANGED;
          } else if (dl < P) {
            kind = DELTA;
            ref = static_cast<uint32_t>(dl);
            d += dl;
          }
        }
        if (kind == LITERAL) {
          if (payload) memcpy(payload + d, page, P);
          d += P;
          literalBytes += P;
        }
        // Store every full page in its slot (zero and dup pages too) so the decoder,
        // which does the same, holds the same bytes.
        if (kind == ZERO)
          memset(slot, 0, P);
        else if (kind != UNCHANGED)
          memcpy(slot, page, P);
        c.SetTag(s, pfn + 1);
      } else if (kind == LITERAL) {
        if (payload) memcpy(payload + d, page, P);
        d += P;
      }
      kinds[i] = kind;
      Store32(refs + 4 * i, ref);
      counts[kind]++;
    }
  }
  if (shortTail) {  // short last page: ZERO or LITERAL, never cached
    const size_t i = n - 1;
    const uint8_t* page = b.pages + i * P;
    crcs[i] = Crc32c(page, b.tail);
    uint8_t kind = IsZero(page, b.tail) ? ZERO : LITERAL;
    if (kind == LITERAL) {
      if (payload) memcpy(payload + d, page, b.tail);
      d += b.tail;
    }
    kinds[i] = kind;
    Store32(refs + 4 * i, 0);
    counts[kind]++;
  }
  return d;
}

}  // namespace pp
