/**
 * The seed study's Modified Rule-Based Resource Manager (its Algorithm 1), with and without
 * aging. docs/PLANNER.md lists every choice made where the algorithm is ambiguous; in short,
 * for a queued request r that does not fit (first fit in host order):
 *
 *   r low (3, 4)                         -> wait
 *   r high, no low guest on private (a)  -> suspend a running guest y with lower priority,
 *                                           y >= r in every resource, and time to its
 *                                           deadline >= 2x r's; else wait
 *   r high, low guests on private   (b)  -> on one host, the set of low guests (not past
 *                                           half their run) whose migration frees room for
 *                                           r at the least total predicted cost; migrate it
 *   no such set, r priority 2, expected wait misses r's deadline -> start r in public
 *   otherwise                            -> wait (priority 1 always waits)
 */
import { Decision, Guest, HostState, Manager, PlannerView, addRes, elapsedRun, fits, freeOf, needOf, slack } from '../state';
import { isHighPriority, Resources } from '../types';

/** Rule (b) looks at no more than this many of the cheapest candidates per host (2^12 subsets at worst). */
export const MAX_MIGRATION_CANDIDATES = 12;

/** Low priority by request (aging changes when a request is served, not what it holds). */
function isLowGuest(g: Guest): boolean {
  return !isHighPriority(g.req.priority);
}

/** Rule (a): the displaceable guest with the most time left to its deadline, or null. */
function chooseDisplaced(r: Guest, view: PlannerView): { victim: Guest; host: HostState } | null {
  const need = needOf(r.req);
  const rSlack = slack(r, view.now);
  let best: { victim: Guest; host: HostState } | null = null;
  for (const host of view.hosts) {
    if (host.reservedFor !== null && host.reservedFor !== r) continue;
    for (const y of host.guests) {
      if (y.state !== 'private' || y.req.priority <= r.effPriority) continue;
      if (!fits(need, needOf(y.req))) continue; // y must be at least as large in every resource
      if (slack(y, view.now) < 2 * rSlack) continue;
      if (!best || slack(y, view.now) > slack(best.victim, view.now)) best = { victim: y, host };
    }
  }
  return best;
}

/** A set of guests to migrate off one host and its total predicted cost. */
interface MigrationPlan {
  host: HostState;
  victims: Guest[];
  cost: number;
}

/** Rule (b): the least-cost set on one host that frees room for r; ties: fewer guests, then host order. */
export function chooseMigrations(r: Guest, view: PlannerView): MigrationPlan | null {
  const need = needOf(r.req);
  let best: MigrationPlan | null = null;
  for (const host of view.hosts) {
    if (host.reservedFor !== null && host.reservedFor !== r) continue;
    // A guest past half its run is let finish: moving it would cost more than it saves.
    const cands = [...host.guests]
      .filter((g) => g.state === 'private' && isLowGuest(g) && elapsedRun(g, view.now) <= g.req.runTime / 2)
      .map((g) => ({ g, cost: view.estimate(g).cost }))
      .sort((a, b) => a.cost - b.cost || (a.g.req.id < b.g.req.id ? -1 : 1))
      .slice(0, MAX_MIGRATION_CANDIDATES);
    const free = freeOf(host);
    const all = cands.reduce<Resources>((acc, c) => addRes(acc, needOf(c.g.req)), free);
    if (!fits(need, all)) continue;
    // Depth-first over subsets, cheapest first, cut when the cost reaches the best so far.
    let hostBest: { set: Guest[]; cost: number } | null = null;
    const chosen: Guest[] = [];
    const visit = (i: number, room: Resources, cost: number): void => {
      if (hostBest && (cost > hostBest.cost || (cost === hostBest.cost && chosen.length >= hostBest.set.length))) return;
      if (chosen.length > 0 && fits(need, room)) {
        hostBest = { set: [...chosen], cost };
        return;
      }
      for (let k = i; k < cands.length; k++) {
        chosen.push(cands[k].g);
        visit(k + 1, addRes(room, needOf(cands[k].g.req)), cost + cands[k].cost);
        chosen.pop();
      }
    };
    visit(0, free, 0);
    const hb = hostBest as { set: Guest[]; cost: number } | null; // TS narrows it to null: it cannot see visit() assign it
    if (hb && (!best || hb.cost < best.cost || (hb.cost === best.cost && hb.set.length < best.victims.length))) best = { host, victims: hb.set, cost: hb.cost };
  }
  return best;
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

function decide(r: Guest, view: PlannerView): Decision {
  const host = view.firstFit(r, needOf(r.req));
  if (host) return { action: 'allocate', host, reason: `fits on ${host.spec.name} (first fit)` };
  if (!isHighPriority(r.effPriority)) return { action: 'wait', reason: `private cloud full; priority ${r.effPriority} waits` };

  if (view.lowPriorityPrivateCount() === 0) {
    const d = chooseDisplaced(r, view);
    if (d) {
      return {
        action: 'suspend',
        victim: d.victim,
        host: d.host,
        reason: `no low-priority guest runs privately; ${d.victim.req.id} (priority ${d.victim.req.priority}, ${fmt(slack(d.victim, view.now))} s to deadline >= 2 x ${fmt(slack(r, view.now))} s) is suspended for it`,
      };
    }
  } else {
    const plan = chooseMigrations(r, view);
    if (plan) {
      return {
        action: 'migrate',
        victims: plan.victims,
        host: plan.host,
        reason: `least-cost set on ${plan.host.spec.name}: ${plan.victims.map((v) => v.req.id).join(', ')} (predicted cost ${plan.cost.toFixed(3)})`,
      };
    }
  }
  const wait = view.expectedWait(r);
  const finish = view.now + wait + r.req.runTime;
  const deadline = r.req.arrival + r.req.deadline;
  if (r.effPriority === 2 && finish > deadline) {
    return { action: 'public', reason: `expected wait ${Number.isFinite(wait) ? fmt(wait) + ' s' : 'unbounded'} would finish at ${fmt(finish)} s, after its deadline ${fmt(deadline)} s` };
  }
  const why = view.lowPriorityPrivateCount() === 0 ? 'nothing to displace' : 'no low-priority set before half its run frees enough room';
  return { action: 'wait', reason: `${why}; priority ${r.effPriority}${r.req.priority === 1 ? ' never goes public' : ''} waits (expected ${Number.isFinite(wait) ? fmt(wait) + ' s' : 'unknown'})` };
}

/** Algorithm 1 with aging: waiting low-priority requests rise one step per threshold, to 2. */
export const ruleBased: Manager = {
  name: 'rule-based',
  description: "the seed's modified rule-based manager (Algorithm 1) with aging",
  aging: true,
  order: 'priority',
  decide,
};

/** Algorithm 1 without aging: a burst of high-priority requests can starve low ones. */
export const ruleBasedNoAging: Manager = {
  name: 'rule-based-no-aging',
  description: 'the same without aging',
  aging: false,
  order: 'priority',
  decide,
};
