/** Text output of `pagepress plan`: the decision log, the side-by-side summary, and --emit commands. */
import { LogEntry, SimulationResult, Summary } from './simulate';

function fmtTime(t: number): string {
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const s = t - h * 3600 - m * 60;
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${s.toFixed(1).padStart(4, '0')}`;
}

/** One log line: `hh:mm:ss.s  action  request  @host  reason`. */
export function formatLogEntry(e: LogEntry): string {
  return `${fmtTime(e.t)}  ${e.action.padEnd(13)} ${e.request.padEnd(8)} ${(e.host ? '@' + e.host : '').padEnd(10)} ${e.reason}`;
}

function bytes(n: number): string {
  return n >= 1024 ** 4 ? `${(n / 1024 ** 4).toFixed(2)} TiB` : `${(n / 1024 ** 3).toFixed(1)} GiB`;
}

/** Summary rows: label and how to read the value from a summary. */
const ROWS: Array<[string, (s: Summary) => string]> = [
  ...[1, 2, 3, 4].flatMap((p): Array<[string, (s: Summary) => string]> => [
    [
      `p${p} deadlines met`,
      (s) => {
        const b = s.byPriority[p - 1];
        return `${b.deadlinesMet}/${b.requests} (${b.deadlinesMetPct}%)`;
      },
    ],
    [
      `p${p} wait max / mean (s)`,
      (s) => {
        const b = s.byPriority[p - 1];
        return `${b.maxWaitS.toFixed(0)} / ${b.meanWaitS.toFixed(0)}`;
      },
    ],
  ]),
  ['migrations', (s) => String(s.migrations)],
  ['bytes moved', (s) => bytes(s.migrationBytes)],
  ['predicted cost', (s) => s.migrationCost.toFixed(1)],
  ['downtime (s)', (s) => (s.downtimeMs / 1000).toFixed(1)],
  ['suspensions', (s) => String(s.suspensions)],
  ['public starts', (s) => String(s.publicStarts)],
  ['public cpu-hours', (s) => s.publicCpuHours.toFixed(1)],
  ['public price', (s) => s.publicPrice.toFixed(2)],
  ['private util cpu/mem/disk', (s) => `${(s.utilisation.cpu * 100).toFixed(1)}/${(s.utilisation.mem * 100).toFixed(1)}/${(s.utilisation.storage * 100).toFixed(1)}%`],
  ['makespan (h)', (s) => (s.makespanS / 3600).toFixed(2)],
  ['unfinished', (s) => String(s.unfinished)],
];

/** The summaries side by side, one column per manager. */
export function formatSummaryTable(summaries: readonly Summary[]): string {
  const labelW = Math.max(...ROWS.map(([l]) => l.length));
  const cells = ROWS.map(([, f]) => summaries.map(f));
  const colW = summaries.map((s, i) => Math.max(s.manager.length, ...cells.map((c) => c[i].length)));
  const line = (label: string, vals: string[]) => `${label.padEnd(labelW)}  ${vals.map((v, i) => v.padStart(colW[i])).join('  ')}\n`;
  return (
    line(
      '',
      summaries.map((s) => s.manager),
    ) + ROWS.map(([label], k) => line(label, cells[k])).join('')
  );
}

/** Dry run: the command an operator would run for each migration a run started. */
export function emitCommands(result: SimulationResult, tool: 'xl' | 'virsh', publicHost: string): string[] {
  return result.log
    .filter((e) => e.action === 'migrate-start')
    .map((e) => (tool === 'xl' ? `xl migrate -s "pagepress xen ssh" ${e.request} ${publicHost}` : `virsh migrate --live ${e.request} xen+ssh://${publicHost}/system`));
}
