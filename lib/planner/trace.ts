/**
 * The synthetic request trace: a working day with a peak-hour burst. Deterministic for a
 * seed (guestRng from lib/migration/guest.ts, the package's seeded generator).
 *
 * Definition (docs/PLANNER.md "Synthetic trace" repeats it):
 *   - `count` requests over `hours` hours (default 24); a share `peakShare` (default 0.6)
 *     arrive uniformly in the peak hour starting at `peakStartH` (default 9), the rest
 *     uniformly over the whole day; arrivals in whole seconds.
 *   - priority 1/2/3/4 with weights 25/35/25/15 in the peak hour and 10/20/35/35 outside
 *     (the burst is skewed toward high priority).
 *   - cpus 1, 2, 4, 8 with weights 40/30/20/10; memGiB = cpus x (1, 2 or 4); storageGiB
 *     10, 20, 50 or 100 (equal weights).
 *   - runTime log-uniform in [300, 7200] s, whole seconds.
 *   - deadline = runTime x a slack factor uniform in a per-priority range:
 *     1: 1.5-3, 2: 2-4, 3: 3-8, 4: 4-12 (whole seconds).
 *   - workload uniform over hotset, webserver, idle, pagecache, inplace; dirtyRate =
 *     the workload's base rate (20000, 5000, 100, 2000, 10000 pages/s) x 0.5-1.5.
 */
import { guestRng } from '../migration/guest';
import { Priority, VmRequest, Workload, WORKLOADS } from './types';

/** Options of {@link generateTrace}; every field has the documented default. */
export interface TraceOptions {
  /** Requests, >= 1. Default 1000. */
  count?: number;
  /** PRNG seed (uint32). Default 1. */
  seed?: number;
  /** Length of the day, hours. Default 24. */
  hours?: number;
  /** Start of the peak hour, hours from the start. Default 9. */
  peakStartH?: number;
  /** Share of requests arriving in the peak hour, 0..1. Default 0.6. */
  peakShare?: number;
}

const BASE_DIRTY: Record<Workload, number> = { hotset: 20000, webserver: 5000, idle: 100, pagecache: 2000, inplace: 10000 };
const SLACK: Record<Priority, [number, number]> = { 1: [1.5, 3], 2: [2, 4], 3: [3, 8], 4: [4, 12] };

function pick<T>(r: () => number, items: readonly T[], weights: readonly number[]): T {
  const total = weights.reduce((a, b) => a + b, 0);
  let x = r() * total;
  for (let i = 0; i < items.length; i++) {
    x -= weights[i];
    if (x < 0) return items[i];
  }
  return items[items.length - 1];
}

/**
 * Generates the synthetic trace, sorted by arrival (ids r0001... in arrival order).
 * @example generateTrace({ count: 1000, seed: 7 })
 */
export function generateTrace(options: TraceOptions = {}): VmRequest[] {
  const count = options.count ?? 1000;
  const hours = options.hours ?? 24;
  const peakStart = (options.peakStartH ?? 9) * 3600;
  const peakShare = options.peakShare ?? 0.6;
  const r = guestRng(options.seed ?? 1);
  const day = hours * 3600;
  const drafts: Array<Omit<VmRequest, 'id'>> = [];
  for (let i = 0; i < count; i++) {
    const peak = r() < peakShare;
    const arrival = Math.floor(peak ? peakStart + r() * 3600 : r() * day);
    const priority = pick<Priority>(r, [1, 2, 3, 4], peak ? [25, 35, 25, 15] : [10, 20, 35, 35]);
    const cpus = pick(r, [1, 2, 4, 8], [40, 30, 20, 10]);
    const memGiB = cpus * pick(r, [1, 2, 4], [1, 1, 1]);
    const storageGiB = pick(r, [10, 20, 50, 100], [1, 1, 1, 1]);
    const runTime = Math.round(300 * Math.exp(r() * Math.log(7200 / 300)));
    const [lo, hi] = SLACK[priority];
    const deadline = Math.round(runTime * (lo + r() * (hi - lo)));
    const workload = WORKLOADS[Math.floor(r() * WORKLOADS.length)];
    const dirtyRate = Math.round(BASE_DIRTY[workload] * (0.5 + r()));
    drafts.push({ arrival, cpus, memGiB, storageGiB, priority, deadline, runTime, workload, dirtyRate });
  }
  drafts.sort((a, b) => a.arrival - b.arrival);
  const width = String(count).length;
  return drafts.map((d, i) => ({ id: `r${String(i + 1).padStart(Math.max(4, width), '0')}`, ...d }));
}

/** The host set the evaluation uses: 8 private hosts of 32 cpus, 128 GiB, 1000 GiB, and a 1 Gbit/s public link. */
export function evalHostSet(): import('./types').HostSet {
  return {
    hosts: Array.from({ length: 8 }, (_, i) => ({ name: `pm${i + 1}`, cpus: 32, memGiB: 128, storageGiB: 1000 })),
    public: { name: 'public', linkMbps: 1000, latencyMs: 20, pricePerCpuHour: 0.05 },
  };
}
