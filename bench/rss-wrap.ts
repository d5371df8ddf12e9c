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
process.on('exit', () => {
  if (out) fs.writeFileSync(out, JSON.stringify(process.resourceUsage()));
});
main(process.argv.slice(2)).then((code) => {
  if (!process.exitCode) process.exitCode = code;
}, () => {
  process.exitCode = 1;
});
