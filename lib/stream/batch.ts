/**
 * The batch API, for callers that already hold pages (a migration sender, the Xen
 * filter): pfns + pages in, one self-contained BATCH frame out; and back. Same workers,
 * window and ordering as the streams: up to `window` batches in flight, results in call
 * order, page cache state shared in call order (so re-sent pfns become UNCHANGED/DELTA).
 */
import { ErrorCodes, PagepressError } from '../errors';
import { EncodeEngine, EncodeTotals } from './encode-engine';
import { DecodeEngine, DecodeTotals } from './decode-engine';
import { EncoderOptions } from './options';
import { encodeStreamHeader } from '../format/frame';
import { STREAM_VERSION, StreamFlags } from '../format/constants';

interface Deferred<T> {
  resolve: (v: T) => void;
  reject: (e: Error) => void;
}

/** Encodes batches of pages into BATCH frames on worker threads. */
export class BatchEncoder {
  private readonly engine: EncodeEngine;
  private readonly waiting: Deferred<Buffer>[] = [];
  private failure: Error | null = null;

  /**
   * @param options codec, level, threads, pageSize, batchPages (largest batch), cacheSlots
   * @example
   * const enc = new BatchEncoder({ codec: 'zstd', cacheSlots: 65536 });
   * const frame = await enc.encode(pages, pfns);
   */
  constructor(options: EncoderOptions = {}) {
    this.engine = new EncodeEngine(
      { ...options, streamId: options.streamId ?? 0n },
      (frame, release) => {
        const out = Buffer.from(frame);
        release();
        this.waiting.shift()?.resolve(out);
      },
      (err) => {
        this.failure = err;
        for (const d of this.waiting.splice(0)) d.reject(err);
      },
    );
  }

  /**
   * Tells the `auto` codec when the output (a socket, a file) is the bottleneck, so it
   * trades CPU for ratio; without a probe it assumes the caller keeps up (frames are
   * copied out at once, so the encoder cannot see a backlog itself).
   * @example enc.setOutputProbe(() => socket.writableNeedDrain)
   */
  setOutputProbe(probe: () => boolean): void {
    this.engine.setOutputProbe(probe);
  }

  /** The stream header a decoder of these frames needs (BatchDecoder takes the same options). */
  get streamHeader(): Buffer {
    return this.engine.streamHeader;
  }

  /** Totals so far. */
  get totals(): EncodeTotals {
    return this.engine.totals;
  }

  /**
   * Encodes `pages` (n pages back to back, the last may be short) with their pfns
   * (default: consecutive after the previous batch). Resolves with the frame.
   * @throws PagepressError PP_ERR_ARG when the batch is empty, too large, or pfns do not match
   */
  async encode(pages: Uint8Array, pfns?: ArrayLike<number>): Promise<Buffer> {
    if (this.failure) throw this.failure;
    const { pageSize } = this.engine.options;
    const count = Math.ceil(pages.length / pageSize);
    if (pages.length === 0 || pages.length > this.engine.batchBytes) {
      throw new PagepressError(`pages must hold 1..${this.engine.batchBytes} bytes, got ${pages.length}`, ErrorCodes.ARG);
    }
    let pfnArray: Float64Array | null = null;
    if (pfns) {
      if (pfns.length !== count) throw new PagepressError(`pfns has ${pfns.length} entries for ${count} pages`, ErrorCodes.ARG);
      pfnArray = Float64Array.from(pfns);
    }
    const slot = await this.engine.acquire();
    this.engine.input(slot).set(pages);
    const result = new Promise<Buffer>((resolve, reject) => this.waiting.push({ resolve, reject }));
    this.engine.submit(slot, pages.length, pfnArray);
    return result;
  }

