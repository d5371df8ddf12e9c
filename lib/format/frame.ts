/**
 * The frame layer (docs/FORMAT.md section 2): stream header, BATCH/VERBATIM frames, END frame.
 *
 *   stream  := header frame* end
 *   header  := magic u32 | version u8 | flags u8 | batchPages u16 | pageSize u32 | cacheSlots u32
 *              | streamId u64 | features u32 | crc u32                                    (32 bytes)
 *   frame   := type u8 | codec u8 | flags u16 | rawLength u32 | bodyLength u32 | pages u32
 *              | outLength u32 | seq u32 | outOffset u64 | bodyCrc u32 | crc u32 | body   (40 + body)
 *   end     := frame(type END) with body frames u64 | pages u64 | rawBytes u64 | streamBytes u64
 *              | digest u32 | reserved u32
 *
 * A frame's header CRC is seeded with the stream header's CRC, so a frame of another stream
 * fails it; `seq` and `outOffset` say where the frame belongs and are checked against the
 * running position before its body is read (checkFramePlace). Version 1 (20-byte stream
 * header, 24-byte frame headers without a place, 32-byte END body) still decodes.
 *
 * Everything read here is checked against the limits in constants.ts before any
 * allocation; a violation is a PagepressError carrying the stream offset.
 */
import { randomBytes } from 'node:crypto';
import { addon } from '../native';
import { ErrorCodes, PagepressError } from '../errors';
import {
  END_BODY_BYTES,
  END_BODY_BYTES_V1,
  FRAME_HEADER_BYTES,
  FRAME_HEADER_BYTES_V1,
  FrameType,
  imageBound,
  isValidPageSize,
  KNOWN_STREAM_FLAGS,
  MAX_BATCH_PAGES,
  MAX_CACHE_SLOTS,
  STREAM_HEADER_BYTES,
  STREAM_HEADER_BYTES_V1,
  STREAM_MAGIC,
  STREAM_VERSION,
  StreamFlags,
} from './constants';
import { codecsById, maxBound } from '../codec/registry';
import { MAX_LONG_WINDOW_LOG, MIN_LONG_WINDOW_LOG } from '../codec/long-range';

/** Fields of the stream header. */
export interface StreamHeader {
  version: number;
  flags: number;
  pageSize: number;
  /** Page-cache slots the decoder must keep (0 = no UNCHANGED/DELTA pages). */
  cacheSlots: number;
  /** Most pages any BATCH frame of this stream holds (sizes the decoder's buffers). */
  batchPages: number;
  /** Version 2: a random number that tells this stream's frames from another's (0n in version 1). */
  streamId?: bigint;
  /** The header's CRC32C as read or written: the seed of every frame header CRC (version 2). */
  crc?: number;
  /**
   * Long-range matching (docs/FORMAT.md 2.9): log2 of the window of the one zstd stream that
   * every frame is a block of; 0 (or absent) = off, frames are independent.
   */
  longWindowLog?: number;
}

/** Fields of a frame header. */
export interface FrameHeader {
  type: number;
  codec: number;
  flags: number;
  /** Length of the body once the codec is undone (the image, or the END body). */
  rawLength: number;
  /** Length of the body on the wire. */
  bodyLength: number;
  /** Pages in the batch (0 for END and VERBATIM). */
  pages: number;
  /** Bytes the frame decodes to (0 for END); -1 in version 1, where only decoding tells. */
  outLength: number;
  /** Index of the frame in its stream (for END: the frames before it); -1 in version 1. */
  seq: number;
  /** Decoded bytes of the stream before this frame (for END: all of them); -1 in version 1. */
  outOffset: number;
  /** CRC32C of the body as on the wire. */
  bodyCrc: number;
}

/** Totals carried by the END frame. */
export interface EndTotals {
  frames: number;
  pages: number;
  /** Decoded bytes. */
  rawBytes: number;
  /** Stream bytes before the END frame (header and all BATCH frames). */
  streamBytes: number;
  /** Version 2: the stream digest (streamDigest over every frame's digest, in order); -1 in version 1. */
  digest: number;
}

/** A new random stream id (version 2 stream headers). */
export function randomStreamId(): bigint {
  return randomBytes(8).readBigUInt64LE(0);
}

