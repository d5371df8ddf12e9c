/**
 * Frame bodies (docs/FORMAT.md 2.2 and 2.6): the one path from an image (or VERBATIM bytes)
 * to a frame, and from a frame body back to the bytes it stands for. The workers, the
 * batch API on the calling thread (SyncBatchCodec) and `inspect` all go through here, so
 * each rule is checked in one place and the same way everywhere.
 */
import { addon, ImageInfo } from '../native';
import { Codec, CompressHint } from '../codec/codec';
import { codecById, none, zstd } from '../codec/registry';
import * as longRange from '../codec/long-range';
import { ErrorCodes, PagepressError } from '../errors';
import { FRAME_HEADER_BYTES, FrameType, IMAGE_HEADER_BYTES, StreamFlags } from './constants';
import { FrameHeader, StreamHeader, writeFrameHeader } from './frame';

/** Where a new frame goes in its stream, and what it holds (the header fields not about the body). */
export interface NewFrame {
  type: typeof FrameType.BATCH | typeof FrameType.VERBATIM;
  /** Pages in the batch (0 for VERBATIM). */
  pages: number;
  /** Bytes the frame decodes to. */
  outLength: number;
  /** Frames before it in its stream. */
  seq: number;
  /** Decoded bytes before it. */
  outOffset: number;
  /** frameSeed() of its stream. */
  seed: number;
  /** The stream's long-range window log (docs/FORMAT.md 2.9), or 0: then `codec` compresses the frame alone. */
  longWindowLog?: number;
}

/** A frame written by writeFrame. */
export interface WrittenFrame {
  /** Frame length: header + body. */
  length: number;
  /** Wire codec id used (`none` when the codec did not make the body smaller). */
  codec: number;
  /** The frame's digest (streamDigest): the image checksum, or the CRC32C of VERBATIM bytes. */
  digest: number;
}

/** The image checksum field (docs/FORMAT.md 1.1, offset 24) of an image the native encoder wrote. */
function imageChecksum(image: Uint8Array): number {
  return (image[24] | (image[25] << 8) | (image[26] << 16) | (image[27] << 24)) >>> 0;
}

/**
 * Writes one frame at `out`: `src` compressed with `codec` into the body (or stored with
 * `none` when that does not make it smaller; `src` may already lie at the body's place),
 * then the header. `out` holds at least FRAME_HEADER_BYTES + codec.bound(src.length) bytes.
 */
export function writeFrame(out: Uint8Array, src: Uint8Array, codec: Codec, level: number, frame: NewFrame, hint?: CompressHint): WrittenFrame {
  const body = out.subarray(FRAME_HEADER_BYTES);
  let used = codec;
  let bodyLength = src.length;
  const long = frame.longWindowLog ?? 0;
  if (long > 0) {
    // The next block of the stream's one zstd stream; never stored instead (its bytes are in the window now).
    used = zstd;
    bodyLength = longRange.compressNext(src, body, level, long);
  } else if (codec !== none) bodyLength = codec.compress(src, body, level, hint);
  if (long === 0 && (codec === none || bodyLength >= src.length)) {
    const inPlace = src.buffer === body.buffer && src.byteOffset === body.byteOffset;
    if (!inPlace) body.set(src);
    bodyLength = src.length;
    used = none;
  }
  writeFrameHeader(
    out,
    0,
    {
      type: frame.type,
      codec: used.id,
      flags: 0,
      rawLength: src.length,
      bodyLength,
      pages: frame.pages,
      outLength: frame.outLength,
      seq: frame.seq,
      outOffset: frame.outOffset,
      bodyCrc: addon.crc32c(body.subarray(0, bodyLength)),
    },
    frame.seed,
  );
  const digest = frame.type === FrameType.BATCH ? imageChecksum(src) : addon.crc32c(src);
  return { length: FRAME_HEADER_BYTES + bodyLength, codec: used.id, digest };
}

/** What decodeFrameBody needs besides the frame. */
export interface BodyDecodeArgs {
  stream: StreamHeader;
  /** The frame's header, validated (decodeFrameHeader) and in its place (checkFramePlace). */
  header: FrameHeader;
  /** The frame body as on the wire. */
  body: Uint8Array;
  /** Where the decoded bytes go: at least batchPages x pageSize bytes (VERBATIM: rawLength). */
  out: Uint8Array;
  /**
   * IMAGE_HEADER_BYTES + out.length bytes that end where `out` ends (the image header's room
   * just before `out`), for a decode in place: the image is decompressed there and its
   * pages are expanded where they lie (no cache only). Omit to decompress into `scratch`.
   */
  inPlaceArea?: Uint8Array | null;
  /** Room for one image (imageBound of the stream's batch) when not decoding in place. */
  scratch: Uint8Array;
  /** The stream's page cache (its frames must come in stream order), or null. */
  cache: Uint8Array | null;
  /** Receives the page counts by kind (lib/native.ts Stat). */
  stats: Uint32Array;
  /** Version 1 byte streams: the pfn the batch's first page must have (its page index in the stream), else -1. */
  firstPfn?: number;
  /** Fills this with the batch's pfns. */
  pfns?: Float64Array | null;
  /** Leave ZERO pages unwritten in `out` (a file writer makes holes of them). */
  zeroPagesAsHoles?: boolean;
  /** Runs the cache-touching decode (the page cache's turn-taking); default: at once. */
  inTurn?: <T>(fn: () => T) => T;
  /** Called with the validated image before its pages are reconstructed (an in-place decode overwrites it). */
  beforeDecode?: (image: Uint8Array, info: ImageInfo) => void;
}

