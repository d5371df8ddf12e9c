/**
 * The native addon (native/*.cc), loaded once per thread. Thin: bytes in caller-owned
 * buffers, one call per batch. Sync functions are for worker threads and small inputs;
 * the async ones run on the libuv pool and are what main-thread callers use.
 */
import * as path from 'node:path';
import { PagepressError, ErrorCodes } from './errors';

/** Page kinds as stored in an image's kind section (docs/FORMAT.md 1.3). */
export const PageKind = { ZERO: 0, LITERAL: 1, DUP: 2, UNCHANGED: 3, DELTA: 4 } as const;

/** Indexes into the `stats` Uint32Array that encode/decode fill in. */
export const Stat = { ZERO: 0, LITERAL: 1, DUP: 2, UNCHANGED: 3, DELTA: 4, PAYLOAD: 5, LENGTH: 6 } as const;
/** Length of a stats array. */
export const STATS_LENGTH = 8;

/** Arguments of encodeBatch / encodeBatchSync. */
export interface EncodeArgs {
  /** `n` pages back to back; the last may be short (byteLength not a multiple of pageSize). */
  pages: Uint8Array;
  /** pfn of each page, or null for consecutive pfns starting at `pfnBase`. */
  pfns: Float64Array | null;
  /** First pfn when `pfns` is null. */
  pfnBase: number;
  /** Page size in bytes: power of two, 512..65536. */
  pageSize: number;
  /** Destination of the image; at least imageBound(n, pageSize) bytes. */
  out: Uint8Array;
  /** Page cache region (cacheBytes(slots, pageSize), initialised by cacheInit) or null. */
  cache: Uint8Array | null;
  /** Receives per-kind page counts, payload and image length (indexes: {@link Stat}). */
  stats: Uint32Array;
  /**
   * `pages` lies inside `out`, headerLength (80) bytes after its start: the image is built
   * around the pages without copying them (dense layout when few pages can be left out
   * and there is no cache). Default false.
   */
  inPlace?: boolean;
  /**
   * `pages` lies elsewhere and there is no cache: write the dense layout too when few
   * pages can be left out, as inPlace does (one block copy); otherwise copy only the
   * payload pages. Without it such an image is always compact. Default false.
   */
  mayBeDense?: boolean;
}

/** Arguments of decodeBatch / decodeBatchSync. */
export interface DecodeArgs {
  /** One complete image. */
  image: Uint8Array;
  /** Destination: the pages back to back, at least (n-1)*P + T bytes. */
  out: Uint8Array;
  /** Optional destination of the pfns (at least n entries). */
  pfns: Float64Array | null;
  /** The decoder's page cache (same slot count as the encoder's) or null. */
  cache: Uint8Array | null;
  /** Receives per-kind counts; LENGTH = bytes written to `out`. */
  stats: Uint32Array;
  /** Leave ZERO pages unwritten in `out` (they become holes in a sparse file). Default false. */
  zeroPagesAsHoles?: boolean;
  /**
   * The image lies inside `out`, headerLength bytes before it (it was decompressed there):
   * pages are expanded in place without copying the payload. No cache. Default false.
   */
  inPlace?: boolean;
}

/** Header fields of an image, after validation. */
export interface ImageInfo {
  pageSize: number;
  pageCount: number;
  tailBytes: number;
  payloadLength: number;
  checksum: number;
  /** Total image length the header implies. */
  imageLength: number;
  /** Decoded byte length: (pageCount-1)*pageSize + tailBytes. */
  byteLength: number;
  /** Header length H: the pfn section starts here. */
  headerLength: number;
  /** True for the layout "pfn:R(U)" (one base pfn, consecutive pages). */
  pfnRun: boolean;
  /** True for the layout "payload:P" (every page at payload + i * pageSize). */
  dense: boolean;
}