/** Bytes of a frame header in a stream of this header's version. */
export function frameHeaderBytes(stream: StreamHeader): number {
  return stream.version === 1 ? FRAME_HEADER_BYTES_V1 : FRAME_HEADER_BYTES;
}

/** Bytes of the END body in a stream of this header's version. */
export function endBodyBytes(stream: StreamHeader): number {
  return stream.version === 1 ? END_BODY_BYTES_V1 : END_BODY_BYTES;
}

/** The seed of the frame header CRCs of a stream: its header's CRC (version 2), 0 (version 1). */
export function frameSeed(stream: StreamHeader): number {
  return stream.version === 1 ? 0 : (stream.crc ?? 0);
}

/**
 * The stream digest after one more frame: CRC32C of the frame's digest (u32le), continuing
 * from `digest` (0 before the first frame). A frame's digest is its image checksum (BATCH:
 * every page's CRC32C bound to its pfn, docs/FORMAT.md 1.4) or the CRC32C of its bytes
 * (VERBATIM), so the END digest covers every original byte, in order.
 */
export function streamDigest(digest: number, frameDigest: number): number {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32LE(frameDigest >>> 0, 0);
  return addon.crc32c(b, digest >>> 0);
}

/**
 * Writes a stream header into a new buffer: version 2 (32 bytes) unless `h.version` is 1
 * (20 bytes, for tests of the old format). Sets `h.crc`. `h.streamId` defaults to 0n.
 */
export function encodeStreamHeader(h: StreamHeader): Buffer {
  const v1 = h.version === 1;
  const b = Buffer.alloc(v1 ? STREAM_HEADER_BYTES_V1 : STREAM_HEADER_BYTES);
  b.writeUInt32LE(STREAM_MAGIC, 0);
  b.writeUInt8(v1 ? 1 : STREAM_VERSION, 4);
  b.writeUInt8(h.flags, 5);
  b.writeUInt16LE(h.batchPages, 6);
  b.writeUInt32LE(h.pageSize, 8);
  b.writeUInt32LE(h.cacheSlots, 12);
  if (!v1) {
    b.writeBigUInt64LE(h.streamId ?? 0n, 16);
    b.writeUInt32LE(h.longWindowLog ?? 0, 24); // features: bits 0..7 the long-range window log
  }
  const crcAt = b.length - 4;
  const crc = addon.crc32c(b.subarray(0, crcAt));
  b.writeUInt32LE(crc, crcAt);
  h.crc = crc;
  return b;
}

/**
 * How many bytes the stream header at the start of `b` takes: 20 for version 1, 32 for
 * version 2, by the version byte. For an unknown version: 20 if a version 1 header's CRC
 * matches, else 32 (decodeStreamHeader then reports damage or the unknown version).
 */
export function streamHeaderLength(b: Uint8Array): number {
  if (b.length < 5) return STREAM_HEADER_BYTES_V1;
  if (b[4] === 1) return STREAM_HEADER_BYTES_V1;
  if (b[4] === STREAM_VERSION || b.length < STREAM_HEADER_BYTES_V1) return STREAM_HEADER_BYTES;
  const v = Buffer.from(b.buffer, b.byteOffset, STREAM_HEADER_BYTES_V1);
  return addon.crc32c(v.subarray(0, 16)) === v.readUInt32LE(16) ? STREAM_HEADER_BYTES_V1 : STREAM_HEADER_BYTES;
}

