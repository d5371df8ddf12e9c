/**
 * The frame layer (docs/FORMAT.md section 2): stream header, BATCH frames, END frame.
 *
 *   stream  := header frame* end
 *   header  := magic u32 | version u8 | flags u8 | batchPages u16 | pageSize u32 | cacheSlots u32 | crc u32
 *   frame   := type u8 | codec u8 | flags u16 | rawLength u32 | bodyLength u32 | pages u32 | bodyCrc u32 | crc u32 | body
 *   end     := frame(type END, codec none) with body frames u64 | pages u64 | rawBytes u64 | streamBytes u64
 *
 * Everything read here is checked against the limits in constants.ts before any
 * allocation; a violation is a PagepressError carrying the stream offset.
 */
import { addon } from '../native';
import { ErrorCodes, PagepressError } from '../errors';
import {
  END_BODY_BYTES, FRAME_HEADER_BYTES, FrameType, imageBound, isValidPageSize, KNOWN_STREAM_FLAGS,
  MAX_BATCH_PAGES, MAX_CACHE_SLOTS, STREAM_HEADER_BYTES, STREAM_MAGIC, STREAM_VERSION, StreamFlags,
} from './constants';
import { codecsById, maxBound } from '../codec/registry';

/** Fields of the stream header. */
export interface StreamHeader {
  version: number;
  flags: number;
  pageSize: number;
  /** Page-cache slots the decoder must hold (0 = no UNCHANGED/DELTA pages). */
  cacheSlots: number;
  /** Most pages any BATCH frame of this stream holds (sizes the decoder's buffers). */
  batchPages: number;
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
  /** Pages in the batch (0 for END). */
  pages: number;
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
}

/** Writes a stream header into a new 20-byte buffer. */
export function encodeStreamHeader(h: StreamHeader): Buffer {
  const b = Buffer.alloc(STREAM_HEADER_BYTES);
  b.writeUInt32LE(STREAM_MAGIC, 0);
  b.writeUInt8(h.version, 4);
  b.writeUInt8(h.flags, 5);
  b.writeUInt16LE(h.batchPages, 6);
  b.writeUInt32LE(h.pageSize, 8);
  b.writeUInt32LE(h.cacheSlots, 12);
  b.writeUInt32LE(addon.crc32c(b.subarray(0, 16)), 16);
  return b;
}

/** Parses and validates a stream header at the start of `b` (20 bytes). */
export function decodeStreamHeader(b: Uint8Array): StreamHeader {
  if (b.length < STREAM_HEADER_BYTES) {
    throw new PagepressError(`stream header truncated: ${b.length} of ${STREAM_HEADER_BYTES} bytes`, ErrorCodes.TRUNCATED, { offset: b.length, record: 'stream header' });
  }
  const v = Buffer.from(b.buffer, b.byteOffset, STREAM_HEADER_BYTES);
  if (v.readUInt32LE(0) !== STREAM_MAGIC) {
    throw new PagepressError(`not a pagepress stream: magic at offset 0 is 0x${v.readUInt32BE(0).toString(16).padStart(8, '0')}, expected 0x89505053`, ErrorCodes.MAGIC, { offset: 0, record: 'stream header' });
  }
  const crc = addon.crc32c(v.subarray(0, 16));
  if (crc !== v.readUInt32LE(16)) {
    throw new PagepressError(`stream header checksum at offset 16 is 0x${v.readUInt32LE(16).toString(16)}, computed 0x${crc.toString(16)}`, ErrorCodes.CHECKSUM, { offset: 16, record: 'stream header' });
  }
  const version = v.readUInt8(4);
  if (version !== STREAM_VERSION) {
    throw new PagepressError(`stream version ${version} at offset 4 is not supported (this reader knows version ${STREAM_VERSION})`, ErrorCodes.VERSION, { offset: 4, record: 'stream header' });
  }
  const flags = v.readUInt8(5);
  if (flags & ~KNOWN_STREAM_FLAGS) {
    throw new PagepressError(`unknown stream flags 0x${flags.toString(16)} at offset 5`, ErrorCodes.FORMAT, { offset: 5, record: 'stream header' });
  }
  if (flags !== StreamFlags.RAW && flags !== StreamFlags.XEN) {
    throw new PagepressError(`stream flags 0x${flags.toString(16)} at offset 5 must set exactly one of RAW (0x1) and XEN (0x2)`, ErrorCodes.FORMAT, { offset: 5, record: 'stream header' });
  }
  const batchPages = v.readUInt16LE(6);
  if (batchPages < 1 || batchPages > MAX_BATCH_PAGES) {
    throw new PagepressError(`batch size ${batchPages} pages at offset 6 is outside 1..${MAX_BATCH_PAGES}`, ErrorCodes.LIMIT, { offset: 6, record: 'stream header' });
  }
  const pageSize = v.readUInt32LE(8);
  if (!isValidPageSize(pageSize)) {
    throw new PagepressError(`page size ${pageSize} at offset 8 is not a power of two in 512..65536`, ErrorCodes.FORMAT, { offset: 8, record: 'stream header' });
  }
  const cacheSlots = v.readUInt32LE(12);
  if (cacheSlots > MAX_CACHE_SLOTS) {
    throw new PagepressError(`page cache of ${cacheSlots} slots at offset 12 exceeds the limit ${MAX_CACHE_SLOTS}`, ErrorCodes.LIMIT, { offset: 12, record: 'stream header' });
  }
  return { version, flags, pageSize, cacheSlots, batchPages };
}

