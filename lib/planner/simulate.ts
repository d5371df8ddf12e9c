/**
 * Discrete-event simulation of one manager on one trace. Deterministic: no clock, no
 * randomness; events are ordered by time, then kind (completion, migration done, arrival,
 * aging check), then request id, then scheduling order.
 *
 * Events and what they do:
 *   arrival       the request joins the queue (an aging check is scheduled if it is low)
 *   completion    the guest ends; its private resources free
 *   migrate-done  a migrated guest now runs in the public cloud; its source resources free
 *   age           a still-waiting low request rises one priority step (rule-based only)
 * After every event the queue is offered to the manager in its order (schedule()).
 * Events are never removed from the heap: a state change bumps the guest's epoch, and an
 * event with an older epoch is skipped when popped.
 *
 * Memory is bounded by the trace: per request one guest, at most one pending event of each
 * kind (4), at most one decision-log line per action, one suspension per priority-1
 * request and one migration per low request; the time series has one sample per distinct
 * event time. So O(n) for n requests, about 1 KiB per request in practice.
 */
import { ErrorCodes, PagepressError } from '../errors';
import { Decision, Guest, HostState, Manager, PlannerView, addRes, fits, freeOf, needOf } from './state';
import { HostSet, isHighPriority, Priority, RelocationEstimate, RelocationEstimator, Resources, VmRequest } from './types';

/** Default aging threshold, s. */
export const DEFAULT_AGING_THRESHOLD_S = 600;

/** Actions in the decision log. */
export type Action = 'allocate' | 'queue' | 'suspend' | 'resume' | 'migrate-start' | 'migrate-done' | 'public' | 'complete' | 'age';

/** One decision: what happened to which request, where, and why. */
export interface LogEntry {
  /** Simulated time, s. */
  t: number;
  action: Action;
  request: string;
  /** Private host (or the public cloud's name for public and migrations). */
  host?: string;
  reason: string;
}

/** Private-cloud state after the events at time `t`. Utilisation is used/total, 0..1. */
export interface Sample {
  t: number;
  cpu: number;
  mem: number;
  storage: number;
  queue: number;
}

/** Per-priority figures (by requested priority). */
export interface PriorityStats {
  priority: Priority;
  requests: number;
  deadlinesMet: number;
  /** deadlinesMet / requests x 100 (100 when there are no requests). */
  deadlinesMetPct: number;
  /** Seconds queued, in total over the request's life (first wait plus any after suspension). */
  maxWaitS: number;
  meanWaitS: number;
  /** Requests that ran (from the start, or after migration) in the public cloud. */
  public: number;
}

/** The run's figures. */
export interface Summary {
  manager: string;
  requests: number;
  /** Time of the last event, s. */
  makespanS: number;
  byPriority: PriorityStats[];
  migrations: number;
  migrationBytes: number;
  migrationCost: number;
  migrationEnergyJ: number;
  downtimeMs: number;
  suspensions: number;
  publicStarts: number;
  publicCpuHours: number;
  publicPrice: number;
  /** Time-averaged private utilisation over [0, makespan], 0..1. */
  utilisation: { cpu: number; mem: number; storage: number };
  /** Requests never completed (0 unless the trace cannot be served). */
  unfinished: number;
}

/** The full result of one run. */
export interface SimulationResult {
  manager: string;
  log: LogEntry[];
  series: Sample[];
  summary: Summary;
  /** Per request: total wait, completion and where it ran (for tests and reports). */
  outcomes: Array<{ id: string; priority: Priority; waitS: number; completedAt: number | null; metDeadline: boolean; ranPublic: boolean }>;
}

/** Options of {@link simulate}. */
export interface SimulateOptions {
  manager: Manager;
  /** Seconds of waiting per aging step (managers with aging only). Default 600. */
  agingThresholdS?: number;
  /** Called after every event's decisions with the private hosts (for tests and tracing); must not change them. */
  observe?: (now: number, hosts: readonly HostState[]) => void;
}

type EventKind = 'complete' | 'migrate-done' | 'arrival' | 'age';
const KIND_ORDER: Record<EventKind, number> = { complete: 0, 'migrate-done': 1, arrival: 2, age: 3 };

interface SimEvent {
  t: number;
  kind: EventKind;
  guest: Guest;
  epoch: number;
  seq: number;
}

