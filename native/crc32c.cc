// CRC32C with runtime dispatch, each path compiled via a function-level target attribute
// (the rest of the addon stays baseline x86-64 and the file builds on arm64):
// - AVX-512 + VPCLMULQDQ: carry-less multiply folding, 256 bytes a step (about 55 GB/s
//   on a 4 KiB page here, against 10 GB/s for one crc32 chain);
// - SSE4.2: the crc32 instruction (three pages interleaved for page lists);
// - otherwise a portable slicing-by-8 table.
#include "crc32c.h"

#include <cstdlib>
#include <cstring>

#if (defined(__x86_64__) || defined(__i386__)) && !defined(PP_NO_HWCRC)  // PP_NO_HWCRC: test the fallback
#include <immintrin.h>
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

inline uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

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
  while (n >= 8) {
    c64 = _mm_crc32_u64(c64, Load64(p));
    p += 8;
    n -= 8;
  }
  c = static_cast<uint32_t>(c64);
  while (n--) c = _mm_crc32_u8(c, *p++);
  return c;
}

// Three pages at once; len is a multiple of 8 (page sizes are >= 512, powers of two).
__attribute__((target("sse4.2"))) void CrcHw3(const uint8_t* a, const uint8_t* b, const uint8_t* d, size_t len,
                                              uint32_t* out) {
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

// PAGEPRESS_CRC=sse4.2 or =table caps the path taken (read once), so that the tests can
// check the slower paths on a machine that has the faster ones.
int CrcCap() {
  static const int cap = [] {
    const char* v = getenv("PAGEPRESS_CRC");
    if (v && strcmp(v, "table") == 0) return 0;
    if (v && strcmp(v, "sse4.2") == 0) return 1;
    return 2;
  }();
  return cap;
}

bool HaveSse42() {
  static const bool have = [] {
    __builtin_cpu_init();
    return CrcCap() >= 1 && __builtin_cpu_supports("sse4.2") != 0;
  }();
  return have;
}

// ---- Folding. A 128-bit lane of the message (bit 0 of its first byte = highest degree)
// is moved D bits further by multiplying its two 64-bit halves with x^(D+63) and
// x^(D-1) mod P (bit-reflected; the -1 makes up for the reflected product's extra
// factor x) and XOR-ing the 96-bit products into the lane D bits on. What is left at the
// end, one lane congruent to the whole message, goes through the crc32 instruction.

// x^n mod P, not reflected (bit m = coefficient of x^m). Compile time only.
constexpr uint32_t XPowModP(uint32_t n) {
  uint32_t r = 1;
  for (uint32_t i = 0; i < n; i++) r = (r << 1) ^ ((r & 0x80000000u) ? 0x1EDC6F41u : 0u);
  return r;
}
// A polynomial of degree < 32 as a reflected 64-bit clmul operand: x^m goes to bit 63-m.
constexpr uint64_t Reflect64(uint32_t v) {
  uint64_t o = 0;
  for (int m = 0; m < 32; m++) o |= static_cast<uint64_t>((v >> m) & 1u) << (63 - m);
  return o;
}
struct FoldConstants {
  uint64_t lo, hi;  // multipliers of a lane's first and second 8 bytes
};
constexpr FoldConstants Fold(uint32_t bits) { return {Reflect64(XPowModP(bits + 63)), Reflect64(XPowModP(bits - 1))}; }
constexpr FoldConstants kFold128 = Fold(128), kFold512 = Fold(512), kFold2048 = Fold(2048);

bool HaveFold() {
  static const bool have = [] {
    __builtin_cpu_init();
    return CrcCap() >= 2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("vpclmulqdq") &&
           __builtin_cpu_supports("sse4.2");
  }();
  return have;
}

#define PP_FOLD_TARGET __attribute__((target("avx512f,vpclmulqdq,pclmul,sse4.2")))

PP_FOLD_TARGET inline __m512i Lanes4(FoldConstants k) {  // the pair in each 128-bit lane
  const long long lo = static_cast<long long>(k.lo), hi = static_cast<long long>(k.hi);
  return _mm512_set_epi64(hi, lo, hi, lo, hi, lo, hi, lo);
}
PP_FOLD_TARGET inline __m512i Fold4(__m512i x, __m512i k) {
  return _mm512_xor_si512(_mm512_clmulepi64_epi128(x, k, 0x00), _mm512_clmulepi64_epi128(x, k, 0x11));
}
PP_FOLD_TARGET inline __m128i Fold1(__m128i x, __m128i k) {
  return _mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00), _mm_clmulepi64_si128(x, k, 0x11));
}