/** Writes a frame header into `dst` at `at`. */
export function writeFrameHeader(dst: Uint8Array, at: number, h: FrameHeader): void {
  const v = Buffer.from(dst.buffer, dst.byteOffset + at, FRAME_HEADER_BYTES);
  v.writeUInt8(h.type, 0);
  v.writeUInt8(h.codec, 1);
  v.writeUInt16LE(h.flags, 2);
  v.writeUInt32LE(h.rawLength, 4);
  v.writeUInt32LE(h.bodyLength, 8);
  v.writeUInt32LE(h.pages, 12);
  v.writeUInt32LE(h.bodyCrc >>> 0, 16);
  v.writeUInt32LE(addon.crc32c(v.subarray(0, 20)), 20);
}


/**
 * Parses and validates the 24-byte frame header in `b` (at stream offset `offset`).
 * Checks the header CRC first, then every field against its limit, so that the body
 * length can be trusted for buffering.
 */
export function decodeFrameHeader(b: Uint8Array, stream: StreamHeader, offset: number, frame: number): FrameHeader {
  const pageSize = stream.pageSize;
  const where = { offset, frame, record: 'frame header' };
  if (b.length < FRAME_HEADER_BYTES) {
    throw new PagepressError(`frame ${frame} header at offset ${offset} truncated: ${b.length} of ${FRAME_HEADER_BYTES} bytes`, ErrorCodes.TRUNCATED, where);
  }
  const v = Buffer.from(b.buffer, b.byteOffset, FRAME_HEADER_BYTES);
  const crc = addon.crc32c(v.subarray(0, 20));
  if (crc !== v.readUInt32LE(20)) {
    throw new PagepressError(`frame ${frame} header at offset ${offset}: checksum 0x${v.readUInt32LE(20).toString(16)} does not match computed 0x${crc.toString(16)}`, ErrorCodes.CHECKSUM, where);
  }
  const h: FrameHeader = {
    type: v.readUInt8(0), codec: v.readUInt8(1), flags: v.readUInt16LE(2), rawLength: v.readUInt32LE(4),
    bodyLength: v.readUInt32LE(8), pages: v.readUInt32LE(12), bodyCrc: v.readUInt32LE(16),
  };
  if (h.flags !== 0) {
    throw new PagepressError(`frame ${frame} at offset ${offset}: flags 0x${h.flags.toString(16)} must be 0`, ErrorCodes.FORMAT, where);
  }
  if (h.type === FrameType.END) {
    if (h.codec !== 0 || h.rawLength !== END_BODY_BYTES || h.bodyLength !== END_BODY_BYTES || h.pages !== 0) {
      throw new PagepressError(`END frame at offset ${offset}: expected codec 0, lengths ${END_BODY_BYTES}, 0 pages; found codec ${h.codec}, lengths ${h.rawLength}/${h.bodyLength}, ${h.pages} pages`, ErrorCodes.FORMAT, where);
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
  if (verbatim) {
    // Verbatim bytes are cut at a batch's worth, so they fit the slots a batch sizes.
    const rawMax = stream.batchPages * pageSize;
    if (h.pages !== 0 || h.rawLength < 1 || h.rawLength > rawMax) {
      throw new PagepressError(`VERBATIM frame ${frame} at offset ${offset}: expected 0 pages and 1..${rawMax} bytes, found ${h.pages} pages, ${h.rawLength} bytes`, ErrorCodes.LIMIT, where);
    }
    const bodyMax = codec.bound(h.rawLength);
    if (h.bodyLength < 1 || h.bodyLength > bodyMax) {
      throw new PagepressError(`frame ${frame} at offset ${offset}: body length ${h.bodyLength} outside 1..${bodyMax} for ${codec.name}`, ErrorCodes.LIMIT, where);
    }
    return h;
  }
  if (h.pages < 1 || h.pages > stream.batchPages) {
    throw new PagepressError(`frame ${frame} at offset ${offset}: page count ${h.pages} outside 1..${stream.batchPages} (the stream header's batch size)`, ErrorCodes.LIMIT, where);
  }
  const rawMax = imageBound(h.pages, pageSize);
  if (h.rawLength < 1 || h.rawLength > rawMax) {
    throw new PagepressError(`frame ${frame} at offset ${offset}: image length ${h.rawLength} outside 1..${rawMax} for ${h.pages} pages`, ErrorCodes.LIMIT, where);
  }
  const bodyMax = codec.bound(h.rawLength);
  if (h.bodyLength < 1 || h.bodyLength > bodyMax) {
    throw new PagepressError(`frame ${frame} at offset ${offset}: body length ${h.bodyLength} outside 1..${bodyMax} for ${codec.name}`, ErrorCodes.LIMIT, where);
  }
  return h;
}

/** Largest body a BATCH frame of `batchPages` pages may carry (sizes decoder slots). */
export function maxBodyLength(batchPages: number, pageSize: number): number {
  return maxBound(imageBound(batchPages, pageSize));
}

/** Builds a complete END frame (header + body). */
export function encodeEndFrame(t: EndTotals): Buffer {
  const b = Buffer.alloc(FRAME_HEADER_BYTES + END_BODY_BYTES);
  const body = b.subarray(FRAME_HEADER_BYTES);
  body.writeBigUInt64LE(BigInt(t.frames), 0);
  body.writeBigUInt64LE(BigInt(t.pages), 8);
  body.writeBigUInt64LE(BigInt(t.rawBytes), 16);
  body.writeBigUInt64LE(BigInt(t.streamBytes), 24);
  writeFrameHeader(b, 0, {
    type: FrameType.END, codec: 0, flags: 0, rawLength: END_BODY_BYTES, bodyLength: END_BODY_BYTES, pages: 0,
    bodyCrc: addon.crc32c(body),
  });
  return b;
}

/** Reads the END body (already CRC-checked by the caller). */
export function decodeEndBody(body: Uint8Array): EndTotals {
  const v = Buffer.from(body.buffer, body.byteOffset, END_BODY_BYTES);
  return {
    frames: Number(v.readBigUInt64LE(0)),
    pages: Number(v.readBigUInt64LE(8)),
    rawBytes: Number(v.readBigUInt64LE(16)),
    streamBytes: Number(v.readBigUInt64LE(24)),
  };
}

/** Checks a body's CRC32C against its header. */
export function checkBodyCrc(body: Uint8Array, h: FrameHeader, offset: number, frame: number): void {
  const crc = addon.crc32c(body);
  if (crc !== h.bodyCrc) {
    throw new PagepressError(`frame ${frame} body at offset ${offset}: checksum 0x${h.bodyCrc.toString(16)} does not match computed 0x${crc.toString(16)}`, ErrorCodes.CHECKSUM, { offset, frame, record: 'frame body' });
  }
}
