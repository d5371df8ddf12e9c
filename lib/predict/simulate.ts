/**
 * The migration predictor: simulates pre-copy the way lib/migration/sender.ts runs it, on
 * models instead of a guest and a socket. Iteration 0 sends every page; each later one sends
 * what the dirty model says was dirtied during the previous one (its send time plus the
 * wait for the receiver's ITERATION_ACK); the same stop policy objects as the engine decide
 * when to pause; the final copy, the checksum and two round trips make the downtime.
 * docs/PLANNER.md, "Predictor", has the equations and their limits.
 */
import { ErrorCodes, PagepressError } from '../errors';
import { CHECKSUM_CHUNK_PAGES } from '../migration/protocol';
import { createPolicy, MeasuredRates, PolicyName, PolicyOptions, StopPolicy } from '../migration/policy';
import { defaultCacheSlots } from '../migration/defaults';
import type { DirtyModel } from './dirty-model';
import type { CodecEstimate } from '../codec/codec';

/** The link between the hosts. */
export interface LinkModel {
  /** Nominal rate, bytes/s (100 Mbit/s = 12.5e6). */
  bytesPerSec: number;
  /** One-way latency, ms. */
  latencyMs: number;
}

/**
 * What the codec does to this guest's pages (measured by profileCodec, or from a past run;
 * the built-in ones are the codecs' own `estimate`).
 */
export interface CodecProfile extends CodecEstimate {
  codec: string;
  level?: number;
  /**
   * Wire bytes per re-sent cached page at several times since the page's last copy (a delta
   * grows with the writes in between), ascending gapMs; interpolated on log(gap), clamped at the ends.
   */
  resentHitCurve?: ReadonlyArray<{ gapMs: number; bytesPerPage: number }>;
}

/** What the hosts add, independent of guest and codec (measured by a calibration run). */
export interface MachineProfile {
  /** Share of the nominal link rate that carries protocol bytes (TCP/IP headers, shaper). */
  linkEfficiency: number;
  /** CRC32C bytes per second (the paused guest's checksum on each side). */
  checksumBytesPerSec: number;
  /**
   * Bytes per second the byte path (socket, copies, shaper: one thread) moves with no codec,
   * measured over a link faster than the hosts; Infinity = not a limit.
   */
  transferBytesPerSec: number;
  /** Fixed part of the downtime: pausing, message handling, resuming, in ms (no latency). */
  fixedDowntimeMs: number;
  /** Connection set-up and HELLO, in ms (no latency). */
  connectMs: number;
  /** Sender and receiver share the CPUs (loopback): their codec work adds up instead of overlapping. */
  sharedCpu: boolean;
  /** CPU cores of a host (of the machine, when shared). */
  cores: number;
}

/**
 * Defaults of a MachineProfile: two hosts (not sharing CPUs) of 2 cores each, with the
 * rates measured by `npm run predict-eval`'s calibration on 2026-11-26.
 */
export const DEFAULT_MACHINE: MachineProfile = { linkEfficiency: 1, checksumBytesPerSec: 3.3e9, transferBytesPerSec: 197e6, fixedDowntimeMs: 4, connectMs: 60, sharedCpu: false, cores: 2 };

/** What to predict. */
export interface PredictInput {
  pageCount: number;
  /** Bytes per page (default 4096). */
  pageSize?: number;
  /** Pages per batch (default 1024). */
  batchPages?: number;
  /** Page-cache slots (default: the engine's, defaultCacheSlots). */
  cacheSlots?: number;
  dirty: DirtyModel;
  link: LinkModel;
  codec: CodecProfile;
  machine?: Partial<MachineProfile>;
  /** Stop policy (default 'adaptive') and its options, as for migrate(). */
  policy?: PolicyName | StopPolicy;
  policyOptions?: PolicyOptions;
  /** COMMIT checksum mode (default 'paused', as the engine). */
  verify?: 'paused' | 'sent';
}

/** One predicted iteration. */
export interface PredictedIteration {
  iteration: number;
  final: boolean;
  pages: number;
  wireBytes: number;
  /** Send time plus the wait for the acknowledgement (live) or the final copy time. */
  ms: number;
}

/** The prediction. */
export interface Prediction {
  totalMs: number;
  downtimeMs: number;
  /** Protocol bytes both ways. */
  wireBytes: number;
  liveIterations: number;
  iterations: PredictedIteration[];
  stopReason: string;
  /** Pages per second through the slower of link and codec, first pass. */
  pagesPerSec: number;
}

