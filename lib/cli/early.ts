/**
 * Imported first by main.ts: starts the worker threads a compress or decompress run will
 * need while the rest of the command line loads (thread start-up is about 50 ms, a good
 * part of a short run). It reads only `-T N` from argv; a run that ends up needing other
 * threads, or none, simply does not adopt them.
 */
import * as path from 'node:path';
import { prestartWorkers } from '../stream/pool';
import { defaultThreads } from '../stream/threads';

function threadsFromArgv(args: string[]): number | null {
  if (args.some((a) => ['-h', '--help', '-V', '--version', 'help', 'inspect'].includes(a))) return null;
  let threads = defaultThreads();
  for (let i = 0; i < args.length; i++) {
    const m = /^(?:-T|--threads=?)(\d*)$/.exec(args[i]);
    if (!m) continue;
    const value = m[1] !== '' ? m[1] : args[i + 1];
    if (!/^\d+$/.test(value ?? '')) return null;
    threads = Number(value) === 0 ? defaultThreads() : Number(value);
  }
  return threads >= 1 && threads <= 64 ? threads : null;
}

if (require.main?.filename.endsWith(`cli${path.sep}main.js`)) {
  const threads = threadsFromArgv(process.argv.slice(2));
  if (threads) prestartWorkers(threads);
}
