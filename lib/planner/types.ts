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

// The relocation estimator's types are the predictor's own (a type-only import: the
// planner runs with any function of that shape, e.g. a fixture in the tests).
export type { RelocationQuery as RelocationVm, RelocationEstimate, RelocationEstimator } from '../predict/relocation';

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