/** Parses and validates the stream header at the start of `b` (streamHeaderLength(b) bytes). */
export function decodeStreamHeader(b: Uint8Array): StreamHeader {
  const where = { record: 'stream header' };
  if (b.length < 4 || Buffer.from(b.buffer, b.byteOffset, 4).readUInt32LE(0) !== STREAM_MAGIC) {
    const got = Buffer.alloc(4);
    got.set(b.subarray(0, 4));
    throw new PagepressError(`not a pagepress stream: magic at offset 0 is 0x${got.readUInt32BE(0).toString(16).padStart(8, '0')}, expected 0x89505053`, ErrorCodes.MAGIC, { offset: 0, ...where });
  }
  const length = streamHeaderLength(b);
  if (b.length < length) {
    throw new PagepressError(`stream header truncated: ${b.length} of ${length} bytes`, ErrorCodes.TRUNCATED, { offset: b.length, ...where });
  }
  const v = Buffer.from(b.buffer, b.byteOffset, length);
  const crcAt = length - 4;
  const crc = addon.crc32c(v.subarray(0, crcAt));
  if (crc !== v.readUInt32LE(crcAt)) {
    throw new PagepressError(`stream header checksum at offset ${crcAt} is 0x${v.readUInt32LE(crcAt).toString(16)}, computed 0x${crc.toString(16)}`, ErrorCodes.CHECKSUM, { offset: crcAt, ...where });
  }
  const version = v.readUInt8(4);
  if (version !== 1 && version !== STREAM_VERSION) {
    throw new PagepressError(`stream version ${version} at offset 4 is not supported (this reader knows versions 1 and ${STREAM_VERSION})`, ErrorCodes.VERSION, { offset: 4, ...where });
  }
  const flags = v.readUInt8(5);
  if (flags & ~KNOWN_STREAM_FLAGS) {
    throw new PagepressError(`unknown stream flags 0x${flags.toString(16)} at offset 5`, ErrorCodes.FORMAT, { offset: 5, ...where });
  }
  if (flags !== StreamFlags.RAW && flags !== StreamFlags.XEN) {
    throw new PagepressError(`stream flags 0x${flags.toString(16)} at offset 5 must set exactly one of RAW (0x1) and XEN (0x2)`, ErrorCodes.FORMAT, { offset: 5, ...where });
  }
  const batchPages = v.readUInt16LE(6);
  if (batchPages < 1 || batchPages > MAX_BATCH_PAGES) {
    throw new PagepressError(`batch size ${batchPages} pages at offset 6 is outside 1..${MAX_BATCH_PAGES}`, ErrorCodes.LIMIT, { offset: 6, ...where });
  }
  const pageSize = v.readUInt32LE(8);
  if (!isValidPageSize(pageSize)) {
    throw new PagepressError(`page size ${pageSize} at offset 8 is not a power of two in 512..65536`, ErrorCodes.FORMAT, { offset: 8, ...where });
  }
  const cacheSlots = v.readUInt32LE(12);
  if (cacheSlots > MAX_CACHE_SLOTS) {
    throw new PagepressError(`page cache of ${cacheSlots} slots at offset 12 exceeds the limit ${MAX_CACHE_SLOTS}`, ErrorCodes.LIMIT, { offset: 12, ...where });
  }
  let streamId = 0n;
  let longWindowLog = 0;
  if (version >= 2) {
    streamId = v.readBigUInt64LE(16);
    const features = v.readUInt32LE(24);
    if (features & ~0xff) {
      throw new PagepressError(`stream features 0x${features.toString(16)} at offset 24 are not known to this reader (only bits 0..7, the long-range window)`, ErrorCodes.FORMAT, {
        offset: 24,
        ...where,
      });
    }
    longWindowLog = features & 0xff;
    if (longWindowLog !== 0 && (longWindowLog < MIN_LONG_WINDOW_LOG || longWindowLog > MAX_LONG_WINDOW_LOG)) {
      throw new PagepressError(`long-range window 2^${longWindowLog} at offset 24 is outside 2^${MIN_LONG_WINDOW_LOG}..2^${MAX_LONG_WINDOW_LOG}`, ErrorCodes.LIMIT, { offset: 24, ...where });
    }
  }
  return { version, flags, pageSize, cacheSlots, batchPages, streamId, crc, longWindowLog };
}

/** What a decoder lets a stream header ask of it (lib/stream/decode-engine.ts DecoderLimits). */
export interface StreamLimits {
  /** Largest batch (batchPages x pageSize), bytes. */
  maxBatchBytes: number;
  /** Largest page cache, bytes. */
  maxCacheBytes: number;
  /** Who enforces them, for the message ("the decoder limit of ..."). */
  who: string;
  /** Name the options that set them in the message (library callers can raise them). */
  nameOptions?: boolean;
}

/**
 * Refuses a stream header that asks for more memory than `limits` allow, before anything
 * is allocated; returns the page cache's size in bytes (0: none). The stream decoder and
 * inspect both call it, so inspect reads every stream the decoder reads.
 */
