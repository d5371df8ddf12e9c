/**
 * A simulated running guest: memory in a SharedArrayBuffer, a dirty bitmap in shared
 * memory, and a worker thread that writes pages at a target rate with a named workload
 * (workloads.ts). The sender reads the same memory the writer writes, as Xen's saver
 * reads a running domain, and the dirty log catches what it read too early.
 */
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { ErrorCodes, PagepressError } from '../../errors';
import {
  allocateGuest, checkPageCount, checkReadPages, checkReadRange, copyPages, DirtyLog, fillFromFile, fillMemoryLike, GUEST_PAGE_SIZE, GuestMemory,
} from '../guest';
import { CONTROL_BYTES, Ctl, Req, Stat, WriterSetup, WriterState } from './workload-worker';
import { isWorkloadName, WORKLOAD_NAMES, WORKLOADS, WorkloadName } from './workloads';

/** Options of {@link SimulatedGuest.create}. */
export interface SimulatedGuestOptions {
  /** Guest size in 4 KiB pages. */
  pages: number;
  /** Write pattern (default 'idle'). */
  workload?: WorkloadName;
  /** Page writes per second (default: the workload's; 0 = no writes). */
  dirtyRate?: number;
  /** Seed of the write sequence and of generated contents (default 1). */
  seed?: number;
  /** Memory image whose pages fill the guest (repeated); default: generated memory-like pages. */
  source?: string;
  /** Start with writes paused (resume() starts them). */
  paused?: boolean;
}

/** Highest dirtyRate accepted (page writes/s); the writer reaches far less (see docs). */
export const MAX_DIRTY_RATE = 10_000_000;

// Atomics.waitAsync is in Node 20 but not in TypeScript's ES2022 lib.
type WaitAsync = (a: Int32Array, index: number, value: number, timeoutMs?: number) => { async: boolean; value: Promise<'ok' | 'timed-out'> | string };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

/** How long a request may wait for the writer's acknowledgement before it is a failure. */
const ACK_TIMEOUT_MS = 10_000;

/**
 * The main-thread side of a writer thread (workload-worker.ts): requests through shared
 * control words, acknowledgements awaited without blocking the event loop.
 */
export class GuestThread {
  private readonly worker: Worker;
  private readonly ctl: Int32Array;
  /** The writer's statistics (Stat slots). */
  readonly stats: Float64Array;
  private failure: Error | null = null;
  private closed = false;
  private waiting = 0;
  private readonly exited: Promise<void>;

  constructor(setup: WriterSetup, transfer: ArrayBuffer[] = []) {
    this.ctl = new Int32Array(setup.control, 0, 8);
    this.stats = new Float64Array(setup.control, 32, 8);
    this.worker = new Worker(path.join(__dirname, 'workload-worker.js'), { workerData: { pagepressGuest: setup }, transferList: transfer });
    this.worker.on('error', (err) => {
      this.failure ??= new PagepressError(`guest writer thread failed: ${err.message}`, ErrorCodes.WORKER);
    });
    this.exited = new Promise((resolve) => {
      this.worker.on('exit', (code) => {
        if (!this.closed) this.failure ??= new PagepressError(`guest writer thread exited with code ${code}`, ErrorCodes.WORKER);
        resolve();
      });
    });
    // Like the batch pool: an open guest alone does not keep the process alive.
    this.worker.unref();
  }

  /** The control buffer a new writer needs. */
  static controlBuffer(paused: boolean): SharedArrayBuffer {
    const control = new SharedArrayBuffer(CONTROL_BYTES);
    if (paused) new Int32Array(control)[Ctl.REQ] = Req.PAUSE;
    return control;
  }

  /** The writer's state (WriterState). */
  get state(): number {
    return Atomics.load(this.ctl, Ctl.STATE);
  }

  /** Resolves once the writer has started (running or paused as asked). */
  started(): Promise<void> {
    return this.until(Ctl.STATE, (v) => v !== WriterState.STARTING, 'start');
  }

  /** Stops writes; resolves once the writer acknowledged, between two writes. */
  async pause(): Promise<void> {
    this.request(Req.PAUSE);
    await this.until(Ctl.STATE, (v) => v === WriterState.PAUSED, 'pause');
  }

  /** Lets writes go on; resolves once the writer runs again. */
  async resume(): Promise<void> {
    this.request(Req.RUN);
    await this.until(Ctl.STATE, (v) => v === WriterState.RUNNING, 'resume');
  }

  /** Asks for one trace step (stepped replay) and waits for it. */
  async step(): Promise<void> {
    this.check();
    const target = Atomics.add(this.ctl, Ctl.STEP_REQ, 1) + 1;
    this.ring();
    await this.until(Ctl.STEP_DONE, (v) => v >= target, 'step');
  }

  /** Stops the thread (after its current write). Safe to call more than once. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.ctl, Ctl.REQ, Req.STOP);
    this.ring();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.exited, new Promise((r) => (timer = setTimeout(r, 2000)))]);
    clearTimeout(timer);
    await this.worker.terminate();
  }

  private check(): void {
    if (this.failure) throw this.failure;
    if (this.closed) throw new PagepressError('guest is closed', ErrorCodes.ARG);
  }

  private request(req: number): void {
    this.check();
    Atomics.store(this.ctl, Ctl.REQ, req);
    this.ring();
  }

  private ring(): void {
    Atomics.add(this.ctl, Ctl.BELL, 1);
    Atomics.notify(this.ctl, Ctl.BELL);
  }

  /** Waits (asynchronously) until slot `index` satisfies `ok`; the writer's failure rejects. */
  private async until(index: number, ok: (v: number) => boolean, what: string): Promise<void> {
    if (ok(Atomics.load(this.ctl, index))) return;
    const deadline = Date.now() + ACK_TIMEOUT_MS;
    // A pending Atomics.waitAsync does not keep the process alive; the referenced worker does.
    if (this.waiting++ === 0) this.worker.ref();
    try {
      for (;;) {
        if (this.failure) throw this.failure;
        const v = Atomics.load(this.ctl, index);
        if (ok(v)) return;
        if (Date.now() > deadline) throw new PagepressError(`guest writer thread did not acknowledge ${what} within ${ACK_TIMEOUT_MS} ms`, ErrorCodes.WORKER);
        // Short timeouts: a thread that dies never notifies, and its exit event needs the loop.
        const w = waitAsync(this.ctl, index, v, 50);
        if (w.async) await w.value;
      }
    } finally {
      if (--this.waiting === 0) this.worker.unref();
    }
  }
}