// Raw CRC register `c` carried over the first floor(n / 256) * 256 bytes of p (n >= 256).
PP_FOLD_TARGET uint32_t CrcFold(uint32_t c, const uint8_t* p, size_t n) {
  const __m512i k2048 = Lanes4(kFold2048), k512 = Lanes4(kFold512);
  const __m128i k128 = _mm_set_epi64x(static_cast<long long>(kFold128.hi), static_cast<long long>(kFold128.lo));
  __m512i x0 = _mm512_loadu_si512(p), x1 = _mm512_loadu_si512(p + 64);
  __m512i x2 = _mm512_loadu_si512(p + 128), x3 = _mm512_loadu_si512(p + 192);
  x0 = _mm512_xor_si512(
      x0, _mm512_zextsi128_si512(_mm_cvtsi32_si128(static_cast<int>(c))));  // the register enters as the first 4 bytes
  const size_t end = n & ~size_t{255};
  for (size_t at = 256; at < end; at += 256) {  // four independent chains, 2048 bits apart
    x0 = _mm512_xor_si512(Fold4(x0, k2048), _mm512_loadu_si512(p + at));
    x1 = _mm512_xor_si512(Fold4(x1, k2048), _mm512_loadu_si512(p + at + 64));
    x2 = _mm512_xor_si512(Fold4(x2, k2048), _mm512_loadu_si512(p + at + 128));
    x3 = _mm512_xor_si512(Fold4(x3, k2048), _mm512_loadu_si512(p + at + 192));
  }
  x1 = _mm512_xor_si512(x1, Fold4(x0, k512));
  x2 = _mm512_xor_si512(x2, Fold4(x1, k512));
  x3 = _mm512_xor_si512(x3, Fold4(x2, k512));
  alignas(64) uint8_t last[64];
  _mm512_store_si512(last, x3);
  __m128i a = _mm_load_si128(reinterpret_cast<const __m128i*>(last));
  for (int lane = 1; lane < 4; lane++)
    a = _mm_xor_si128(Fold1(a, k128), _mm_load_si128(reinterpret_cast<const __m128i*>(last + 16 * lane)));
  uint64_t r = _mm_crc32_u64(0, static_cast<uint64_t>(_mm_cvtsi128_si64(a)));
  return static_cast<uint32_t>(_mm_crc32_u64(r, static_cast<uint64_t>(_mm_extract_epi64(a, 1))));
}
#endif

inline uint32_t CrcRaw(uint32_t c, const uint8_t* p, size_t n) {
#ifdef PP_X86
  if (n >= 256 && HaveFold()) {
    const size_t folded = n & ~size_t{255};
    return CrcHw(CrcFold(c, p, n), p + folded, n - folded);
  }
  if (HaveSse42()) return CrcHw(c, p, n);
#endif
  return CrcSoft(c, p, n);
}

}  // namespace

uint32_t Crc32c(const uint8_t* buf, size_t len, uint32_t seed) { return ~CrcRaw(~seed, buf, len); }

void Crc32cPages(const uint8_t* base, size_t stride, size_t len, const uint16_t* idx, size_t count, uint32_t* out) {
  size_t k = 0;
#ifdef PP_X86
  if (HaveFold() && len % 256 == 0) {  // page sizes are powers of two >= 512
    for (; k < count; k++) out[k] = ~CrcFold(~0u, base + idx[k] * stride, len);
    return;
  }
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
  for (size_t left = len; left;) {
    size_t m = left < 512 ? left : 512;
    c = Crc32c(zeros, m, c);
    left -= m;
  }
  return c;
}

}  // namespace pp
