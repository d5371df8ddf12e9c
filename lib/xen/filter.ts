/**
 * The page-aware Xen filter, encoding side: a Transform from a Xen save/migration stream
 * to a pagepress stream with the XEN flag (docs/XEN.md, docs/FORMAT.md).
 *
 * The XenReader splits the input into verbatim bytes (headers, records, each PAGE_DATA's
 * header and pfn array) and page contents. Verbatim bytes go out as VERBATIM frames; the
 * pages of each PAGE_DATA record go out as BATCH frames keyed by their guest pfns, so with
 * a page cache a page re-sent in a later pre-copy iteration travels as UNCHANGED or as a
 * DELTA against the copy sent before. Frames decode to their bytes in order, so the plain
 * Decoder regenerates the original stream byte for byte; nothing Xen-specific is needed
 * to decode.
 *
 * Latency: Xen's peers wait for each other at END, CHECKPOINT and CHECKPOINT_END. The
 * reader reports those points and everything pending is submitted there; whatever is
 * pending when input pauses for `flushDelayMs` is submitted too. Nothing waits for EOF.
 *
 * Memory: the engine's fixed window of slots, plus the input chunk being parsed, held
 * (as views, no copy) while every slot is busy: no more input is taken until its bytes
 * are in slots, nor while the output buffer is full (ReadableRoom). Page contents from a
 * file or pipe can also be read straight into slots (directTarget/directRead).
 */
import { Transform, TransformCallback } from 'node:stream';
import { EncodeEngine, EncodeTotals } from '../stream/encode-engine';
import { EncoderOptions } from '../stream/options';
import { StreamFlags } from '../format/constants';
import { ErrorCodes, PagepressError } from '../errors';
import { XenReader, XenReaderOptions, XenRecordInfo } from './reader';
import { ReadableRoom } from '../stream/room';

/** Xen page size: PAGE_DATA always carries 4 KiB pages. */
const XEN_PAGE = 4096;
/** Default page cache in Xen mode: 262144 slots = 1 GiB of pages (+ 2 MiB of tags). */
export const XEN_DEFAULT_CACHE_SLOTS = 262144;

/** Options of the Xen encoder: the encoder's, plus how to read the Xen stream. */
export interface XenEncoderOptions extends EncoderOptions, XenReaderOptions {}

/** Work that could not get a slot yet, in input order (bytes are private copies). */
type Pending = { kind: 'verbatim'; bytes: Uint8Array } | { kind: 'record'; pfns: Float64Array } | { kind: 'pages'; bytes: Uint8Array } | { kind: 'flush' };

/** What the slot being filled holds. */
const enum Unit {
  NONE,
  VERBATIM,
  PAGES,
}

/** Transform stream: Xen stream in, pagepress XEN stream out. See the file comment. */
export class XenEncoder extends Transform {
  private readonly engine: EncodeEngine;
  private readonly reader: XenReader;
  private unit = Unit.NONE;
  private slot = -1;
  private filled = 0;
  /** pfns of the PAGE_DATA record whose pages are arriving, and the index of the first page in the open slot. */
  private pfns: Float64Array = new Float64Array(0);
  private firstPage = 0;
  private readonly pending: Pending[] = [];
  private replaying = false;
  private timer: NodeJS.Timeout | null = null;
  private headerSent = false;
  /** The input chunk being parsed: held (not called back) until its bytes are in slots. */
  private chunk: Uint8Array | null = null;
  private readonly room = new ReadableRoom(this);

  /** @throws PagepressError PP_ERR_ARG for an invalid option. */
  constructor(options: XenEncoderOptions = {}) {
    super({ readableHighWaterMark: 4 * 1024 * 1024 });
    if (options.pageSize !== undefined && options.pageSize !== XEN_PAGE) {
      throw new PagepressError(`options.pageSize must be ${XEN_PAGE} for Xen streams, got ${options.pageSize}`, ErrorCodes.ARG);
    }
    this.engine = new EncodeEngine(
      { ...options, pageSize: XEN_PAGE, cacheSlots: options.cacheSlots ?? XEN_DEFAULT_CACHE_SLOTS },
      (frame, release) => {
        this.push(Buffer.from(frame));
        release();
      },
      (err) => this.destroy(err),
      StreamFlags.XEN,
    );
    this.engine.setOutputProbe(() => this.room.backedUp());
    this.reader = new XenReader(
      {
        verbatim: (bytes) => this.verbatim(bytes),
        pageRecord: (pfns, info) => this.pageRecord(pfns, info),
        pageBytes: (bytes) => this.pageBytes(bytes),
        flushPoint: () => this.flushPoint(),
      },
      { format: options.format, colo: options.colo, legacy: options.legacy },
    );
  }

