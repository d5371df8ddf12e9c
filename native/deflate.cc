#include "deflate.h"

#include <climits>
#include <cstring>

#include "node_zlib.h"

namespace pp {
namespace {

constexpr int kWindowBits = -15;  // raw deflate: no zlib header or adler32
constexpr int kMemLevel = 8;

// One deflate and one inflate stream per thread, created on first use and kept, so
// repeated calls cost a reset instead of an init (deflateInit allocates ~256 KiB).
struct Streams {
  z_stream def{}, inf{};
  bool defReady = false, infReady = false;
  int level = -1;
  ~Streams() {
    if (defReady) deflateEnd(&def);
    if (infReady) inflateEnd(&inf);
  }
};
thread_local Streams t_streams;

}  // namespace

bool Deflate(const uint8_t* src, size_t srcLen, uint8_t* dst, size_t dstLen, int level, size_t* written, Error* e) {
  if (level < 0 || level > 9) return Fail(e, Status::ARG, -1, -1, "deflate level %d, expected 0..9", level);
  if (srcLen > UINT_MAX || dstLen > UINT_MAX)
    return Fail(e, Status::ARG, -1, -1, "deflate input of %zu bytes exceeds the limit 4 GiB", srcLen);
  Streams& s = t_streams;
  z_stream& z = s.def;
  if (s.defReady && s.level != level) {  // level fixed at init: start over
    deflateEnd(&z);
    s.defReady = false;
  }
  if (!s.defReady) {
    z = z_stream{};
    if (deflateInit2(&z, level, Z_DEFLATED, kWindowBits, kMemLevel, Z_DEFAULT_STRATEGY) != Z_OK)
      return Fail(e, Status::CODEC, -1, -1, "deflateInit2 failed (out of memory?)");
    s.defReady = true;
    s.level = level;
  } else {
    deflateReset(&z);
  }
  uint8_t dummy;
  z.next_in = const_cast<Bytef*>(src ? src : &dummy);
  z.avail_in = static_cast<uInt>(srcLen);
  z.next_out = dst ? dst : &dummy;
  z.avail_out = static_cast<uInt>(dstLen);
  int rc = deflate(&z, Z_FINISH);
  if (rc != Z_STREAM_END) {
    deflateEnd(&z);  // a half-finished stream: drop it, the next call re-inits
    s.defReady = false;
    if (rc == Z_OK || rc == Z_BUF_ERROR)
      return Fail(e, Status::ARG, -1, -1, "deflate output does not fit in dst of %zu bytes (use deflateBound(%zu))",
                  dstLen, srcLen);
    return Fail(e, Status::CODEC, -1, -1, "deflate failed with zlib error %d", rc);
  }
  *written = dstLen - z.avail_out;
  return true;
}

bool Inflate(const uint8_t* src, size_t srcLen, uint8_t* dst, size_t dstLen, Error* e) {
  if (srcLen > UINT_MAX || dstLen > UINT_MAX)
    return Fail(e, Status::ARG, -1, -1, "inflate buffers over 4 GiB are not supported");
  Streams& s = t_streams;
  z_stream& z = s.inf;
  if (!s.infReady) {
    z = z_stream{};
    if (inflateInit2(&z, kWindowBits) != Z_OK)
      return Fail(e, Status::CODEC, -1, -1, "inflateInit2 failed (out of memory?)");
    s.infReady = true;
  } else {
    inflateReset(&z);
  }
  uint8_t dummy;
  z.next_in = const_cast<Bytef*>(src ? src : &dummy);
  z.avail_in = static_cast<uInt>(srcLen);
  z.next_out = dst ? dst : &dummy;  // avail_out bounds every write: never past dst
  z.avail_out = static_cast<uInt>(dstLen);
  int rc = inflate(&z, Z_FINISH);
  const size_t produced = dstLen - z.avail_out, consumed = srcLen - z.avail_in;
  if (rc == Z_STREAM_END) {
    if (z.avail_out != 0)
      return Fail(e, Status::CODEC, -1, -1, "deflate data ended after %zu bytes, expected %zu", produced, dstLen);
    if (z.avail_in != 0)
      return Fail(e, Status::CODEC, static_cast<int64_t>(consumed), -1,
                  "deflate data has %zu bytes after its end at offset %zu", srcLen - consumed, consumed);
    return true;
  }
  if (rc == Z_DATA_ERROR)
    return Fail(e, Status::CODEC, static_cast<int64_t>(consumed), -1, "invalid deflate data near offset %zu: %s",
                consumed, z.msg ? z.msg : "corrupt");
  if (z.avail_out == 0)
    return Fail(e, Status::CODEC, -1, -1, "deflate data decodes to more than the expected %zu bytes", dstLen);
  if (rc == Z_BUF_ERROR || rc == Z_OK)
    return Fail(e, Status::CODEC, static_cast<int64_t>(srcLen), -1,
                "deflate data of %zu bytes is truncated: it ended after producing %zu of %zu bytes", srcLen, produced,
                dstLen);
  return Fail(e, Status::CODEC, -1, -1, "inflate failed with zlib error %d", rc);
}

uint64_t DeflateBound(uint64_t n) {
  // With no stream zlib returns its most conservative bound (any level, any window,
  // zlib wrapper included), which also covers our raw streams at every level.
  return deflateBound(nullptr, static_cast<uLong>(n));
}

}  // namespace pp
