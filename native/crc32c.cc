// CRC32C with runtime dispatch: SSE4.2 crc32 instruction when the CPU has it (compiled
// via a function-level target attribute, so the rest of the addon stays baseline x86-64
// and the file builds on arm64), else a portable slicing-by-8 table.
#include "crc32c.h"

#include <cstring>

#if (defined(__x86_64__) || defined(__i386__)) && !defined(PP_NO_HWCRC)  // PP_NO_HWCRC: test the fallback
#include <nmmintrin.h>
#define PP_X86 1
#endif

namespace pp {
namespace {

constexpr uint32_t kPoly = 0x82F63B78u;  // 0x1EDC6F41 reflected

struct Tables {
  uint32_t t[8][256];
  constexpr Tables() : t() {
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++) c = (c >> 1) ^ (kPoly & (0u - (c & 1)));
      t[0][i] = c;
    }
    for (int s = 1; s < 8; s++)
      for (uint32_t i = 0; i < 256; i++) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
  }
};
constexpr Tables kTables;  // built at compile time: no init race between threads

inline uint64_t Load64(const uint8_t* p) { uint64_t v; memcpy(&v, p, 8); return v; }

// Portable: slicing-by-8 (little-endian hosts; x86-64 and arm64 are).
uint32_t CrcSoft(uint32_t c, const uint8_t* p, size_t n) {
  const auto& t = kTables.t;
  while (n >= 8) {
    uint64_t v = Load64(p) ^ c;
    c = t[7][v & 0xFF] ^ t[6][(v >> 8) & 0xFF] ^ t[5][(v >> 16) & 0xFF] ^ t[4][(v >> 24) & 0xFF] ^
        t[3][(v >> 32) & 0xFF] ^ t[2][(v >> 40) & 0xFF] ^ t[1][(v >> 48) & 0xFF] ^ t[0][v >> 56];
    p += 8;
    n -= 8;
  }
  while (n--) c = (c >> 8) ^ t[0][(c ^ *p++) & 0xFF];
  return c;
}

#ifdef PP_X86
__attribute__((target("sse4.2"))) uint32_t CrcHw(uint32_t c, const uint8_t* p, size_t n) {
  uint64_t c64 = c;
  while (n >= 32) {  // one chain; unrolled only to trim loop overhead
    c64 = _mm_crc32_u64(c64, Load64(p));
    c64 = _mm_crc32_u64(c64, Load64(p + 8));
    c64 = _mm_crc32_u64(c64, Load64(p + 16));
    c64 = _mm_crc32_u64(c64, Load64(p + 24));
    p += 32;
    n -= 32;
  }
  while (n >= 8) { c64 = _mm_crc32_u64(c64, Load64(p)); p += 8; n -= 8; }
  c = static_cast<uint32_t>(c64);
  while (n--) c = _mm_crc32_u8(c, *p++);
  return c;
}

// Three pages at once; len is a multiple of 8 (page sizes are >= 512, powers of two).
__attribute__((target("sse4.2"))) void CrcHw3(const uint8_t* a, const uint8_t* b,
                                              const uint8_t* d, size_t len, uint32_t* out) {
  uint64_t ca = 0xFFFFFFFFu, cb = 0xFFFFFFFFu, cd = 0xFFFFFFFFu;
  for (size_t i = 0; i < len; i += 16) {
    ca = _mm_crc32_u64(ca, Load64(a + i));
    cb = _mm_crc32_u64(cb, Load64(b + i));
    cd = _mm_crc32_u64(cd, Load64(d + i));
    ca = _mm_crc32_u64(ca, Load64(a + i + 8));
    cb = _mm_crc32_u64(cb, Load64(b + i + 8));
    cd = _mm_crc32_u64(cd, Load64(d + i + 8));
  }
  out[0] = ~static_cast<uint32_t>(ca);
  out[1] = ~static_cast<uint32_t>(cb);
  out[2] = ~static_cast<uint32_t>(cd);
}

bool HaveSse42() {
  static const bool have = [] { __builtin_cpu_init(); return __builtin_cpu_supports("sse4.2") != 0; }();
  return have;
}
#endif

inline uint32_t CrcRaw(uint32_t c, const uint8_t* p, size_t n) {
#ifdef PP_X86
  if (HaveSse42()) return CrcHw(c, p, n);
#endif
  return CrcSoft(c, p, n);
}

}  // namespace

uint32_t Crc32c(const uint8_t* buf, size_t len, uint32_t seed) {
  return ~CrcRaw(~seed, buf, len);
}

void Crc32cPages(const uint8_t* base, size_t stride, size_t len, const uint16_t* idx,
                 size_t count, uint32_t* out) {
  size_t k = 0;
#ifdef PP_X86
  if (HaveSse42() && len % 16 == 0) {
    for (; k + 3 <= count; k += 3) {
      uint32_t r[3];
      CrcHw3(base + idx[k] * stride, base + idx[k + 1] * stride, base + idx[k + 2] * stride, len, r);
      out[k] = r[0];
      out[k + 1] = r[1];
      out[k + 2] = r[2];
    }
  }
#endif
  for (; k < count; k++) out[k] = Crc32c(base + idx[k] * stride, len);
}

uint32_t Crc32cZeroPage(size_t len) {
  // 8 constants (512..65536), computed once; C++11 guarantees thread-safe init.
  static const struct Z {
    uint32_t crc[17];
    Z() : crc() {
      static const uint8_t zeros[4096] = {};
      uint32_t c = 0;
      size_t done = 0;
      for (int b = 9; b <= 16; b++) {
        size_t want = size_t{1} << b;
        while (done < want) {
          size_t m = want - done < 4096 ? want - done : 4096;
          c = Crc32c(zeros, m, c);
          done += m;
        }
        crc[b] = c;
      }
    }
  } z;
  if (len == 0) return 0;
  int b = __builtin_ctzll(len);
  if (len == (size_t{1} << b) && b >= 9 && b <= 16) return z.crc[b];
  static const uint8_t zeros[512] = {};
  uint32_t c = 0;
  for (size_t left = len; left; ) { size_t m = left < 512 ? left : 512; c = Crc32c(zeros, m, c); left -= m; }
  return c;
}

}  // namespace pp