  /**
   * Like encode(), but `fill` writes the `count` pages straight into the encoder's shared
   * input slot (no copy through a caller buffer): a migration sender reads guest pages there.
   * `fill` runs synchronously once a slot is free.
   * @throws PagepressError PP_ERR_ARG when count is out of range or pfns do not match
   */
  async encodeWith(count: number, fill: (dst: Uint8Array) => void, pfns?: ArrayLike<number>): Promise<Buffer> {
    if (this.failure) throw this.failure;
    const { pageSize } = this.engine.options;
    const bytes = count * pageSize;
    if (!Number.isInteger(count) || count < 1 || bytes > this.engine.batchBytes) {
      throw new PagepressError(`count must be 1..${this.engine.batchBytes / pageSize} pages, got ${count}`, ErrorCodes.ARG);
    }
    if (pfns && pfns.length !== count) throw new PagepressError(`pfns has ${pfns.length} entries for ${count} pages`, ErrorCodes.ARG);
    const pfnArray = pfns ? Float64Array.from(pfns) : null;
    const slot = await this.engine.acquire();
    fill(this.engine.input(slot).subarray(0, bytes));
    const result = new Promise<Buffer>((resolve, reject) => this.waiting.push({ resolve, reject }));
    this.engine.submit(slot, bytes, pfnArray);
    return result;
  }

  /** Stops the workers. */
  close(): Promise<void> {
    return this.engine.close();
  }
}

/** Decoded batch. */
export interface DecodedBatch {
  /** The pages back to back. */
  pages: Buffer;
}

/** Options of a BatchDecoder. */
export interface BatchDecoderOptions extends EncoderOptions {
  /**
   * The encoder's `streamHeader`: its geometry and stream id then come from there (the
   * other geometry options are ignored). Without it the decoder assumes the encoder's
   * options are its own, with stream id 0n.
   */
  streamHeader?: Uint8Array;
}

/**
 * Decodes BATCH frames made by a BatchEncoder with the same options, in the same order
 * (every frame says where it belongs: one missing, repeated or out of turn is refused).
 */
export class BatchDecoder {
  private readonly engine: DecodeEngine;
  private readonly waiting: Deferred<DecodedBatch>[] = [];
  private failure: Error | null = null;
  private writes: Promise<void>;

  /** @param options pageSize, batchPages, cacheSlots, streamId as given to the encoder (or its streamHeader); threads */
  constructor(options: BatchDecoderOptions = {}) {
    this.engine = new DecodeEngine(
      { threads: options.threads, window: options.window },
      (data, release) => {
        const pages = Buffer.from(data);
        release();
        this.waiting.shift()?.resolve({ pages });
      },
      (err) => {
        this.failure = err;
        for (const d of this.waiting.splice(0)) d.reject(err);
      },
    );
    // A batch decoder is a stream decoder fed the encoder's stream header (or one made from the same options).
    this.writes = this.engine.write(
      options.streamHeader ??
        encodeStreamHeader({
          version: STREAM_VERSION,
          flags: StreamFlags.RAW,
          pageSize: options.pageSize ?? 4096,
          cacheSlots: options.cacheSlots ?? 0,
          batchPages: options.batchPages ?? 1024,
          streamId: options.streamId ?? 0n,
        }),
    );
  }

  /** Totals so far. */
  get totals(): DecodeTotals {
    return this.engine.totals;
  }

  /**
   * Decodes one frame; resolves with its pages. Calls may overlap: frames are fed to the
   * decoder in call order, and results come back in that order.
   * @throws PagepressError on bad input
   */
  decode(frame: Uint8Array): Promise<DecodedBatch> {
    if (this.failure) return Promise.reject(this.failure);
    const result = new Promise<DecodedBatch>((resolve, reject) => this.waiting.push({ resolve, reject }));
    // One write at a time: the parser is a state machine over one byte stream.
    this.writes = this.writes
      .then(() => this.engine.write(frame))
      .catch((err: Error) => {
        this.failure ??= err;
        for (const d of this.waiting.splice(0)) d.reject(this.failure);
      });
    return result;
  }

  /** Stops the workers. */
  close(): Promise<void> {
    return this.engine.close();
  }
}
