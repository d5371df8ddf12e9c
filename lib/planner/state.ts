/**
 * The simulator's mutable state as the managers see it: guests (one per request), hosts
 * with their used capacity, and the decisions a manager may return. Managers only read
 * this state; the simulator (simulate.ts) alone changes it.
 */
import { Priority, PrivateHost, RelocationEstimate, Resources, VmRequest } from './types';

/**
 * Where a guest is. queued -> private -> done is the plain path; a private guest of low
 * priority may go private -> migrating -> public -> done; a displaced one (rule a) goes
 * private -> queued; a priority-2 request may start queued -> public.
 */
export type GuestState = 'queued' | 'private' | 'migrating' | 'public' | 'done';

/** One request's life in the simulation. */
export interface Guest {
  readonly req: VmRequest;
  /** Priority used for queue order and rights; aging lowers the number, never below 2. */
  effPriority: Priority;
  state: GuestState;
  /** The private host while private or migrating. */
  host: HostState | null;
  /** Run seconds still needed, as of `since` (while queued: exact). */
  remaining: number;
  /** When the current state began (s). */
  since: number;
  /** Completion time while running (s). */
  endsAt: number;
  /** Total seconds spent in the queue so far. */
  waited: number;
  /** Suspended by rule (a): sorts at the front of the queue, in suspension order. */
  displacedAt: number | null;
  /** Bumped on every state change: scheduled events carrying an older epoch are stale. */
  epoch: number;
  /** Rule (b): the host being emptied for this request, and the guests still moving off it. */
  awaitingRoom: { host: HostState; movers: Set<Guest> } | null;
  /** A migrating guest: the request it makes room for. */
  migratingFor: Guest | null;
  startedAt: number | null;
  completedAt: number | null;
  publicSince: number | null;
}

/** A private host and what runs on it. */
export interface HostState {
  readonly spec: PrivateHost;
  readonly index: number;
  used: Resources;
  /** Guests holding resources here (private or migrating away), in arrival-on-host order. */
  guests: Set<Guest>;
  /** Rule (b): the request this host is being emptied for; closed to everyone else meanwhile. */
  reservedFor: Guest | null;
}

/** Read-only helpers the simulator gives a manager at each decision. */
export interface PlannerView {
  readonly now: number;
  readonly hosts: readonly HostState[];
  /** The predicted relocation of `g` to the public cloud (memoised per request). */
  estimate(g: Guest): RelocationEstimate;
  /** The first host (in hosts.json order) open to `g` whose free capacity fits `need`. */
  firstFit(g: Guest, need: Resources): HostState | null;
  /** Seconds until running guests free enough room for `g` on some open host (ignores the queue); Infinity if never. */
  expectedWait(g: Guest): number;
  /** Guests of low priority (3, 4 as requested) holding private resources. */
  lowPriorityPrivateCount(): number;
}

/** What a manager decides for one queued request. The simulator applies it and logs `reason`. */
export type Decision =
  | { action: 'allocate'; host: HostState; reason: string }
  /** Stay queued; `block` stops the pass here (head-of-line blocking). */
  | { action: 'wait'; reason: string; block?: boolean }
  /** Rule (a): suspend `victim` (to the queue front) and allocate in its place. */
  | { action: 'suspend'; victim: Guest; host: HostState; reason: string }
  /** Rule (b): migrate `victims` off `host` to the public cloud, then allocate there. */
  | { action: 'migrate'; victims: Guest[]; host: HostState; reason: string }
  /** Start in the public cloud (priority 2 only; never priority 1). */
  | { action: 'public'; reason: string };

/** Names of the managers. */
export type ManagerName = 'fcfs' | 'rule-based' | 'rule-based-no-aging';

/**
 * A resource-management policy (one object per policy). The simulator calls `decide` for
 * each queued request, in the manager's queue order, whenever state changes.
 */
export interface Manager {
  readonly name: ManagerName;
  /** One line for --help and reports. */
  readonly description: string;
  /** Raise waiting low-priority requests by one step per threshold, to 2 at most. */
  readonly aging: boolean;
  /** Queue order: 'arrival' (strict FIFO) or 'priority' (displaced, then priority, then arrival). */
  readonly order: 'arrival' | 'priority';
  /** Called with a queued guest; returns what to do with it now. Must not change state. */
  decide(g: Guest, view: PlannerView): Decision;
}

const EPS = 1e-9;

/** Free capacity of `h`. */
export function freeOf(h: HostState): Resources {
  return { cpus: h.spec.cpus - h.used.cpus, memGiB: h.spec.memGiB - h.used.memGiB, storageGiB: h.spec.storageGiB - h.used.storageGiB };
}

/** True when `need` fits in `room` in all three resources (with a float tolerance). */
export function fits(need: Resources, room: Resources): boolean {
  return need.cpus <= room.cpus + EPS && need.memGiB <= room.memGiB + EPS && need.storageGiB <= room.storageGiB + EPS;
}

/** `a + sign * b`, per resource. */
export function addRes(a: Resources, b: Resources, sign = 1): Resources {
  return { cpus: a.cpus + sign * b.cpus, memGiB: a.memGiB + sign * b.memGiB, storageGiB: a.storageGiB + sign * b.storageGiB };
}

/** The resources a request needs. */
export function needOf(r: VmRequest): Resources {
  return { cpus: r.cpus, memGiB: r.memGiB, storageGiB: r.storageGiB };
}

/** Seconds of run a running guest has done at `now` (its elapsed time in the seed's sense). */
export function elapsedRun(g: Guest, now: number): number {
  const left = g.state === 'private' || g.state === 'migrating' || g.state === 'public' ? g.endsAt - now : g.remaining;
  return g.req.runTime - left;
}

/** Seconds until `g`'s absolute deadline (negative when missed). */
export function slack(g: Guest, now: number): number {
  return g.req.arrival + g.req.deadline - now;
}
