/**
 * A fixed set of batch workers over one slab. Jobs go to the worker with the fewest jobs
 * queued; each worker runs its jobs in order. The pool does not order results: callers
 * that need input order use OrderedQueue (ordered.ts).
 */
import { Worker } from 'node:worker_threads';
import * as path from 'node:path';
import { ErrorCodes, PagepressError, reviveError } from '../errors';
import { JobResult, NewJob, WorkerInit } from './protocol';

interface Pending {
  resolve: (r: JobResult) => void;
  reject: (e: Error) => void;
  worker: number;
  /** Stack captured at the call site, attached to errors (cf. sharp's nativeError). */
  stack: string | undefined;
}

/** Counters a pool exposes (cf. sharp's counters()). */
export interface PoolCounters {
  queued: number;
  done: number;
  busyMs: number;
}

/** Worker threads running lib/stream/worker.js over one shared slab. */
export class WorkerPool {
  private readonly workers: Worker[] = [];
  private readonly load: number[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;
  private failure: Error | null = null;
  readonly counters: PoolCounters = { queued: 0, done: 0, busyMs: 0 };

  private init: WorkerInit | null = null;

  /**
   * Starts `threads` workers (1..64). Without `init` they wait for setup(): see
   * prestartWorkers(), which lets a command line start threads before it has read its input.
   */
  constructor(threads: number, init?: WorkerInit) {
    if (!Number.isInteger(threads) || threads < 1 || threads > 64) {
      throw new PagepressError(`options.threads must be an integer in 1..64, got ${threads}`, ErrorCodes.ARG);
    }
    const file = path.join(__dirname, 'worker.js');
    this.init = init ?? null;
    for (let i = 0; i < threads; i++) {
      const worker = new Worker(file, { workerData: init ?? null });
      worker.on('message', (r: JobResult) => this.onResult(r));
      worker.on('error', (err) => this.fail(new PagepressError(`batch worker failed: ${err.message}`, ErrorCodes.WORKER)));
      worker.on('exit', (code) => {
        if (!this.closed) this.fail(new PagepressError(`batch worker exited with code ${code}`, ErrorCodes.WORKER));
      });
      worker.unref();
      this.workers.push(worker);
      this.load.push(0);
    }
  }

  /** Gives workers started without `init` their stream geometry; must precede run(). */
  setup(init: WorkerInit): void {
    if (this.init) throw new PagepressError('worker pool is already set up', ErrorCodes.ARG);
    this.init = init;
    for (const w of this.workers) w.postMessage({ kind: 'setup', init });
  }

  /** A pool for `threads` workers: the prestarted one if it matches, else a new one. */
  static create(threads: number, init: WorkerInit): WorkerPool {
    const pool = prestarted;
    prestarted = null;
    if (pool && pool.threads === threads && !pool.init && !pool.closed) {
      pool.setup(init);
      return pool;
    }
    void pool?.close();
    return new WorkerPool(threads, init);
  }

  /** Number of worker threads. */
  get threads(): number {
    return this.workers.length;
  }

  /**
   * Queues a job on the least loaded worker, or on `worker` (long-range streams run every
   * frame on one thread, in order: lib/codec/long-range.ts); resolves with its result or
   * rejects with a PagepressError.
   */
  run(job: NewJob, worker?: number): Promise<JobResult> {
    if (this.failure) return Promise.reject(this.failure);
    if (!this.init) return Promise.reject(new PagepressError('worker pool used before setup()', ErrorCodes.WORKER));
    if (this.closed) return Promise.reject(new PagepressError('worker pool is closed', ErrorCodes.WORKER));
    const id = this.nextId++;
    let w = 0;
    if (worker !== undefined) w = worker % this.workers.length;
    else for (let i = 1; i < this.load.length; i++) if (this.load[i] < this.load[w]) w = i;
    this.load[w]++;
    this.counters.queued++;
    const stack = new Error().stack;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, worker: w, stack });
      // Keep the process alive while jobs are out; unref'd workers alone would not.
      if (this.pending.size === 1) for (const wk of this.workers) wk.ref();
      this.workers[w].postMessage({ ...job, id });
    });
  }

  private onResult(r: JobResult): void {
    const p = this.pending.get(r.id);
    if (!p) return;
    this.pending.delete(r.id);
    this.load[p.worker]--;
    this.counters.queued--;
    this.counters.done++;
    this.counters.busyMs += r.busyMs;
    if (this.pending.size === 0) for (const wk of this.workers) wk.unref();
    if (r.error) {
      const err = reviveError(r.error);
      if (p.stack) err.stack = `${err.name} [${err.code}]: ${err.message}\n${p.stack.split('\n').slice(2).join('\n')}`;
      p.reject(err);
    } else {
      p.resolve(r);
    }
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    void this.close();
  }

  /** Stops the workers; queued jobs are rejected. Safe to call more than once. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (prestarted === this) prestarted = null;
    // Both the cache turn and the write lock are Int32 [word waited on, aborted] (protocol.ts).
    for (const shared of [this.init?.turn, this.init?.writer]) {
      if (!shared) continue;
      const words = new Int32Array(shared, 0, 2);
      Atomics.store(words, 1, 1);
      Atomics.notify(words, 0);
    }
    for (const p of this.pending.values()) p.reject(new PagepressError('worker pool closed', ErrorCodes.WORKER));
    this.pending.clear();
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

let prestarted: WorkerPool | null = null;

/**
 * Starts `threads` worker threads now, for the next encoder or decoder with that thread
 * count to adopt (WorkerPool.create). Thread start-up (about 50 ms) then overlaps the
 * caller's own start-up; the command line calls this first thing.
 */
export function prestartWorkers(threads: number): void {
  if (!prestarted) prestarted = new WorkerPool(threads);
}
