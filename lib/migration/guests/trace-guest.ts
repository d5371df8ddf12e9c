/**
 * Dirty-page traces: a JSON-lines file of which pages a guest dirtied in each interval
 * (format in docs/MIGRATION-GUESTS.md), recorded from any running guest's dirty log and
 * replayed over time by TraceGuest. The same per-interval sets feed writable-working-set
 * statistics, so records keep the interval structure of the recording.
 */
import * as fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, ErrorCodes, PagepressError } from '../../errors';
import { DirtyLog, GUEST_PAGE_SIZE, GuestMemory, MAX_GUEST_PAGES } from '../guest';
import { GuestThread, newGuestMemory, started, ThreadedGuest } from './threaded-guest';
import { Stat, TraceArrays, WriterState } from './workload-worker';

/** The `format` value of a trace header line. */
export const TRACE_FORMAT = 'pagepress-dirty-trace';

/** The trace format version this code reads and writes. */
export const TRACE_VERSION = 1;

/** A dirty-page trace in memory: header fields plus all records in flat arrays. */
export interface DirtyTrace extends TraceArrays {
  pageSize: number;
  pageCount: number;
  /** Nominal sampling interval of the recording, when known. */
  intervalMs?: number;
  /** What was recorded (the guest's describe()), when known. */
  source?: Record<string, unknown>;
}

/** The dirty pfns of record `k` (a view into the trace). */
export function traceRecord(trace: DirtyTrace, k: number): Uint32Array {
  return trace.pfns.subarray(trace.offsets[k], trace.offsets[k + 1]);
}

/** The header line of a trace (with its newline). */
export function formatTraceHeader(h: { pageCount: number; durationMs: number; intervalMs?: number; bytes?: boolean; source?: Record<string, unknown> }): string {
  return (
    JSON.stringify({
      format: TRACE_FORMAT,
      version: TRACE_VERSION,
      pageSize: GUEST_PAGE_SIZE,
      pageCount: h.pageCount,
      durationMs: h.durationMs,
      intervalMs: h.intervalMs,
      bytes: h.bytes ?? false,
      source: h.source,
    }) + '\n'
  );
}

/** One record line (with its newline): the pfns dirtied in the interval ending at `tMs`. */
export function formatTraceRecord(tMs: number, pfns: ArrayLike<number>, bytes?: ArrayLike<number>): string {
  const rec: { t: number; pfns: number[]; bytes?: number[] } = { t: tMs, pfns: Array.from(pfns) };
  if (bytes) rec.bytes = Array.from(bytes);
  return JSON.stringify(rec) + '\n';
}

/** Writes `trace` to `file` (whole, through a temporary file renamed into place). */
export async function writeTrace(file: string, trace: DirtyTrace): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  const out = fs.createWriteStream(tmp);
  await pipeline(
    (function* () {
      yield formatTraceHeader({ ...trace, bytes: trace.bytes !== null });
      for (let k = 0; k < trace.times.length; k++) {
        const a = trace.offsets[k];
        const b = trace.offsets[k + 1];
        yield formatTraceRecord(trace.times[k], trace.pfns.subarray(a, b), trace.bytes?.subarray(a, b));
      }
    })(),
    out,
  );
  await fs.promises.rename(tmp, file);
}

