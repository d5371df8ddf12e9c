import { Transform, TransformCallback } from 'node:stream';
import { DecodeEngine, DecoderLimits, DecodeTotals } from './decode-engine';
import { DecoderOptions } from './options';
import { EndTotals } from '../format/frame';

/**
 * Transform stream: a pagepress stream in, the original bytes out, byte for byte.
 * Corrupt, truncated or unknown input destroys the stream with a PagepressError that
 * carries the stream offset; nothing past the last good frame is emitted.
 */
export class Decoder extends Transform {
  private readonly engine: DecodeEngine;

  constructor(options: DecoderOptions & DecoderLimits = {}) {
    super({ readableHighWaterMark: 4 * 1024 * 1024 });
    this.engine = new DecodeEngine(
      options,
      (data, release) => {
        this.push(Buffer.from(data));
        release();
      },
      (err) => this.destroy(err),
    );
  }

  /** Totals decoded so far. */
  get totals(): DecodeTotals {
    return this.engine.totals;
  }

  /** The END frame's totals, once seen. */
  get endTotals(): EndTotals | null {
    return this.engine.end;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.engine.write(chunk).then(() => callback(), callback);
  }

  override _flush(callback: TransformCallback): void {
    this.engine
      .finish()
      .then(() => this.engine.close())
      .then(() => callback(), callback);
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.engine.close().then(
      () => callback(err),
      () => callback(err),
    );
  }
}

/**
 * Creates a decoding Transform stream.
 * @param options threads, window, maxBatchBytes, maxCacheBytes
 * @example
 * pipeline(fs.createReadStream('mem.pp'), createDecoder(), fs.createWriteStream('mem.img'))
 */
export function createDecoder(options: DecoderOptions & DecoderLimits = {}): Decoder {
  return new Decoder(options);
}
