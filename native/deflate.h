// Raw deflate / inflate through Node's own zlib (see node_zlib.h). Any thread: each
// thread keeps its own z_streams (thread_local), reset between calls.
#pragma once
#include <cstddef>
#include <cstdint>

#include "status.h"

namespace pp {

// Compresses src into dst at `level` (0..9). *written = bytes in dst.
bool Deflate(const uint8_t* src, size_t srcLen, uint8_t* dst, size_t dstLen, int level, size_t* written, Error* e);
// Inflates src into dst, which must be filled exactly with all of src consumed.
bool Inflate(const uint8_t* src, size_t srcLen, uint8_t* dst, size_t dstLen, Error* e);
// Upper bound of raw deflate output for srcLen bytes.
uint64_t DeflateBound(uint64_t srcLen);

}  // namespace pp
