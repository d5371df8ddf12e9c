import type * as Lz4Napi from 'lz4-napi';
import { Codec } from './codec';
import { ErrorCodes, PagepressError } from '../errors';

// Loaded on first use (worker threads only).
let lz4napi: typeof Lz4Napi | undefined;
// eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy: lz4-napi loads on first use, in worker threads only
const lib = () => (lz4napi ??= require('lz4-napi') as typeof Lz4Napi);

/** Bytes of the size prefix lz4-napi puts before each block (u32le, the decoded length). */
const PREFIX = 4;

/**
 * LZ4 block through lz4-napi (lz4_flex). lz4-napi trusts its size prefix (a 6-byte
 * input claiming 1 GiB allocates 1 GiB), so the prefix is checked against our own frame
 * header before lz4-napi ever sees the bytes.
 */
export const lz4: Codec<'lz4'> = {
  id: 2,
  name: 'lz4',
  description: 'LZ4 block via lz4-napi',
  // Medians of `npm run predict-eval` of 2026-11-26 (lib/predict/relocation.ts says how).
  estimate: { firstBytesPerPage: 1421, resentHitBytesPerPage: 802, resentMissBytesPerPage: 1540, encodePagesPerSec: 127672, resentEncodePagesPerSec: 178726, decodePagesPerSec: 255563 },
  levels: { min: 1, max: 1, default: 1 },
  // lz4_flex's get_maximum_output_size: 16 + 4 + 1.1 * n, plus the prefix.
  bound: (rawLength) => PREFIX + 20 + Math.ceil(rawLength * 1.1),
  compress(src, dst) {
    const out = lib().compressSync(Buffer.from(src.buffer, src.byteOffset, src.length));
    if (out.length > dst.length) {
      throw new PagepressError(`lz4 output ${out.length} exceeds its bound ${dst.length}`, ErrorCodes.CODEC);
    }
    dst.set(out);
    return out.length;
  },
  decompress(src, dst) {
    if (src.length < PREFIX + 1) {
      throw new PagepressError(`lz4 body of ${src.length} bytes is too short`, ErrorCodes.CODEC);
    }
    const claimed = src[0] | (src[1] << 8) | (src[2] << 16) | (src[3] * 0x1000000);
    if (claimed !== dst.length) {
      throw new PagepressError(`lz4 size prefix says ${claimed} bytes, frame header says ${dst.length}`, ErrorCodes.CODEC);
    }
    let out: Buffer;
    try {
      out = lib().uncompressSync(src);
    } catch (err) {
      throw new PagepressError(`lz4: ${(err as Error).message}`, ErrorCodes.CODEC);
    }
    if (out.length !== dst.length) {
      throw new PagepressError(`lz4 produced ${out.length} bytes, frame header says ${dst.length}`, ErrorCodes.CODEC);
    }
    dst.set(out);
  },
};
