/**
 * Criterion E: peak RSS of the `pagepress compress -T2` process on a 2 GiB stream (the
 * real corpus repeated, truncated to 2 GiB, streamed into its stdin through a pipe by
 * `cat` in a loop), and of `pagepress decompress` of the result writing to a pipe
 * (read by sha256sum, which also checks the round trip). The CLI runs under
 * bench/rss-wrap.ts, which reports its VmHWM at exit (getrusage maxRSS is inherited from the parent); VmHWM from
 * /proc/PID/status is polled every 20 ms as a cross-check. zstd -1 -T2 / zstd -d on the
 * same stream are measured under /usr/bin/time for comparison.
 *
 *   node dist/bench/rss.bench.js [--quick] [--corpus F]   (--quick: a 64 MiB stream)
 */
import * as cp from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BenchOptions, benchMain, Criterion, criterion, fmt, MB, MiB, now, scratchDir, secondsSince, Table } from './common';

interface RssRun {
  what: string;
  peakMiB: number;
  polledMiB: number | null;
  seconds: number;
  MBps: number;
  ok: boolean;
}

function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A shell pipeline writing exactly `size` bytes: the file repeated. */
function feeder(file: string, size: number): cp.ChildProcess {
  const reps = Math.ceil(size / fs.statSync(file).size);
  return cp.spawn('bash', ['-c', `for i in $(seq ${reps}); do cat ${shQuote(file)} || exit 0; done 2>/dev/null | head -c ${size}`], { stdio: ['ignore', 'pipe', 'inherit'] });
}

function expectedHash(file: string, size: number): string {
  const h = crypto.createHash('sha256');
  const buf = fs.readFileSync(file);
  let left = size;
  while (left > 0) {
    const n = Math.min(left, buf.length);
    h.update(buf.subarray(0, n));
    left -= n;
  }
  return h.digest('hex');
}

/** Resolves on 'exit' (not 'close': a feeder's stdout was handed to another child). */
function feederDone(child: cp.ChildProcess): Promise<number> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

function exited(child: cp.ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

/** Polls VmHWM (KiB) of a pid until it disappears; returns the last value seen. */
function pollHwm(pid: number): { stop: () => number | null } {
  let last: number | null = null;
  const read = (): void => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) last = Math.max(last ?? 0, Number(m[1]));
    } catch {
      /* gone */
    }
  };
  const t = setInterval(read, 20);
  read();
  return {
    stop: () => {
      clearInterval(t);
      return last;
    },
  };
}

const wrap = path.join(__dirname, 'rss-wrap.js');

/** sha256sum reading a pipe; pass `stdin` as another child's stdout, then call `handedOff()`. */
function hashSink(): { stdin: NodeJS.WritableStream; handedOff: () => void; digest: Promise<string> } {
  const h = cp.spawn('sha256sum', [], { stdio: ['pipe', 'pipe', 'inherit'] });
  let text = '';
  h.stdout.on('data', (d: Buffer) => {
    text += d.toString();
  });
  return { stdin: h.stdin, handedOff: () => h.stdin.destroy(), digest: exited(h).then(() => text.split(/\s/)[0]) };
}

async function pagepress(
  args: string[],
  stdin: cp.ChildProcess | string,
  stdoutTo: 'hash' | 'ignore',
  dir: string,
): Promise<{ peakKiB: number; polledKiB: number | null; seconds: number; hash: string | null }> {
  const ru = path.join(dir, 'ru.json');
  fs.rmSync(ru, { force: true });
  const inFd = typeof stdin === 'string' ? fs.openSync(stdin, 'r') : null;
  const sink = stdoutTo === 'hash' ? hashSink() : null;
  const t0 = now();
  const child = cp.spawn(process.execPath, [wrap, ...args], {
    stdio: [inFd ?? (stdin as cp.ChildProcess).stdout!, sink ? (sink.stdin as unknown as import('node:stream').Stream) : 'ignore', 'inherit'],
    env: { ...process.env, PAGEPRESS_RSS_OUT: ru },
  });
  if (inFd !== null) fs.closeSync(inFd);
  else (stdin as cp.ChildProcess).stdout!.destroy(); // the child holds its own copy of the pipe
  sink?.handedOff();
  const poll = pollHwm(child.pid!);
  const code = await feederDone(child);
  const seconds = secondsSince(t0);
  const polledKiB = poll.stop();
  if (code !== 0) throw new Error(`pagepress ${args.join(' ')} exited ${code}`);
  const usage = JSON.parse(fs.readFileSync(ru, 'utf8')) as { maxRSS: number; vmHWM: number | null };
  return { peakKiB: usage.vmHWM ?? usage.maxRSS, polledKiB, seconds, hash: sink ? await sink.digest : null };
}

