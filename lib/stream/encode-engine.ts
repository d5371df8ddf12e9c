/**
 * The encoding pipeline shared by the Transform stream, the file path and the batch API.
 *
 *   acquire() -> fill input(slot) -> submit(slot, length) -> worker -> in-order sink(frame, release)
 *
 * States of a slot: free -> filling (caller) -> in a worker -> ready (result back, waiting
 * for its turn in order) -> held by the sink -> free. At most `window` slots exist, so
 * memory is fixed at construction: window x (batch bytes + frame bound), plus each
 * worker's scratch image (one frame bound) and codec contexts.
 */
import { addon, Stat } from '../native';
import { ErrorCodes, PagepressError } from '../errors';
import { AutoCodec } from '../codec/auto';
import { codecsById, codecsByName, maxBound } from '../codec/registry';
import { FRAME_HEADER_BYTES, IMAGE_HEADER_BYTES, imageBound, STREAM_VERSION, StreamFlags } from '../format/constants';
import { encodeEndFrame, encodeStreamHeader, frameSeed, randomStreamId, StreamHeader, streamDigest } from '../format/frame';
import { createSlab, Slab, slotIn, slotOut } from './slab';
import { WorkerPool } from './pool';
import { JobResult } from './protocol';
import { EncoderOptions, ResolvedEncoderOptions, resolveEncoderOptions } from './options';

/** Running totals of an encoder; `kinds` is indexed by page kind (lib/native.ts PageKind). */
export interface EncodeTotals {
  frames: number;
  pages: number;
  /** Input bytes. */
  rawBytes: number;
  /** Output bytes so far, stream header included. */
  streamBytes: number;
  kinds: number[];
  /** Frames per codec name. */
  codecs: Record<string, number>;
}

/** Receives frames (or decoded batches) in order; must call `release` once it no longer needs the bytes. */
export type FrameSink = (frame: Uint8Array, release: () => void) => void;

/** The encoding pipeline; see the file comment. */
export class EncodeEngine {
  readonly options: ResolvedEncoderOptions;
  readonly slab: Slab;
  readonly pool: WorkerPool;
  /** The stream header bytes; the caller writes them first. */
  readonly streamHeader: Buffer;
  /** The stream header's fields. */
  readonly stream: StreamHeader;
  /** Digest of the frames delivered so far (lib/format/frame.ts streamDigest). */
  private digest = 0;
  readonly totals: EncodeTotals;
  private readonly free: number[] = [];
  private readonly waiters: Array<() => void> = [];
  private readonly ready = new Map<number, { slot: number; result: JobResult }>();
  private readonly idle: Array<() => void> = [];
  private readonly auto: AutoCodec | null;
  private seq = 0;
  /** Batches submitted so far: the cache turn of the next one. */
  private batches = 0;
  private nextOut = 0;
  private held = 0;
  private nextPfn = 0;
  private failed: Error | null = null;
  /**
   * Whether the output side is the bottleneck right now (the `auto` codec's second signal).
   * By default: the sink holds most of the window. Sinks that release at once (the
   * Transform encoders copy each frame out) set their own probe with {@link setOutputProbe}.
   */
  private outputBound: () => boolean = () => this.held * 2 >= this.options.window;

