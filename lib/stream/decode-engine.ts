/**
 * The decoding pipeline: an incremental frame parser on the main thread, and workers
 * that check, decompress and reconstruct each BATCH body in place.
 *
 * Every frame header is checked where it stands before its body is read: its CRC (seeded
 * with the stream header's, so a frame of another stream fails), its fields against the
 * stream header, and (version 2) its place: the frame index and the decoded offset it
 * says it belongs at must be the next ones (a frame moved, dropped or repeated stops the
 * stream there). Workers check each image against the frame and stream headers (page
 * count, page size, decoded length) before writing a page.
 *
 * Writing a regular file (writeFd), each worker writes its own batch at the offset its
 * header gives, already checked against the frames before it, so batches need not wait
 * for their turn. Version 1 frames do not say where they go: the main thread writes
 * them, in order. After an error the caller cuts the file back to the frames delivered
 * (a batch written ahead of a bad frame only ever lies beyond it).
 *
 * Parser states: STREAM_HEADER (20 or 32 bytes) -> FRAME_HEADER (40; 24 in version 1) ->
 * BODY (bodyLength bytes, copied straight into a slot) -> FRAME_HEADER ... -> END_BODY
 * (40; 32) -> DONE (any further byte is PP_ERR_TRAILING). Every header is validated (CRC
 * first, then limits) before its body is buffered, so a hostile length never sizes
 * anything. Decoded batches reach the sink in stream order; after an error nothing more
 * is delivered, so the output ends at the last good frame.
 */
import { addon } from '../native';
import { ErrorCodes, PagepressError } from '../errors';
import { END_BODY_BYTES, FRAME_HEADER_BYTES, FrameType, imageBound, MAX_CACHE_BYTES, STREAM_HEADER_BYTES_V1, StreamFlags } from '../format/constants';
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
  FrameHeader,
  frameHeaderBytes,
  frameSeed,
  maxBodyLength,
  StreamHeader,
  streamDigest,
  streamHeaderLength,
} from '../format/frame';
import { createSlab, Slab, slotIn, slotOut } from './slab';
import { writeAt } from './fd-io';
import { WorkerPool } from './pool';
import { JobResult, WRITER_BYTES } from './protocol';
import { DecoderOptions, resolveDecoderOptions } from './options';
import { FrameSink } from './encode-engine';

/** Limits a decoder enforces on what a stream header may ask for. */
export interface DecoderLimits {
  /** Largest batch (batchPages x pageSize) accepted, bytes; default 64 MiB. */
  maxBatchBytes?: number;
  /**
   * Largest page cache accepted, bytes; default MAX_CACHE_BYTES (4 GiB - 1). The cache is
   * one SharedArrayBuffer whose pages the kernel backs only once a page is cached, so its
   * resident size grows with the pages actually sent, never beyond this.
   */
  maxCacheBytes?: number;
  /**
   * A regular file the workers write decoded batches to themselves (positional writes,
   * starting at `writeBase`, zero pages left as holes); the sink then only releases slots.
   * The caller sets the file's final length (ftruncate) after finish(), or after close()
   * on failure.
   */
  writeFd?: number;
  writeBase?: number;
}

/** Totals of a decoder. */
export interface DecodeTotals {
  frames: number;
  pages: number;
  rawBytes: number;
  streamBytes: number;
  kinds: number[];
  /** Frames per wire codec id. */
  codecs: Record<number, number>;
}

const enum State {
  STREAM_HEADER,
  FRAME_HEADER,
  BODY,
  END_BODY,
  DONE,
}

/** Zero pages of a batch the main thread rewrites (read only). */
const ZEROS = new Uint8Array(1 << 20);