/** Bytes of a BATCH message beyond its pages: frame header, pfn runs, message header. */
const BATCH_OVERHEAD = 96;
/** Bytes of the other messages of a migration (HELLO, marks, PAUSED, GO, acks), roughly. */
const CONTROL_BYTES = 2048;
const ITERATION_MESSAGE_BYTES = 64;
/** A dirty count within this share of the one before counts as not shrinking (see the loop). */
export const PLATEAU = 0.05;

/**
 * Pages per second through the pipeline when pages cost `bytesPerPage` on the wire: the
 * slower of the link and the CPUs. The codec rates are measured on all cores, so a page
 * takes cores/rate core-seconds of each; the byte path (socket, copies, shaper) is one
 * thread that moved transferBytesPerSec on one core in the calibration. Sharing the CPUs
 * (both ends on one machine), the core-seconds add up over the cores; on two hosts each
 * stage is its own limit.
 */
function pipelineRate(bytesPerPage: number, link: LinkModel, codec: CodecProfile, m: MachineProfile, resent: boolean): number {
  const wire = (link.bytesPerSec * m.linkEfficiency) / bytesPerPage;
  const enc = 1 / encodeRate(codec, resent);
  const dec = 1 / codec.decodePagesPerSec;
  const bytes = bytesPerPage / m.transferBytesPerSec;
  const cpu = 1 / (m.sharedCpu ? enc + dec + bytes / m.cores : Math.max(enc, dec, bytes));
  return Math.min(wire, cpu);
}

/** The encoder's pages per second on first-pass or on re-sent pages. */
function encodeRate(codec: CodecProfile, resent: boolean): number {
  return resent && codec.resentEncodePagesPerSec ? codec.resentEncodePagesPerSec : codec.encodePagesPerSec;
}

/** Wire bytes of a cached re-sent page `gapMs` after its last copy. */
function hitCost(codec: CodecProfile, gapMs: number): number {
  const c = codec.resentHitCurve;
  if (!c || c.length === 0) return codec.resentHitBytesPerPage;
  if (gapMs <= c[0].gapMs) return c[0].bytesPerPage;
  for (let i = 1; i < c.length; i++) {
    if (gapMs <= c[i].gapMs) {
      const f = Math.log(gapMs / c[i - 1].gapMs) / Math.log(c[i].gapMs / c[i - 1].gapMs);
      return c[i - 1].bytesPerPage + f * (c[i].bytesPerPage - c[i - 1].bytesPerPage);
    }
  }
  return c[c.length - 1].bytesPerPage;
}

function checkInput(i: PredictInput): void {
  const positive = (name: string, v: number) => {
    if (!(v > 0) || !Number.isFinite(v)) throw new PagepressError(`${name} must be a number > 0, got ${v}`, ErrorCodes.ARG);
  };
  if (!Number.isInteger(i.pageCount) || i.pageCount < 1) throw new PagepressError(`pageCount must be an integer >= 1, got ${i.pageCount}`, ErrorCodes.ARG);
  positive('link.bytesPerSec', i.link.bytesPerSec);
  if (!(i.link.latencyMs >= 0)) throw new PagepressError(`link.latencyMs must be >= 0, got ${i.link.latencyMs}`, ErrorCodes.ARG);
  for (const k of ['firstBytesPerPage', 'resentHitBytesPerPage', 'resentMissBytesPerPage', 'encodePagesPerSec', 'decodePagesPerSec'] as const) positive(`codec.${k}`, i.codec[k]);
}

/**
 * Predicts iterations, total time, downtime and bytes of one migration.
 * @throws PagepressError PP_ERR_ARG for a bad input
 */