/** A running simulated guest. Create with {@link SimulatedGuest.create}; close() when done. */
export class SimulatedGuest implements GuestMemory {
  readonly pageSize = GUEST_PAGE_SIZE;
  readonly pageCount: number;
  /** The guest's memory (shared with the writer thread; read-only by convention). */
  readonly memory: Uint8Array;
  private readonly log: DirtyLog;
  private readonly thread: GuestThread;
  private readonly info: Record<string, unknown>;

  private constructor(pageCount: number, memory: Uint8Array, log: DirtyLog, thread: GuestThread, info: Record<string, unknown>) {
    this.pageCount = pageCount;
    this.memory = memory;
    this.log = log;
    this.thread = thread;
    this.info = info;
  }

  /**
   * Allocates and fills the guest (from `source` or generated), starts its writer thread
   * and resolves once the writer runs (or is paused, with `paused`). Every page starts dirty.
   */
  static async create(options: SimulatedGuestOptions): Promise<SimulatedGuest> {
    const o = checkSimulatedOptions(options);
    const sab = allocateGuest(o.pages);
    const memory = new Uint8Array(sab);
    if (o.source) fillFromFile(memory, o.source);
    else fillMemoryLike(memory, o.seed);
    const dirty = new SharedArrayBuffer(DirtyLog.bytesFor(o.pages));
    const log = new DirtyLog(o.pages, dirty, true);
    const thread = new GuestThread({
      mode: 'workload', memory: sab, dirty, control: GuestThread.controlBuffer(o.paused), pageSize: GUEST_PAGE_SIZE, pageCount: o.pages, seed: o.seed, workload: o.workload, rate: o.dirtyRate,
    });
    try {
      await thread.started();
    } catch (err) {
      await thread.close();
      throw err;
    }
    return new SimulatedGuest(o.pages, memory, log, thread, {
      kind: 'sim', workload: o.workload, dirtyRate: o.dirtyRate, pages: o.pages, bytes: o.pages * GUEST_PAGE_SIZE, seed: o.seed, source: o.source ?? 'generated',
    });
  }

  readPages(pfns: ArrayLike<number>, out: Uint8Array): void {
    checkReadPages(this, pfns, out);
    copyPages(this.memory, this.pageSize, pfns, out);
  }

  readRange(first: number, count: number, out: Uint8Array): void {
    checkReadRange(this, first, count, out);
    out.set(this.memory.subarray(first * this.pageSize, (first + count) * this.pageSize));
  }

  takeDirty(): Uint32Array {
    return this.log.take();
  }

  /** Dirty pages now, without clearing the log. */
  dirtyCount(): number {
    return this.log.count();
  }

  pause(): Promise<void> {
    return this.thread.pause();
  }

  resume(): Promise<void> {
    return this.thread.resume();
  }

  close(): Promise<void> {
    return this.thread.close();
  }

  /** Writer counters: page writes, bytes stored, ms running, and the achieved writes/s. */
  stats(): { writes: number; bytesWritten: number; activeMs: number; writeRate: number; droppedMs: number } {
    const s = this.thread.stats;
    const activeMs = s[Stat.ACTIVE_MS];
    return { writes: s[Stat.WRITES], bytesWritten: s[Stat.BYTES], activeMs, writeRate: activeMs > 0 ? (s[Stat.WRITES] * 1000) / activeMs : 0, droppedMs: s[Stat.DROPPED_MS] };
  }

  describe(): Record<string, unknown> {
    return { ...this.info, ...this.stats() };
  }
}

/** Validated options with defaults. */
function checkSimulatedOptions(options: SimulatedGuestOptions): Required<Omit<SimulatedGuestOptions, 'source'>> & { source?: string } {
  if (typeof options !== 'object' || options === null) throw new PagepressError('simulated guest options must be an object', ErrorCodes.ARG);
  checkPageCount(options.pages, 'pages');
  const workload = options.workload ?? 'idle';
  if (!isWorkloadName(workload)) throw new PagepressError(`unknown workload "${workload}" (known: ${WORKLOAD_NAMES.join(', ')})`, ErrorCodes.ARG);
  const dirtyRate = options.dirtyRate ?? WORKLOADS[workload].defaultRate;
  if (typeof dirtyRate !== 'number' || !Number.isFinite(dirtyRate) || dirtyRate < 0 || dirtyRate > MAX_DIRTY_RATE) {
    throw new PagepressError(`dirtyRate must be a number of page writes/s in 0..${MAX_DIRTY_RATE}, got ${dirtyRate}`, ErrorCodes.ARG);
  }
  const seed = options.seed ?? 1;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new PagepressError(`seed must be an integer in 0..4294967295, got ${seed}`, ErrorCodes.ARG);
  if (options.source !== undefined && (typeof options.source !== 'string' || options.source === '')) throw new PagepressError('source must be a file path', ErrorCodes.ARG);
  return { pages: options.pages, workload, dirtyRate, seed, source: options.source, paused: options.paused ?? false };
}