function before(a: SimEvent, b: SimEvent): boolean {
  if (a.t !== b.t) return a.t < b.t;
  if (a.kind !== b.kind) return KIND_ORDER[a.kind] < KIND_ORDER[b.kind];
  if (a.guest.req.id !== b.guest.req.id) return a.guest.req.id < b.guest.req.id;
  return a.seq < b.seq;
}

/** A binary min-heap of events. */
class EventHeap {
  private readonly items: SimEvent[] = [];
  get size(): number {
    return this.items.length;
  }
  push(e: SimEvent): void {
    const a = this.items;
    a.push(e);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(a[i], a[p])) break;
      [a[i], a[p]] = [a[p], a[i]];
      i = p;
    }
  }
  pop(): SimEvent | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && before(a[l], a[m])) m = l;
        if (r < a.length && before(a[r], a[m])) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m], a[i]];
        i = m;
      }
    }
    return top;
  }
}

const GiB = 1024 ** 3;

function round(n: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/**
 * Runs `options.manager` on `requests` over `hostSet`, pricing relocations with `estimate`.
 * @param requests the trace (any order; sorted by arrival, then id)
 * @throws PagepressError PP_ERR_FORMAT when a request fits no private host even when empty
 * @example simulate(loadHosts('hosts.json'), loadRequests('trace.csv'), estimator, { manager: ruleBased })
 */
export function simulate(hostSet: HostSet, requests: readonly VmRequest[], estimate: RelocationEstimator, options: SimulateOptions): SimulationResult {
  const { manager } = options;
  const threshold = options.agingThresholdS ?? DEFAULT_AGING_THRESHOLD_S;
  if (!(threshold > 0) || !Number.isFinite(threshold)) throw new PagepressError(`aging threshold must be a positive number of seconds, got ${threshold}`, ErrorCodes.ARG);
  const hosts: HostState[] = hostSet.hosts.map((spec, index) => ({ spec, index, used: { cpus: 0, memGiB: 0, storageGiB: 0 }, guests: new Set(), reservedFor: null }));
  const capacity = hostSet.hosts.reduce<Resources>((acc, h) => addRes(acc, h), { cpus: 0, memGiB: 0, storageGiB: 0 });
  const publicName = hostSet.public.name;

  // A request no empty host can hold would block FCFS forever and wait forever as priority 1.
  for (const r of requests) {
    if (!hosts.some((h) => fits(needOf(r), h.spec))) {
      throw new PagepressError(`request "${r.id}": needs ${r.cpus} cpus, ${r.memGiB} GiB memory, ${r.storageGiB} GiB storage; no private host is that large`, ErrorCodes.FORMAT, { record: r.id });
    }
  }

  const guests: Guest[] = [...requests]
    .sort((a, b) => a.arrival - b.arrival || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map((req) => ({
      req,
      effPriority: req.priority,
      state: 'queued',
      host: null,
      remaining: req.runTime,
      since: req.arrival,
      endsAt: 0,
      waited: 0,
      displacedAt: null,
      epoch: 0,
      awaitingRoom: null,
      migratingFor: null,
      startedAt: null,
      completedAt: null,
      publicSince: null,
    }));
  const log: LogEntry[] = [];
  const series: Sample[] = [];
  const heap = new EventHeap();
  let seq = 0;
  let now = 0;
  const queue = new Set<Guest>(); // arrived, not running
  const estimates = new Map<string, RelocationEstimate>();
  const stats = { migrations: 0, bytes: 0, cost: 0, energy: 0, downtimeMs: 0, suspensions: 0, publicStarts: 0, publicCpuSeconds: 0 };

  const schedule = (t: number, kind: EventKind, g: Guest) => heap.push({ t, kind, guest: g, epoch: g.epoch, seq: seq++ });
  const record = (action: Action, g: Guest, reason: string, host?: string) => log.push({ t: round(now), action, request: g.req.id, ...(host ? { host } : {}), reason });
  const estimateOf = (g: Guest): RelocationEstimate => {
    let e = estimates.get(g.req.id);
    if (!e) {
      try {
        e = estimate({ id: g.req.id, memBytes: Math.round(g.req.memGiB * GiB), workload: g.req.workload, ...(g.req.dirtyRate !== undefined ? { dirtyRate: g.req.dirtyRate } : {}) });
      } catch (err) {
        // The request's fields are what the estimator refused: bad input, named.
        throw new PagepressError(`request "${g.req.id}": the relocation estimator refused it: ${(err as Error).message}`, ErrorCodes.FORMAT, { record: g.req.id });
      }
      if (![e.totalMs, e.downtimeMs, e.wireBytes, e.energyJ, e.cost].every((x) => Number.isFinite(x) && x >= 0)) {
        throw new PagepressError(`request "${g.req.id}": the relocation estimator returned ${JSON.stringify(e)} (expected finite numbers >= 0)`, ErrorCodes.FORMAT, { record: g.req.id });
      }
      estimates.set(g.req.id, e);
    }
    return e;
  };

  const view: PlannerView = {
    get now() {
      return now;
    },
    hosts,
    estimate: estimateOf,
    firstFit(g, need) {
      return hosts.find((h) => (h.reservedFor === null || h.reservedFor === g) && fits(need, freeOf(h))) ?? null;
    },
    expectedWait(g) {
      const need = needOf(g.req);
      let best = Infinity;
      for (const h of hosts) {
        if (h.reservedFor !== null && h.reservedFor !== g) continue;
        let room = freeOf(h);
        if (fits(need, room)) return 0;
        const leaving = [...h.guests].sort((a, b) => a.endsAt - b.endsAt);
        for (const x of leaving) {
          room = addRes(room, needOf(x.req));
          if (fits(need, room)) {
            best = Math.min(best, x.endsAt - now);
            break;
          }
        }
      }
      return Math.max(0, best);
    },
    lowPriorityPrivateCount() {
      let n = 0;
      for (const h of hosts) for (const x of h.guests) if (!isHighPriority(x.req.priority)) n++;
      return n;
    },
  };

  const take = (h: HostState, g: Guest) => {
    h.used = addRes(h.used, needOf(g.req));
    h.guests.add(g);
  };
  const release = (h: HostState, g: Guest) => {
    h.used = addRes(h.used, needOf(g.req), -1);
    h.guests.delete(g);
    if (h.guests.size === 0) h.used = { cpus: 0, memGiB: 0, storageGiB: 0 }; // no float drift on an empty host
  };
  const leaveQueue = (g: Guest) => {
    queue.delete(g);
    g.waited += now - g.since;
    g.displacedAt = null;
  };
  const startRunning = (g: Guest, state: 'private' | 'public', h: HostState | null) => {
    leaveQueue(g);
    g.state = state;
    g.host = h;
    g.since = now;
    g.endsAt = now + g.remaining;
    g.epoch++;
    if (g.startedAt === null) g.startedAt = now;
    if (state === 'public') g.publicSince = now;
    if (h) take(h, g);
    schedule(g.endsAt, 'complete', g);
  };
  const allocate = (g: Guest, h: HostState, reason: string) => {
    const resumed = g.remaining < g.req.runTime;
    startRunning(g, 'private', h);
    record(resumed ? 'resume' : 'allocate', g, reason, h.spec.name);
  };
  const enqueue = (g: Guest, reason: string) => {
    g.state = 'queued';
    g.since = now;
    g.epoch++;
    queue.add(g);
    record('queue', g, reason);
    if (manager.aging && g.effPriority > 2) schedule(now + threshold, 'age', g);
  };
  // A mover finished (migrated or completed): the request it made room for may now fit.
  const moverGone = (x: Guest) => {
    const r = x.migratingFor;
    x.migratingFor = null;
    r?.awaitingRoom?.movers.delete(x);
  };

  const apply = (g: Guest, d: Decision): boolean => {
    switch (d.action) {
      case 'allocate':
        allocate(g, d.host, d.reason);
        return true;
      case 'wait':
        return !d.block;
      case 'public':
        startRunning(g, 'public', null);
        stats.publicStarts++;
        record('public', g, d.reason, publicName);
        return true;
      case 'suspend': {
        const y = d.victim;
        y.remaining = Math.max(0, y.endsAt - now);
        release(d.host, y);
        y.host = null;
        y.displacedAt = now;
        stats.suspensions++;
        record('suspend', y, `for ${g.req.id} (priority ${g.effPriority}): ${d.reason}; ${round(y.remaining)} s of run kept`, d.host.spec.name);
        enqueue(y, `suspended for ${g.req.id}; at the front of the queue`);
        allocate(g, d.host, `in place of suspended ${y.req.id}`);
        return true;
      }
      case 'migrate': {
        d.host.reservedFor = g;
        g.awaitingRoom = { host: d.host, movers: new Set(d.victims) };
        for (const x of d.victims) {
          const e = estimateOf(x);
          x.state = 'migrating';
          x.migratingFor = g;
          x.epoch++;
          schedule(now + e.totalMs / 1000, 'migrate-done', x);
          schedule(x.endsAt, 'complete', x); // the epoch bump voided the old one; same time
          record(
            'migrate-start',
            x,
            `for ${g.req.id} (priority ${g.effPriority}): ${d.reason}; predicted ${round(e.totalMs / 1000)} s, downtime ${round(e.downtimeMs)} ms, ${e.wireBytes} bytes`,
            d.host.spec.name,
          );
        }
        return true;
      }
    }
  };

  const queueOrder = (a: Guest, b: Guest): number => {
    if (manager.order === 'priority') {
      if ((a.displacedAt === null) !== (b.displacedAt === null)) return a.displacedAt !== null ? -1 : 1;
      if (a.displacedAt !== null && b.displacedAt !== null && a.displacedAt !== b.displacedAt) return a.displacedAt - b.displacedAt;
      if (a.effPriority !== b.effPriority) return a.effPriority - b.effPriority;
    }
    return a.req.arrival - b.req.arrival || (a.req.id < b.req.id ? -1 : a.req.id > b.req.id ? 1 : 0);
  };

  // Offers each queued request to the manager once, in queue order.
  const scheduleQueue = () => {
    for (const g of [...queue].sort(queueOrder)) {
      if (g.state !== 'queued') continue;
      const wait = g.awaitingRoom;
      if (wait) {
        if (fits(needOf(g.req), freeOf(wait.host))) {
          wait.host.reservedFor = null;
          g.awaitingRoom = null;
          allocate(g, wait.host, 'room freed by the migrations');
          continue;
        }
        if (wait.movers.size > 0) continue; // still moving: the host stays reserved
        wait.host.reservedFor = null; // movers gone yet no room (cannot happen: nothing else may place there)
        g.awaitingRoom = null;
      }
      if (!apply(g, manager.decide(g, view))) break;
    }
  };

  const sample = () => {
    let cpu = 0;
    let mem = 0;
    let storage = 0;
    for (const h of hosts) {
      cpu += h.used.cpus;
      mem += h.used.memGiB;
      storage += h.used.storageGiB;
    }
    const s: Sample = {
      t: round(now),
      cpu: round(cpu / capacity.cpus, 4),
      mem: round(mem / capacity.memGiB, 4),
      storage: capacity.storageGiB > 0 ? round(storage / capacity.storageGiB, 4) : 0,
      queue: queue.size,
    };
    if (series.length > 0 && series[series.length - 1].t === s.t) series[series.length - 1] = s;
    else series.push(s);
  };

  for (const g of guests) schedule(g.req.arrival, 'arrival', g);
  const queuedReason = (g: Guest) =>
    `arrived (priority ${g.req.priority}, ${g.req.cpus} cpus, ${g.req.memGiB} GiB, ${g.req.storageGiB} GiB storage, run ${g.req.runTime} s, deadline +${g.req.deadline} s)`;
  for (let e = heap.pop(); e; e = heap.pop()) {
    const g = e.guest;
    if (e.kind !== 'arrival' && e.epoch !== g.epoch) continue; // stale
    now = e.t;
    switch (e.kind) {
      case 'arrival':
        g.epoch = 0;
        enqueue(g, queuedReason(g));
        break;
      case 'complete': {
        const where = g.host ? g.host.spec.name : publicName;
        if (g.host) release(g.host, g);
        if (g.state === 'public' && g.publicSince !== null) stats.publicCpuSeconds += g.req.cpus * (now - g.publicSince);
        const note = g.state === 'migrating' ? '; finished before its migration did (migration dropped)' : '';
        if (g.state === 'migrating') moverGone(g);
        g.state = 'done';
        g.host = null;
        g.remaining = 0;
        g.completedAt = now;
        g.epoch++;
        const met = now <= g.req.arrival + g.req.deadline + 1e-9;
        record('complete', g, `${met ? 'met' : 'missed'} its deadline ${round(g.req.arrival + g.req.deadline)} s${note}`, where);
        break;
      }
      case 'migrate-done': {
        const e2 = estimateOf(g);
        const from = g.host!;
        release(from, g);
        moverGone(g);
        g.state = 'public';
        g.host = null;
        g.publicSince = now;
        g.endsAt += e2.downtimeMs / 1000; // the guest ran throughout, except for its downtime
        g.epoch++;
        schedule(g.endsAt, 'complete', g);
        stats.migrations++;
        stats.bytes += e2.wireBytes;
        stats.cost += e2.cost;
        stats.energy += e2.energyJ;
        stats.downtimeMs += e2.downtimeMs;
        record('migrate-done', g, `now runs in the public cloud; ${from.spec.name} freed`, publicName);
        break;
      }
      case 'age': {
        const p = (g.effPriority - 1) as Priority;
        g.effPriority = p;
        record('age', g, `waited ${round(now - g.since)} s in the queue; priority ${p + 1} -> ${p}`);
        if (p > 2) schedule(now + threshold, 'age', g);
        break;
      }
    }
    scheduleQueue();
    sample();
    options.observe?.(now, hosts);
  }

  return { manager: manager.name, log, series, summary: summarise(manager.name, guests, series, stats, hostSet.public.pricePerCpuHour, now), outcomes: outcomesOf(guests) };
}

function outcomesOf(guests: Guest[]): SimulationResult['outcomes'] {
  return guests.map((g) => ({
    id: g.req.id,
    priority: g.req.priority,
    waitS: round(g.waited),
    completedAt: g.completedAt,
    metDeadline: g.completedAt !== null && g.completedAt <= g.req.arrival + g.req.deadline + 1e-9,
    ranPublic: g.publicSince !== null,
  }));
}

function summarise(
  manager: string,
  guests: Guest[],
  series: Sample[],
  s: { migrations: number; bytes: number; cost: number; energy: number; downtimeMs: number; suspensions: number; publicStarts: number; publicCpuSeconds: number },
  price: number,
  end: number,
): Summary {
  const byPriority: PriorityStats[] = ([1, 2, 3, 4] as Priority[]).map((priority) => {
    const gs = guests.filter((g) => g.req.priority === priority);
    const met = gs.filter((g) => g.completedAt !== null && g.completedAt <= g.req.arrival + g.req.deadline + 1e-9).length;
    const waits = gs.map((g) => g.waited);
    return {
      priority,
      requests: gs.length,
      deadlinesMet: met,
      deadlinesMetPct: gs.length ? round((100 * met) / gs.length, 1) : 100,
      maxWaitS: round(waits.reduce((a, b) => Math.max(a, b), 0)),
      meanWaitS: round(waits.length ? waits.reduce((a, b) => a + b, 0) / waits.length : 0),
      public: gs.filter((g) => g.publicSince !== null).length,
    };
  });
  // Time-weighted utilisation: each sample holds until the next one.
  const util = { cpu: 0, mem: 0, storage: 0 };
  for (let i = 0; i + 1 < series.length; i++) {
    const dt = series[i + 1].t - series[i].t;
    util.cpu += series[i].cpu * dt;
    util.mem += series[i].mem * dt;
    util.storage += series[i].storage * dt;
  }
  const span = end > 0 ? end : 1;
  const cpuHours = s.publicCpuSeconds / 3600;
  return {
    manager,
    requests: guests.length,
    makespanS: round(end),
    byPriority,
    migrations: s.migrations,
    migrationBytes: s.bytes,
    migrationCost: round(s.cost, 4),
    migrationEnergyJ: round(s.energy),
    downtimeMs: round(s.downtimeMs),
    suspensions: s.suspensions,
    publicStarts: s.publicStarts,
    publicCpuHours: round(cpuHours),
    publicPrice: round(cpuHours * price, 2),
    utilisation: { cpu: round(util.cpu / span, 4), mem: round(util.mem / span, 4), storage: round(util.storage / span, 4) },
    unfinished: guests.filter((g) => g.completedAt === null).length,
  };
}
