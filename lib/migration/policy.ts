/**
 * Stop policies of the pre-copy loop: after each live iteration the sender asks whether to
 * go on or to pause the guest and copy what is left. Three, selectable by name
 * (docs/MIGRATION.md, "Stop policies"): Xen 4.4's rules, current Xen's, and an adaptive one
 * that predicts the final copy's time from measured rates.
 */
import { ErrorCodes, PagepressError } from '../errors';

/** Names of the built-in policies. */
export const POLICY_NAMES = ['xen-4.4', 'xen', 'adaptive'] as const;

/** A built-in policy name. */
export type PolicyName = (typeof POLICY_NAMES)[number];

/** Rates measured so far by the sender. */
export interface MeasuredRates {
  /** Bytes on the wire per page sent, in the last iteration (BATCH messages / pages). */
  wireBytesPerPage: number;
  /**
   * Bytes per second the sender got onto the connection over all iterations so far (BATCH
   * bytes / time sending them): the link's rate, or the codec's when that is slower.
   */
  linkBytesPerSec: number;
  /** Pages per second one batch goes through the encoder (batch pages / mean encode latency). */
  encodePagesPerSec: number;
  /** Mean time from handing a batch to the encoder to getting its frame, in ms. */
  batchCodecMs: number;
  /** Predicted time to checksum the paused guest for COMMIT, in ms (0 with verify 'sent'). */
  checksumMs: number;
}

/** What a policy decides on; asked after each live iteration. */
export interface PolicyInput {
  /** The live iteration just completed; 0 = the first, full pass. */
  iteration: number;
  /** Pages dirtied since that iteration began: what the next iteration would send. */
  dirtyCount: number;
  /** Pages sent in that iteration. */
  sentThisIteration: number;
  /** Pages sent so far, all iterations. */
  totalSent: number;
  /** Guest pages. */
  pageCount: number;
  /** Pages per batch. */
  batchPages: number;
  /** dirtyCount after each live iteration so far, this one last. */
  dirtyHistory: readonly number[];
  measured: MeasuredRates;
  /** The sender's COMMIT checksum mode (see MigrateOptions.verify). */
  verify?: 'paused' | 'sent';
}

/** A policy's answer. */
export interface PolicyDecision {
  /** true: pause the guest and send what is dirty; false: another live iteration. */
  stop: boolean;
  /** Why, in words, for the report (e.g. "37 dirty pages (< 50)"). */
  reason: string;
  /** The adaptive policy's prediction of the final copy, in ms. */
  predictedFinalMs?: number;
}

/** A stop policy: asked after every live iteration. */
export interface StopPolicy {
  readonly name: string;
  decide(input: PolicyInput): PolicyDecision;
  /** The policy's parameters, for reports. */
  describe(): Record<string, unknown>;
}

/** Options of {@link createPolicy}. */
export interface PolicyOptions {
  /** adaptive: the downtime to aim for, in ms (default 300). */
  downtimeTargetMs?: number;
  /** Most live iterations (default: 29 for xen-4.4, 5 for xen, 30 for adaptive). */
  maxIterations?: number;
}

/** Xen's threshold of "few enough" pages, in every version. */
export const XEN_DIRTY_THRESHOLD = 50;

/**
 * Xen ≤ 4.5 (xc_domain_save.c): go to the last iteration when the iteration just done sent
 * fewer than 50 pages, after 29 live iterations, or when more than 3 x the guest's pages
 * have been sent in total.
 */
export function xen44Policy(maxIterations = 29): StopPolicy {
  return {
    name: 'xen-4.4',
    decide(i) {
      if (i.sentThisIteration < XEN_DIRTY_THRESHOLD) return { stop: true, reason: `iteration ${i.iteration} sent ${i.sentThisIteration} pages (< ${XEN_DIRTY_THRESHOLD})` };
      if (i.iteration + 1 >= maxIterations) return { stop: true, reason: `${i.iteration + 1} live iterations (max ${maxIterations})` };
      if (i.totalSent > 3 * i.pageCount) return { stop: true, reason: `${i.totalSent} pages sent in total (> 3 x ${i.pageCount} guest pages)` };
      return { stop: false, reason: `${i.dirtyCount} dirty pages` };
    },
    describe: () => ({ name: 'xen-4.4', maxIterations, dirtyThreshold: XEN_DIRTY_THRESHOLD, maxFactor: 3 }),
  };
}

/**
 * Current Xen (simple_precopy_policy, 4.10+): stop when fewer than 50 pages are dirty or
 * after 5 live iterations (1 full + 4 dirty passes).
 */
