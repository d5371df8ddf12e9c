import { Transform, TransformCallback } from 'node:stream';
import { EncodeEngine, EncodeTotals } from './encode-engine';
import { EncoderOptions } from './options';
import { ReadableRoom } from './room';

/**
 * Transform stream: raw bytes in, a pagepress stream out. The input is cut into pages
 * (pfn = page index) and batches; N batches are encoded in parallel by worker threads
 * and emitted in input order. It never waits for EOF: when input pauses for
 * `flushDelayMs` the partial batch is sent, so request/response protocols work through it.
 */
export class Encoder extends Transform {
  private readonly engine: EncodeEngine;
  private slot = -1;
  private filled = 0;
  /** Bytes the current batch takes (a full batch, or the rest of a page). */
  private cap = 0;
  /** Input bytes submitted so far. */
  private offset = 0;
  private timer: NodeJS.Timeout | null = null;
  private headerSent = false;
  private readonly room = new ReadableRoom(this);

  constructor(options: EncoderOptions = {}) {
    super({ readableHighWaterMark: 4 * 1024 * 1024 });
    this.engine = new EncodeEngine(
      options,
      (frame, release) => {
        // Copy out of the shared slot: pushed chunks belong to the consumer from now on.
        this.push(Buffer.from(frame));
        release();
      },
      (err) => this.destroy(err),
    );
    this.engine.setOutputProbe(() => this.room.backedUp());
  }

  /** Totals so far (frames, pages, bytes, page kinds, codecs). */
  get totals(): EncodeTotals {
    return this.engine.totals;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.clearTimer();
    if (!this.headerSent) {
      this.headerSent = true;
      this.push(this.engine.streamHeader);
    }
    this.fill(chunk)
      .then(() => {
        if (this.filled > 0) this.timer = setTimeout(() => this.flushPartial(), this.engine.options.flushDelayMs);
        return this.room.wait(); // memory stays bounded when the consumer is slow
      })
      .then(() => callback(), callback);
  }

  override _read(size: number): void {
    this.room.wake();
    super._read(size);
  }

  private async fill(chunk: Uint8Array): Promise<void> {
    let at = 0;
    while (at < chunk.length) {
      if (this.slot < 0) {
        this.slot = await this.engine.acquire();
        this.filled = 0;
        // After a flush in the middle of a page, the next batch is just the rest of that
        // page, so later pages stay on the page grid (pfn = offset / page size) where zero
        // and repeated pages are found.
        const misaligned = this.offset % this.engine.options.pageSize;
        this.cap = misaligned ? this.engine.options.pageSize - misaligned : this.engine.batchBytes;
      }
      const n = Math.min(this.cap - this.filled, chunk.length - at);
      this.engine.input(this.slot).set(chunk.subarray(at, at + n), this.filled);
      this.filled += n;
      at += n;
      if (this.filled === this.cap) this.flushPartial();
    }
  }

  /** Sends the batch being filled now, even if it is not full. */
  flushPartial(): void {
    this.clearTimer();
    if (this.slot >= 0 && this.filled > 0) {
      this.engine.submit(this.slot, this.filled, null, Math.floor(this.offset / this.engine.options.pageSize));
      this.offset += this.filled;
      this.slot = -1;
      this.filled = 0;
    }
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  override _flush(callback: TransformCallback): void {
    if (!this.headerSent) {
      this.headerSent = true;
      this.push(this.engine.streamHeader);
    }
    this.flushPartial();
    this.engine
      .drained()
      .then(() => {
        this.push(this.engine.endFrame());
        return this.engine.close();
      })
      .then(() => callback(), callback);
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.clearTimer();
    this.room.wake();
    this.engine.close().then(
      () => callback(err),
      () => callback(err),
    );
  }
}

/**
 * Creates an encoding Transform stream.
 * @param options codec, level, threads, pageSize, batchPages, cacheSlots, window, flushDelayMs
 * @throws PagepressError PP_ERR_ARG for an invalid option
 * @example
 * pipeline(fs.createReadStream('mem.img'), createEncoder({ codec: 'zstd' }), fs.createWriteStream('mem.pp'))
 */
export function createEncoder(options: EncoderOptions = {}): Encoder {
  return new Encoder(options);
}