/** The decoding pipeline; see the file comment. */
export class DecodeEngine {
  readonly options: Required<DecoderOptions> & Required<DecoderLimits>;
  header: StreamHeader | null = null;
  readonly totals: DecodeTotals = { frames: 0, pages: 0, rawBytes: 0, streamBytes: 0, kinds: [0, 0, 0, 0, 0], codecs: {} };
  end: EndTotals | null = null;
  private slab: Slab | null = null;
  private pool: WorkerPool | null = null;
  private state = State.STREAM_HEADER;
  private readonly small = Buffer.alloc(Math.max(FRAME_HEADER_BYTES, END_BODY_BYTES));
  /** Bytes the current small structure (stream header, frame header, END body) takes. */
  private need = STREAM_HEADER_BYTES_V1;
  private smallFill = 0;
  private frame: FrameHeader | null = null;
  private frameOffset = 0;
  private frameIndex = 0;
  private slot = -1;
  private bodyFill = 0;
  private offset = 0;
  private free: number[] = [];
  private readonly waiters: Array<() => void> = [];
  /** Finished batches waiting for their turn, or the error that stops the stream at that point. */
  private readonly ready = new Map<number, { slot: number; result: JobResult; placedAt: number } | { error: Error }>();
  /** Decoded bytes of the frames whose headers were read: where the next frame belongs (version 2). */
  private placedBytes = 0;
  /** Pages of the BATCH frames whose headers were read (version 1 byte streams: the next batch's first pfn). */
  private placedPages = 0;
  /** Digest of the frames delivered so far (lib/format/frame.ts streamDigest). */
  private digest = 0;
  private readonly rewrites = new Set<Promise<void>>();
  private readonly idle: Array<() => void> = [];
  private seq = 0;
  /** BATCH frames submitted so far: the cache turn of the next one. */
  private batches = 0;
  private nextOut = 0;
  private held = 0;
  private failed: Error | null = null;

  /** A decoder whose batches go to `sink` in stream order. */
  constructor(
    options: DecoderOptions & DecoderLimits,
    private readonly sink: FrameSink,
    private readonly onError: (err: Error) => void,
  ) {
    this.options = {
      ...resolveDecoderOptions(options),
      maxBatchBytes: options.maxBatchBytes ?? 64 * 1024 * 1024,
      maxCacheBytes: options.maxCacheBytes ?? MAX_CACHE_BYTES,
      writeFd: options.writeFd ?? -1,
      writeBase: options.writeBase ?? 0,
    };
  }

  /** Feeds stream bytes; resolves when they are parsed and their bodies handed to workers. */
  async write(chunk: Uint8Array): Promise<void> {
    let at = 0;
    while (at < chunk.length) {
      if (this.failed) throw this.failed;
      switch (this.state) {
        case State.STREAM_HEADER:
        case State.FRAME_HEADER:
        case State.END_BODY: {
          const need = this.need;
          const n = Math.min(need - this.smallFill, chunk.length - at);
          this.small.set(chunk.subarray(at, at + n), this.smallFill);
          this.smallFill += n;
          at += n;
          this.offset += n;
          if (this.smallFill === need) {
            this.smallFill = 0;
            await this.onSmall(this.small.subarray(0, need));
          }
          break;
        }
        case State.BODY: {
          const h = this.frame!;
          const n = Math.min(h.bodyLength - this.bodyFill, chunk.length - at);
          slotIn(this.slab!, this.slot).set(chunk.subarray(at, at + n), this.bodyFill);
          this.bodyFill += n;
          at += n;
          this.offset += n;
          if (this.bodyFill === h.bodyLength) this.submitBody();
          break;
        }
        case State.DONE:
          return this.stopAt(new PagepressError(`${chunk.length - at} bytes of trailing data at offset ${this.offset} after the END frame`, ErrorCodes.TRAILING, { offset: this.offset }));
      }
    }
  }

  /**
   * Where the rest of the current frame body goes, for a caller that can read it straight
   * into its slot (decodeFd): a view of the slot, or null when the parser is not inside a
   * body (then feed write()).
   */
  directTarget(): Uint8Array | null {
    if (this.failed || this.state !== State.BODY) return null;
    return slotIn(this.slab!, this.slot).subarray(this.bodyFill, this.frame!.bodyLength);
  }

  /** Accounts `n` bytes read into directTarget(). */
  directRead(n: number): void {
    this.bodyFill += n;
    this.offset += n;
    if (this.bodyFill === this.frame!.bodyLength) this.submitBody();
  }

  /**
   * Stops the stream at the current point: every batch submitted before it is still
   * delivered, then the decoder fails with `err` (so output ends at the last good frame).
   */
  private stopAt(err: Error): Promise<never> {
    if (!this.failed && ![...this.ready.values()].some((v) => 'error' in v)) {
      this.ready.set(this.seq, { error: err });
      this.deliver();
    }
    return new Promise<never>((_resolve, reject) => {
      if (this.failed) return reject(this.failed);
      this.idle.push(() => reject(this.failed ?? err));
    });
  }

