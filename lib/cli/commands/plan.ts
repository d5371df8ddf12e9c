/** `pagepress plan`: run resource managers on a trace (or print a synthetic trace). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRelocationEstimator } from '../../predict';
import { loadHosts, loadRequests, toCsv } from '../../planner/load';
import { managers, MANAGER_NAMES } from '../../planner/managers';
import { emitCommands, formatLogEntry, formatSummaryTable } from '../../planner/report';
import { simulate, SimulationResult } from '../../planner/simulate';
import { generateTrace } from '../../planner/trace';
import type * as PlanPlot from '../../planner/plot';
import { checkPlanFlags, PlanFlags } from './plan-args';

function out(text: string): void {
  process.stdout.write(text);
}

/** Runs `plan` with parsed flags. @throws PagepressError (bad input, exit 1), UsageError (exit 2) */
export async function plan(flags: PlanFlags): Promise<void> {
  checkPlanFlags(flags);
  if (flags.generate !== undefined) {
    const trace = generateTrace({ count: flags.generate, seed: flags.seed });
    out(flags.csv ? toCsv(trace) : JSON.stringify(trace, null, 1) + '\n');
    return;
  }
  const hostSet = loadHosts(flags.hosts!);
  const requests = loadRequests(flags.requests!);
  const link = { linkMbps: flags.publicLinkMbps ?? hostSet.public.linkMbps, latencyMs: flags.publicLatencyMs ?? hostSet.public.latencyMs };
  const estimator = createRelocationEstimator({ linkBytesPerSec: (link.linkMbps * 1e6) / 8, latencyMs: link.latencyMs, codec: flags.codec, policy: flags.policy });
  const names = flags.manager === 'all' ? MANAGER_NAMES : [flags.manager];
  const results: SimulationResult[] = names.map((name) => simulate(hostSet, requests, estimator, { manager: managers.get(name)!, agingThresholdS: flags.agingThreshold }));
  const publicHost = hostSet.public.name;

  if (flags.plot) {
    // Vega loads only here: the other commands and plain plan runs never pay for it.
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy: the plot module (vega) loads only with --plot
    const { plotRuns } = require('../../planner/plot') as typeof PlanPlot;
    const files = await plotRuns(results);
    fs.mkdirSync(flags.plot, { recursive: true });
    for (const [name, svg] of Object.entries(files)) fs.writeFileSync(path.join(flags.plot, name), svg);
    if (!flags.json && !flags.quiet)
      process.stderr.write(
        `pagepress: plan: wrote ${Object.keys(files)
          .map((f) => path.join(flags.plot!, f))
          .join(', ')}\n`,
      );
  }

  if (flags.json) {
    const report = {
      hosts: hostSet,
      requests: requests.length,
      agingThresholdS: flags.agingThreshold,
      estimator: { linkMbps: link.linkMbps, latencyMs: link.latencyMs, codec: flags.codec, policy: flags.policy },
      runs: results.map((r) => ({ manager: r.manager, summary: r.summary, ...(flags.emit ? { commands: emitCommands(r, flags.emit, publicHost) } : {}), log: r.log, series: r.series })),
    };
    out(JSON.stringify(report) + '\n');
    return;
  }
  let text = '';
  if (!flags.quiet) {
    for (const r of results) {
      if (flags.emit) {
        const cmds = emitCommands(r, flags.emit, publicHost);
        text += `# ${r.manager}: ${cmds.length} migration(s), dry run\n` + cmds.map((c) => c + '\n').join('');
      } else {
        text += `== ${r.manager} ==\n` + r.log.map((e) => formatLogEntry(e) + '\n').join('');
      }
    }
    text += '\n';
  }
  out(text + formatSummaryTable(results.map((r) => r.summary)));
}
