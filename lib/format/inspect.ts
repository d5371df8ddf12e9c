/**
 * Sequential, main-thread checker of a whole pagepress stream for `pagepress inspect`:
 * validates the stream header, every frame header and body CRC, decompresses each
 * BATCH body and decodes its image with the addon (decodeBatchSync: every image field,
 * the page checksum, the page cache for UNCHANGED/DELTA pages), which also counts the
 * page kinds without depending on the image layout; then checks the END frame's totals.
 * Memory is bounded by one frame: the read buffer, one body (at most the codec bound of
 * its image, which decodeFrameHeader limits by the stream header's batch size), one
 * image, one decoded batch, and the page cache the stream header asks for (both capped
 * like the stream decoder's: 64 MiB batches, 1 GiB cache).
 */
import * as fs from 'node:fs';
import { addon, STATS_LENGTH } from '../native';
import { ErrorCodes, isPagepressError, PagepressError } from '../errors';
import { codecById } from '../codec/registry';
import { readSome } from '../stream/fd-io';
import { END_BODY_BYTES, FRAME_HEADER_BYTES, FrameType, StreamFlags, STREAM_HEADER_BYTES } from './constants';
import { checkBodyCrc, decodeEndBody, decodeFrameHeader, decodeStreamHeader, EndTotals, StreamHeader } from './frame';

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
  type: 'batch' | 'end';
  codec: string;
  /** Length of the body once the codec is undone (the image). */
  rawLength: number;
  /** Length of the body on the wire. */
  bodyLength: number;
  pages: number;
  /** Decoded bytes of the batch ((pages-1) x pageSize + tail). */
  bytes: number;
  kinds: KindCounts;
  /** rawLength / bodyLength. */
  ratio: number;
}

