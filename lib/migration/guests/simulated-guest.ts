/**
 * A simulated running guest: memory in a SharedArrayBuffer, a dirty bitmap in shared
 * memory, and a worker thread that writes pages at a target rate with a named workload
 * (workloads.ts). The sender reads the same memory the writer writes, as Xen's saver
 * reads a running domain, and the dirty log catches what it read too early.
 */
import { ErrorCodes, PagepressError } from '../../errors';
import { checkPageCount, DirtyLog, GUEST_PAGE_SIZE } from '../guest';
import { GuestThread, newGuestMemory, started, ThreadedGuest } from './threaded-guest';
import { Stat } from './workload-worker';
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

/** A running simulated guest. Create with {@link SimulatedGuest.create}; close() when done. */
export class SimulatedGuest extends ThreadedGuest {
  private constructor(
    pageCount: number,
    memory: Uint8Array,
    log: DirtyLog,
    thread: GuestThread,
    private readonly info: Record<string, unknown>,
  ) {
    super(pageCount, memory, log, thread);
  }

  /**
   * Allocates and fills the guest (from `source` or generated), starts its writer thread
   * and resolves once the writer runs (or is paused, with `paused`). Every page starts dirty.
   */
  static async create(options: SimulatedGuestOptions): Promise<SimulatedGuest> {
    const o = checkSimulatedOptions(options);
    const { sab, memory, dirty, log } = newGuestMemory(o.pages, o.source, o.seed);
    const thread = await started(
      new GuestThread({
        mode: 'workload',
        memory: sab,
        dirty,
        control: GuestThread.controlBuffer(o.paused),
        pageSize: GUEST_PAGE_SIZE,
        pageCount: o.pages,
        seed: o.seed,
        workload: o.workload,
        rate: o.dirtyRate,
      }),
    );
    return new SimulatedGuest(o.pages, memory, log, thread, {
      kind: 'sim',
      workload: o.workload,
      dirtyRate: o.dirtyRate,
      pages: o.pages,
      bytes: o.pages * GUEST_PAGE_SIZE,
      seed: o.seed,
      source: o.source ?? 'generated',
    });
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
