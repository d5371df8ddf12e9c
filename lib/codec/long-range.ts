/**
 * Long-range matching across a whole stream (docs/FORMAT.md 2.9): one Zstandard stream
 * with long-distance matching and a large window, fed every frame's image (or VERBATIM
 * bytes) in stream order and flushed at the end of each frame, so each frame body is the
 * block that frame added and decodes given the frames before it. A page repeated 100 MiB
 * further on, or text shifted within a copied file, is a match in that window; a
 * per-batch codec cannot see it.
 *
 * The contexts are per thread (one stream at a time: a worker thread is given one stream,
 * and the encoder and decoder run every long-range frame on the same worker); `reset()`
 * starts a new stream. zstd-napi is synchronous: worker threads (and `inspect`) only.
 */
import type * as ZstdBinding from 'zstd-napi/binding';
import { ErrorCodes, PagepressError } from '../errors';

let binding: typeof ZstdBinding | undefined;
// eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy: zstd-napi loads on first use, in worker threads only
const zstdBinding = () => (binding ??= require('zstd-napi/binding') as typeof ZstdBinding);

/** Smallest and largest window (log2 bytes) a stream may ask for. */
export const MIN_LONG_WINDOW_LOG = 20;
export const MAX_LONG_WINDOW_LOG = 30;
/** The window `--long` picks when given no value: 256 MiB, where the guest corpus's matches end (bench/corpus/README.md). */
export const DEFAULT_LONG_WINDOW_LOG = 28;

let cctx: ZstdBinding.CCtx | null = null;
let cctxKey = '';
let dctx: ZstdBinding.DCtx | null = null;
let dctxWindowLog = 0;
const probe = new Uint8Array(1);

/** Forgets this thread's stream: the next frame starts a new one. */
export function reset(): void {
  cctx = null;
  cctxKey = '';
  dctx = null;
  dctxWindowLog = 0;
}

/**
 * Compresses `src` as the next block of this thread's long-range stream into `dst` (at
 * least zstd's bound of src.length plus a few bytes); returns bytes written. Never falls
 * back to storing: the bytes are in the window now, and the decoder must see them too.
 */
export function compressNext(src: Uint8Array, dst: Uint8Array, level: number, windowLog: number): number {
  const b = zstdBinding();
  const key = `${level}/${windowLog}`;
  if (!cctx || cctxKey !== key) {
    if (cctx) throw new PagepressError(`long-range stream parameters changed within a stream (${cctxKey} -> ${key})`, ErrorCodes.ARG);
    cctx = new b.CCtx();
    cctx.setParameter(b.CParameter.compressionLevel, level);
    cctx.setParameter(b.CParameter.windowLog, windowLog);
    cctx.setParameter(b.CParameter.enableLongDistanceMatching, 1);
    cctxKey = key;
  }
  let written = 0;
  let rest = src;
  for (;;) {
    const [left, produced, consumed] = cctx.compressStream2(dst.subarray(written), rest, b.EndDirective.flush);
    written += produced;
    rest = rest.subarray(consumed);
    if (left === 0 && rest.length === 0) return written;
    if (written >= dst.length) throw new PagepressError(`long-range block of ${src.length} bytes does not fit ${dst.length} bytes`, ErrorCodes.ARG);
  }
}

/**
 * Decodes `src`, the next block of this thread's long-range stream, into exactly `dst`.
 * The window may not exceed `windowLog` (the stream header's): a block that asks for more
 * is refused by zstd itself, as is any block that is not the next one.
 * @throws PagepressError PP_ERR_CODEC when the block is corrupt, out of place, or decodes to another length
 */
export function decompressNext(src: Uint8Array, dst: Uint8Array, windowLog: number): void {
  const b = zstdBinding();
  if (!dctx || dctxWindowLog !== windowLog) {
    dctx = new b.DCtx();
    dctx.setParameter(b.DParameter.windowLogMax, windowLog);
    dctxWindowLog = windowLog;
  }
  let written = 0;
  let rest = src;
  try {
    while (rest.length > 0 && written < dst.length) {
      const [, produced, consumed] = dctx.decompressStream(dst.subarray(written), rest);
      if (produced === 0 && consumed === 0) break;
      written += produced;
      rest = rest.subarray(consumed);
    }
    // A block must end where the frame says: all of it read, nothing more to come out.
    let extra = 0;
    if (rest.length === 0 && written === dst.length) extra = dctx.decompressStream(probe, rest)[1];
    if (rest.length > 0 || written !== dst.length || extra > 0) {
      reset(); // the stream is out of step: nothing after this may decode
      throw new PagepressError(`long-range block decodes to ${written + extra}${rest.length > 0 ? '+' : ''} bytes, frame header says ${dst.length}`, ErrorCodes.CODEC);
    }
  } catch (err) {
    reset();
    if (err instanceof PagepressError) throw err;
    throw new PagepressError(`zstd (long-range stream): ${(err as Error).message}`, ErrorCodes.CODEC);
  }
}
