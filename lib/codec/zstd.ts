import type * as ZstdBinding from 'zstd-napi/binding';
import { Codec } from './codec';
import { ErrorCodes, PagepressError } from '../errors';

// Loaded on first use: only worker threads compress, so the main thread (and the CLI's
// start-up time) never pays for it.
let binding: typeof ZstdBinding | undefined;
const zstdBinding = () => (binding ??= require('zstd-napi/binding') as typeof ZstdBinding);

// One context pair per thread, made on first use and reused (cf. qemu multifd-zstd.c):
// a fresh context per batch costs more than compressing a small batch.
let cctx: ZstdBinding.CCtx | undefined;
let cctxLevel = NaN;
let cctxHashLog = NaN;
let dctx: ZstdBinding.DCtx | undefined;

/**
 * Zstandard through zstd-napi's low-level binding, on caller buffers. zstd-napi is
 * synchronous, so this runs in worker threads only (lib/stream/worker.ts).
 */
export const zstd: Codec = {
  id: 3,
  name: 'zstd',
  levels: { min: -7, max: 19, default: 1 },
  // ZSTD_COMPRESSBOUND from zstd.h, so sizing needs no native call.
  bound: (n) => n + Math.floor(n / 256) + (n < 131072 ? Math.floor((131072 - n) / 2048) : 0),
  compress(src, dst, level, hint) {
    const b = zstdBinding();
    if (!cctx) cctx = new b.CCtx();
    // Tuned for 4 MiB batches of memory pages, measured in bench/: a window over the whole
    // batch always (level 1's default is 512 KiB); for compact images, whose pages are all
    // literal, a 32 K-entry hash table instead of level 1's 16 K (+1 % ratio on real memory
    // for about 7 % of speed). Dense images keep the default table: their zero and repeated
    // pages are found anyway, and speed matters more there.
    const tuned = level >= 1 && level <= 2;
    const hashLog = tuned && hint?.dense === false ? 15 : 0; // 0 = the level's default
    if (level !== cctxLevel || hashLog !== cctxHashLog) {
      cctx.setParameter(b.CParameter.compressionLevel, level);
      cctx.setParameter(b.CParameter.windowLog, tuned ? 22 : 0);
      cctx.setParameter(b.CParameter.hashLog, hashLog);
      cctxLevel = level;
      cctxHashLog = hashLog;
    }
    return cctx.compress2(dst, src);
  },
  decompress(src, dst) {
    if (!dctx) dctx = new (zstdBinding().DCtx)();
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
