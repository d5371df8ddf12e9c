/**
 * Constants and limits of the pagepress wire format (docs/FORMAT.md section 2).
 * Every limit here is also enforced natively for the image layer.
 */

/** First four bytes of a stream: 0x89 'P' 'P' 'S' (the high byte catches 7-bit and text-mode damage, as in PNG). */
export const STREAM_MAGIC = 0x53505089; // read as u32le
/**
 * Stream format version written by this release. Version 2 binds every frame to its
 * stream and its place in it (docs/FORMAT.md 2.2); version 1 streams still decode.
 */
export const STREAM_VERSION = 2;
/** The versions this release reads. */
export const READABLE_STREAM_VERSIONS: readonly number[] = [1, 2];
/** Bytes in the stream header (version 2). */
export const STREAM_HEADER_BYTES = 32;
/** Bytes in a version 1 stream header. */
export const STREAM_HEADER_BYTES_V1 = 20;
/** Bytes in every frame header (version 2). */
export const FRAME_HEADER_BYTES = 40;
/** Bytes in a version 1 frame header. */
export const FRAME_HEADER_BYTES_V1 = 24;
/** Bytes in the body of the END frame (version 2). */
export const END_BODY_BYTES = 40;
/** Bytes in the body of a version 1 END frame. */
export const END_BODY_BYTES_V1 = 32;

/**
 * Frame types. VERBATIM frames (Xen streams only) carry bytes that are not guest pages
 * (Xen headers, records, PAGE_DATA pfn arrays); they decode to exactly those bytes.
 */
export const FrameType = { BATCH: 1, END: 2, VERBATIM: 3 } as const;

/** Stream header flags. */
export const StreamFlags = {
  /** Pages are consecutive slices of a byte stream; decoded batches concatenate. */
  RAW: 0x01,
  /**
   * A Xen save/migration stream (docs/XEN.md): VERBATIM frames and BATCH frames of PAGE_DATA
   * page contents keyed by guest pfn; decoded frames concatenate to the original stream.
   */
  XEN: 0x02,
} as const;
/** All flag bits this release understands (exactly one of them is set). */
export const KNOWN_STREAM_FLAGS = StreamFlags.RAW | StreamFlags.XEN;

/** Smallest page size accepted. */
export const MIN_PAGE_SIZE = 512;
/** Largest page size accepted. */
export const MAX_PAGE_SIZE = 65536;
/** Most pages in one batch (one image). */
export const MAX_BATCH_PAGES = 4096;
/** Default pages per batch (1024 x 4 KiB = 4 MiB, the shape the study and Xen use). */
export const DEFAULT_BATCH_PAGES = 1024;
/** Default page size. */
export const DEFAULT_PAGE_SIZE = 4096;
/** Most page-cache slots a stream may ask for (2^22 slots x 4 KiB = 16 GiB: a sanity cap, not a default). */
export const MAX_CACHE_SLOTS = 1 << 22;
/** Largest page cache in bytes (one typed array: 4 GiB - 1). */
export const MAX_CACHE_BYTES = 2 ** 32 - 1;

/** The image layouts version 1 knows (docs/FORMAT.md 1.1); both have the same length. */
export const IMAGE_LAYOUT_V1 = 'payload:B|8 pfn:A(U) kind:A(c)|4 ref:A(u)';
/** The same with a run of pfns (`R(U)`). Dense variants use `payload:P|8`. */
export const IMAGE_LAYOUT_V1_RUN = 'payload:B|8 pfn:R(U) kind:A(c)|4 ref:A(u)';
/** Image header length: 32 bytes + layout string, padded to 8. */
export const IMAGE_HEADER_BYTES = 32 + Math.ceil(IMAGE_LAYOUT_V1.length / 8) * 8;

/** True if `n` is a power of two in the accepted page-size range. */
export function isValidPageSize(n: number): boolean {
  return Number.isInteger(n) && n >= MIN_PAGE_SIZE && n <= MAX_PAGE_SIZE && (n & (n - 1)) === 0;
}

/** Worst-case image length for `pages` pages of `pageSize` (mirrors native imageBound). */
export function imageBound(pages: number, pageSize: number): number {
  return IMAGE_HEADER_BYTES + pages * pageSize + 8 * pages + Math.ceil(pages / 4) * 4 + 4 * pages;
}