/** zstd under /usr/bin/time -f %M (max RSS in KiB, on stderr's last line). */
async function zstdRun(args: string[], stdin: cp.ChildProcess | string, out: 'hash' | string): Promise<{ peakKiB: number; seconds: number; hash: string | null }> {
  const inFd = typeof stdin === 'string' ? fs.openSync(stdin, 'r') : null;
  const outFd = out === 'hash' ? null : fs.openSync(out, 'w');
  const sink = out === 'hash' ? hashSink() : null;
  const t0 = now();
  const child = cp.spawn('/usr/bin/time', ['-f', 'MAXRSS %M', 'zstd', ...args], {
    stdio: [inFd ?? (stdin as cp.ChildProcess).stdout!, outFd ?? (sink!.stdin as unknown as import('node:stream').Stream), 'pipe'],
  });
  sink?.handedOff();
  if (inFd !== null) fs.closeSync(inFd);
  else (stdin as cp.ChildProcess).stdout!.destroy();
  if (outFd !== null) fs.closeSync(outFd);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const code = await exited(child);
  const seconds = secondsSince(t0);
  if (code !== 0) throw new Error(`zstd ${args.join(' ')} exited ${code}: ${err}`);
  const m = /MAXRSS (\d+)/.exec(err);
  return { peakKiB: m ? Number(m[1]) : NaN, seconds, hash: sink ? await sink.digest : null };
}

export async function run(o: BenchOptions): Promise<{ tables: Table[]; criteria: Criterion[]; notes: string[]; data: unknown }> {
  const size = o.quick ? 64 * MiB : 2048 * MiB;
  const dir = scratchDir('rss');
  const runs: RssRun[] = [];
  const notes: string[] = [];
  try {
    process.stderr.write(`[rss] hashing the expected ${size / MiB} MiB stream\n`);
    const want = expectedHash(o.corpus, size);
    const pp = path.join(dir, 'stream.pp');
    const zst = path.join(dir, 'stream.zst');

    process.stderr.write('[rss] pagepress compress -T2 from a pipe\n');
    const feed1 = feeder(o.corpus, size);
    const c = await pagepress(['compress', '-T2', '-q', '-o', pp], feed1, 'ignore', dir);
    await feederDone(feed1);
    const ppSize = fs.statSync(pp).size;
    runs.push({
      what: `pagepress compress -T2 (stdin pipe → tmpfs file, ${fmt(size / MB, 0)} MB in, ratio ${fmt(size / ppSize, 2)})`,
      peakMiB: c.peakKiB / 1024,
      polledMiB: c.polledKiB === null ? null : c.polledKiB / 1024,
      seconds: c.seconds,
      MBps: size / MB / c.seconds,
      ok: true,
    });

    process.stderr.write('[rss] pagepress decompress -T2 to a pipe\n');
    const d = await pagepress(['decompress', pp, '-T2', '-q'], pp, 'hash', dir);
    const ok = d.hash === want;
    if (!ok) notes.push(`round trip FAILED on the ${size / MiB} MiB stream: sha256 ${d.hash} vs ${want}`);
    runs[0].ok = ok;
    runs.push({
      what: 'pagepress decompress -T2 (tmpfs file → stdout pipe → sha256sum)',
      peakMiB: d.peakKiB / 1024,
      polledMiB: d.polledKiB === null ? null : d.polledKiB / 1024,
      seconds: d.seconds,
      MBps: size / MB / d.seconds,
      ok,
    });

    process.stderr.write('[rss] zstd -1 -T2 / zstd -d for comparison\n');
    const feed2 = feeder(o.corpus, size);
    const zc = await zstdRun(['-1', '-T2', '-q', '-c'], feed2, zst);
    await feederDone(feed2);
    runs.push({ what: 'zstd -1 -T2 (same pipe → tmpfs file)', peakMiB: zc.peakKiB / 1024, polledMiB: null, seconds: zc.seconds, MBps: size / MB / zc.seconds, ok: true });
    const zd = await zstdRun(['-d', '-q', '-c'], zst, 'hash');
    runs.push({ what: 'zstd -d (tmpfs file → stdout pipe → sha256sum)', peakMiB: zd.peakKiB / 1024, polledMiB: null, seconds: zd.seconds, MBps: size / MB / zd.seconds, ok: zd.hash === want });
    runs[2].ok = zd.hash === want;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const label = `${size / MiB} MiB`;
  const table: Table = {
    title: `Peak RSS on a ${label} stream (real corpus repeated), whole process`,
    headers: ['process', 'peak RSS MiB', 'VmHWM polled MiB', 'seconds', 'MB/s', 'round trip'],
    rows: runs.map((r) => [r.what, fmt(r.peakMiB, 1), r.polledMiB === null ? '-' : fmt(r.polledMiB, 1), fmt(r.seconds, 2), fmt(r.MBps, 0), r.ok ? 'ok' : 'MISMATCH']),
    note: "Peak RSS: the process's VmHWM read at exit (pagepress, via bench/rss-wrap.ts; not getrusage maxRSS, which Linux inherits from the parent across fork and exec) or /usr/bin/time %M (zstd, whose parent is the small time process). MB/s here include the feeding pipe.",
  };
  const criteria = [
    criterion('E1', `peak RSS of pagepress compress -T2 on a ${label} stream`, runs[0].peakMiB, '<', 300, 'MiB'),
    criterion('E2', `peak RSS of pagepress decompress -T2 of it`, runs[1].peakMiB, '<', 300, 'MiB'),
    criterion('E-rt', `${label} stream round trip (sha256)`, runs[1].ok ? 1 : 0, '>=', 1, 'of 1'),
  ];
  if (o.quick) notes.push('quick mode: 64 MiB stream instead of 2 GiB');
  return { tables: [table], criteria, notes, data: { bytes: size, runs } };
}

if (require.main === module) benchMain('rss', '', run);
