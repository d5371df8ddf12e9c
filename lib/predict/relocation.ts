/**
 * Relocation cost for the resource manager (lib/planner): the predicted migration of a
 * guest described only by its memory size and workload name, over the link to the public
 * cloud, priced with migrationCost. Without a trace of the guest, its dirty pages follow
 * the AVG model at the workload's write rate, capped at the workload's writable working set
 * (a guest cannot dirty more distinct pages than it writes to); its pages compress as the
 * codec profile says (defaults measured on the real-memory corpus, docs/PLANNER.md).
 */
import { WORKLOADS, isWorkloadName } from '../migration/guests/workloads';
import { ErrorCodes, PagepressError } from '../errors';
import { CODECS, DEFAULT_CODEC } from '../codec/registry';
import { CostWeights, migrationCost } from './cost';
import type { DirtyModel } from './dirty-model';
import { CodecProfile, MachineProfile, predictMigration } from './simulate';
import type { PolicyName } from '../migration/policy';

/** What the resource manager knows of a guest to move. */
export interface RelocationQuery {
  id: string;
  memBytes: number;
  workload: string;
  /** Page writes per second (default: the workload's). */
  dirtyRate?: number;
}

/** The predicted relocation of one guest and its cost. */
export interface RelocationEstimate {
  totalMs: number;
  downtimeMs: number;
  wireBytes: number;
  energyJ: number;
  cost: number;
}

/** Predicts the relocation of one guest. */
export type RelocationEstimator = (vm: RelocationQuery) => RelocationEstimate;

/** Options of {@link createRelocationEstimator}. */
export interface RelocationOptions {
  /** The link to the public cloud. */
  linkBytesPerSec: number;
  latencyMs: number;
  /** Codec name, for the default profile (default 'zstd'). */
  codec?: string;
  /** Stop policy (default 'adaptive'). */
  policy?: PolicyName;
  weights?: Partial<CostWeights>;
  /** Codec profile to use instead of the built-in one. */
  profile?: CodecProfile;
  machine?: Partial<MachineProfile>;
}

/**
 * Built-in codec profiles, from each codec's `estimate` (lib/codec/*.ts): medians over the
 * runs of each codec in `npm run predict-eval` of 2026-11-26 (guests of 128-512 MiB filled
 * from the real-memory corpus, the five simulated workloads, 2 encoder threads on this
 * project's 2-core machines). A codec whose estimate is null has no built-in profile.
 */
export const DEFAULT_PROFILES: Readonly<Record<string, CodecProfile>> = Object.fromEntries(CODECS.flatMap((c) => (c.estimate ? [[c.name, { codec: c.name, ...c.estimate }] as const] : [])));

/**
 * Share of a guest's pages each workload writes to, from the workload definitions
 * (docs/MIGRATION-GUESTS.md): the ceiling of its distinct dirty pages.
 */
const WORKING_SET: Readonly<Record<string, number>> = { idle: 0.07, pagecache: 0.5, hotset: 0.19, inplace: 0.25, webserver: 0.65 };

/**
 * The dirty model of a guest known only by its workload: AVG at its write rate (`dirtyRate`
 * page writes/s, default the workload's), capped at the share of memory it writes to.
 */
export function workloadDirtyModel(workload: string, pageCount: number, dirtyRate?: number): DirtyModel {
  const rate = dirtyRate ?? (isWorkloadName(workload) ? WORKLOADS[workload].defaultRate : 5000);
  const cap = pageCount * (WORKING_SET[workload] ?? 0.25);
  return {
    name: 'avg',
    dirtied: (ms) => Math.min(cap, (rate * Math.max(0, ms)) / 1000),
    describe: () => ({ model: 'avg', workload, pagesPerSec: rate, cap: Math.round(cap) }),
  };
}

/**
 * An estimator of relocation cost over one link, for the resource manager.
 * @throws PagepressError PP_ERR_ARG for an unknown codec without a profile, a bad link
 */
export function createRelocationEstimator(o: RelocationOptions): RelocationEstimator {
  const profile = o.profile ?? DEFAULT_PROFILES[o.codec ?? DEFAULT_CODEC];
  if (!profile) throw new PagepressError(`no codec profile for "${o.codec}" (known: ${Object.keys(DEFAULT_PROFILES).join(', ')}); pass one`, ErrorCodes.ARG);
  const link = { bytesPerSec: o.linkBytesPerSec, latencyMs: o.latencyMs };
  return (vm) => {
    if (!(vm.memBytes >= 4096) || !Number.isFinite(vm.memBytes)) throw new PagepressError(`guest ${vm.id}: memBytes must be >= 4096, got ${vm.memBytes}`, ErrorCodes.ARG);
    const pageCount = Math.ceil(vm.memBytes / 4096);
    const p = predictMigration({ pageCount, dirty: workloadDirtyModel(vm.workload, pageCount, vm.dirtyRate), link, codec: profile, machine: o.machine, policy: o.policy ?? 'adaptive' });
    const c = migrationCost(p, o.weights);
    return { totalMs: p.totalMs, downtimeMs: p.downtimeMs, wireBytes: p.wireBytes, energyJ: c.energyJ, cost: c.cost };
  };
}
