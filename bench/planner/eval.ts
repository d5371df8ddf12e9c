/**
 * Planner evaluation (`npm run plan-eval`): the documented synthetic trace (1000 requests,
 * seed 2026, peak hour 09:00-10:00) on the documented host set (8 x 32 cpus, 128 GiB,
 * 1000 GiB; public link 1 Gbit/s, 20 ms), relocation costs from the predictor
 * (lib/predict, zstd, adaptive stop policy), aging threshold 600 s. Runs fcfs,
 * rule-based-no-aging and rule-based on the same trace; writes docs/planner/utilisation.svg,
 * docs/planner/queue.svg and docs/planner/eval.json, and prints the figures.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRelocationEstimator } from '../../lib/predict';
import { managers, MANAGER_NAMES } from '../../lib/planner/managers';
import { plotRuns } from '../../lib/planner/plot';
import { formatSummaryTable } from '../../lib/planner/report';
import { simulate, Summary } from '../../lib/planner/simulate';
import { evalHostSet, generateTrace } from '../../lib/planner/trace';

const SEED = 2026;
const COUNT = 1000;
const AGING_S = 600;
const OUT = path.resolve(__dirname, '..', '..', '..', 'docs', 'planner');

function highMet(s: Summary): { met: number; of: number; pct: number } {
  const hi = s.byPriority.filter((p) => p.priority <= 2);
  const met = hi.reduce((a, p) => a + p.deadlinesMet, 0);
  const of = hi.reduce((a, p) => a + p.requests, 0);
  return { met, of, pct: Math.round((1000 * met) / of) / 10 };
}

function lowMaxWait(s: Summary): number {
  return Math.max(...s.byPriority.filter((p) => p.priority >= 3).map((p) => p.maxWaitS));
}

async function main(): Promise<void> {
  const hostSet = evalHostSet();
  const trace = generateTrace({ count: COUNT, seed: SEED });
  const pub = hostSet.public;
  const estimator = createRelocationEstimator({ linkBytesPerSec: (pub.linkMbps * 1e6) / 8, latencyMs: pub.latencyMs, codec: 'zstd', policy: 'adaptive' });
  const results = MANAGER_NAMES.map((name) => simulate(hostSet, trace, estimator, { manager: managers.get(name)!, agingThresholdS: AGING_S }));
  const by = Object.fromEntries(results.map((r) => [r.manager, r]));

  // Saturation during the burst: the figures only compare managers if the private cloud fills up.
  const peak = by.fcfs.series.filter((s) => s.t >= 9 * 3600 && s.t < 12 * 3600);
  const peakCpu = Math.max(...peak.map((s) => s.cpu));
  const peakQueue = Math.max(...by.fcfs.series.map((s) => s.queue));
  const inPeakHour = trace.filter((r) => r.arrival >= 9 * 3600 && r.arrival < 10 * 3600).length;

  const figures = {
    trace: { requests: COUNT, seed: SEED, inPeakHour, agingThresholdS: AGING_S },
    hosts: hostSet,
    saturation: { fcfsPeakCpuUtilisation: peakCpu, fcfsLongestQueue: peakQueue },
    highPriorityDeadlinesMet: Object.fromEntries(results.map((r) => [r.manager, highMet(r.summary)])),
    longestLowPriorityWaitS: Object.fromEntries(results.map((r) => [r.manager, lowMaxWait(r.summary)])),
    summaries: results.map((r) => r.summary),
  };

  fs.mkdirSync(OUT, { recursive: true });
  for (const [name, svg] of Object.entries(await plotRuns(results))) fs.writeFileSync(path.join(OUT, name), svg);
  fs.writeFileSync(path.join(OUT, 'eval.json'), JSON.stringify(figures, null, 1) + '\n');

  const hm = figures.highPriorityDeadlinesMet;
  const lw = figures.longestLowPriorityWaitS;
  process.stdout.write(
    `trace: ${COUNT} requests (seed ${SEED}), ${inPeakHour} in the peak hour; 8 hosts x 32 cpus; aging threshold ${AGING_S} s\n` +
      `saturation (fcfs): peak cpu utilisation ${(peakCpu * 100).toFixed(1)}%, longest queue ${peakQueue}\n\n` +
      formatSummaryTable(results.map((r) => r.summary)) +
      `\nhigh-priority (1+2) deadlines met: rule-based ${hm['rule-based'].met}/${hm['rule-based'].of} (${hm['rule-based'].pct}%), ` +
      `rule-based-no-aging ${hm['rule-based-no-aging'].met}/${hm['rule-based-no-aging'].of} (${hm['rule-based-no-aging'].pct}%), fcfs ${hm.fcfs.met}/${hm.fcfs.of} (${hm.fcfs.pct}%)\n` +
      `longest low-priority (3+4) wait: with aging ${lw['rule-based'].toFixed(0)} s, without aging ${lw['rule-based-no-aging'].toFixed(0)} s (fcfs ${lw.fcfs.toFixed(0)} s)\n` +
      `wrote ${path.relative(process.cwd(), OUT)}/{utilisation.svg,queue.svg,eval.json}\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`plan-eval: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
