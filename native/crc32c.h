// CRC32C (Castagnoli). Pure functions, callable from any thread.
#pragma once
#include <cstddef>
#include <cstdint>

namespace pp {

// CRC32C of buf continuing from `seed` (a previous result; 0 to start), so
// Crc32c(b, Crc32c(a)) == Crc32c(a ‖ b).
uint32_t Crc32c(const uint8_t* buf, size_t len, uint32_t seed = 0);

// CRC32C (seed 0) of `count` pages of `len` bytes each: page k starts at
// base + idx[k] * stride. With AVX-512 + VPCLMULQDQ each page is folded (four chains of
// carry-less multiplies); with SSE4.2 only, three pages are hashed at once (three
// independent crc32 instruction chains) to hide the instruction's 3-cycle latency.
void Crc32cPages(const uint8_t* base, size_t stride, size_t len, const uint16_t* idx, size_t count, uint32_t* out);

// CRC32C of `len` zero bytes, len a power of two in 512..65536 (cached constants).
uint32_t Crc32cZeroPage(size_t len);

}  // namespace pp
