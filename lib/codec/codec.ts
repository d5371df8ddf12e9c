/**
 * The codec ops table (cf. QEMU's MultiFDMethods): one object per compression method,
 * registered by the id it carries in a frame header. Codecs run where the bytes are: in
 * a worker thread, synchronously, on caller-owned buffers. They never size an output
 * from their own input: `dst` is always sized by the caller from OUR frame header.
 */

export type { CodecName } from './registry';

/** What an encoder knows of an image it hands to a codec. */
export interface CompressHint {
  /**
   * True for a dense image (every page in place, zero and repeated pages included): long
   * matches are plentiful and cheap to find. False for a compact one (only literal pages):
   * what is left is harder data, where a larger match finder pays.
   */
  dense?: boolean;
}

/**
 * What a codec makes of guest pages, as the predictor (lib/predict) prices a migration
 * with when nothing was measured on the guest itself: medians of `npm run predict-eval`.
 */
export interface CodecEstimate {
  /** Wire bytes per page of the first, full pass. */
  firstBytesPerPage: number;
  /** Wire bytes per re-sent page whose last copy is in the page cache (UNCHANGED/DELTA). */
  resentHitBytesPerPage: number;
  /** Wire bytes per re-sent page not in the cache (sent whole, compressed). */
  resentMissBytesPerPage: number;
  /** Pages per second the sender's encoder gets through, all its threads together. */
  encodePagesPerSec: number;
  /** The same for re-sent cached pages (deltas encode faster), when measured. */
  resentEncodePagesPerSec?: number;
  /** Pages per second the receiver's decoder gets through, all its threads together. */
  decodePagesPerSec: number;
}

/**
 * One compression method. Every member is implemented by every codec. `N` is its name as
 * a literal type, from which the registry derives {@link CodecName}.
 */
export interface Codec<N extends string = string> {
  /** Value of the codec field in a frame header (docs/FORMAT.md 2.4). */
  readonly id: number;
  /** Name used in options, the CLI and reports. */
  readonly name: N;
  /** One line for help texts: what the body is, and which library makes it. */
  readonly description: string;
  /**
   * Built-in figures for the predictor, or null when the codec was never measured: the
   * predictor's `--codec` then does not offer it (a measured `--profile` still works).
   */
  readonly estimate: CodecEstimate | null;
  /** Accepted levels; `level` arguments are clamped by the caller to this range. */
  readonly levels: { readonly min: number; readonly max: number; readonly default: number };
  /** Worst-case encoded length for `rawLength` input bytes. */
  bound(rawLength: number): number;
  /**
   * Compresses `src` into `dst` (at least bound(src.length) bytes); returns bytes written.
   * Called in a worker thread (or for tiny inputs on the main thread). `hint` says what the
   * caller knows of `src`; a codec may tune for it, never change its output format.
   */
  compress(src: Uint8Array, dst: Uint8Array, level: number, hint?: CompressHint): number;
  /**
   * Decompresses `src` so that it fills `dst` exactly.
   * @throws PagepressError PP_ERR_CODEC when the data is corrupt or its length differs from dst.length.
   */
  decompress(src: Uint8Array, dst: Uint8Array): void;
}