  private async onSmall(bytes: Uint8Array): Promise<void> {
    try {
      if (this.state === State.STREAM_HEADER) {
        const length = streamHeaderLength(bytes);
        if (bytes.length < length) {
          // A version 2 header: read the rest of it.
          this.smallFill = bytes.length;
          this.need = length;
          return;
        }
        this.header = decodeStreamHeader(bytes);
        this.start(this.header);
        this.totals.streamBytes = length;
        this.need = frameHeaderBytes(this.header);
        this.state = State.FRAME_HEADER;
        return;
      }
      if (this.state === State.FRAME_HEADER) {
        const stream = this.header!;
        this.frameOffset = this.offset - this.need;
        const h = decodeFrameHeader(bytes, stream, this.frameOffset, this.frameIndex);
        checkFramePlace(h, { seq: this.frameIndex, outOffset: this.placedBytes }, stream, this.frameOffset, this.frameIndex);
        this.frame = h;
        if (h.type === FrameType.END) {
          this.need = endBodyBytes(stream);
          this.state = State.END_BODY;
          return;
        }
        this.placedBytes += h.outLength;
        this.slot = await this.acquire();
        this.bodyFill = 0;
        this.state = State.BODY;
        return;
      }
      // END body
      const bodyAt = this.frameOffset + frameHeaderBytes(this.header!);
      checkBodyCrc(bytes, this.frame!, bodyAt, this.frameIndex);
      try {
        this.end = decodeEndBody(bytes, this.header!);
      } catch (err) {
        throw Object.assign(err as PagepressError, { offset: bodyAt + 36, frame: this.frameIndex });
      }
      this.state = State.DONE;
    } catch (err) {
      await this.stopAt(err as Error);
    }
  }

  private start(h: StreamHeader): void {
    const o = this.options;
    const bytes = checkStreamLimits(h, { maxBatchBytes: o.maxBatchBytes, maxCacheBytes: o.maxCacheBytes, who: 'decoder', nameOptions: true });
    const batchBytes = h.batchPages * h.pageSize;
    let cache: SharedArrayBuffer | null = null;
    let turn: SharedArrayBuffer | null = null;
    if (bytes > 0) {
      cache = new SharedArrayBuffer(bytes);
      addon.cacheInit(new Uint8Array(cache), h.pageSize);
      turn = new SharedArrayBuffer(8);
    }
    this.slab = createSlab({ slots: o.window, inCapacity: maxBodyLength(h.batchPages, h.pageSize), outCapacity: Math.max(batchBytes, imageBound(h.batchPages, h.pageSize)) });
    for (let i = 0; i < o.window; i++) this.free.push(i);
    let writer: SharedArrayBuffer | null = null;
    if (o.writeFd >= 0) {
      writer = new SharedArrayBuffer(WRITER_BYTES);
    }
    this.pool = WorkerPool.create(o.threads, { slab: this.slab, pageSize: h.pageSize, batchPages: h.batchPages, cache, turn, writer, stream: h, frameSeed: frameSeed(h) });
  }

  private acquire(): Promise<number> {
    const slot = this.free.pop();
    if (slot !== undefined) return Promise.resolve(slot);
    return new Promise((resolve, reject) => this.waiters.push(() => (this.failed ? reject(this.failed) : resolve(this.free.pop()!))));
  }

  private submitBody(): void {
    const h = this.frame!;
    const stream = this.header!;
    const slot = this.slot;
    const seq = this.seq++;
    const verbatim = h.type === FrameType.VERBATIM;
    const turn = verbatim ? -1 : this.batches++;
    const frameIndex = this.frameIndex++;
    const frameOffset = this.frameOffset;
    this.totals.streamBytes += frameHeaderBytes(stream) + h.bodyLength;
    this.state = State.FRAME_HEADER;
    const writeFd = this.options.writeFd;
    // Version 2 frames say where they go (checked above); version 1 ones are written by the main thread.
    const placedAt = writeFd >= 0 && h.outOffset >= 0 ? this.options.writeBase + h.outOffset : -1;
    const firstPfn = stream.version === 1 && (stream.flags & StreamFlags.RAW) !== 0 && !verbatim ? this.placedPages : -1;
    if (!verbatim) this.placedPages += h.pages;
    // Long-range streams: every frame on worker 0, in stream order (its zstd stream lives there).
    const worker = (stream.longWindowLog ?? 0) > 0 ? 0 : undefined;
    this.pool!.run({ kind: 'decode', slot, header: h, turn, firstPfn, wantPfns: false, writeFd, writeAt: placedAt }, worker)
      .then((result) => {
        this.ready.set(seq, { slot, result, placedAt });
        this.deliver();
      })
      .catch((err: PagepressError) => {
        // Say where in the stream: frame index and offset, plus the image offset the native decoder gave.
        const inner = err.offset !== undefined ? ` (image offset ${err.offset})` : '';
        const wrapped = new PagepressError(`frame ${frameIndex} at offset ${frameOffset}: ${err.message}${inner}`, err.code ?? ErrorCodes.WORKER, {
          offset: frameOffset,
          frame: frameIndex,
          page: err.page,
          record: err.record ?? 'batch image',
        });
        this.ready.set(seq, { error: wrapped });
        this.deliver();
      });
  }

