import type * as ZstdBinding from 'zstd-napi/binding';
import { Codec } from './codec';
import { ErrorCodes, PagepressError } from '../errors';

// Loaded on first use: only worker threads compress, so the main thread (and the CLI's
// start-up time) never pays for it.
let binding: typeof ZstdBinding | undefined;
// eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy: zstd-napi loads on first use, in worker threads only
const zstdBinding = () => (binding ??= require('zstd-napi/binding') as typeof ZstdBinding);

// One context pair per thread, made on first use and reused (cf. qemu multifd-zstd.c):
// a fresh context per batch costs more than compressing a small batch.
let cctx: ZstdBinding.CCtx | undefined;
let cctxLevel = NaN;
let cctxCompact = false;
let dctx: ZstdBinding.DCtx | undefined;

/**
 * Zstandard through zstd-napi's low-level binding, on caller buffers. zstd-napi is
 * synchronous, so this runs in worker threads only (lib/stream/worker.ts).
 */
export const zstd: Codec<'zstd'> = {
  id: 3,
  name: 'zstd',
  description: 'Zstandard via zstd-napi',
  // Medians of `npm run predict-eval` of 2026-11-26 (lib/predict/relocation.ts says how).
  estimate: { firstBytesPerPage: 952, resentHitBytesPerPage: 501, resentMissBytesPerPage: 971, encodePagesPerSec: 137612, resentEncodePagesPerSec: 233542, decodePagesPerSec: 312366 },
  levels: { min: -7, max: 19, default: 1 },
  // ZSTD_COMPRESSBOUND from zstd.h, so sizing needs no native call.
  bound: (n) => n + Math.floor(n / 256) + (n < 131072 ? Math.floor((131072 - n) / 2048) : 0),
  compress(src, dst, level, hint) {
    const b = zstdBinding();
    if (!cctx) cctx = new b.CCtx();
    // Tuned for 4 MiB batches of memory pages, measured in bench/: a window over the whole
    // batch always (level 1's default is 512 KiB); for compact images, whose pages are all
    // literal, matches of 5 bytes rather than 6 with level 1's 16 K-entry hash table (on
    // real memory: -0.8 % bytes for about 3 % of speed; on the zero-heavy image's literal
    // pages: -1.2 % at the same speed; decoding about 5 % slower). Dense images keep the
    // level's defaults: their zero and repeated pages are found anyway, and speed matters
    // more there.
    const tuned = level >= 1 && level <= 2;
    const compact = tuned && hint?.dense === false;
    if (level !== cctxLevel || compact !== cctxCompact) {
      cctx.setParameter(b.CParameter.compressionLevel, level);
      cctx.setParameter(b.CParameter.windowLog, tuned ? 22 : 0);
      cctx.setParameter(b.CParameter.hashLog, compact ? 14 : 0); // 0 = the level's default
      cctx.setParameter(b.CParameter.minMatch, compact ? 5 : 0);
      cctxLevel = level;
      cctxCompact = compact;
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
