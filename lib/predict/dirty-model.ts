/**
 * Dirty-page models of the predictor (docs/PLANNER.md, "Predictor"): how many distinct
 * pages a guest dirties in a window of a given length. Pre-copy only cares about distinct
 * pages (a page written ten times in an iteration is re-sent once), so both models answer
 * that one question. After Akoush et al., "Predicting the Performance of Virtual Machine
 * Migration" (MASCOTS 2010):
 *   - AVG: a constant dirty rate; a window of t seconds dirties rate x t pages.
 *   - HIST: the writable working set measured on a recorded trace of the same workload:
 *     the mean number of distinct pages dirtied in windows of each length, interpolated.
 */
import { ErrorCodes, PagepressError } from '../errors';
import { DirtyTrace, traceRecord } from '../migration/guests/trace-guest';

/** How many distinct pages a guest dirties in a window. */
export interface DirtyModel {
  /** 'avg' or 'hist'. */
  readonly name: string;
  /** Expected distinct pages dirtied in a window of `windowMs` (0..pageCount). */
  dirtied(windowMs: number): number;
  /** The model's parameters, for reports. */
  describe(): Record<string, unknown>;
}

/** AVG: `pagesPerSec` distinct pages per second, capped at the guest's pages. */
export function avgModel(pagesPerSec: number, pageCount: number): DirtyModel {
  if (!(pagesPerSec >= 0) || !Number.isFinite(pagesPerSec)) throw new PagepressError(`dirty rate must be a number of pages/s >= 0, got ${pagesPerSec}`, ErrorCodes.ARG);
  return {
    name: 'avg',
    dirtied: (ms) => Math.min(pageCount, (pagesPerSec * Math.max(0, ms)) / 1000),
    describe: () => ({ model: 'avg', pagesPerSec: Math.round(pagesPerSec * 10) / 10, pageCount }),
  };
}

/** The sampling interval of a trace, in ms (its header's, else the mean record spacing). */
function traceIntervalMs(trace: DirtyTrace): number {
  if (trace.intervalMs && trace.intervalMs > 0) return trace.intervalMs;
  const n = trace.times.length;
  if (n === 0) throw new PagepressError('the trace has no records', ErrorCodes.ARG);
  return trace.times[n - 1] / n;
}

/** AVG learned from a trace: the mean distinct pages per record, per second of interval. */
export function avgModelFromTrace(trace: DirtyTrace): DirtyModel {
  const n = trace.times.length;
  if (n === 0) throw new PagepressError('the trace has no records', ErrorCodes.ARG);
  const perRecord = trace.offsets[n] / n;
  return avgModel((perRecord * 1000) / traceIntervalMs(trace), trace.pageCount);
}

/** One point of a writable-working-set curve: mean distinct pages dirtied in windows of `ms`. */
export interface WwsPoint {
  ms: number;
  pages: number;
}

/**
 * The writable-working-set curve of a trace: for windows of k consecutive records (k = 1,
 * 2, 3, 4, 6, 8, ... up to the whole trace), the mean number of distinct pfns over every
 * window position. One sliding pass per k with a count per page: O(k values x trace entries)
 * time, one Uint16Array of the guest's pages.
 */
export function wwsCurve(trace: DirtyTrace): WwsPoint[] {
  const R = trace.times.length;
  if (R === 0) throw new PagepressError('the trace has no records', ErrorCodes.ARG);
  const interval = traceIntervalMs(trace);
  const counts = new Uint16Array(trace.pageCount);
  const points: WwsPoint[] = [{ ms: 0, pages: 0 }];
  for (const k of windowLengths(R)) {
    counts.fill(0);
    let distinct = 0;
    let sum = 0;
    for (let r = 0; r < R; r++) {
      for (const p of traceRecord(trace, r)) if (counts[p]++ === 0) distinct++;
      if (r >= k) for (const p of traceRecord(trace, r - k)) if (--counts[p] === 0) distinct--;
      if (r >= k - 1) sum += distinct;
    }
    points.push({ ms: k * interval, pages: sum / (R - k + 1) });
  }
  return points;
}

/** 1, 2, 3, 4, 6, 8, 12, 16, ... up to n (and n itself). */
function windowLengths(n: number): number[] {
  const out: number[] = [];
  for (let k = 1; k <= n; k = k < 4 ? k + 1 : Math.round(k * 1.5)) out.push(k);
  if (out[out.length - 1] !== n) out.push(n);
  return out;
}

/**
 * HIST: distinct pages for a window, interpolated linearly on the trace's writable-working-
 * set curve; past the trace's length, extended along the curve's last slope (never
 * decreasing, capped at the guest's pages).
 */
export function histModel(curve: readonly WwsPoint[], pageCount: number): DirtyModel {
  if (curve.length < 2) throw new PagepressError('a HIST model needs a curve of at least 2 points', ErrorCodes.ARG);
  const last = curve[curve.length - 1];
  const prev = curve[curve.length - 2];
  const tailSlope = Math.max(0, (last.pages - prev.pages) / (last.ms - prev.ms));
  return {
    name: 'hist',
    dirtied(ms) {
      if (ms <= 0) return 0;
      if (ms >= last.ms) return Math.min(pageCount, last.pages + tailSlope * (ms - last.ms));
      let i = 1;
      while (curve[i].ms < ms) i++;
      const a = curve[i - 1];
      const b = curve[i];
      return a.pages + ((b.pages - a.pages) * (ms - a.ms)) / (b.ms - a.ms);
    },
    describe: () => ({ model: 'hist', points: curve.length, spanMs: last.ms, pagesAtSpan: Math.round(last.pages), pageCount }),
  };
}

/** HIST learned from a trace (its writable-working-set curve). */
export function histModelFromTrace(trace: DirtyTrace): DirtyModel {
  return histModel(wwsCurve(trace), trace.pageCount);
}