  /** Totals so far (frames, pages, bytes, page kinds, codecs). */
  get totals(): EncodeTotals {
    return this.engine.totals;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.clearTimer();
    this.sendHeader();
    this.chunk = chunk;
    try {
      this.reader.push(chunk);
    } catch (err) {
      callback(err as Error);
      return;
    }
    this.drain()
      .then(() => {
        if (this.unit !== Unit.NONE) this.timer = setTimeout(() => this.flushPoint(), this.engine.options.flushDelayMs);
        return this.room.wait(); // memory stays bounded when the consumer is slow
      })
      .then(() => callback(), callback);
  }

  override _read(size: number): void {
    this.room.wake();
    super._read(size);
  }

  /** Resolves when the output buffer has room (direct readers call it before each read). */
  waitForRoom(): Promise<void> {
    return this.room.wait();
  }

  override _flush(callback: TransformCallback): void {
    this.clearTimer();
    this.sendHeader();
    try {
      this.reader.end();
    } catch (err) {
      callback(err as Error);
      return;
    }
    this.flushPoint();
    this.drain()
      .then(() => this.engine.drained())
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

  private sendHeader(): void {
    if (this.headerSent) return;
    this.headerSent = true;
    this.push(this.engine.streamHeader);
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /**
   * Bytes to keep for later: a view when they lie in the current input chunk (it is ours
   * until its callback, which waits for the queue to drain), else a copy (the reader's own
   * buffers for headers and pfn lists are reused).
   */
  private keep(bytes: Uint8Array): Uint8Array {
    return this.chunk && bytes.buffer === this.chunk.buffer ? bytes : Buffer.from(bytes);
  }

  /** True when new work must queue behind work that is still waiting for a slot. */
  private get queued(): boolean {
    return this.pending.length > 0 && !this.replaying;
  }

  // --- reader handlers (synchronous) ---

  private verbatim(bytes: Uint8Array): void {
    if (this.queued) return void this.pending.push({ kind: 'verbatim', bytes: this.keep(bytes) });
    let at = 0;
    while (at < bytes.length) {
      if (!this.open(Unit.VERBATIM)) {
        this.pending.unshift({ kind: 'verbatim', bytes: this.keep(bytes.subarray(at)) });
        return;
      }
      const n = Math.min(this.engine.batchBytes - this.filled, bytes.length - at);
      this.engine.input(this.slot).set(bytes.subarray(at, at + n), this.filled);
      this.filled += n;
      at += n;
      if (this.filled === this.engine.batchBytes) this.submit();
    }
  }

  private pageRecord(pfns: Float64Array, _info?: XenRecordInfo): void {
    if (this.queued) return void this.pending.push({ kind: 'record', pfns });
    // The record's header and pfn list (already in the verbatim slot) go out before its pages.
    this.submit();
    this.pfns = pfns;
    this.firstPage = 0;
  }

  private pageBytes(bytes: Uint8Array): void {
    if (this.queued) return void this.pending.push({ kind: 'pages', bytes: this.keep(bytes) });
    let at = 0;
    while (at < bytes.length) {
      if (!this.open(Unit.PAGES)) {
        this.pending.unshift({ kind: 'pages', bytes: this.keep(bytes.subarray(at)) });
        return;
      }
      if (this.firstPage >= this.pfns.length) throw new PagepressError('page bytes beyond the pages of the current PAGE_DATA record (reader bug)', ErrorCodes.FORMAT);
      const cap = this.pageCap();
      const n = Math.min(cap - this.filled, bytes.length - at);
      this.engine.input(this.slot).set(bytes.subarray(at, at + n), this.filled);
      this.filled += n;
      at += n;
      if (this.filled === cap) this.submit();
    }
  }

  private flushPoint(): void {
    this.clearTimer();
    if (this.queued) return void this.pending.push({ kind: 'flush' });
    this.submit();
  }

  // --- direct reads (lib/stream/files.ts feed) ---

  /**
   * Where the next page-content bytes can be read to directly, skipping the input chunk
   * and its copy: a view of the open page slot, or null (no page bytes due, work queued,
   * no free slot). Until {@link directRead} the idle flush is off, so the slot stays put.
   */
  directTarget(): Uint8Array | null {
    const due = this.reader.pageBytesDue;
    if (due === 0 || this.pending.length > 0 || !this.open(Unit.PAGES)) return null;
    this.clearTimer();
    const n = Math.min(this.pageCap() - this.filled, due);
    return this.engine.input(this.slot).subarray(this.filled, this.filled + n);
  }

  /** `n` bytes (1..the target's length) were read into the view {@link directTarget} gave. */
  directRead(n: number): void {
    const cap = this.pageCap();
    this.filled += n;
    this.reader.skipPageBytes(n);
    if (this.filled === cap) this.submit();
    if (this.unit !== Unit.NONE) this.timer = setTimeout(() => this.flushPoint(), this.engine.options.flushDelayMs);
  }

  /** Bytes the open page slot takes: a batch never spans two records. */
  private pageCap(): number {
    return Math.min(this.engine.batchBytes, (this.pfns.length - this.firstPage) * XEN_PAGE);
  }

  // --- slots ---

  /** Makes the open slot hold `unit` with room left; false when no slot is free. */
  private open(unit: Unit): boolean {
    if (this.unit !== unit) this.submit();
    if (this.unit === Unit.NONE) {
      const slot = this.engine.tryAcquire();
      if (slot < 0) return false;
      this.slot = slot;
      this.unit = unit;
      this.filled = 0;
    }
    return true;
  }

  /**
   * Submits the open slot. A page slot goes out in whole pages; a partial page (input
   * paused mid-page) moves to a fresh slot when one is free, else the slot stays open.
   */
  private submit(): void {
    if (this.unit === Unit.NONE) return;
    if (this.unit === Unit.VERBATIM) {
      if (this.filled > 0) this.engine.submitVerbatim(this.slot, this.filled);
      else this.engine.cancel(this.slot);
      this.unit = Unit.NONE;
      return;
    }
    const pages = Math.floor(this.filled / XEN_PAGE);
    const tail = this.filled - pages * XEN_PAGE;
    if (pages === 0) {
      if (tail === 0) {
        this.engine.cancel(this.slot);
        this.unit = Unit.NONE;
      }
      return; // only part of one page: nothing to send yet
    }
    let next = -1;
    if (tail > 0 && (next = this.engine.tryAcquire()) < 0) return;
    const pfns = this.pfns.slice(this.firstPage, this.firstPage + pages);
    if (next >= 0) this.engine.input(next).set(this.engine.input(this.slot).subarray(pages * XEN_PAGE, this.filled));
    this.engine.submit(this.slot, pages * XEN_PAGE, pfns);
    this.firstPage += pages;
    if (next >= 0) {
      this.slot = next;
      this.filled = tail;
    } else {
      this.unit = Unit.NONE;
    }
  }

  /** Moves work that waited for a slot into slots, in order, waiting for slots as needed. */
  private async drain(): Promise<void> {
    while (this.pending.length > 0) {
      const slot = await this.engine.acquire();
      this.engine.cancel(slot); // a slot is free now; the handlers take it synchronously
      this.replaying = true;
      try {
        while (this.pending.length > 0 && this.engine.hasFreeSlot) {
          const p = this.pending.shift()!;
          const before = this.pending.length;
          if (p.kind === 'verbatim') this.verbatim(p.bytes);
          else if (p.kind === 'pages') this.pageBytes(p.bytes);
          else if (p.kind === 'record') this.pageRecord(p.pfns);
          else this.flushPoint();
          if (this.pending.length > before) break; // it ran out of slots again
        }
      } finally {
        this.replaying = false;
      }
    }
  }
}

/**
 * Creates a Transform that encodes a Xen save/migration stream (xl, libxl or libxc
 * layer) into a pagepress stream; decode it with the ordinary decoder.
 * @param options encoder options (cacheSlots default 262144 = 1 GiB) plus the Xen reader's (format, colo, legacy)
 * @throws PagepressError PP_ERR_ARG for an invalid option
 * @example
 * pipeline(fs.createReadStream('vm.save'), createXenEncoder(), fs.createWriteStream('vm.save.pp'))
 */
export function createXenEncoder(options: XenEncoderOptions = {}): XenEncoder {
  return new XenEncoder(options);
}
