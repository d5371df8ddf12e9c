// XBZRLE deltas (FORMAT.md 1.5). Input: byte 0 picks the page length (512 << (b % 8)),
// the rest is a delta. XbzrleDecode must agree with a reference decoder written from the
// spec (same verdict, same error offset, same page), whether it only checks or applies.
// The same bytes, read as patches to a page, must round-trip through XbzrleEncode.
#include "harness.h"

namespace {

// FORMAT.md 1.5 read literally: pairs of ULEB128 (<= 3 bytes) zrun, nzrun >= 1, bytes.
bool Reference(const uint8_t* src, size_t d, uint8_t* page, size_t len, size_t* errAt) {
  size_t q = 0, pos = 0;
  auto uleb = [&](size_t* v) {
    size_t r = 0;
    for (int k = 0; k < 3; k++) {
      if (q >= d) {
        *errAt = q;
        return false;
      }
      const uint8_t b = src[q++];
      r |= size_t{b & 0x7Fu} << (7 * k);
      if (!(b & 0x80)) {
        *v = r;
        return true;
      }
    }
    *errAt = q - 3;
    return false;
  };
  while (q < d) {
    const size_t at = q;
    size_t z, nz;
    if (!uleb(&z) || !uleb(&nz)) return false;
    if (nz == 0 || pos + z + nz > len) {
      *errAt = at;
      return false;
    }
    if (nz > d - q) {
      *errAt = q;
      return false;
    }
    memcpy(page + pos + z, src + q, nz);
    pos += z + nz;
    q += nz;
  }
  return true;
}

void Pattern(uint8_t* p, size_t len) {
  for (size_t k = 0; k < len; k++) p[k] = static_cast<uint8_t>(k * 13 + (k >> 8));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t len = size_t{512} << (data[0] % 8);
  std::vector<uint8_t> delta(data + 1, data + size);  // exact size: ASan sees overreads
  const size_t d = delta.size();
  std::vector<uint8_t> page(len), ref(len);
  Pattern(page.data(), len);
  Pattern(ref.data(), len);
  size_t at1 = 0, at2 = 0, atRef = 0;
  const char* why1 = nullptr;
  const char* why2 = nullptr;
  const bool ok1 = pp::XbzrleDecode(delta.data(), d, nullptr, len, &at1, &why1);
  const bool ok2 = pp::XbzrleDecode(delta.data(), d, page.data(), len, &at2, &why2);
  const bool okRef = Reference(delta.data(), d, ref.data(), len, &atRef);
  FUZZ_CHECK(ok1 == ok2 && ok2 == okRef, "check %d, apply %d, reference %d", ok1, ok2, okRef);
  if (!ok1) {
    FUZZ_CHECK(why1 && why2 && at1 == at2 && at1 == atRef && at1 <= d, "error offsets %zu %zu %zu of %zu", at1, at2,
               atRef, d);
  } else {
    FUZZ_CHECK(page == ref, "applied delta differs from the reference");
  }
  // Round trip: the input as (u16 position, u8 value) patches of the pattern page.
  std::vector<uint8_t> old(len), cur(len);
  Pattern(old.data(), len);
  cur = old;
  for (size_t k = 0; k + 3 <= d; k += 3) cur[(delta[k] | delta[k + 1] << 8) % len] = delta[k + 2];
  std::vector<uint8_t> dst(len - 1);
  const size_t dl = pp::XbzrleEncode(old.data(), cur.data(), len, dst.data());
  if (dl == 0) {
    FUZZ_CHECK(old == cur, "encoder says unchanged, pages differ");
  } else if (dl < len) {
    std::vector<uint8_t> back = old;
    size_t at;
    const char* why;
    FUZZ_CHECK(pp::XbzrleDecode(dst.data(), dl, back.data(), len, &at, &why), "encoder's delta refused at %zu: %s", at,
               why);
    FUZZ_CHECK(back == cur, "encoder's delta does not reproduce the page");
  } else {
    FUZZ_CHECK(dl == len, "encoder returned %zu for a %zu-byte page", dl, len);
  }
  return 0;
}
