/**
 * The planner's model: private hosts, one public cloud, VM requests, and the injected
 * relocation-cost estimator. Units are in the field names or their comments: seconds for
 * times, GiB for memory and storage, whole or fractional CPUs.
 */

/** A private-cloud host: its total capacity. */
export interface PrivateHost {
  name: string;
  cpus: number;
  memGiB: number;
  storageGiB: number;
}

/** The public cloud: unlimited capacity, reached over one link, billed per CPU-hour. */
export interface PublicCloud {
  name: string;
  /** Link rate from the private cloud, Mbit/s. */
  linkMbps: number;
  /** One-way link latency, ms. */
  latencyMs: number;
  /** Price of one CPU for one hour (any currency unit). */
  pricePerCpuHour: number;
}

/** The contents of hosts.json: private hosts in placement order, and the public cloud. */
export interface HostSet {
  hosts: PrivateHost[];
  public: PublicCloud;
}

/** 1 is the highest priority (confidential: never public), 4 the lowest. */
export type Priority = 1 | 2 | 3 | 4;

/** Workload names a request may carry (what the estimator knows how to price). */
export const WORKLOADS = ['hotset', 'webserver', 'idle', 'pagecache', 'inplace'] as const;
/** One of {@link WORKLOADS}. */
export type Workload = (typeof WORKLOADS)[number];

/** A VM request of the trace. */
export interface VmRequest {
  id: string;
  /** Arrival time, s from the start of the trace. */
  arrival: number;
  cpus: number;
  memGiB: number;
  storageGiB: number;
  priority: Priority;
  /** Seconds after `arrival` by which the request must have COMPLETED. */
  deadline: number;
  /** Seconds of run time the request needs. */
  runTime: number;
  workload: Workload;
  /** Pages dirtied per second while running (optional; the estimator's default otherwise). */
  dirtyRate?: number;
}

/** What the estimator is told about a guest to relocate (the shape lib/predict takes). */
export interface RelocationVm {
  id: string;
  memBytes: number;
  workload: string;
  dirtyRate?: number;
}

/** A predicted relocation (the shape lib/predict returns). */
export interface RelocationEstimate {
  totalMs: number;
  downtimeMs: number;
  wireBytes: number;
  energyJ: number;
  /** Weighted cost the manager minimises (unitless). */
  cost: number;
}

/**
 * Predicts the cost of moving one guest to the public cloud. Structurally identical to
 * lib/predict's `RelocationEstimator`, so the planner never imports lib/predict.
 */
export type RelocationEstimator = (vm: RelocationVm) => RelocationEstimate;

/** The three resources a request needs: the seed's "c+s" (compute and storage). */
export interface Resources {
  cpus: number;
  memGiB: number;
  storageGiB: number;
}

/** High priority (1 and 2) in the seed's sense: confidential or critical work. */
export function isHighPriority(p: number): boolean {
  return p <= 2;
}