export function xenPolicy(maxIterations = 5): StopPolicy {
  return {
    name: 'xen',
    decide(i) {
      if (i.dirtyCount < XEN_DIRTY_THRESHOLD) return { stop: true, reason: `${i.dirtyCount} dirty pages (< ${XEN_DIRTY_THRESHOLD})` };
      if (i.iteration + 1 >= maxIterations) return { stop: true, reason: `${i.iteration + 1} live iterations (max ${maxIterations})` };
      return { stop: false, reason: `${i.dirtyCount} dirty pages` };
    },
    describe: () => ({ name: 'xen', maxIterations, dirtyThreshold: XEN_DIRTY_THRESHOLD }),
  };
}

/**
 * The final copy's predicted time: the dirty pages' bytes at the measured wire cost per page
 * and connection rate, plus one batch's codec time (the pipeline's fill; the codec runs
 * alongside the transfer after that), plus the checksum of the paused guest when the
 * sender takes one.
 */
export function predictFinalMs(dirtyCount: number, m: MeasuredRates): number {
  const rate = m.linkBytesPerSec > 0 ? m.linkBytesPerSec : Infinity;
  const copy = dirtyCount === 0 ? 0 : ((dirtyCount * m.wireBytesPerPage) / rate) * 1000 + m.batchCodecMs;
  return copy + (m.checksumMs ?? 0);
}

/**
 * Adaptive: stop once the predicted final copy fits the downtime target, or when the dirty
 * set has not shrunk for 2 iterations in a row (more passes will not help: the guest
 * dirties pages as fast as they are sent), or at the iteration cap.
 */
export function adaptivePolicy(downtimeTargetMs = 300, maxIterations = 30): StopPolicy {
  return {
    name: 'adaptive',
    decide(i) {
      const predicted = predictFinalMs(i.dirtyCount, i.measured);
      const p = Math.round(predicted * 10) / 10;
      if (predicted <= downtimeTargetMs) return { stop: true, reason: `predicted final copy ${p} ms <= target ${downtimeTargetMs} ms (${i.dirtyCount} dirty pages)`, predictedFinalMs: predicted };
      const h = i.dirtyHistory;
      if (h.length >= 3 && h[h.length - 1] >= h[h.length - 2] && h[h.length - 2] >= h[h.length - 3]) {
        return { stop: true, reason: `dirty set stopped shrinking for 2 iterations (${h.slice(-3).join(', ')} pages); predicted final copy ${p} ms`, predictedFinalMs: predicted };
      }
      if (i.iteration + 1 >= maxIterations) return { stop: true, reason: `${i.iteration + 1} live iterations (max ${maxIterations}); predicted final copy ${p} ms`, predictedFinalMs: predicted };
      return { stop: false, reason: `predicted final copy ${p} ms > target ${downtimeTargetMs} ms`, predictedFinalMs: predicted };
    },
    describe: () => ({ name: 'adaptive', downtimeTargetMs, maxIterations }),
  };
}

/**
 * A policy by name (or a custom StopPolicy, returned as is).
 * @throws PagepressError PP_ERR_ARG for an unknown name or a bad option
 */
export function createPolicy(policy: PolicyName | StopPolicy = 'adaptive', options: PolicyOptions = {}): StopPolicy {
  if (typeof policy === 'object' && policy !== null && typeof policy.decide === 'function') return policy;
  const { downtimeTargetMs, maxIterations } = options;
  if (maxIterations !== undefined && (!Number.isInteger(maxIterations) || maxIterations < 1 || maxIterations > 10000)) {
    throw new PagepressError(`maxIterations must be an integer in 1..10000, got ${maxIterations}`, ErrorCodes.ARG);
  }
  if (downtimeTargetMs !== undefined && (typeof downtimeTargetMs !== 'number' || !(downtimeTargetMs >= 0) || !Number.isFinite(downtimeTargetMs))) {
    throw new PagepressError(`downtimeTargetMs must be a number of ms >= 0, got ${downtimeTargetMs}`, ErrorCodes.ARG);
  }
  switch (policy) {
    case 'xen-4.4':
      return xen44Policy(maxIterations);
    case 'xen':
      return xenPolicy(maxIterations);
    case 'adaptive':
      return adaptivePolicy(downtimeTargetMs, maxIterations);
    default:
      throw new PagepressError(`unknown stop policy "${String(policy)}" (known: ${POLICY_NAMES.join(', ')})`, ErrorCodes.ARG);
  }
}
