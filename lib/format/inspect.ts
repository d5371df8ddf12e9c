/**
 * Sequential, main-thread checker of a whole pagepress stream for `pagepress inspect`:
 * validates the stream header, every frame header and its place, and decodes every body
 * through the decoder's own path (lib/format/body.ts: body CRC, codec, the image against
 * the frame and stream headers, every image field, the page checksum, the page cache for
 * UNCHANGED/DELTA pages), which also counts the page kinds; then checks the END frame's
 * totals and digest. Raw and Xen streams alike, versions 1 and 2.
 * Memory is bounded by one frame: the read buffer, one body (at most the codec bound of
 * its image, which decodeFrameHeader limits by the stream header's batch size), one
 * image, one decoded batch, and the page cache the stream header asks for (both capped
 * as the stream decoder caps them by default: 64 MiB batches, a 4 GiB cache, of which
 * only what the stream fills is ever resident).
 */
import * as fs from 'node:fs';
import { addon, STATS_LENGTH } from '../native';
import { ErrorCodes, isPagepressError, PagepressError } from '../errors';
import { codecById } from '../codec/registry';
import { readSome } from '../stream/fd-io';
import { FrameType, imageBound, MAX_CACHE_BYTES, StreamFlags, STREAM_HEADER_BYTES, STREAM_HEADER_BYTES_V1, STREAM_MAGIC } from './constants';
import {
  checkBodyCrc,
  checkEndTotals,
  checkFramePlace,
  checkStreamLimits,
  decodeEndBody,
  decodeFrameHeader,
  decodeStreamHeader,
  endBodyBytes,
  EndTotals,
  frameHeaderBytes,
  StreamHeader,
  streamDigest,
  streamHeaderLength,
} from './frame';
import { decodeFrameBody } from './body';
import * as longRange from '../codec/long-range';

/** Page counts by kind. */
export interface KindCounts {
  zero: number;
  literal: number;
  dup: number;
  unchanged: number;
  delta: number;
}

/** One frame of the stream. */
export interface FrameReport {
  /** 0 = first frame after the stream header. */
  index: number;
  /** Stream offset of the frame header. */
  offset: number;
  type: 'batch' | 'verbatim' | 'end';
  codec: string;
  /** Length of the body once the codec is undone (the image). */
  rawLength: number;
  /** Length of the body on the wire. */
  bodyLength: number;
  pages: number;
  /** Decoded bytes of the frame (a batch: (pages-1) x pageSize + tail). */
  bytes: number;
  kinds: KindCounts;
  /** rawLength / bodyLength. */
  ratio: number;
}

/** What inspectStream found. */
export interface InspectReport {
  /** The stream header; its id as 16 hex digits (JSON has no 64-bit integers). */
  header: Omit<StreamHeader, 'streamId'> & { raw: boolean; streamId: string };
  /** Every frame, END included (omitted when options.keepFrames is false). */
  frames: FrameReport[];
  totals: {
    /** BATCH and VERBATIM frames. */
    frames: number;
    /** VERBATIM frames (Xen streams). */
    verbatimFrames: number;
    pages: number;
    /** Decoded bytes. */
    rawBytes: number;
    /** Sum of the images' lengths. */
    imageBytes: number;
    /** Stream bytes before the END frame. */
    streamBytes: number;
    /** Stream bytes, END frame included. */
    totalBytes: number;
    kinds: KindCounts;
    /** BATCH and VERBATIM frames per codec name. */
    codecs: Record<string, number>;
    /** rawBytes / totalBytes. */
    ratio: number;
  };
  end: EndTotals;
}

/** Options of inspectStream. */
export interface InspectOptions {
  /** Called with the stream header once it is valid. */
  onHeader?: (header: StreamHeader) => void;
  /** Called with each frame once it is valid (END included). */
  onFrame?: (frame: FrameReport) => void;
  /** Keep every frame in the report (default true). */
  keepFrames?: boolean;
}

/** Same cap as the stream decoder's default (lib/stream/decode-engine.ts maxBatchBytes). */
const MAX_BATCH_BYTES = 64 * 1024 * 1024;

const KIND_NAMES = ['zero', 'literal', 'dup', 'unchanged', 'delta'] as const;

function emptyKinds(): KindCounts {
  return { zero: 0, literal: 0, dup: 0, unchanged: 0, delta: 0 };
}