  /**
   * Starts the workers. `flags` is StreamFlags.RAW (a byte stream cut into pages) or
   * StreamFlags.XEN (the Xen filter: explicit pfns and VERBATIM frames).
   * @throws PagepressError PP_ERR_ARG for a bad option.
   */
  constructor(
    options: EncoderOptions,
    private readonly sink: FrameSink,
    private readonly onError: (err: Error) => void,
    flags: number = StreamFlags.RAW,
  ) {
    const o = (this.options = resolveEncoderOptions(options));
    const batchBytes = o.batchPages * o.pageSize;
    // The input region also holds the sections an in-place image puts after the pages.
    this.slab = createSlab({
      slots: o.window,
      inCapacity: Math.max(batchBytes, imageBound(o.batchPages, o.pageSize) - IMAGE_HEADER_BYTES),
      outCapacity: FRAME_HEADER_BYTES + maxBound(imageBound(o.batchPages, o.pageSize)),
    });
    for (let i = 0; i < o.window; i++) this.free.push(i);
    let cache: SharedArrayBuffer | null = null;
    let turn: SharedArrayBuffer | null = null;
    if (o.cacheSlots > 0) {
      cache = new SharedArrayBuffer(addon.cacheBytes(o.cacheSlots, o.pageSize));
      addon.cacheInit(new Uint8Array(cache), o.pageSize);
      turn = new SharedArrayBuffer(8);
    }
    this.stream = {
      version: STREAM_VERSION,
      flags,
      pageSize: o.pageSize,
      cacheSlots: o.cacheSlots,
      batchPages: o.batchPages,
      streamId: o.streamId ?? randomStreamId(),
      longWindowLog: o.longWindowLog,
    };
    this.streamHeader = encodeStreamHeader(this.stream);
    this.pool = WorkerPool.create(o.threads, {
      slab: this.slab,
      pageSize: o.pageSize,
      batchPages: o.batchPages,
      cache,
      turn,
      stream: this.stream,
      frameSeed: frameSeed(this.stream),
    });
    // A long-range stream is one zstd stream: no per-batch choice.
    this.auto = o.codec === 'auto' && o.longWindowLog === 0 ? new AutoCodec() : null;
    this.totals = { frames: 0, pages: 0, rawBytes: 0, streamBytes: this.streamHeader.length, kinds: [0, 0, 0, 0, 0], codecs: {} };
  }

  /** Bytes one slot takes as input (a full batch). */
  get batchBytes(): number {
    return this.options.batchPages * this.options.pageSize;
  }

  /** Waits for a free slot (this is the stream's backpressure) and returns its index. */
  acquire(): Promise<number> {
    if (this.failed) return Promise.reject(this.failed);
    const slot = this.free.pop();
    if (slot !== undefined) return Promise.resolve(slot);
    return new Promise((resolve, reject) => {
      this.waiters.push(() => (this.failed ? reject(this.failed) : resolve(this.free.pop()!)));
    });
  }

  /** A free slot now, or -1 when all are busy (no waiting). */
  tryAcquire(): number {
    if (this.failed) throw this.failed;
    return this.free.pop() ?? -1;
  }

  /** True when a slot is free right now. */
  get hasFreeSlot(): boolean {
    return this.free.length > 0;
  }

  /** The input region of a slot: a full batch. */
  input(slot: number): Uint8Array {
    return slotIn(this.slab, slot, this.batchBytes);
  }

  /**
   * Sends the first `length` bytes of a slot's input to a worker as one batch.
   * `pfns` gives each page's pfn; without it pages get consecutive pfns from `firstPfn`
   * (default: after the previous batch).
   */
  submit(slot: number, length: number, pfns: Float64Array | null = null, firstPfn?: number): void {
    if (length < 1 || length > this.batchBytes) throw new PagepressError(`batch of ${length} bytes outside 1..${this.batchBytes}`, ErrorCodes.ARG);
    const pages = Math.ceil(length / this.options.pageSize);
    const pfnBase = firstPfn ?? this.nextPfn;
    if (!pfns) this.nextPfn = pfnBase + pages;
    this.run(slot, length, pfnBase, pfns, this.codecFor(false), false);
  }

  /** Sends the first `length` bytes of a slot's input as one VERBATIM frame (Xen streams). */
  submitVerbatim(slot: number, length: number): void {
    if (length < 1 || length > this.batchBytes) throw new PagepressError(`verbatim segment of ${length} bytes outside 1..${this.batchBytes}`, ErrorCodes.ARG);
    this.run(slot, length, 0, null, this.codecFor(true), true);
  }