export function checkStreamLimits(h: StreamHeader, limits: StreamLimits): number {
  const batchBytes = h.batchPages * h.pageSize;
  if (batchBytes > limits.maxBatchBytes) {
    throw new PagepressError(
      `stream batches of ${batchBytes} bytes exceed the ${limits.who} limit of ${limits.maxBatchBytes}${limits.nameOptions ? ' (options.maxBatchBytes)' : ''}`,
      ErrorCodes.LIMIT,
      { offset: 6, record: 'stream header' },
    );
  }
  const cacheBytes = h.cacheSlots > 0 ? addon.cacheBytes(h.cacheSlots, h.pageSize) : 0;
  if (cacheBytes > limits.maxCacheBytes) {
    throw new PagepressError(
      `stream needs a page cache of ${cacheBytes} bytes, above the ${limits.who} limit of ${limits.maxCacheBytes}${limits.nameOptions ? ' (options.maxCacheBytes)' : ''}`,
      ErrorCodes.LIMIT,
      { offset: 12, record: 'stream header' },
    );
  }
  return cacheBytes;
}

/** Writes a version 2 frame header into `dst` at `at`; `seed` is frameSeed() of its stream. */
export function writeFrameHeader(dst: Uint8Array, at: number, h: FrameHeader, seed: number): void {
  const v = Buffer.from(dst.buffer, dst.byteOffset + at, FRAME_HEADER_BYTES);
  v.writeUInt8(h.type, 0);
  v.writeUInt8(h.codec, 1);
  v.writeUInt16LE(h.flags, 2);
  v.writeUInt32LE(h.rawLength, 4);
  v.writeUInt32LE(h.bodyLength, 8);
  v.writeUInt32LE(h.pages, 12);
  v.writeUInt32LE(h.outLength, 16);
  v.writeUInt32LE(h.seq, 20);
  v.writeBigUInt64LE(BigInt(h.outOffset), 24);
  v.writeUInt32LE(h.bodyCrc >>> 0, 32);
  v.writeUInt32LE(addon.crc32c(v.subarray(0, 36), seed >>> 0), 36);
}

/** Reads the fields of a frame header without checking anything (CRC first: decodeFrameHeader). */
function readFrameFields(v: Buffer, version: number): FrameHeader {
  // Bytes 0..15 are the same in both versions; version 1 has no place, and its body CRC at 16.
  const h = { type: v.readUInt8(0), codec: v.readUInt8(1), flags: v.readUInt16LE(2), rawLength: v.readUInt32LE(4), bodyLength: v.readUInt32LE(8), pages: v.readUInt32LE(12) };
  if (version === 1) return { ...h, outLength: -1, seq: -1, outOffset: -1, bodyCrc: v.readUInt32LE(16) };
  return { ...h, outLength: v.readUInt32LE(16), seq: v.readUInt32LE(20), outOffset: Number(v.readBigUInt64LE(24)), bodyCrc: v.readUInt32LE(32) };
}

/**
 * Parses and validates the frame header in `b` (at stream offset `offset`; frameHeaderBytes()
 * long). Checks the header CRC first (seeded with the stream's, so a frame of another stream
 * fails here), then every field against its limit, so that the body length can be trusted
 * for buffering. Where the frame belongs is checkFramePlace's job.
 */
