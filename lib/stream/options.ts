/** Options shared by encoders and decoders, validated in one place (cf. zlib's checkRangesOrGetDefault). */
import { defaultThreads } from './threads';
import { MAX_LONG_WINDOW_LOG, MIN_LONG_WINDOW_LOG } from '../codec/long-range';
import { ErrorCodes, PagepressError } from '../errors';
import { CODEC_CHOICES, CodecChoice, codecsByName } from '../codec/registry';
import { DEFAULT_BATCH_PAGES, DEFAULT_PAGE_SIZE, isValidPageSize, MAX_BATCH_PAGES, MAX_CACHE_BYTES, MAX_CACHE_SLOTS } from '../format/constants';

/** Options of an encoder (stream, file or batch API). */
export interface EncoderOptions {
  /** Codec: 'zstd' (default), 'lz4', 'deflate', 'none' or 'auto' (chosen per batch). */
  codec?: CodecChoice;
  /** Codec level; default: the codec's default (zstd 1, deflate 1). */
  level?: number;
  /** Worker threads, 1..64; default: available parallelism. */
  threads?: number;
  /** Page size in bytes, power of two 512..65536; default 4096. */
  pageSize?: number;
  /** Pages per batch, 1..4096; default 1024. */
  batchPages?: number;
  /** Page-cache slots for UNCHANGED/DELTA pages (0..2^22); default 0 for byte streams. */
  cacheSlots?: number;
  /** Batches in flight (slots of the window); default 2 x threads + 2. */
  window?: number;
  /** Idle time after which a partial batch is flushed, in ms; default 2. */
  flushDelayMs?: number;
  /**
   * The stream id written into the stream header (docs/FORMAT.md 2.1); every frame's header
   * CRC depends on it, so frames of two streams cannot be mixed. Default: random for
   * streams, 0n for the batch API (BatchEncoder, SyncBatchCodec), whose decoder is built
   * from the same options.
   */
  streamId?: bigint;
  /**
   * Long-range matching (docs/FORMAT.md 2.9): the log2 window (20..30) of one zstd stream
   * with long-distance matching that every frame is a block of, so content repeated up to
   * that far back in the stream is a match. 0 (default) = off: frames are independent and
   * compressed in parallel; on, one worker compresses every frame in order, and a decoder
   * needs a window of that size.
   */
  longWindowLog?: number;
}

/** Options of a decoder. */
export interface DecoderOptions {
  /** Worker threads, 1..64; default: available parallelism. */
  threads?: number;
  /**
   * Batches in flight; default 2 x threads, at least 4. (Fewer than the encoder: a
   * decoder writing a file releases each slot as soon as its batch is written, and every
   * slot is memory touched and given back once per run: 8.4 MiB at the default batch.)
   */
  window?: number;
}

/** Encoder options with every default filled in (streamId: null = the encoder's default). */
export type ResolvedEncoderOptions = Required<Omit<EncoderOptions, 'streamId'>> & { streamId: bigint | null };

function intOption(name: string, value: number | undefined, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new PagepressError(`options.${name} must be an integer in ${min}..${max}, got ${String(value)}`, ErrorCodes.ARG);
  }
  return value;
}

function longWindowLogOption(w: number | undefined): number {
  if (w === undefined || w === 0) return 0;
  if (!Number.isInteger(w) || w < MIN_LONG_WINDOW_LOG || w > MAX_LONG_WINDOW_LOG) {
    throw new PagepressError(`options.longWindowLog must be 0 (off) or an integer in ${MIN_LONG_WINDOW_LOG}..${MAX_LONG_WINDOW_LOG}, got ${String(w)}`, ErrorCodes.ARG);
  }
  return w;
}

function streamIdOption(id: bigint | undefined): bigint | null {
  if (id === undefined) return null;
  if (typeof id !== 'bigint' || id < 0n || id >= 1n << 64n) throw new PagepressError(`options.streamId must be a bigint in 0..2^64-1, got ${String(id)}`, ErrorCodes.ARG);
  return id;
}

/** Validates encoder options and fills defaults. @throws PagepressError PP_ERR_ARG naming the option. */
export function resolveEncoderOptions(o: EncoderOptions = {}): ResolvedEncoderOptions {
  const codec = o.codec ?? 'zstd';
  if (!CODEC_CHOICES.includes(codec)) {
    throw new PagepressError(`options.codec must be one of ${CODEC_CHOICES.join(', ')}, got ${String(codec)}`, ErrorCodes.ARG);
  }
  const ops = codecsByName.get(codec === 'auto' ? 'zstd' : codec)!;
  const level = intOption('level', o.level, ops.levels.min, ops.levels.max, ops.levels.default);
  const threads = intOption('threads', o.threads, 1, 64, defaultThreads());
  const pageSize = intOption('pageSize', o.pageSize, 512, 65536, DEFAULT_PAGE_SIZE);
  if (!isValidPageSize(pageSize)) throw new PagepressError(`options.pageSize must be a power of two in 512..65536, got ${pageSize}`, ErrorCodes.ARG);
  const cacheSlots = intOption('cacheSlots', o.cacheSlots, 0, MAX_CACHE_SLOTS, 0);
  if (64 + cacheSlots * (8 + pageSize) > MAX_CACHE_BYTES) {
    throw new PagepressError(`options.cacheSlots: ${cacheSlots} slots of ${pageSize} bytes exceed the page-cache limit of ${MAX_CACHE_BYTES} bytes`, ErrorCodes.ARG);
  }
  const longWindowLog = longWindowLogOption(o.longWindowLog);
  if (longWindowLog > 0 && codec !== 'zstd' && codec !== 'auto') {
    throw new PagepressError(`options.longWindowLog needs codec zstd (or auto, which then means zstd), got ${codec}`, ErrorCodes.ARG);
  }
  return {
    codec,
    level,
    threads,
    pageSize,
    batchPages: intOption('batchPages', o.batchPages, 1, MAX_BATCH_PAGES, DEFAULT_BATCH_PAGES),
    cacheSlots,
    window: intOption('window', o.window, 2, 256, 2 * threads + 2),
    flushDelayMs: intOption('flushDelayMs', o.flushDelayMs, 0, 60000, 2),
    streamId: streamIdOption(o.streamId),
    longWindowLog,
  };
}

/** Validates decoder options and fills defaults. */
export function resolveDecoderOptions(o: DecoderOptions = {}): Required<DecoderOptions> {
  const threads = intOption('threads', o.threads, 1, 64, defaultThreads());
  return { threads, window: intOption('window', o.window, 2, 256, Math.max(4, 2 * threads)) };
}