/** A decoded frame body. */
export interface DecodedBody {
  /** Decoded bytes, at the start of `out`. */
  length: number;
  /** Wire codec id of the body. */
  codec: number;
  /** The frame's digest (see WrittenFrame.digest), verified. */
  digest: number;
  /** The image header (BATCH frames). */
  info: ImageInfo | null;
}

function bodyError(message: string, code: (typeof ErrorCodes)[keyof typeof ErrorCodes], offset?: number, record = 'batch image'): PagepressError {
  return new PagepressError(message, code, { offset, record });
}

/** Undoes the codec of `body` into `dst` (exactly dst.length bytes); a long-range stream's blocks go through its one context. */
function unpack(codec: Codec, body: Uint8Array, dst: Uint8Array, longWindowLog = 0): void {
  if (longWindowLog > 0) return longRange.decompressNext(body, dst, longWindowLog);
  if (codec !== none) return codec.decompress(body, dst);
  if (body.length !== dst.length) throw bodyError(`stored body is ${body.length} bytes, frame header says ${dst.length}`, ErrorCodes.FORMAT, undefined, 'frame body');
  dst.set(body);
}

/**
 * Checks and decodes one frame body: its CRC, its codec, then (BATCH) the image against the
 * frame and stream headers (page count, page size, decoded length, and for version 1 byte
 * streams the first pfn), all before a page is written; then the pages, the page cache and
 * the image checksum (native). Errors carry offsets inside the image; the caller adds the
 * frame's place.
 */
export function decodeFrameBody(a: BodyDecodeArgs): DecodedBody {
  const h = a.header;
  const crc = addon.crc32c(a.body);
  if (crc !== h.bodyCrc) {
    throw bodyError(`body checksum 0x${h.bodyCrc.toString(16)} does not match computed 0x${crc.toString(16)}`, ErrorCodes.CHECKSUM, undefined, 'frame body');
  }
  const codec = codecById(h.codec);
  if (h.type === FrameType.VERBATIM) {
    const out = a.out.subarray(0, h.rawLength);
    unpack(codec, a.body, out, a.stream.longWindowLog);
    return { length: h.rawLength, codec: codec.id, digest: addon.crc32c(out), info: null };
  }
  // Without a cache, decompress the image to (out - header length): the native decoder
  // then expands the pages in place instead of copying the payload (docs/FORMAT.md 1.2).
  const area = a.inPlaceArea;
  const inPlace = !!area && codec !== none && !a.cache && h.rawLength <= area.length;
  let image: Uint8Array;
  if (inPlace) image = area.subarray(0, h.rawLength);
  else if (codec === none) image = a.body;
  else image = a.scratch.subarray(0, h.rawLength);
  if (image !== a.body) unpack(codec, a.body, image, a.stream.longWindowLog);
  const info = addon.imageInfo(image);
  const s = a.stream;
  if (info.imageLength !== h.rawLength) {
    throw bodyError(`image header says ${info.imageLength} bytes, frame header ${h.rawLength}`, info.imageLength < h.rawLength ? ErrorCodes.TRAILING : ErrorCodes.TRUNCATED, 20);
  }
  if (info.pageCount !== h.pages) throw bodyError(`image holds ${info.pageCount} pages, frame header says ${h.pages}`, ErrorCodes.FORMAT, 12);
  if (info.pageSize !== s.pageSize) throw bodyError(`image page size ${info.pageSize} differs from the stream header's ${s.pageSize}`, ErrorCodes.FORMAT, 8);
  if (h.outLength >= 0 && info.byteLength !== h.outLength) {
    throw bodyError(`image decodes to ${info.byteLength} bytes, frame header says ${h.outLength}`, ErrorCodes.FORMAT, 16);
  }
  if (info.byteLength > a.out.length) throw bodyError(`image decodes to ${info.byteLength} bytes, more than a batch of this stream`, ErrorCodes.LIMIT, 12);
  if (inPlace && info.headerLength !== IMAGE_HEADER_BYTES) {
    throw bodyError(`image header length ${info.headerLength}, expected ${IMAGE_HEADER_BYTES}`, ErrorCodes.FORMAT, 6);
  }
  if ((a.firstPfn ?? -1) >= 0 && (s.flags & StreamFlags.RAW) !== 0) checkFirstPfn(image, info, a.firstPfn!);
  a.beforeDecode?.(image, info);
  const run = a.inTurn ?? ((fn) => fn());
  const length = run(() => addon.decodeBatchSync({ image, out: a.out, pfns: a.pfns ?? null, cache: a.cache, stats: a.stats, zeroPagesAsHoles: a.zeroPagesAsHoles ?? false, inPlace }));
  return { length, codec: codec.id, digest: info.checksum >>> 0, info };
}

/** Offset of an image's pfn section (docs/FORMAT.md 1.2). */
export function pfnSection(info: ImageInfo): number {
  return info.headerLength + Math.ceil(info.payloadLength / 8) * 8;
}

/**
 * Version 1 byte streams carry no place in their frame headers, but page i of the stream
 * has pfn i (docs/FORMAT.md 2.5): a batch must be the run that starts where the pages
 * before it end, which refuses a frame moved, dropped or repeated.
 */
function checkFirstPfn(image: Uint8Array, info: ImageInfo, firstPfn: number): void {
  const at = pfnSection(info);
  if (at + 8 > image.length) return; // the native decoder reports the short image
  const first = Number(Buffer.from(image.buffer, image.byteOffset + at, 8).readBigUInt64LE(0));
  if (!info.pfnRun || first !== firstPfn) {
    throw bodyError(
      `batch starts at page ${first}${info.pfnRun ? '' : ' (not a run)'}, but ${firstPfn} pages came before it (frames reordered, dropped or repeated)`,
      ErrorCodes.FORMAT,
      at,
      'batch image',
    );
  }
}