/** A growable typed array. */
class Grow<T extends Uint32Array | Uint16Array | Float64Array> {
  n = 0;
  constructor(public a: T) {}
  push(v: number): void {
    if (this.n === this.a.length) {
      const b = new (this.a.constructor as new (n: number) => T)(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = v;
  }
  done(): T {
    return this.a.slice(0, this.n) as T;
  }
}

/**
 * Parses a trace file's bytes. Errors are PagepressErrors naming the line and its byte
 * offset: PP_ERR_MAGIC (not a trace), PP_ERR_VERSION, PP_ERR_FORMAT (a bad field),
 * PP_ERR_TRUNCATED (the file ends inside a line).
 */
export function parseTrace(data: Uint8Array, name = 'trace'): DirtyTrace {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  let line = 0;
  let at = 0;
  let lineStart = 0;
  const fail = (message: string, code: ErrorCode = ErrorCodes.FORMAT): never => {
    throw new PagepressError(`${name}: line ${line} (byte offset ${lineStart}): ${message}`, code, { offset: lineStart, record: `line ${line}` });
  };
  /** The next line parsed as a JSON object, or null at the end. */
  const next = (): Record<string, unknown> | null => {
    if (at >= buf.length) return null;
    lineStart = at;
    line++;
    const nl = buf.indexOf(10, at);
    const end = nl < 0 ? buf.length : nl;
    at = end + 1;
    const text = buf.toString('utf8', lineStart, end);
    if (text.trim() === '') fail('empty line');
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      if (nl < 0) fail(`the file ends inside this line (${(err as Error).message})`, ErrorCodes.TRUNCATED);
      fail(`not JSON: ${(err as Error).message}`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('not a JSON object');
    return value as Record<string, unknown>;
  };
  const h = next();
  if (!h) throw new PagepressError(`${name}: empty file, expected a ${TRACE_FORMAT} header line`, ErrorCodes.TRUNCATED, { offset: 0, record: 'line 1' });
  if (h.format !== TRACE_FORMAT) fail(`format is ${JSON.stringify(h.format)}, expected "${TRACE_FORMAT}" (not a dirty-page trace)`, ErrorCodes.MAGIC);
  if (h.version !== TRACE_VERSION) fail(`version ${JSON.stringify(h.version)} is not supported (this reader knows version ${TRACE_VERSION})`, ErrorCodes.VERSION);
  if (h.pageSize !== GUEST_PAGE_SIZE) fail(`pageSize ${JSON.stringify(h.pageSize)} is not supported (4096 only)`);
  const pageCount = h.pageCount as number;
  if (!Number.isInteger(pageCount) || pageCount < 1 || pageCount > MAX_GUEST_PAGES) fail(`pageCount ${JSON.stringify(h.pageCount)} is not an integer in 1..${MAX_GUEST_PAGES}`);
  const durationMs = h.durationMs as number;
  if (typeof durationMs !== 'number' || !Number.isFinite(durationMs) || durationMs < 0) fail(`durationMs ${JSON.stringify(h.durationMs)} is not a number >= 0`);
  if (h.intervalMs !== undefined && (typeof h.intervalMs !== 'number' || !(h.intervalMs > 0))) fail(`intervalMs ${JSON.stringify(h.intervalMs)} is not a number > 0`);
  if (h.bytes !== undefined && typeof h.bytes !== 'boolean') fail(`bytes ${JSON.stringify(h.bytes)} is not true or false`);
  if (h.source !== undefined && (typeof h.source !== 'object' || h.source === null || Array.isArray(h.source))) fail('source is not an object');
  const withBytes = h.bytes === true;
  const times = new Grow(new Float64Array(64));
  const offsets = new Grow(new Uint32Array(64));
  const pfns = new Grow(new Uint32Array(1024));
  const bytes = withBytes ? new Grow(new Uint16Array(1024)) : null;
  offsets.push(0);
  let lastT = 0;
  for (let rec = next(); rec; rec = next()) {
    const t = rec.t as number;
    if (typeof t !== 'number' || !Number.isFinite(t) || t < 0) fail(`t ${JSON.stringify(rec.t)} is not a number >= 0`);
    if (t < lastT) fail(`t ${t} is before the previous record's t ${lastT}`);
    if (t > durationMs) fail(`t ${t} is after the header's durationMs ${durationMs}`);
    lastT = t;
    const list = rec.pfns;
    if (!Array.isArray(list)) fail('pfns is not an array');
    const entries = list as unknown[];
    let prev = -1;
    for (let i = 0; i < entries.length; i++) {
      const pfn = entries[i] as number;
      if (!Number.isInteger(pfn) || pfn < 0 || pfn >= pageCount) fail(`pfns[${i}] ${JSON.stringify(entries[i])} is not a pfn in 0..${pageCount - 1}`);
      if (pfn <= prev) fail(`pfns[${i}] ${pfn} is not above pfns[${i - 1}] ${prev} (pfns must be ascending, without repeats)`);
      prev = pfn;
      pfns.push(pfn);
    }
    if (bytes) {
      const b = rec.bytes;
      if (!Array.isArray(b) || b.length !== entries.length) fail(`bytes must be an array as long as pfns (${entries.length}), the header says bytes: true`);
      for (let i = 0; i < entries.length; i++) {
        const v = (b as unknown[])[i] as number;
        if (!Number.isInteger(v) || v < 0 || v > GUEST_PAGE_SIZE) fail(`bytes[${i}] ${JSON.stringify(v)} is not an integer in 0..${GUEST_PAGE_SIZE}`);
        bytes.push(v);
      }
    } else if (rec.bytes !== undefined) {
      fail('bytes given but the header says bytes: false');
    }
    times.push(t);
    offsets.push(pfns.n);
  }
  return {
    pageSize: GUEST_PAGE_SIZE,
    pageCount,
    durationMs,
    intervalMs: h.intervalMs as number | undefined,
    source: h.source as Record<string, unknown> | undefined,
    times: times.done(),
    offsets: offsets.done(),
    pfns: pfns.done(),
    bytes: bytes ? bytes.done() : null,
  };
}

/** Reads and parses trace `file` (see {@link parseTrace} for the errors). */
export function readTrace(file: string): DirtyTrace {
  let data: Buffer;
  try {
    data = fs.readFileSync(file);
  } catch (err) {
    throw new PagepressError(`cannot read trace ${file}: ${(err as Error).message}`, ErrorCodes.ARG);
  }
  return parseTrace(data, file);
}

/** Options of {@link recordTrace}. */
export interface RecordTraceOptions {
  /**
   * Also record how many bytes of each dirty page changed, against a private copy of the
   * whole guest (costs guest-size memory and a compare per dirty page).
   */
  bytes?: boolean;
}

/** What {@link recordTrace} wrote. */
export interface RecordedTrace {
  file: string;
  records: number;
  /** Dirty pfns over all records. */
  entries: number;
  durationMs: number;
}

/**
 * Samples `guest`'s dirty log every `intervalMs` for `durationMs` (the last interval may be
 * shorter) and writes the trace to `file`. It consumes the dirty log: nothing else may take
 * it meanwhile. The first take (every page, or what a sender left) only clears the log.
 * Record times are the measured sample times; the header's durationMs is the last one.
 */
export async function recordTrace(guest: GuestMemory, durationMs: number, intervalMs: number, file: string, options: RecordTraceOptions = {}): Promise<RecordedTrace> {
  if (!(durationMs > 0) || !Number.isFinite(durationMs)) throw new PagepressError(`durationMs must be a number > 0, got ${durationMs}`, ErrorCodes.ARG);
  if (!(intervalMs > 0) || !Number.isFinite(intervalMs)) throw new PagepressError(`intervalMs must be a number > 0, got ${intervalMs}`, ErrorCodes.ARG);
  const S = guest.pageSize;
  const body = `${file}.records-${process.pid}`;
  const fh = await fs.promises.open(body, 'w');
  let records = 0;
  let entries = 0;
  let lastT: number;
  try {
    const start = performance.now();
    guest.takeDirty();
    let copy: Buffer | null = null;
    if (options.bytes) {
      copy = Buffer.allocUnsafe(guest.pageCount * S);
      for (let p = 0; p < guest.pageCount; p += 1024) {
        const n = Math.min(1024, guest.pageCount - p);
        guest.readRange(p, n, copy.subarray(p * S, (p + n) * S));
      }
    }
    const page = Buffer.allocUnsafe(1024 * S);
    for (let k = 1; ; k++) {
      const target = Math.min(k * intervalMs, durationMs);
      // Timers may fire a little early: wait until the target has really passed.
      for (let wait = start + target - performance.now(); wait > 0; wait = start + target - performance.now()) await sleep(Math.max(1, wait));
      const set = guest.takeDirty();
      const t = Math.round((performance.now() - start) * 1000) / 1000;
      let changed: Uint16Array | undefined;
      if (copy) {
        changed = new Uint16Array(set.length);
        for (let i = 0; i < set.length; i += 1024) {
          const part = set.subarray(i, i + 1024);
          guest.readPages(part, page);
          for (let j = 0; j < part.length; j++) changed[i + j] = diffPage(copy, part[j] * S, page, j * S, S);
        }
      }
      await fh.write(formatTraceRecord(t, set, changed));
      records++;
      entries += set.length;
      lastT = t;
      if (target >= durationMs) break;
    }
    await fh.close();
    const tmp = `${file}.tmp-${process.pid}`;
    await fs.promises.writeFile(tmp, formatTraceHeader({ pageCount: guest.pageCount, durationMs: lastT, intervalMs, bytes: !!copy, source: guest.describe() }));
    await pipeline(fs.createReadStream(body), fs.createWriteStream(tmp, { flags: 'a' }));
    await fs.promises.rename(tmp, file);
  } finally {
    await fh.close().catch(() => undefined);
    await fs.promises.rm(body, { force: true });
  }
  return { file, records, entries, durationMs: lastT };
}

/** Bytes of page `b` at `bAt` differing from `a` at `aAt`; then copies `b` over `a`. */
function diffPage(a: Buffer, aAt: number, b: Buffer, bAt: number, size: number): number {
  let n = 0;
  for (let i = 0; i < size; i += 4) {
    if (a.readInt32LE(aAt + i) === b.readInt32LE(bAt + i)) continue;
    for (let k = i; k < i + 4; k++) if (a[aAt + k] !== b[bAt + k]) n++;
  }
  b.copy(a, aAt, bAt, bAt + size);
  return n;
}

/** Options of {@link TraceGuest.open}. */
export interface TraceGuestOptions {
  /** Replay speed: 2 replays twice as fast (default 1). */
  speed?: number;
  /** Start over at the end of the trace (default: the guest goes quiet). */
  loop?: boolean;
  /** Replay one record per step() call instead of over time (deterministic tests, predictors). */
  stepped?: boolean;
  /** Seed of the replayed contents and of the write order inside a record (default 1). */
  seed?: number;
  /** Memory image whose pages fill the guest (repeated); default: generated memory-like pages. */
  source?: string;
  /** Bytes changed per write when the trace has no bytes (default 128). */
  defaultBytes?: number;
  /** Start with writes paused. */
  paused?: boolean;
}

/**
 * A guest that replays a recorded trace: record k's pages are written during its interval
 * (spread evenly, in a seeded order), so its dirty log reproduces the recorded sets.
 */
export class TraceGuest extends ThreadedGuest {
  private constructor(
    memory: Uint8Array,
    pageCount: number,
    log: DirtyLog,
    thread: GuestThread,
    private readonly stepped: boolean,
    private readonly info: Record<string, unknown>,
  ) {
    super(pageCount, memory, log, thread);
  }

  /** Reads trace `file`, fills the guest and starts the replay (every page starts dirty). */
  static async open(file: string, options: TraceGuestOptions = {}): Promise<TraceGuest> {
    const speed = options.speed ?? 1;
    if (typeof speed !== 'number' || !(speed > 0) || speed > 1e6) throw new PagepressError(`speed must be a number in (0, 1e6], got ${speed}`, ErrorCodes.ARG);
    const seed = options.seed ?? 1;
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new PagepressError(`seed must be an integer in 0..4294967295, got ${seed}`, ErrorCodes.ARG);
    const defaultBytes = options.defaultBytes ?? 128;
    if (!Number.isInteger(defaultBytes) || defaultBytes < 0 || defaultBytes > GUEST_PAGE_SIZE)
      throw new PagepressError(`defaultBytes must be an integer in 0..4096, got ${defaultBytes}`, ErrorCodes.ARG);
    const trace = readTrace(file);
    const pages = trace.pageCount;
    const { sab, memory, dirty, log } = newGuestMemory(pages, options.source, seed);
    const info = {
      kind: 'trace',
      source: file,
      contents: options.source ?? 'generated',
      pages,
      bytes: pages * GUEST_PAGE_SIZE,
      durationMs: trace.durationMs,
      records: trace.times.length,
      entries: trace.pfns.length,
      dirtyRate: trace.durationMs > 0 ? Math.round((trace.pfns.length * 1000 * speed) / trace.durationMs) : 0,
      speed,
      loop: !!options.loop,
      stepped: !!options.stepped,
      seed,
    };
    const arrays: TraceArrays = { times: trace.times, offsets: trace.offsets, pfns: trace.pfns, bytes: trace.bytes, durationMs: trace.durationMs };
    const transfer = [arrays.times.buffer, arrays.offsets.buffer, arrays.pfns.buffer, ...(arrays.bytes ? [arrays.bytes.buffer] : [])] as ArrayBuffer[];
    const thread = await started(
      new GuestThread(
        {
          mode: 'trace',
          memory: sab,
          dirty,
          control: GuestThread.controlBuffer(!!options.paused),
          pageSize: GUEST_PAGE_SIZE,
          pageCount: pages,
          seed,
          trace: arrays,
          speed,
          loop: !!options.loop,
          stepped: !!options.stepped,
          defaultBytes,
        },
        transfer,
      ),
    );
    return new TraceGuest(memory, pages, log, thread, !!options.stepped, info);
  }

  /**
   * Stepped replay only: writes the next record's pages; resolves true once they are all
   * written and marked, false when the trace is over (and not looping).
   */
  async step(): Promise<boolean> {
    if (!this.stepped) throw new PagepressError('step() needs a trace guest opened with stepped: true', ErrorCodes.ARG);
    if (this.thread.state === WriterState.PAUSED) throw new PagepressError('step() on a paused trace guest: resume() first', ErrorCodes.ARG);
    const before = this.thread.stats[Stat.RECORDS];
    await this.thread.step();
    return this.thread.stats[Stat.RECORDS] > before;
  }

  /** True once a non-looping replay has written every record. */
  get finished(): boolean {
    return !this.info.loop && this.thread.stats[Stat.RECORDS] >= (this.info.records as number);
  }

  describe(): Record<string, unknown> {
    const s = this.thread.stats;
    return { ...this.info, recordsApplied: s[Stat.RECORDS], writes: s[Stat.WRITES], bytesWritten: s[Stat.BYTES], activeMs: s[Stat.ACTIVE_MS] };
  }
}