/** Sequential reader over an fd that knows its stream offset. */
class Reader {
  private readonly buf = Buffer.allocUnsafe(1024 * 1024);
  private start = 0;
  private end = 0;
  private filePos: number | null;
  /** Stream offset of the next unread byte. */
  offset = 0;
  private eof = false;

  constructor(
    private readonly fd: number,
    regular: boolean,
  ) {
    this.filePos = regular ? 0 : null;
  }

  private async fill(): Promise<void> {
    if (this.start === this.end) this.start = this.end = 0;
    const n = await readSome(this.fd, this.buf, this.end, this.buf.length - this.end, this.filePos);
    if (n === 0) this.eof = true;
    if (this.filePos !== null) this.filePos += n;
    this.end += n;
  }

  /** Copies up to `dst.length` bytes into `dst`; returns how many (fewer only at EOF). */
  async readInto(dst: Buffer): Promise<number> {
    let got = 0;
    while (got < dst.length) {
      if (this.start === this.end) {
        if (this.eof) break;
        // Large remainders go straight into dst, bypassing the buffer.
        if (dst.length - got >= this.buf.length) {
          const n = await readSome(this.fd, dst, got, dst.length - got, this.filePos);
          if (n === 0) {
            this.eof = true;
            break;
          }
          if (this.filePos !== null) this.filePos += n;
          got += n;
          this.offset += n;
          continue;
        }
        await this.fill();
        continue;
      }
      const n = Math.min(this.end - this.start, dst.length - got);
      this.buf.copy(dst, got, this.start, this.start + n);
      this.start += n;
      got += n;
      this.offset += n;
    }
    return got;
  }

  /** True when no byte is left. */
  async atEnd(): Promise<boolean> {
    if (this.start < this.end) return false;
    if (this.eof) return true;
    await this.fill();
    return this.start === this.end;
  }
}

function truncated(what: string, offset: number, frame?: number): PagepressError {
  return new PagepressError(`stream truncated at offset ${offset}: input ended inside ${what}`, ErrorCodes.TRUNCATED, { offset, frame, record: what });
}

/** Adds the stream position to an error raised on an image (whose offsets are image offsets). */
function inFrame(err: unknown, index: number, offset: number): PagepressError {
  if (!isPagepressError(err)) throw err;
  const inner = err.offset !== undefined ? ` (image offset ${err.offset})` : '';
  return new PagepressError(`frame ${index} at offset ${offset}: ${err.message}${inner}`, err.code, { offset, frame: index, page: err.page, record: err.record ?? 'batch image' });
}

