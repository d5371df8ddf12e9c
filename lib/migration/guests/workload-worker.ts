/**
 * The guest's writer thread: runs a workload (or replays a trace) over the guest's shared
 * memory at a target rate, marking each page in the shared dirty log after writing it.
 * Between two writes it checks the control words; pause is acknowledged only there, so
 * no write is in flight once the main thread sees PAUSED. Nothing here allocates per page.
 */
import { isMainThread, workerData } from 'node:worker_threads';
import { DirtyLog, guestRng } from '../guest';
import { createTraceWriter, createWriter, WorkloadName } from './workloads';

/** Int32 slots of the control buffer. */
export const Ctl = {
  /** What the main thread asks: a {@link Req}. */
  REQ: 0,
  /** What the writer is doing: a {@link WriterState}; notified on change. */
  STATE: 1,
  /** Bumped and notified on every request, so one Atomics.wait covers them all. */
  BELL: 2,
  /** Trace steps requested (stepped replay). */
  STEP_REQ: 3,
  /** Trace steps done; notified on change. */
  STEP_DONE: 4,
} as const;

/** Requests (Ctl.REQ). */
export const Req = { RUN: 0, PAUSE: 1, STOP: 2 } as const;

/** Writer states (Ctl.STATE). */
export const WriterState = { STARTING: 0, RUNNING: 1, PAUSED: 2, STOPPED: 3 } as const;

/** Float64 slots of the statistics (written by the writer only, read by anyone). */
export const Stat = {
  /** Page writes done. */
  WRITES: 0,
  /** Bytes stored. */
  BYTES: 1,
  /** Milliseconds spent running (not paused). */
  ACTIVE_MS: 2,
  /** Trace records fully applied. */
  RECORDS: 3,
  /** Milliseconds of backlog dropped because the writer could not keep up. */
  DROPPED_MS: 4,
} as const;

/** Size of the control buffer: 8 Int32 slots, then 8 Float64 statistics. */
export const CONTROL_BYTES = 32 + 64;

/** A parsed trace as the writer replays it (see trace-guest.ts). */
export interface TraceArrays {
  /** End of each record's interval, ms from the start. */
  times: Float64Array;
  /** Record k is entries offsets[k]..offsets[k+1]-1. */
  offsets: Uint32Array;
  pfns: Uint32Array;
  /** Bytes changed per entry, or null (then `defaultBytes`). */
  bytes: Uint16Array | null;
  durationMs: number;
}

/** What the writer thread is started with (workerData). */
export type WriterSetup = {
  memory: SharedArrayBuffer;
  dirty: SharedArrayBuffer;
  control: SharedArrayBuffer;
  pageSize: number;
  pageCount: number;
  seed: number;
} & ({ mode: 'workload'; workload: WorkloadName; rate: number } | { mode: 'trace'; trace: TraceArrays; speed: number; loop: boolean; stepped: boolean; defaultBytes: number });

/** A write schedule: when the next write is due (active ms) and doing it. */
interface Schedule {
  /** Active time at which the next write is due; Infinity when there is none. */
  due(): number;
  /** Does the next write; returns its pfn (marked dirty by the caller). */
  write(): number;
  /** Bytes stored by the last write. */
  bytes: number;
  /** Shifts the schedule later by `ms` (backlog dropped). */
  delay(ms: number): void;
}

// A writer that falls further behind than this drops the backlog instead of bursting.
const MAX_BACKLOG_MS = 100;

function workloadSchedule(s: WriterSetup & { mode: 'workload' }, mem: Uint8Array): Schedule {
  const writer = createWriter(s.workload, mem, s.pageSize, s.seed);
  const period = s.rate > 0 ? 1000 / s.rate : Infinity;
  let n = 0;
  let lag = 0;
  const sched: Schedule = {
    due: () => (period === Infinity ? Infinity : n * period + lag),
    write: () => {
      n++;
      const pfn = writer.next();
      sched.bytes = writer.bytes;
      return pfn;
    },
    bytes: 0,
    delay: (ms) => {
      lag += ms;
    },
  };
  return sched;
}

