import * as binding from 'zstd-napi/binding';
import { Codec } from './codec';
import { ErrorCodes, PagepressError } from '../errors';

// One context pair per thread, made on first use and reused (cf. qemu multifd-zstd.c):
// a fresh context per batch costs more than compressing a small batch.
let cctx: binding.CCtx | undefined;
let cctxLevel = NaN;
let dctx: binding.DCtx | undefined;

/**
 * Zstandard through zstd-napi's low-level binding, on caller buffers. zstd-napi is
 * synchronous, so this runs in worker threads only (lib/stream/worker.ts).
 */
export const zstd: Codec = {
  id: 3,
  name: 'zstd',
  levels: { min: -7, max: 19, default: 1 },
  bound: (rawLength) => binding.compressBound(rawLength),
  compress(src, dst, level) {
    if (!cctx) cctx = new binding.CCtx();
    if (level !== cctxLevel) {
      cctx.setParameter(binding.CParameter.compressionLevel, level);
      cctxLevel = level;
    }
    return cctx.compress2(dst, src);
  },
  decompress(src, dst) {
    if (!dctx) dctx = new binding.DCtx();
    let written: number;
    try {
      // Bounded by dst: ZSTD_decompressDCtx never writes past dst, whatever the frame claims.
      written = dctx.decompress(dst, src);
    } catch (err) {
      throw new PagepressError(`zstd: ${(err as Error).message}`, ErrorCodes.CODEC);
    }
    if (written !== dst.length) {
      throw new PagepressError(`zstd produced ${written} bytes, frame header says ${dst.length}`, ErrorCodes.CODEC);
    }
  },
};
