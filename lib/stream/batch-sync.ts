/**
 * The batch API on the calling thread: pages in, one BATCH frame out, and back, with no
 * worker hop. For callers that already run on a worker thread of their own (a migration
 * agent's sender loop), and for small batches. On the main thread it blocks the event
 * loop for as long as the codec runs (about 7 ms for a 4 MiB zstd batch): use
 * BatchEncoder / BatchDecoder there. Frames are the same as BatchEncoder's: either side
 * may be sync or async, given the same options. With codec lz4, yield to the event loop
 * between batches: lz4-napi's buffers are freed only then (see LZ4_PENDING_WARN_BYTES).
 */
import { addon, STATS_LENGTH } from '../native';
import { ErrorCodes, PagepressError } from '../errors';
import { codecsByName, none } from '../codec/registry';
import { FRAME_HEADER_BYTES, FrameType, imageBound, STREAM_VERSION, StreamFlags } from '../format/constants';
import { checkFramePlace, decodeFrameHeader, encodeStreamHeader, frameSeed, StreamHeader } from '../format/frame';
import { decodeFrameBody, writeFrame } from '../format/body';
import { EncoderOptions, resolveEncoderOptions, ResolvedEncoderOptions } from './options';

/** Size of the buffers encode() cuts its frames from. */
const FRAME_POOL_BYTES = 16 * 1024 * 1024;

/**
 * lz4-napi returns each compressed block in a new Buffer whose memory Node gives back only
 * after the event loop turns (lz4-napi issue #678): a synchronous loop of lz4 encodes keeps
 * every block until it yields (about 2.4 MB per 4 MiB batch of real memory). encode()
 * warns once when this many bytes went to lz4 without a turn of the event loop.
 */
const LZ4_PENDING_WARN_BYTES = 256 * 1024 * 1024;

/** Encodes and decodes BATCH frames synchronously, on the calling thread. */
export class SyncBatchCodec {
  readonly options: ResolvedEncoderOptions;
  /** The stream header equivalent of these options (what BatchDecoder assumes). */
  readonly stream: StreamHeader;
  private readonly area: Uint8Array;
  private readonly encodeCache: Uint8Array | null;
  private readonly decodeCache: Uint8Array | null;
  private readonly stats = new Uint32Array(STATS_LENGTH);
  private pool = Buffer.alloc(0);
  private poolUsed = 0;
  private nextPfn = 0;
  /** Where the next frame encode() writes, and decode() expects, belongs (docs/FORMAT.md 2.2). */
  private readonly encoded = { seq: 0, outOffset: 0 };
  private readonly decoded = { seq: 0, outOffset: 0 };
  private lz4Pending = 0;
  private lz4Turn: NodeJS.Immediate | null = null;
  private lz4Warned = false;

  /**
   * @param options codec ('auto' means zstd here), level, pageSize, batchPages, cacheSlots
   * @throws PagepressError PP_ERR_ARG for an invalid option
   * @example
   * const codec = new SyncBatchCodec({ codec: 'zstd' });
   * const frame = codec.encode(pages, pfns);
   * const { pages: copy } = codec.decode(frame);
   */
  constructor(options: EncoderOptions = {}) {
    const o = (this.options = resolveEncoderOptions({ ...options, threads: 1 }));
    if (o.longWindowLog > 0) throw new PagepressError('SyncBatchCodec has no long-range matching (its frames decode independently); use BatchEncoder', ErrorCodes.ARG);
    this.stream = { version: STREAM_VERSION, flags: StreamFlags.RAW, pageSize: o.pageSize, cacheSlots: o.cacheSlots, batchPages: o.batchPages, streamId: o.streamId ?? 0n };
    encodeStreamHeader(this.stream); // sets stream.crc, the seed of the frame header CRCs
    this.area = new Uint8Array(imageBound(o.batchPages, o.pageSize));
    const cache = () => {
      if (o.cacheSlots === 0) return null;
      const c = new Uint8Array(addon.cacheBytes(o.cacheSlots, o.pageSize));
      addon.cacheInit(c, o.pageSize);
      return c;
    };
    this.encodeCache = cache();
    this.decodeCache = cache();
  }

  /** The stream header for a stream made of this codec's frames (then decodable by createDecoder). */
  streamHeader(): Buffer {
    return encodeStreamHeader(this.stream);
  }