export function decodeFrameHeader(b: Uint8Array, stream: StreamHeader, offset: number, frame: number): FrameHeader {
  const pageSize = stream.pageSize;
  const size = frameHeaderBytes(stream);
  const where = { offset, frame, record: 'frame header' };
  if (b.length < size) {
    throw new PagepressError(`frame ${frame} header at offset ${offset} truncated: ${b.length} of ${size} bytes`, ErrorCodes.TRUNCATED, where);
  }
  const v = Buffer.from(b.buffer, b.byteOffset, size);
  const crc = addon.crc32c(v.subarray(0, size - 4), frameSeed(stream));
  if (crc !== v.readUInt32LE(size - 4)) {
    const why = stream.version === 1 ? '' : ' (the frame is damaged, or belongs to another stream)';
    throw new PagepressError(
      `frame ${frame} header at offset ${offset}: checksum 0x${v.readUInt32LE(size - 4).toString(16)} does not match computed 0x${crc.toString(16)}${why}`,
      ErrorCodes.CHECKSUM,
      where,
    );
  }
  const h = readFrameFields(v, stream.version);
  if (h.flags !== 0) {
    throw new PagepressError(`frame ${frame} at offset ${offset}: flags 0x${h.flags.toString(16)} must be 0`, ErrorCodes.FORMAT, where);
  }
  if (h.type === FrameType.END) {
    const endBytes = endBodyBytes(stream);
    if (h.codec !== 0 || h.rawLength !== endBytes || h.bodyLength !== endBytes || h.pages !== 0 || (stream.version > 1 && h.outLength !== 0)) {
      throw new PagepressError(
        `END frame at offset ${offset}: expected codec 0, lengths ${endBytes}, 0 pages, 0 bytes out; found codec ${h.codec}, lengths ${h.rawLength}/${h.bodyLength}, ${h.pages} pages, ${h.outLength} bytes out`,
        ErrorCodes.FORMAT,
        where,
      );
    }
    return h;
  }
  const verbatim = h.type === FrameType.VERBATIM && (stream.flags & StreamFlags.XEN) !== 0;
  if (h.type !== FrameType.BATCH && !verbatim) {
    const why = h.type === FrameType.VERBATIM ? ' (VERBATIM frames occur only in Xen streams)' : '';
    throw new PagepressError(`frame ${frame} at offset ${offset}: unknown frame type ${h.type}${why}`, ErrorCodes.FORMAT, where);
  }
  const codec = codecsById.get(h.codec);
  if (!codec) {
    throw new PagepressError(`frame ${frame} at offset ${offset}: unknown codec id ${h.codec} (byte ${offset + 1})`, ErrorCodes.FORMAT, where);
  }
  if ((stream.longWindowLog ?? 0) > 0 && codec.name !== 'zstd') {
    throw new PagepressError(`frame ${frame} at offset ${offset}: codec ${codec.name} in a long-range stream, whose frames are all blocks of one zstd stream`, ErrorCodes.FORMAT, where);
  }
  if (verbatim) {
    // Verbatim bytes are cut at a batch's worth, so they fit the slots a batch sizes.
    const rawMax = stream.batchPages * pageSize;
    if (h.pages !== 0 || h.rawLength < 1 || h.rawLength > rawMax) {
      throw new PagepressError(`VERBATIM frame ${frame} at offset ${offset}: expected 0 pages and 1..${rawMax} bytes, found ${h.pages} pages, ${h.rawLength} bytes`, ErrorCodes.LIMIT, where);
    }
    if (stream.version > 1 && h.outLength !== h.rawLength) {
      throw new PagepressError(`VERBATIM frame ${frame} at offset ${offset}: decodes to ${h.outLength} bytes, but its raw length is ${h.rawLength}`, ErrorCodes.FORMAT, where);
    }
  } else {
    if (h.pages < 1 || h.pages > stream.batchPages) {
      throw new PagepressError(`frame ${frame} at offset ${offset}: page count ${h.pages} outside 1..${stream.batchPages} (the stream header's batch size)`, ErrorCodes.LIMIT, where);
    }
    const rawMax = imageBound(h.pages, pageSize);
    if (h.rawLength < 1 || h.rawLength > rawMax) {
      throw new PagepressError(`frame ${frame} at offset ${offset}: image length ${h.rawLength} outside 1..${rawMax} for ${h.pages} pages`, ErrorCodes.LIMIT, where);
    }
    if (stream.version > 1 && (h.outLength <= (h.pages - 1) * pageSize || h.outLength > h.pages * pageSize)) {
      throw new PagepressError(`frame ${frame} at offset ${offset}: ${h.pages} pages of ${pageSize} bytes cannot decode to ${h.outLength} bytes`, ErrorCodes.FORMAT, where);
    }
  }
  const bodyMax = codec.bound(h.rawLength);
  if (h.bodyLength < 1 || h.bodyLength > bodyMax) {
    throw new PagepressError(`frame ${frame} at offset ${offset}: body length ${h.bodyLength} outside 1..${bodyMax} for ${codec.name}`, ErrorCodes.LIMIT, where);
  }
  return h;
}

/** Where the next frame of a stream belongs. */
export interface FramePlace {
  /** Frames before it. */
  seq: number;
  /** Decoded bytes before it. */
  outOffset: number;
}

/**
 * Refuses a frame that is not where its header says it belongs (version 2): a frame moved,
 * dropped, repeated or taken from elsewhere in the stream, before any of its bytes are used.
 */