export function predictMigration(input: PredictInput): Prediction {
  checkInput(input);
  const m: MachineProfile = { ...DEFAULT_MACHINE, ...input.machine };
  const { pageCount, dirty, link, codec } = input;
  const pageSize = input.pageSize ?? 4096;
  const batchPages = input.batchPages ?? 1024;
  const cacheSlots = input.cacheSlots ?? defaultCacheSlots(pageCount);
  const verify = input.verify ?? 'paused';
  const policy = createPolicy(input.policy ?? 'adaptive', input.policyOptions);
  const rtt = 2 * link.latencyMs;
  // The sender's checksum of the paused guest (verify 'paused'): in the downtime, and in the adaptive policy's estimate.
  const checksumMs = verify === 'paused' ? ((pageCount * pageSize) / m.checksumBytesPerSec) * 1000 : 0;
  // One batch's encoding: the pipeline's fill before the link is busy.
  const batchCodecMs = (resent: boolean, pages = batchPages) => (Math.min(batchPages, pages) / encodeRate(codec, resent)) * 1000;
  /** Wire bytes and send time of `pages` pages at `perPage` bytes each. */
  const transfer = (pages: number, perPage: number, resent: boolean) => ({
    bytes: pages * perPage + Math.ceil(pages / batchPages) * BATCH_OVERHEAD,
    ms: pages === 0 ? 0 : (pages / pipelineRate(perPage, link, codec, m, resent)) * 1000 + batchCodecMs(resent, pages),
  });
  // Re-sent pages in the cache: iteration 1 finds only what the full pass left in the cache
  // (a direct-mapped cache of S slots keeps S of the N pages); later ones re-send the
  // working set of the iteration before, which the cache holds.
  const firstHit = Math.min(1, cacheSlots / pageCount);
  // A page re-sent in iteration k was last sent about one iteration (k-1's window) earlier.
  const resentCost = (iteration: number, gapMs: number) => {
    const hit = cacheSlots === 0 ? 0 : iteration === 1 ? firstHit : 1;
    return hit * hitCost(codec, gapMs) + (1 - hit) * codec.resentMissBytesPerPage;
  };

  const iterations: PredictedIteration[] = [];
  let totalMs = m.connectMs + rtt;
  let wireBytes = CONTROL_BYTES + Math.ceil(pageCount / CHECKSUM_CHUNK_PAGES) * 4;
  let totalSent = 0;
  let batchBytes = 0;
  let sendMs = 0;
  let pages = pageCount;
  let dirtyCount: number;
  const history: number[] = [];
  let stopReason: string;
  let firstRate = 0;
  for (let iteration = 0; ; iteration++) {
    const gap = iterations.length > 0 ? iterations[iterations.length - 1].ms : 0;
    const perPage = iteration === 0 ? codec.firstBytesPerPage : resentCost(iteration, gap);
    if (iteration === 0) firstRate = pipelineRate(perPage, link, codec, m, false);
    const { bytes, ms: send } = transfer(pages, perPage, iteration > 0);
    // The acknowledgement: the last bytes cross the link, the receiver decodes its last batch, the ack comes back.
    const window = send + rtt + (pages === 0 ? 0 : (Math.min(batchPages, pages) / codec.decodePagesPerSec) * 1000);
    iterations.push({ iteration, final: false, pages, wireBytes: bytes + 2 * ITERATION_MESSAGE_BYTES, ms: window });
    totalMs += window;
    wireBytes += bytes + 3 * ITERATION_MESSAGE_BYTES;
    totalSent += pages;
    batchBytes += bytes;
    sendMs += send;
    dirtyCount = Math.round(dirty.dirtied(window));
    // A model converges smoothly onto the writable working set, where a real guest's count
    // wanders around it: the policies' "stopped shrinking" rules see a plateau as a plateau.
    const prev = history.length > 0 ? history[history.length - 1] : Infinity;
    history.push(dirtyCount >= prev * (1 - PLATEAU) ? prev : dirtyCount);
    const measured: MeasuredRates = {
      wireBytesPerPage: pages > 0 ? bytes / pages : perPage,
      linkBytesPerSec: sendMs > 0 ? (batchBytes / sendMs) * 1000 : link.bytesPerSec,
      encodePagesPerSec: codec.encodePagesPerSec,
      batchCodecMs: batchCodecMs(true),
      checksumMs,
    };
    const decision = policy.decide({
      iteration,
      dirtyCount,
      sentThisIteration: pages,
      totalSent,
      pageCount,
      batchPages,
      dirtyHistory: history,
      measured,
      verify,
    });
    if (decision.stop) {
      stopReason = decision.reason;
      break;
    }
    pages = dirtyCount;
  }

  // Stop and copy: the dirty pages cross the link while the sender checksums the paused
  // guest; then COMMIT and GO, a round trip each (the receiver keeps its page checksums up
  // to date as pages arrive, so its check at COMMIT is in the fixed part).
  const finalIteration = iterations.length;
  const perPage = resentCost(finalIteration, iterations[iterations.length - 1].ms);
  const { bytes: finalBytes, ms: finalCopyMs } = transfer(dirtyCount, perPage, true);
  const downtimeMs = m.fixedDowntimeMs + Math.max(finalCopyMs, checksumMs) + 2 * rtt;
  iterations.push({ iteration: finalIteration, final: true, pages: dirtyCount, wireBytes: finalBytes, ms: finalCopyMs });
  wireBytes += finalBytes + 2 * ITERATION_MESSAGE_BYTES;
  totalMs += downtimeMs;
  return { totalMs, downtimeMs, wireBytes, liveIterations: finalIteration, iterations, stopReason, pagesPerSec: firstRate };
}