  /**
   * Encodes `pages` (n pages back to back, the last may be short) with their pfns
   * (default: consecutive after the previous batch) into a new BATCH frame. Frames are cut
   * from shared 16 MiB buffers (as small Buffers are from Node's pool): a buffer is freed
   * once none of its frames is referenced.
   * @throws PagepressError PP_ERR_ARG when the batch is empty, too large, or pfns do not match
   */
  encode(pages: Uint8Array, pfns?: ArrayLike<number>): Buffer {
    const { pageSize, batchPages, level } = this.options;
    const count = Math.ceil(pages.length / pageSize);
    if (pages.length === 0 || count > batchPages) {
      throw new PagepressError(`pages must hold 1..${batchPages * pageSize} bytes, got ${pages.length}`, ErrorCodes.ARG);
    }
    if (pfns && pfns.length !== count) throw new PagepressError(`pfns has ${pfns.length} entries for ${count} pages`, ErrorCodes.ARG);
    const pfnArray = pfns ? Float64Array.from(pfns) : null;
    const pfnBase = this.nextPfn;
    if (!pfnArray) this.nextPfn += count;
    const args = { pfns: pfnArray, pfnBase, pageSize, cache: this.encodeCache, stats: this.stats };
    // Without a cache the image may be dense (all pages, one block copy); a batch with
    // zero or repeated pages to leave out copies only the rest (an idle guest: 15 %).
    const imageLength = addon.encodeBatchSync({ ...args, pages, out: this.area, mayBeDense: true });
    const image = this.area.subarray(0, imageLength);
    const codec = codecsByName.get(this.options.codec === 'auto' ? 'zstd' : this.options.codec)!;
    const space = this.frameSpace(FRAME_HEADER_BYTES + codec.bound(imageLength));
    const place = { type: FrameType.BATCH, pages: count, outLength: pages.length, ...this.encoded, seed: frameSeed(this.stream) } as const;
    const frame = writeFrame(space, image, codec, level, place, { dense: codec !== none && addon.imageInfo(image).dense });
    if (codec.name === 'lz4') this.noteLz4(imageLength);
    this.encoded.seq++;
    this.encoded.outOffset += pages.length;
    const length = frame.length;
    this.poolUsed += (length + 7) & ~7;
    return space.subarray(0, length);
  }

  /** Counts bytes handed to lz4 until the event loop turns; warns once past LZ4_PENDING_WARN_BYTES. */
  private noteLz4(bytes: number): void {
    this.lz4Pending += bytes;
    this.lz4Turn ??= setImmediate(() => {
      this.lz4Pending = 0;
      this.lz4Turn = null;
    }).unref();
    if (this.lz4Pending > LZ4_PENDING_WARN_BYTES && !this.lz4Warned) {
      this.lz4Warned = true;
      process.emitWarning(
        `SyncBatchCodec: ${this.lz4Pending >> 20} MiB went to lz4 without a turn of the event loop; lz4-napi's output buffers are ` +
          'freed only after one (lz4-napi issue #678), so memory grows with every batch: yield between batches (await setImmediate) or use zstd',
        { code: 'PAGEPRESS_LZ4_PENDING' },
      );
    }
  }

  /**
   * Room for a frame of up to `bound` bytes: the free end of a 16 MiB pool that frames are
   * cut from, back to back (as Node cuts small Buffers from its 8 KiB pool), so that a
   * 100 KiB frame neither costs a 4 MiB allocation nor keeps one alive; a new pool is
   * started when the room left is smaller than the bound.
   */
  private frameSpace(bound: number): Buffer {
    if (this.pool.length - this.poolUsed < bound) {
      this.pool = Buffer.allocUnsafeSlow(Math.max(FRAME_POOL_BYTES, bound));
      this.poolUsed = 0;
    }
    return this.pool.subarray(this.poolUsed);
  }

  /**
   * Decodes one BATCH frame made with the same options, in stream order (the page cache).
   * @throws PagepressError with the code of the first rule the frame breaks
   */
  decode(frame: Uint8Array): { pages: Buffer; pfns: Float64Array } {
    const h = decodeFrameHeader(frame, this.stream, 0, this.decoded.seq);
    if (h.type !== FrameType.BATCH) throw new PagepressError('not a BATCH frame', ErrorCodes.FORMAT, { offset: 0 });
    checkFramePlace(h, this.decoded, this.stream, 0, this.decoded.seq);
    if (frame.length !== FRAME_HEADER_BYTES + h.bodyLength) {
      throw new PagepressError(
        `frame is ${frame.length} bytes, its header says ${FRAME_HEADER_BYTES + h.bodyLength}`,
        frame.length < FRAME_HEADER_BYTES + h.bodyLength ? ErrorCodes.TRUNCATED : ErrorCodes.TRAILING,
        { offset: frame.length },
      );
    }
    const pages = Buffer.allocUnsafe(h.outLength);
    const pfns = new Float64Array(h.pages);
    decodeFrameBody({
      stream: this.stream,
      header: h,
      body: frame.subarray(FRAME_HEADER_BYTES),
      out: pages,
      scratch: this.area,
      cache: this.decodeCache,
      stats: this.stats,
      pfns,
    });
    this.decoded.seq++;
    this.decoded.outOffset += h.outLength;
    return { pages, pfns };
  }
}
