/** Each rule of Algorithm 1 (and aging) on a tiny hand-made trace, checked in the decision log. */
import * as assert from 'node:assert/strict';
import { fcfs, ruleBased, ruleBasedNoAging } from '../../lib/planner/managers';
import { LogEntry, simulate, SimulationResult } from '../../lib/planner/simulate';
import { hostsOf, req, toyEstimator } from './helpers';

function entries(r: SimulationResult, action: string, request?: string): LogEntry[] {
  return r.log.filter((e) => e.action === action && (request === undefined || e.request === request));
}
function at(r: SimulationResult, action: string, request: string): number {
  const e = entries(r, action, request);
  assert.ok(e.length > 0, `no ${action} of ${request} in ${JSON.stringify(r.log.map((x) => [x.t, x.action, x.request]))}`);
  return e[0].t;
}

describe('planner: Algorithm 1 rules', () => {
  it('allocates first fit in host order when there is room', () => {
    const r = simulate(hostsOf(4, 4), [req('a', 0, 3, 3, 100), req('b', 1, 3, 2, 100)], toyEstimator, { manager: ruleBased });
    assert.equal(entries(r, 'allocate', 'a')[0].host, 'pm1');
    assert.equal(entries(r, 'allocate', 'b')[0].host, 'pm2');
  });

  describe('(a) no low-priority guest runs: displacement', () => {
    const trace = (yDeadline: number) => [req('y1', 0, 2, 4, 5000, { deadline: yDeadline }), req('y2', 0, 2, 4, 900, { deadline: 1000 }), req('new', 10, 1, 4, 100, { deadline: 1000 })];
    it('suspends a lower-priority guest as large whose deadline is >= 2x, puts it first, resumes it', () => {
      const r = simulate(hostsOf(8), trace(10000), toyEstimator, { manager: ruleBased });
      assert.equal(at(r, 'suspend', 'y1'), 10);
      assert.equal(at(r, 'allocate', 'new'), 10);
      assert.equal(entries(r, 'suspend', 'y2').length, 0, 'y2 has too little time to its deadline');
      // y1 resumes when the new one completes (t = 110), with its remaining run kept.
      assert.equal(at(r, 'resume', 'y1'), 110);
      assert.equal(at(r, 'complete', 'y1'), 5100);
      assert.equal(r.outcomes.find((o) => o.id === 'y1')!.waitS, 100);
    });
    it('waits when no running guest has a deadline >= 2x the new one', () => {
      const r = simulate(hostsOf(8), trace(1500), toyEstimator, { manager: ruleBased });
      assert.equal(r.summary.suspensions, 0);
      assert.equal(at(r, 'allocate', 'new'), 900, 'starts when y2 completes');
    });
  });

  describe('(b) low-priority guests run: migration to the public cloud', () => {
    it('migrates the least-cost set on one host, holding the source until the migration is done', () => {
      // pm1 (8 cpus): big (4 cpus, 4 GiB: cost 4) and two 2-cpu guests of cost 1 and 1.5; the new
      // priority-1 request needs 4 cpus: {s1, s2} (2.5) is cheaper than {big} (4).
      const trace = [req('big', 0, 3, 4, 1000, { memGiB: 4 }), req('s1', 0, 4, 2, 1000, { memGiB: 1 }), req('s2', 0, 3, 2, 1000, { memGiB: 1, dirtyRate: 500 }), req('new', 10, 1, 4, 100)];
      const r = simulate(hostsOf(8), trace, toyEstimator, { manager: ruleBased });
      const moved = entries(r, 'migrate-start')
        .map((e) => e.request)
        .sort();
      assert.deepEqual(moved, ['s1', 's2']);
      // s2 takes 1 + 0.5 s to move: the new request starts when the last source frees.
      assert.equal(at(r, 'migrate-done', 's1'), 11);
      assert.equal(at(r, 'migrate-done', 's2'), 11.5);
      assert.equal(at(r, 'allocate', 'new'), 11.5);
      assert.equal(entries(r, 'allocate', 'new')[0].host, 'pm1');
      assert.equal(r.summary.migrations, 2);
      assert.equal(r.summary.migrationCost, 2.5);
      // The migrated guests keep running; they finish later only by their downtime.
      assert.equal(at(r, 'complete', 's1'), 1000.01);
    });

    it('does not migrate a guest past half its run: priority 1 waits for it to finish', () => {
      const trace = [req('low', 0, 3, 8, 1000), req('p1', 600, 1, 4, 100, { deadline: 200 })];
      const r = simulate(hostsOf(8), trace, toyEstimator, { manager: ruleBased });
      assert.equal(entries(r, 'migrate-start').length, 0);
      assert.equal(entries(r, 'public').length, 0, 'priority 1 never goes public, even when it misses its deadline');
      assert.equal(at(r, 'allocate', 'p1'), 1000);
      assert.equal(r.outcomes.find((o) => o.id === 'p1')!.metDeadline, false);
    });

    it('starts a priority-2 request in the public cloud when waiting would miss its deadline', () => {
      const trace = [req('low', 0, 3, 8, 1000), req('p2', 600, 2, 4, 100, { deadline: 200 })];
      const r = simulate(hostsOf(8), trace, toyEstimator, { manager: ruleBased });
      assert.equal(at(r, 'public', 'p2'), 600);
      assert.equal(entries(r, 'public', 'p2')[0].host, 'cloud');
      assert.equal(r.outcomes.find((o) => o.id === 'p2')!.metDeadline, true);
    });

    it('lets a priority-2 request wait when the guest past half its run ends in time', () => {
      const trace = [req('low', 0, 3, 8, 1000), req('p2', 600, 2, 4, 100, { deadline: 600 })];
      const r = simulate(hostsOf(8), trace, toyEstimator, { manager: ruleBased });
      assert.equal(entries(r, 'public').length, 0);
      assert.equal(at(r, 'allocate', 'p2'), 1000);
    });

    it('never migrates a high-priority guest', () => {
      const trace = [req('p2run', 0, 2, 4, 1000), req('low', 0, 3, 4, 1000, { runTime: 1000 }), req('p1', 10, 1, 8, 100)];
      const r = simulate(hostsOf(8), trace, toyEstimator, { manager: ruleBased });
      assert.deepEqual(
        entries(r, 'migrate-start').map((e) => e.request),
        [],
      );
    });
  });

  it('low-priority requests wait rather than displace anyone', () => {
    const r = simulate(hostsOf(4), [req('a', 0, 3, 4, 100), req('b', 1, 3, 4, 100)], toyEstimator, { manager: ruleBased });
    assert.equal(at(r, 'allocate', 'b'), 100);
    assert.equal(r.summary.migrations + r.summary.suspensions + r.summary.publicStarts, 0);
  });

  describe('aging', () => {
    // One 4-cpu host; a low request arrives while a steady stream of priority-2 requests
    // keeps one waiting whenever the host frees (each arrives 50 s before the previous ends).
    const stream = [req('first', 0, 2, 4, 100), req('low', 1, 4, 4, 100)];
    for (let k = 1; k <= 50; k++) stream.push(req(`h${String(k).padStart(2, '0')}`, k * 100 - 50, 2, 4, 100));

    it('without aging, a burst of high-priority requests starves a low one until it ends', () => {
      const r = simulate(hostsOf(4), stream, toyEstimator, { manager: ruleBasedNoAging });
      assert.equal(entries(r, 'age').length, 0);
      assert.ok(at(r, 'allocate', 'low') >= 5000, `low started at ${at(r, 'allocate', 'low')}`);
    });

    it('with aging, it rises one step per threshold up to 2 (never 1) and is served within 2 thresholds + one run', () => {
      const T = 300;
      const r = simulate(hostsOf(4), stream, toyEstimator, { manager: ruleBased, agingThresholdS: T });
      assert.deepEqual(
        entries(r, 'age', 'low').map((e) => e.t),
        [1 + T, 1 + 2 * T],
      );
      assert.match(entries(r, 'age', 'low')[1].reason, /priority 3 -> 2/);
      const wait = r.outcomes.find((o) => o.id === 'low')!.waitS;
      assert.ok(wait <= 2 * T + 100, `wait ${wait}`);
    });
  });

  it('FCFS keeps strict arrival order: the head of line blocks smaller requests behind it', () => {
    const trace = [req('a', 0, 1, 3, 100), req('big', 1, 4, 4, 100), req('small', 2, 1, 1, 100)];
    const r = simulate(hostsOf(4), trace, toyEstimator, { manager: fcfs });
    assert.equal(at(r, 'allocate', 'big'), 100);
    assert.ok(at(r, 'allocate', 'small') >= 100, 'small (fits now) waits behind big');
    assert.equal(r.summary.migrations + r.summary.publicStarts + r.summary.suspensions, 0);
  });
});
