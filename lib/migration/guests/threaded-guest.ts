/**
 * What the simulated and trace guests share: memory in a SharedArrayBuffer, a dirty log
 * in shared memory, and a writer thread (workload-worker.ts) that writes into that memory
 * while the guest runs. GuestThread is the main-thread side of the writer; ThreadedGuest
 * is the GuestMemory on top of the three.
 */
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { ErrorCodes, PagepressError } from '../../errors';
import { allocateGuest, checkReadPages, checkReadRange, copyPages, DirtyLog, fillFromFile, fillMemoryLike, GUEST_PAGE_SIZE, GuestMemory } from '../guest';
import { CONTROL_BYTES, Ctl, Req, WriterSetup, WriterState } from './workload-worker';

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

/** A new guest's memory (filled from `source`, or generated from `seed`) and its dirty log, every page dirty. */
export function newGuestMemory(pages: number, source: string | undefined, seed: number): { sab: SharedArrayBuffer; memory: Uint8Array; dirty: SharedArrayBuffer; log: DirtyLog } {
  const sab = allocateGuest(pages);
  const memory = new Uint8Array(sab);
  if (source) fillFromFile(memory, source);
  else fillMemoryLike(memory, seed);
  const dirty = new SharedArrayBuffer(DirtyLog.bytesFor(pages));
  return { sab, memory, dirty, log: new DirtyLog(pages, dirty, true) };
}

/** Resolves with `thread` once its writer runs (or waits paused); closes it if it failed to start. */
export async function started(thread: GuestThread): Promise<GuestThread> {
  try {
    await thread.started();
  } catch (err) {
    await thread.close();
    throw err;
  }
  return thread;
}

/** A GuestMemory whose memory a writer thread changes while it runs (SimulatedGuest, TraceGuest). */
export abstract class ThreadedGuest implements GuestMemory {
  readonly pageSize = GUEST_PAGE_SIZE;
  /** The guest's memory (shared with the writer thread; read-only by convention). */
  readonly memory: Uint8Array;

  protected constructor(
    readonly pageCount: number,
    memory: Uint8Array,
    protected readonly log: DirtyLog,
    protected readonly thread: GuestThread,
  ) {
    this.memory = memory;
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

  abstract describe(): Record<string, unknown>;
}
