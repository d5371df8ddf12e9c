/**
 * Runs the pagepress CLI in this process (same code path as dist/lib/cli/main.js) and,
 * at exit, writes `process.resourceUsage()` (maxRSS in KiB = the peak RSS of the whole
 * process) as JSON to the file named by $PAGEPRESS_RSS_OUT. Used by rss.bench.ts.
 *
 *   PAGEPRESS_RSS_OUT=/tmp/ru.json node dist/bench/rss-wrap.js compress -T2 -o OUT < IN
 */
import * as fs from 'node:fs';
import { main } from '../lib/cli/main';

const out = process.env.PAGEPRESS_RSS_OUT;
// VmHWM is the peak of this process's own memory. getrusage's maxRSS is not: Linux copies
// the parent's peak into a child at fork and keeps it across exec, so a child of a bench
// process that holds 480 MiB of corpus reports at least that (measured: 504 MiB for a
// child whose VmHWM was 39 MiB).
process.on('exit', () => {
  if (!out) return;
  const hwm = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  fs.writeFileSync(out, JSON.stringify({ ...process.resourceUsage(), vmHWM: hwm ? Number(hwm[1]) : null }));
});
main(process.argv.slice(2)).then(
  (code) => {
    if (!process.exitCode) process.exitCode = code;
  },
  () => {
    process.exitCode = 1;
  },
);