async function inspectFd(fd: number, options: InspectOptions): Promise<InspectReport> {
  let regular: boolean;
  try {
    regular = fs.fstatSync(fd).isFile();
  } catch {
    regular = false;
  }
  const r = new Reader(fd, regular);
  longRange.reset(); // a long-range stream's blocks decode in order, from a fresh context
  const keep = options.keepFrames ?? true;

  const hb = Buffer.alloc(STREAM_HEADER_BYTES);
  let hn = await r.readInto(hb.subarray(0, STREAM_HEADER_BYTES_V1));
  if (hn >= STREAM_HEADER_BYTES_V1 && streamHeaderLength(hb) > hn) hn += await r.readInto(hb.subarray(hn, STREAM_HEADER_BYTES));
  const headerBytes = hb.subarray(0, hn);
  if (hn < STREAM_HEADER_BYTES_V1 || hn < streamHeaderLength(headerBytes)) {
    if (hn >= 4 && hb.readUInt32LE(0) !== STREAM_MAGIC) decodeStreamHeader(headerBytes); // report the bad magic rather than the length
    throw truncated('the stream header', r.offset);
  }
  const header = decodeStreamHeader(headerBytes);
  const batchBytes = header.batchPages * header.pageSize;
  const bytes = checkStreamLimits(header, { maxBatchBytes: MAX_BATCH_BYTES, maxCacheBytes: MAX_CACHE_BYTES, who: 'inspect' });
  let cache: Uint8Array | null = null;
  if (bytes > 0) {
    cache = new Uint8Array(bytes);
    addon.cacheInit(cache, header.pageSize);
  }
  const out = Buffer.allocUnsafe(batchBytes);
  const scratch = Buffer.allocUnsafe(imageBound(header.batchPages, header.pageSize));
  const stats = new Uint32Array(STATS_LENGTH);
  options.onHeader?.(header);

  const frames: FrameReport[] = [];
  const kinds = emptyKinds();
  const codecs: Record<string, number> = {};
  let pages = 0;
  let rawBytes = 0;
  let imageBytes = 0;
  let verbatimFrames = 0;
  let digest = 0;
  let index = 0;
  const fh = Buffer.alloc(frameHeaderBytes(header));
  for (;;) {
    const offset = r.offset;
    const n = await r.readInto(fh);
    if (n === 0) throw new PagepressError(`stream truncated at offset ${offset}: no END frame`, ErrorCodes.TRUNCATED, { offset, frame: index, record: 'frame header' });
    if (n < fh.length) throw truncated(`frame ${index}'s header`, r.offset, index);
    const h = decodeFrameHeader(fh, header, offset, index);
    checkFramePlace(h, { seq: index, outOffset: rawBytes }, header, offset, index);
    const body = Buffer.allocUnsafe(h.bodyLength);
    if ((await r.readInto(body)) < h.bodyLength) throw truncated(`the body of frame ${index}`, r.offset, index);

    if (h.type === FrameType.END) {
      checkBodyCrc(body, h, offset + fh.length, index);
      const end = decodeEndBody(body, header);
      const endBytes = endBodyBytes(header);
      const report: FrameReport = { index, offset, type: 'end', codec: 'none', rawLength: endBytes, bodyLength: endBytes, pages: 0, bytes: 0, kinds: emptyKinds(), ratio: 1 };
      options.onFrame?.(report);
      if (keep) frames.push(report);
      try {
        checkEndTotals(end, { frames: index, pages, rawBytes, streamBytes: offset, digest }, offset);
      } catch (err) {
        throw Object.assign(err as PagepressError, { frame: index });
      }
      if (!(await r.atEnd())) {
        throw new PagepressError(`trailing data at offset ${r.offset} after the END frame`, ErrorCodes.TRAILING, { offset: r.offset, record: 'END' });
      }
      const totalBytes = r.offset;
      return {
        header: { ...header, raw: (header.flags & StreamFlags.RAW) !== 0, streamId: (header.streamId ?? 0n).toString(16).padStart(16, '0') },
        frames,
        totals: { frames: index, verbatimFrames, pages, rawBytes, imageBytes, streamBytes: offset, totalBytes, kinds, codecs, ratio: totalBytes > 0 ? rawBytes / totalBytes : 0 },
        end,
      };
    }

    // The decoder's own path: body CRC, codec, image checks, pages, cache, checksum.
    const codec = codecById(h.codec, offset + 1);
    const verbatim = h.type === FrameType.VERBATIM;
    let decoded;
    try {
      const firstPfn = header.version === 1 && !verbatim ? pages : -1;
      decoded = decodeFrameBody({ stream: header, header: h, body, out, scratch, cache, stats, firstPfn });
    } catch (err) {
      throw inFrame(err, index, offset);
    }
    digest = streamDigest(digest, decoded.digest);
    const frameKinds = emptyKinds();
    if (!verbatim) {
      KIND_NAMES.forEach((name, k) => {
        frameKinds[name] = stats[k];
        kinds[name] += stats[k];
      });
      pages += h.pages;
      imageBytes += h.rawLength;
    } else verbatimFrames++;
    rawBytes += decoded.length;
    codecs[codec.name] = (codecs[codec.name] ?? 0) + 1;
    const report: FrameReport = {
      index,
      offset,
      type: verbatim ? 'verbatim' : 'batch',
      codec: codec.name,
      rawLength: h.rawLength,
      bodyLength: h.bodyLength,
      pages: h.pages,
      bytes: decoded.length,
      kinds: frameKinds,
      ratio: h.rawLength / h.bodyLength,
    };
    options.onFrame?.(report);
    if (keep) frames.push(report);
    index++;
  }
}

/**
 * Parses and checks a whole pagepress stream.
 * @param source an open file descriptor (read from its current position for pipes) or a path
 * @throws PagepressError at the first violation, with the stream offset (and frame index)
 */
export async function inspectStream(source: number | string, options: InspectOptions = {}): Promise<InspectReport> {
  if (typeof source === 'number') return inspectFd(source, options);
  const fd = fs.openSync(source, 'r');
  try {
    return await inspectFd(fd, options);
  } finally {
    fs.closeSync(fd);
  }
}
