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
import type { DirtyModel } from './dirty-model';

/** The link between the hosts. */
export interface LinkModel {
  /** Nominal rate, bytes/s (100 Mbit/s = 12.5e6). */
  bytesPerSec: number;
  /** One-way latency, ms. */
  latencyMs: number;
}

/** What the codec does to this guest's pages (measured by profileCodec, or from a past run). */
export interface CodecProfile {
  codec: string;
  level?: number;
  /** Wire bytes per page of the first, full pass. */
  firstBytesPerPage: number;
  /** Wire bytes per re-sent page whose last copy is in the page cache (UNCHANGED/DELTA). */
  resentHitBytesPerPage: number;
  /** Wire bytes per re-sent page not in the cache (sent whole, compressed). */
  resentMissBytesPerPage: number;
  /** Pages per second the sender's encoder gets through, all its threads together. */
  encodePagesPerSec: number;
  /** Pages per second the receiver's decoder gets through, all its threads together. */
  decodePagesPerSec: number;
}

/** What the hosts add, independent of guest and codec (measured by a calibration run). */
export interface MachineProfile {
  /** Share of the nominal link rate that carries protocol bytes (TCP/IP headers, shaper). */
  linkEfficiency: number;
  /** CRC32C bytes per second (the paused guest's checksum on each side). */
  checksumBytesPerSec: number;
  /** Fixed part of the downtime: pausing, message handling, resuming, in ms (no latency). */
  fixedDowntimeMs: number;
  /** Connection set-up and HELLO, in ms (no latency). */
  connectMs: number;
  /** Sender and receiver share the CPUs (loopback): their codec work adds up instead of overlapping. */
  sharedCpu: boolean;
}

/** Defaults of a MachineProfile: a typical run on this project's loopback test machines. */
export const DEFAULT_MACHINE: MachineProfile = { linkEfficiency: 0.94, checksumBytesPerSec: 4e9, fixedDowntimeMs: 5, connectMs: 40, sharedCpu: false };

/** What to predict. */
export interface PredictInput {
  pageCount: number;
  /** Bytes per page (default 4096). */
  pageSize?: number;
  /** Pages per batch (default 1024). */
  batchPages?: number;
  /** Page-cache slots (default as the engine: min(pageCount, 65536)). */
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

/** Pages per second through the pipeline when pages cost `bytesPerPage` on the wire. */
function pipelineRate(bytesPerPage: number, link: LinkModel, codec: CodecProfile, m: MachineProfile): number {
  const wire = (link.bytesPerSec * m.linkEfficiency) / bytesPerPage;
  const cpu = m.sharedCpu
    ? 1 / (1 / codec.encodePagesPerSec + 1 / codec.decodePagesPerSec)
    : Math.min(codec.encodePagesPerSec, codec.decodePagesPerSec);
  return Math.min(wire, cpu);
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
  const cacheSlots = input.cacheSlots ?? Math.min(pageCount, 65536);
  const verify = input.verify ?? 'paused';
  const policy = createPolicy(input.policy ?? 'adaptive', input.policyOptions);
  const rtt = 2 * link.latencyMs;
  const guestChecksumMs = ((pageCount * pageSize) / m.checksumBytesPerSec) * 1000;
  // One batch through one encoder thread: the pipeline's fill before the link is busy.
  const batchCodecMs = (batchPages / codec.encodePagesPerSec) * 1000;
  // Re-sent pages in the cache: iteration 1 finds only what the full pass left in the cache
  // (a direct-mapped cache of S slots keeps S of the N pages); later ones re-send the
  // working set of the iteration before, which the cache holds.
  const firstHit = Math.min(1, cacheSlots / pageCount);
  const resentCost = (iteration: number) => {
    const hit = cacheSlots === 0 ? 0 : iteration === 1 ? firstHit : 1;
    return hit * codec.resentHitBytesPerPage + (1 - hit) * codec.resentMissBytesPerPage;
  };

  const iterations: PredictedIteration[] = [];
  let totalMs = m.connectMs + rtt;
  let wireBytes = CONTROL_BYTES + Math.ceil(pageCount / CHECKSUM_CHUNK_PAGES) * 4;
  let totalSent = 0;
  let batchBytes = 0;
  let sendMs = 0;
  let pages = pageCount;
  let dirtyCount = 0;
  const history: number[] = [];
  let stopReason = '';
  let firstRate = 0;
  for (let iteration = 0; ; iteration++) {
    const perPage = iteration === 0 ? codec.firstBytesPerPage : resentCost(iteration);
    const rate = pipelineRate(perPage, link, codec, m);
    if (iteration === 0) firstRate = rate;
    const bytes = pages * perPage + Math.ceil(pages / batchPages) * BATCH_OVERHEAD;
    const send = pages === 0 ? 0 : (pages / rate) * 1000 + batchCodecMs;
    // The acknowledgement: the last bytes cross the link, the receiver decodes its last batch, the ack comes back.
    const window = send + rtt + (pages === 0 ? 0 : (Math.min(batchPages, pages) / codec.decodePagesPerSec) * 1000);
    iterations.push({ iteration, final: false, pages, wireBytes: bytes + 2 * ITERATION_MESSAGE_BYTES, ms: window });
    totalMs += window;
    wireBytes += bytes + 3 * ITERATION_MESSAGE_BYTES;
    totalSent += pages;
    batchBytes += bytes;
    sendMs += send;
    dirtyCount = Math.round(dirty.dirtied(window));
    history.push(dirtyCount);
    const measured: MeasuredRates = {
      wireBytesPerPage: pages > 0 ? bytes / pages : perPage,
      linkBytesPerSec: sendMs > 0 ? (batchBytes / sendMs) * 1000 : link.bytesPerSec,
      encodePagesPerSec: codec.encodePagesPerSec,
      batchCodecMs,
      checksumMs: verify === 'paused' ? guestChecksumMs : 0,
    };
    const decision = policy.decide({
      iteration, dirtyCount, sentThisIteration: pages, totalSent, pageCount, batchPages, dirtyHistory: history, measured, verify,
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
  const perPage = resentCost(finalIteration);
  const finalBytes = dirtyCount * perPage + Math.ceil(dirtyCount / batchPages) * BATCH_OVERHEAD;
  const finalCopyMs = dirtyCount === 0 ? 0 : (dirtyCount / pipelineRate(perPage, link, codec, m)) * 1000 + batchCodecMs;
  const senderChecksumMs = verify === 'paused' ? guestChecksumMs : 0;
  const downtimeMs = m.fixedDowntimeMs + Math.max(finalCopyMs, senderChecksumMs) + 2 * rtt;
  iterations.push({ iteration: finalIteration, final: true, pages: dirtyCount, wireBytes: finalBytes, ms: finalCopyMs });
  wireBytes += finalBytes + 2 * ITERATION_MESSAGE_BYTES;
  totalMs += downtimeMs;
  return { totalMs, downtimeMs, wireBytes, liveIterations: finalIteration, iterations, stopReason, pagesPerSec: firstRate };
}
