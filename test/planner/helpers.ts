/** Fixtures of the planner tests: a deterministic estimator, small host sets and requests. */
import { HostSet, Priority, RelocationEstimator, VmRequest } from '../../lib/planner/types';

const GiB = 1024 ** 3;

/**
 * A test estimator (not the predictor): a migration takes 1 s per GiB plus 1 s per 1000
 * dirty pages/s, with 10 ms downtime per GiB; cost = GiB x (1 + dirtyRate / 1000).
 */
export const toyEstimator: RelocationEstimator = (vm) => {
  const gib = vm.memBytes / GiB;
  const dirty = vm.dirtyRate ?? 0;
  return { totalMs: 1000 * (gib + dirty / 1000), downtimeMs: 10 * gib, wireBytes: vm.memBytes, energyJ: gib * 10, cost: gib * (1 + dirty / 1000) };
};

/** One private host named pm1..pmN of the given cpus (memory and storage never bind). */
export function hostsOf(...cpus: number[]): HostSet {
  return {
    hosts: cpus.map((c, i) => ({ name: `pm${i + 1}`, cpus: c, memGiB: 1024, storageGiB: 100000 })),
    public: { name: 'cloud', linkMbps: 1000, latencyMs: 10, pricePerCpuHour: 0.1 },
  };
}

/** A request with defaults: 1 GiB, 10 GiB storage, idle, a long deadline. */
export function req(id: string, arrival: number, priority: Priority, cpus: number, runTime: number, extra: Partial<VmRequest> = {}): VmRequest {
  return { id, arrival, cpus, memGiB: 1, storageGiB: 10, priority, deadline: 100000, runTime, workload: 'idle', ...extra };
}