  /**
   * The wire codec and level of the next frame: `auto`'s per-batch choice for batches;
   * zstd where `auto` cannot choose (verbatim bytes are headers and pfn lists; a long-range
   * stream is one zstd stream), at its default level unless zstd was asked for; else the
   * codec asked for.
   */
  private codecFor(verbatim: boolean): { codec: number; level: number } {
    const { codec, level, longWindowLog } = this.options;
    if (this.auto && !verbatim) return this.auto.choose(level);
    const zstd = codecsByName.get('zstd')!;
    if (codec === 'auto' || longWindowLog > 0) return { codec: zstd.id, level: codec === 'zstd' ? level : zstd.levels.default };
    return { codec: codecsByName.get(codec)!.id, level };
  }

  private run(slot: number, length: number, pfnBase: number, pfns: Float64Array | null, choice: { codec: number; level: number }, verbatim: boolean): void {
    const seq = this.seq++;
    const turn = verbatim ? -1 : this.batches++;
    const outOffset = this.totals.rawBytes;
    this.totals.rawBytes += length;
    // Long-range streams: every frame on worker 0, in stream order (its zstd stream lives there).
    const worker = this.options.longWindowLog > 0 ? 0 : undefined;
    this.pool
      .run({ kind: 'encode', slot, length, pfnBase, pfns, codec: choice.codec, level: choice.level, turn, verbatim, seq, outOffset }, worker)
      .then((result) => {
        this.ready.set(seq, { slot, result });
        this.deliver();
      })
      .catch((err: Error) => this.fail(err));
  }

  private deliver(): void {
    let next;
    while (!this.failed && (next = this.ready.get(this.nextOut))) {
      this.ready.delete(this.nextOut);
      this.nextOut++;
      const { slot, result } = next;
      const t = this.totals;
      t.frames++;
      for (let k = 0; k < 5; k++) t.kinds[k] += result.stats[k];
      t.pages += result.stats[Stat.ZERO] + result.stats[Stat.LITERAL] + result.stats[Stat.DUP] + result.stats[Stat.UNCHANGED] + result.stats[Stat.DELTA];
      t.streamBytes += result.length;
      this.digest = streamDigest(this.digest, result.digest);
      const name = codecsById.get(result.codec)!.name;
      t.codecs[name] = (t.codecs[name] ?? 0) + 1;
      if (result.rawLength > 0 && result.stats.some((n) => n > 0))
        this.auto?.observe({ codec: result.codec, rawLength: result.rawLength, bodyLength: result.length - FRAME_HEADER_BYTES, outputBound: this.outputBound() });
      this.held++;
      let released = false;
      this.sink(slotOut(this.slab, slot, result.length), () => {
        if (released) return;
        released = true;
        this.held--;
        this.release(slot);
      });
    }
  }

  /** Replaces the output-bound probe (see `outputBound`): for sinks that release frames at once. */
  setOutputProbe(probe: () => boolean): void {
    this.outputBound = probe;
  }

  /** Returns an acquired slot without submitting it. */
  cancel(slot: number): void {
    this.release(slot);
  }

  private release(slot: number): void {
    this.free.push(slot);
    const waiter = this.waiters.shift();
    if (waiter) waiter();
    if (this.free.length === this.options.window) for (const cb of this.idle.splice(0)) cb();
  }

  /** Slots not free: batches being filled, encoded, or written. */
  get busySlots(): number {
    return this.options.window - this.free.length;
  }

  /** Resolves when every submitted batch has been delivered and released. */
  drained(): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.seq === this.nextOut && this.held === 0 && this.waiters.length === 0 && this.free.length === this.options.window) return Promise.resolve();
    return new Promise((resolve, reject) => this.idle.push(() => (this.failed ? reject(this.failed) : resolve())));
  }

  /** The END frame for the totals so far; call after drained(). */
  endFrame(): Buffer {
    const t = this.totals;
    return encodeEndFrame({ frames: t.frames, pages: t.pages, rawBytes: t.rawBytes, streamBytes: t.streamBytes, digest: this.digest }, frameSeed(this.stream));
  }

  private fail(err: Error): void {
    if (this.failed) return;
    this.failed = err;
    for (const w of this.waiters.splice(0)) w();
    for (const cb of this.idle.splice(0)) cb();
    void this.pool.close();
    this.onError(err);
  }

  /** Stops the workers. */
  close(): Promise<void> {
    return this.pool.close();
  }
}