  private deliver(): void {
    let next;
    while (!this.failed && (next = this.ready.get(this.nextOut))) {
      this.ready.delete(this.nextOut);
      if ('error' in next) {
        // Everything before this point has reached the sink; the sink gets nothing after it.
        this.fail(next.error);
        return;
      }
      this.nextOut++;
      const { slot, result, placedAt } = next;
      const at = this.options.writeBase + this.totals.rawBytes;
      this.totals.frames++;
      this.totals.codecs[result.codec] = (this.totals.codecs[result.codec] ?? 0) + 1;
      for (let k = 0; k < 5; k++) this.totals.kinds[k] += result.stats[k];
      this.totals.pages += result.stats[0] + result.stats[1] + result.stats[2] + result.stats[3] + result.stats[4];
      this.totals.rawBytes += result.length;
      this.digest = streamDigest(this.digest, result.digest);
      this.held++;
      let released = false;
      const data = slotOut(this.slab!, slot, result.length);
      const release = () => {
        if (released) return;
        released = true;
        this.held--;
        this.free.push(slot);
        this.waiters.shift()?.();
        if (this.free.length === this.options.window) for (const cb of this.idle.splice(0)) cb();
      };
      if (this.options.writeFd < 0 || placedAt === at) {
        this.sink(data, release);
        continue;
      }
      // Not written by the worker (version 1): write it here, in order.
      const rewrite = this.rewrite(data, result.dataRanges ?? [0, result.length], at).then(
        () => this.sink(data, release),
        (err: Error) => {
          this.fail(err);
          release();
        },
      );
      this.rewrites.add(rewrite);
      void rewrite.then(() => this.rewrites.delete(rewrite));
    }
  }

  /** Writes a decoded batch at `at`: `dataRanges` from `data`, zeros between them. */
  private async rewrite(data: Uint8Array, dataRanges: number[], at: number): Promise<void> {
    const fd = this.options.writeFd;
    let done = 0;
    for (let k = 0; k <= dataRanges.length; k += 2) {
      const start = k < dataRanges.length ? dataRanges[k] : data.length;
      for (let z = done; z < start; z += ZEROS.length) await writeAt(fd, ZEROS.subarray(0, Math.min(ZEROS.length, start - z)), at + z);
      if (k === dataRanges.length) break;
      await writeAt(fd, data.subarray(start, dataRanges[k + 1]), at + start);
      done = dataRanges[k + 1];
    }
  }

  /**
   * Call at end of input: checks that the stream ended with a valid END frame whose
   * totals match what was decoded, after every batch has been delivered and released.
   */
  async finish(): Promise<EndTotals> {
    if (this.failed) throw this.failed;
    if (this.state !== State.DONE) {
      const what =
        this.state === State.STREAM_HEADER
          ? 'the stream header'
          : this.state === State.BODY
            ? `the body of frame ${this.frameIndex}`
            : this.state === State.END_BODY
              ? 'the END frame'
              : `frame ${this.frameIndex}'s header`;
      return this.stopAt(
        new PagepressError(`stream truncated at offset ${this.offset}: input ended inside ${what} (no END frame)`, ErrorCodes.TRUNCATED, { offset: this.offset, frame: this.frameIndex }),
      );
    }
    await this.drained();
    const e = this.end!;
    const t = this.totals;
    try {
      checkEndTotals(e, { frames: t.frames, pages: t.pages, rawBytes: t.rawBytes, streamBytes: t.streamBytes, digest: this.digest }, this.frameOffset);
    } catch (err) {
      return this.stopAt(err as Error);
    }
    return e;
  }

  private drained(): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.seq === this.nextOut && this.held === 0 && (!this.slab || this.free.length === this.options.window)) return Promise.resolve();
    return new Promise((resolve, reject) => this.idle.push(() => (this.failed ? reject(this.failed) : resolve())));
  }

  private fail(err: Error): void {
    if (this.failed) return;
    this.failed = err;
    for (const w of this.waiters.splice(0)) w();
    for (const cb of this.idle.splice(0)) cb();
    void this.pool?.close();
    this.onError(err);
  }

  /** Stops the workers, and waits for the main thread's own writes. */
  async close(): Promise<void> {
    if (this.pool) await this.pool.close();
    await Promise.all([...this.rewrites]);
  }
}