/** The addon's exports (native/addon.cc). */
export interface Addon {
  /** Hands the error class to the addon so native errors are PagepressErrors. */
  init(errorClass: typeof PagepressError): void;
  /** CRC32C of `buf`, continuing from `seed` (default 0). */
  crc32c(buf: Uint8Array, seed?: number): number;
  /** Worst-case image size for `pageCount` pages of `pageSize`. */
  imageBound(pageCount: number, pageSize: number): number;
  /** Bytes needed for a page cache of `slots` pages. */
  cacheBytes(slots: number, pageSize: number): number;
  /** Formats a cache region (all slots empty). */
  cacheInit(cache: Uint8Array, pageSize: number): void;
  /**
   * Has the kernel back the empty cache slots that these pages will be stored in, without
   * writing them (Linux MADV_POPULATE_WRITE; a no-op elsewhere), so the page faults happen
   * before the cache's turn, in parallel. Safe to call from any thread at any time.
   */
  cachePrefault(args: { cache: Uint8Array; pfns: Float64Array | null; pfnBase: number; count: number; pageSize: number }): void;
  /**
   * Grows the buffer of the pipe `fd` to `bytes` (Linux F_SETPIPE_SZ, capped by
   * /proc/sys/fs/pipe-max-size unless root); returns its size then, or -1 when `fd` is not
   * a pipe or the platform cannot.
   */
  pipeSize(fd: number, bytes: number): number;
  /** Classifies and serializes one batch; returns the image length. */
  encodeBatchSync(args: EncodeArgs): number;
  /** Async twin of encodeBatchSync (libuv pool); buffers stay referenced until done. */
  encodeBatch(args: EncodeArgs, callback: (err: Error | null, imageLength: number) => void): void;
  /** Parses and validates an image header without touching its sections. */
  imageInfo(image: Uint8Array): ImageInfo;
  /** Validates and reconstructs one image; returns bytes written. */
  decodeBatchSync(args: DecodeArgs): number;
  /** Async twin of decodeBatchSync. */
  decodeBatch(args: DecodeArgs, callback: (err: Error | null, length: number) => void): void;
  /** Raw deflate (Node's own zlib) of `src` into `dst`; returns bytes written. */
  deflateSync(src: Uint8Array, dst: Uint8Array, level: number): number;
  /** Inflates raw deflate `src` into `dst`, which must be filled exactly; returns dst length. */
  inflateSync(src: Uint8Array, dst: Uint8Array): number;
  /** Async twin of deflateSync. */
  deflate(src: Uint8Array, dst: Uint8Array, level: number, callback: (err: Error | null, length: number) => void): void;
  /** Async twin of inflateSync. */
  inflate(src: Uint8Array, dst: Uint8Array, callback: (err: Error | null, length: number) => void): void;
  /** Upper bound of raw deflate output for `length` input bytes. */
  deflateBound(length: number): number;
}

/**
 * The addon files to try, in order. PAGEPRESS_ADDON=<path> names one explicitly, e.g. the
 * sanitizer build (fuzz/asan.sh, docs/HARDENING.md); then no other is tried, so a test run
 * meant for it cannot silently use the normal build.
 */
function candidates(): string[] {
  const chosen = process.env.PAGEPRESS_ADDON;
  if (chosen) return [path.resolve(chosen)];
  return [path.join(__dirname, '..', '..', 'build', 'Release', 'pagepress.node'), path.join(__dirname, '..', '..', 'build', 'Debug', 'pagepress.node')];
}

function load(): Addon {
  const errors: string[] = [];
  for (const file of candidates()) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const addon = require(file) as Addon;
      addon.init(PagepressError);
      return addon;
    } catch (err) {
      errors.push(`${file}: ${(err as Error).message}`);
    }
  }
  throw new PagepressError(
    `pagepress: the native addon could not be loaded.\n${errors.join('\n')}\n` +
      'Possible solutions:\n' +
      '- rebuild it: `npm rebuild pagepress` (needs python3, make and a C++ compiler)\n' +
      '- with npm 11+, allow its install script: `npm approve-scripts pagepress zstd-napi`',
    ErrorCodes.ADDON,
  );
}

/** The loaded addon of this thread. */
export const addon: Addon = load();