/** What inspectStream found. */
export interface InspectReport {
  header: StreamHeader & { raw: boolean };
  /** Every frame, END included (omitted when options.keepFrames is false). */
  frames: FrameReport[];
  totals: {
    /** BATCH frames. */
    frames: number;
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
    /** BATCH frames per codec name. */
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

/** Same caps as the stream decoder's defaults (lib/stream/decode-engine.ts). */
const MAX_BATCH_BYTES = 64 * 1024 * 1024;
const MAX_CACHE_BYTES = 1024 * 1024 * 1024;

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

  constructor(private readonly fd: number, regular: boolean) {
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
  let regular = false;
  try {
    regular = fs.fstatSync(fd).isFile();
  } catch {
    regular = false;
  }
  const r = new Reader(fd, regular);
  const keep = options.keepFrames ?? true;

  const hb = Buffer.alloc(STREAM_HEADER_BYTES);
  const hn = await r.readInto(hb);
  if (hn < STREAM_HEADER_BYTES) {
    if (hn >= 4 && hb.readUInt32LE(0) !== 0x53505089) decodeStreamHeader(hb); // report the bad magic rather than the length
    throw truncated('the stream header', r.offset);
  }
  const header = decodeStreamHeader(hb);
  const batchBytes = header.batchPages * header.pageSize;
  if (batchBytes > MAX_BATCH_BYTES) {
    throw new PagepressError(`stream batches of ${batchBytes} bytes exceed the inspect limit of ${MAX_BATCH_BYTES}`, ErrorCodes.LIMIT, { offset: 6, record: 'stream header' });
  }
  let cache: Uint8Array | null = null;
  if (header.cacheSlots > 0) {
    const bytes = addon.cacheBytes(header.cacheSlots, header.pageSize);
    if (bytes > MAX_CACHE_BYTES) {
      throw new PagepressError(`stream needs a page cache of ${bytes} bytes, above the inspect limit of ${MAX_CACHE_BYTES}`, ErrorCodes.LIMIT, { offset: 12, record: 'stream header' });
    }
    cache = new Uint8Array(bytes);
    addon.cacheInit(cache, header.pageSize);
  }
  const pagesOut = Buffer.allocUnsafe(batchBytes);
  options.onHeader?.(header);

  const frames: FrameReport[] = [];
  const kinds = emptyKinds();
  const codecs: Record<string, number> = {};
  let pages = 0;
  let rawBytes = 0;
  let imageBytes = 0;
  let index = 0;
  const fh = Buffer.alloc(FRAME_HEADER_BYTES);
  for (;;) {
    const offset = r.offset;
    const n = await r.readInto(fh);
    if (n === 0) throw new PagepressError(`stream truncated at offset ${offset}: no END frame`, ErrorCodes.TRUNCATED, { offset, frame: index, record: 'frame header' });
    if (n < FRAME_HEADER_BYTES) throw truncated(`frame ${index}'s header`, r.offset, index);
    const h = decodeFrameHeader(fh, header, offset, index);
    const body = Buffer.allocUnsafe(h.bodyLength);
    if ((await r.readInto(body)) < h.bodyLength) throw truncated(`the body of frame ${index}`, r.offset, index);
    checkBodyCrc(body, h, offset + FRAME_HEADER_BYTES, index);

    if (h.type === FrameType.END) {
      const end = decodeEndBody(body);
      const report: FrameReport = { index, offset, type: 'end', codec: 'none', rawLength: END_BODY_BYTES, bodyLength: END_BODY_BYTES, pages: 0, bytes: 0, kinds: emptyKinds(), ratio: 1 };
      options.onFrame?.(report);
      if (keep) frames.push(report);
      if (end.frames !== index || end.pages !== pages || end.rawBytes !== rawBytes || end.streamBytes !== offset) {
        throw new PagepressError(
          `END frame at offset ${offset} says ${end.frames} frames, ${end.pages} pages, ${end.rawBytes} bytes, ${end.streamBytes} stream bytes; the stream has ${index}, ${pages}, ${rawBytes}, ${offset}`,
          ErrorCodes.FORMAT, { offset, frame: index, record: 'END' },
        );
      }
      if (!(await r.atEnd())) {
        throw new PagepressError(`trailing data at offset ${r.offset} after the END frame`, ErrorCodes.TRAILING, { offset: r.offset, record: 'END' });
      }
      const totalBytes = r.offset;
      return {
        header: { ...header, raw: (header.flags & StreamFlags.RAW) !== 0 },
        frames,
        totals: { frames: index, pages, rawBytes, imageBytes, streamBytes: offset, totalBytes, kinds, codecs, ratio: totalBytes > 0 ? rawBytes / totalBytes : 0 },
        end,
      };
    }

    // BATCH: undo the codec, then read the image header and its kind section.
    const codec = codecById(h.codec, offset + 1);
    const image = Buffer.allocUnsafe(h.rawLength);
    let info;
    try {
      codec.decompress(body, image);
      info = addon.imageInfo(image);
    } catch (err) {
      throw inFrame(err, index, offset);
    }
    if (info.imageLength !== h.rawLength) {
      throw new PagepressError(`frame ${index} at offset ${offset}: image header says ${info.imageLength} bytes, frame header ${h.rawLength}`, info.imageLength < h.rawLength ? ErrorCodes.TRAILING : ErrorCodes.TRUNCATED, { offset, frame: index, record: 'batch image' });
    }
    if (info.pageCount !== h.pages) {
      throw new PagepressError(`frame ${index} at offset ${offset}: image holds ${info.pageCount} pages, frame header says ${h.pages}`, ErrorCodes.FORMAT, { offset, frame: index, record: 'batch image' });
    }
    if (info.pageSize !== header.pageSize) {
      throw new PagepressError(`frame ${index} at offset ${offset}: image page size ${info.pageSize} differs from the stream's ${header.pageSize}`, ErrorCodes.FORMAT, { offset, frame: index, record: 'batch image' });
    }
    const stats = new Uint32Array(STATS_LENGTH);
    try {
      addon.decodeBatchSync({ image, out: pagesOut, pfns: null, cache, stats });
    } catch (err) {
      throw inFrame(err, index, offset);
    }
    const frameKinds = emptyKinds();
    KIND_NAMES.forEach((name, k) => {
      frameKinds[name] = stats[k];
      kinds[name] += stats[k];
    });
    pages += info.pageCount;
    rawBytes += info.byteLength;
    imageBytes += h.rawLength;
    codecs[codec.name] = (codecs[codec.name] ?? 0) + 1;
    const report: FrameReport = {
      index, offset, type: 'batch', codec: codec.name, rawLength: h.rawLength, bodyLength: h.bodyLength, pages: info.pageCount,
      bytes: info.byteLength, kinds: frameKinds, ratio: h.rawLength / h.bodyLength,
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
