/**
 * The codec ops table (cf. QEMU's MultiFDMethods): one object per compression method,
 * registered by the id it carries in a frame header. Codecs run where the bytes are: in
 * a worker thread, synchronously, on caller-owned buffers. They never size an output
 * from their own input: `dst` is always sized by the caller from OUR frame header.
 */

/** Names of the codecs that can appear on the wire. */
export type CodecName = 'none' | 'deflate' | 'lz4' | 'zstd';

/** What an encoder knows of an image it hands to a codec. */
export interface CompressHint {
  /**
   * True for a dense image (every page in place, zero and repeated pages included): long
   * matches are plentiful and cheap to find. False for a compact one (only literal pages):
   * what is left is harder data, where a larger match finder pays.
   */
  dense?: boolean;
}

/** One compression method. Every member is implemented by every codec. */
export interface Codec {
  /** Value of the codec field in a frame header. */
  readonly id: number;
  /** Name used in options, the CLI and reports. */
  readonly name: CodecName;
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