function traceSchedule(s: WriterSetup & { mode: 'trace' }, mem: Uint8Array, stats: Float64Array): Schedule & { stepRecord(each: () => void): boolean } {
  const { times, offsets, pfns, bytes, durationMs } = s.trace;
  const records = times.length;
  const write = createTraceWriter(mem, s.pageSize, s.seed);
  const shuffle = guestRng(s.seed ^ 0x1b873593);
  let maxLen = 0;
  for (let k = 0; k < records; k++) maxLen = Math.max(maxLen, offsets[k + 1] - offsets[k]);
  // Entries of a record are spread evenly over its interval in a seeded random order: a
  // dirty log taken mid-interval sees a random part of the record, not a pfn prefix.
  const order = new Uint32Array(maxLen);
  let k = 0;
  let j = 0;
  let base = 0; // active ms of trace time 0 in this loop round
  const period = Math.max(durationMs, records ? times[records - 1] : 0) / s.speed;
  const startRecord = (): void => {
    const len = offsets[k + 1] - offsets[k];
    for (let i = 0; i < len; i++) order[i] = i;
    for (let i = len - 1; i > 0; i--) {
      const r = Math.floor(shuffle() * (i + 1));
      const t = order[i];
      order[i] = order[r];
      order[r] = t;
    }
    j = 0;
  };
  /** Moves on to the next record (wrapping around when looping). */
  const advance = (): void => {
    stats[Stat.RECORDS]++;
    k++;
    if (k === records && s.loop && period > 0) {
      k = 0;
      base += period;
    }
    if (k < records) startRecord();
  };
  /** Passes the records whose entries are all written; false when the trace is over. */
  const finishRecord = (): boolean => {
    while (k < records && j >= offsets[k + 1] - offsets[k]) advance();
    return k < records;
  };
  /** Applies the current record whole via `each` (which calls write()); false when the trace is over. */
  const stepRecord = (each: () => void): boolean => {
    if (k >= records) return false;
    const len = offsets[k + 1] - offsets[k];
    while (j < len) each();
    advance();
    return true;
  };
  if (records) startRecord();
  const sched = {
    due: (): number => {
      if (!finishRecord()) return Infinity;
      const len = offsets[k + 1] - offsets[k];
      const from = k > 0 ? times[k - 1] : 0;
      return base + (from + ((j + 1) / len) * (times[k] - from)) / s.speed;
    },
    write: (): number => {
      const e = offsets[k] + order[j++];
      sched.bytes = write(pfns[e], bytes ? bytes[e] : s.defaultBytes);
      return pfns[e];
    },
    bytes: 0,
    delay: (ms: number) => {
      base += ms;
    },
    stepRecord,
  };
  return sched;
}

function run(s: WriterSetup): void {
  const mem = new Uint8Array(s.memory, 0, s.pageCount * s.pageSize);
  const log = new DirtyLog(s.pageCount, s.dirty);
  const ctl = new Int32Array(s.control, 0, 8);
  const stats = new Float64Array(s.control, 32, 8);
  const sched = s.mode === 'workload' ? workloadSchedule(s, mem) : traceSchedule(s, mem, stats);
  const stepped = s.mode === 'trace' && s.stepped;
  let activeBefore = 0;
  let runStart = performance.now();
  const active = (): number => activeBefore + (performance.now() - runStart);
  const setState = (state: number): void => {
    Atomics.store(ctl, Ctl.STATE, state);
    Atomics.notify(ctl, Ctl.STATE);
  };
  const writeOne = (): void => {
    const pfn = sched.write();
    log.mark(pfn); // after the write: see DirtyLog.mark
    stats[Stat.WRITES]++;
    stats[Stat.BYTES] += sched.bytes;
  };
  setState(WriterState.RUNNING);
  for (;;) {
    const bell = Atomics.load(ctl, Ctl.BELL);
    const req = Atomics.load(ctl, Ctl.REQ);
    if (req === Req.STOP) break;
    if (req === Req.PAUSE) {
      activeBefore = active();
      stats[Stat.ACTIVE_MS] = activeBefore;
      setState(WriterState.PAUSED);
      for (;;) {
        const b = Atomics.load(ctl, Ctl.BELL); // before the check: a request after it changes the bell
        if (Atomics.load(ctl, Ctl.REQ) !== Req.PAUSE) break;
        Atomics.wait(ctl, Ctl.BELL, b, 1000);
      }
      runStart = performance.now();
      if (Atomics.load(ctl, Ctl.REQ) === Req.RUN) setState(WriterState.RUNNING);
      continue;
    }
    if (stepped) {
      const done = Atomics.load(ctl, Ctl.STEP_DONE);
      if (Atomics.load(ctl, Ctl.STEP_REQ) > done) {
        // One whole record (in stepped replay, also an empty one), then the acknowledgement.
        (sched as ReturnType<typeof traceSchedule>).stepRecord(writeOne);
        Atomics.store(ctl, Ctl.STEP_DONE, done + 1);
        Atomics.notify(ctl, Ctl.STEP_DONE);
        continue;
      }
      stats[Stat.ACTIVE_MS] = active();
      Atomics.wait(ctl, Ctl.BELL, bell, 1000);
      continue;
    }
    const now = active();
    const late = now - sched.due();
    if (late > MAX_BACKLOG_MS) {
      sched.delay(late);
      stats[Stat.DROPPED_MS] += late;
    }
    let n = 0;
    while (n < 4096 && sched.due() <= now && Atomics.load(ctl, Ctl.REQ) === Req.RUN) {
      writeOne();
      n++;
    }
    stats[Stat.ACTIVE_MS] = active();
    if (n === 4096) continue;
    const next = sched.due();
    // Sleep at least 1 ms: at high rates the writes then come in small bursts instead of
    // one futex call per write. A request rings the bell and wakes the sleep early.
    const ms = next === Infinity ? 1000 : Math.min(MAX_BACKLOG_MS, Math.max(1, next - active()));
    Atomics.wait(ctl, Ctl.BELL, bell, ms);
  }
  stats[Stat.ACTIVE_MS] = active();
  setState(WriterState.STOPPED);
}

if (!isMainThread && (workerData as { pagepressGuest?: WriterSetup } | null)?.pagepressGuest) {
  run((workerData as { pagepressGuest: WriterSetup }).pagepressGuest);
}
