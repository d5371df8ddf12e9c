/** The synthetic trace: valid, deterministic for a seed, with its peak-hour burst. */
import * as assert from 'node:assert/strict';
import { validateRequest } from '../../lib/planner/load';
import { generateTrace } from '../../lib/planner/trace';

describe('planner: synthetic trace', () => {
  const trace = generateTrace({ count: 1000, seed: 11 });

  it('is 1000 valid requests sorted by arrival within the day', () => {
    assert.equal(trace.length, 1000);
    trace.forEach((r, i) => assert.deepEqual(validateRequest(r, `[${i}]`), r));
    for (let i = 1; i < trace.length; i++) assert.ok(trace[i - 1].arrival <= trace[i].arrival);
    assert.ok(trace[trace.length - 1].arrival < 24 * 3600);
    assert.ok(trace.every((r) => r.deadline >= r.runTime * 1.5 - 1));
  });

  it('is deterministic for a seed, and differs for another', () => {
    assert.deepEqual(generateTrace({ count: 1000, seed: 11 }), trace);
    assert.notDeepEqual(generateTrace({ count: 1000, seed: 12 }), trace);
  });

  it('puts most requests in the peak hour, skewed to high priority', () => {
    const peak = trace.filter((r) => r.arrival >= 9 * 3600 && r.arrival < 10 * 3600);
    const rest = trace.filter((r) => !peak.includes(r));
    assert.ok(peak.length > 550 && peak.length < 700, `peak ${peak.length}`);
    const high = (rs: typeof trace) => rs.filter((r) => r.priority <= 2).length / rs.length;
    assert.ok(high(peak) > high(rest) + 0.15, `high share peak ${high(peak)} vs rest ${high(rest)}`);
  });
});