export function checkFramePlace(h: FrameHeader, expected: FramePlace, stream: StreamHeader, offset: number, frame: number): void {
  if (stream.version === 1) return;
  if (h.seq !== expected.seq || h.outOffset !== expected.outOffset) {
    const what = h.type === FrameType.END ? 'END frame' : `frame ${frame}`;
    throw new PagepressError(
      `${what} at offset ${offset} says it is frame ${h.seq} at decoded offset ${h.outOffset}, but it comes after ${expected.seq} frames and ${expected.outOffset} decoded bytes (frames reordered, dropped or repeated)`,
      ErrorCodes.FORMAT,
      { offset, frame, record: 'frame header' },
    );
  }
}

/** Largest body a BATCH frame of `batchPages` pages may carry (sizes decoder slots). */
export function maxBodyLength(batchPages: number, pageSize: number): number {
  return maxBound(imageBound(batchPages, pageSize));
}

/** Builds a complete version 2 END frame (header + body); `seed` is frameSeed() of its stream. */
export function encodeEndFrame(t: EndTotals, seed: number): Buffer {
  const b = Buffer.alloc(FRAME_HEADER_BYTES + END_BODY_BYTES);
  const body = b.subarray(FRAME_HEADER_BYTES);
  body.writeBigUInt64LE(BigInt(t.frames), 0);
  body.writeBigUInt64LE(BigInt(t.pages), 8);
  body.writeBigUInt64LE(BigInt(t.rawBytes), 16);
  body.writeBigUInt64LE(BigInt(t.streamBytes), 24);
  body.writeUInt32LE(t.digest >>> 0, 32);
  writeFrameHeader(
    b,
    0,
    {
      type: FrameType.END,
      codec: 0,
      flags: 0,
      rawLength: END_BODY_BYTES,
      bodyLength: END_BODY_BYTES,
      pages: 0,
      outLength: 0,
      seq: t.frames,
      outOffset: t.rawBytes,
      bodyCrc: addon.crc32c(body),
    },
    seed,
  );
  return b;
}

/** Reads the END body (already CRC-checked by the caller) of a stream of this header's version. */
export function decodeEndBody(body: Uint8Array, stream: StreamHeader): EndTotals {
  const v = Buffer.from(body.buffer, body.byteOffset, endBodyBytes(stream));
  if (stream.version > 1 && v.readUInt32LE(36) !== 0) {
    throw new PagepressError(`END frame: reserved field is 0x${v.readUInt32LE(36).toString(16)}, must be 0`, ErrorCodes.FORMAT, { record: 'END' });
  }
  return {
    frames: Number(v.readBigUInt64LE(0)),
    pages: Number(v.readBigUInt64LE(8)),
    rawBytes: Number(v.readBigUInt64LE(16)),
    streamBytes: Number(v.readBigUInt64LE(24)),
    digest: stream.version > 1 ? v.readUInt32LE(32) : -1,
  };
}

/**
 * Compares an END frame's totals with what was decoded; `endOffset` is the END frame's
 * stream offset. @throws PagepressError PP_ERR_FORMAT naming every total that differs.
 */
export function checkEndTotals(end: EndTotals, decoded: EndTotals, endOffset: number): void {
  const differs =
    end.frames !== decoded.frames || end.pages !== decoded.pages || end.rawBytes !== decoded.rawBytes || end.streamBytes !== decoded.streamBytes || (end.digest >= 0 && end.digest !== decoded.digest);
  if (!differs) return;
  const digest = (t: EndTotals) => (t.digest >= 0 ? `, digest 0x${(t.digest >>> 0).toString(16)}` : '');
  throw new PagepressError(
    `END frame at offset ${endOffset} says ${end.frames} frames, ${end.pages} pages, ${end.rawBytes} bytes, ${end.streamBytes} stream bytes${digest(end)}; decoded ${decoded.frames}, ${decoded.pages}, ${decoded.rawBytes}, ${decoded.streamBytes}${end.digest >= 0 ? digest(decoded) : ''}`,
    ErrorCodes.FORMAT,
    { offset: endOffset, record: 'END' },
  );
}

/** Checks a body's CRC32C against its header. */
export function checkBodyCrc(body: Uint8Array, h: FrameHeader, offset: number, frame: number): void {
  const crc = addon.crc32c(body);
  if (crc !== h.bodyCrc) {
    throw new PagepressError(`frame ${frame} body at offset ${offset}: checksum 0x${h.bodyCrc.toString(16)} does not match computed 0x${crc.toString(16)}`, ErrorCodes.CHECKSUM, {
      offset,
      frame,
      record: 'frame body',
    });
  }
}
