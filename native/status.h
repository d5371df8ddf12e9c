// Status codes shared by all native code, and the one table that maps them to the
// stable PP_ERR_* strings of lib/errors.ts. Core code (any thread) never throws: it
// fills an Error and returns false; addon.cc turns that into a PagepressError.
#pragma once
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <string>

namespace pp {

enum class Status : uint8_t {
  OK,
  TRUNCATED,
  TRAILING,
  MAGIC,
  VERSION,
  LAYOUT,
  FORMAT,
  LIMIT,
  CHECKSUM,
  CODEC,
  DELTA,
  CACHE_MISS,
  ARG,
};

// Indexed by Status; keep in the same order as the enum.
inline const char* StatusCode(Status s) {
  static const char* const kCodes[] = {
      "PP_OK",         "PP_ERR_TRUNCATED",  "PP_ERR_TRAILING", "PP_ERR_MAGIC",    "PP_ERR_VERSION",
      "PP_ERR_LAYOUT", "PP_ERR_FORMAT",     "PP_ERR_LIMIT",    "PP_ERR_CHECKSUM", "PP_ERR_CODEC",
      "PP_ERR_DELTA",  "PP_ERR_CACHE_MISS", "PP_ERR_ARG",
  };
  return kCodes[static_cast<unsigned>(s)];
}

// A failure: what, where (byte offset in the image, page index; -1 = not applicable).
struct Error {
  Status status = Status::OK;
  std::string message;
  int64_t offset = -1;
  int64_t page = -1;
};

// Fills *e and returns false, so callers can write `return Fail(e, ...);`.
// Allocates only on the error path.
__attribute__((format(printf, 5, 6))) inline bool Fail(Error* e, Status s, int64_t offset, int64_t page,
                                                       const char* fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  e->status = s;
  e->message = buf;
  e->offset = offset;
  e->page = page;
  return false;
}

}  // namespace pp
