/**
 * `npm run migrate-rss`: the sender's peak memory migrating a 2 GiB guest with the default
 * settings (issue 5: under 2 GiB + 300 MiB, the guest itself plus a bounded engine).
 * `pagepress migrate receive` and `pagepress migrate send --guest sim:2G,workload=webserver`
 * run as two processes over loopback; the sender runs under bench/rss-wrap.ts, which
 * reports its VmHWM at exit (getrusage maxRSS is inherited across fork and exec).
 *
 *   npm run migrate-rss                      # 2 GiB, default cache
 *   npm run migrate-rss -- --size 1G --cache-slots 65536
 */
import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cliPath, MiB, repoRoot } from '../common';

interface Args {
  size: string;
  cacheSlots?: string;
  workload: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { size: '2G', workload: 'webserver' };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[++i];
    if (v === undefined) throw new Error(`${argv[i - 1]} needs a value`);
    if (argv[i - 1] === '--size') a.size = v;
    else if (argv[i - 1] === '--cache-slots') a.cacheSlots = v;
    else if (argv[i - 1] === '--workload') a.workload = v;
    else throw new Error(`unknown argument ${argv[i - 1]}`);
  }
  return a;
}

function exited(p: cp.ChildProcess): Promise<number> {
  return new Promise((resolve) => p.on('exit', (code, sig) => resolve(code ?? (sig ? 128 : 1))));
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const port = 20000 + (process.pid % 20000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pp-rss-'));
  const rssOut = path.join(tmp, 'rss.json');
  const corpus = path.join(repoRoot(), 'bench', 'corpus', 'snapshot-480m.bin');
  const guest = `sim:${a.size},workload=${a.workload}${fs.existsSync(corpus) ? `,source=${path.relative(repoRoot(), corpus)}` : ''}`;
  const receiver = cp.spawn(process.execPath, [cliPath(), 'migrate', 'receive', '--listen', `127.0.0.1:${port}`, '-q'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const receiverExit = exited(receiver); // listen now: it may exit before the sender does
  try {
    await new Promise((r) => setTimeout(r, 1500));
    const args = ['migrate', 'send', '--guest', guest, '--to', `127.0.0.1:${port}`, '--json', ...(a.cacheSlots ? ['--cache-slots', a.cacheSlots] : [])];
    const sender = cp.spawn(process.execPath, [path.join(__dirname, '..', 'rss-wrap.js'), ...args], {
      cwd: repoRoot(),
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, PAGEPRESS_RSS_OUT: rssOut },
    });
    let out = '';
    sender.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const senderExit = exited(sender);
    const code = await senderExit;
    if (code !== 0) throw new Error(`migrate send exited ${code}`);
    if ((await receiverExit) !== 0) throw new Error('migrate receive failed');
    const report = JSON.parse(out) as { pageCount: number; pageSize: number; cacheSlots: number; totalMs: number; downtimeMs: number; bytes: { sent: number } };
    const hwm = (JSON.parse(fs.readFileSync(rssOut, 'utf8')) as { vmHWM: number }).vmHWM * 1024;
    const guestBytes = report.pageCount * report.pageSize;
    const engine = hwm - guestBytes;
    const result = {
      kind: 'pagepress-migrate-rss',
      date: new Date().toISOString(),
      guest,
      cacheSlots: report.cacheSlots,
      senderPeakRssMiB: Math.round(hwm / MiB),
      guestMiB: guestBytes / MiB,
      engineMiB: Math.round(engine / MiB),
      totalMs: Math.round(report.totalMs),
      downtimeMs: Math.round(report.downtimeMs * 10) / 10,
      sentMiB: Math.round(report.bytes.sent / MiB),
    };
    const ok = engine < 300 * MiB;
    process.stdout.write(`${JSON.stringify(result)}\n`);
    process.stdout.write(
      `sender peak RSS ${result.senderPeakRssMiB} MiB = guest ${result.guestMiB} MiB + engine ${result.engineMiB} MiB (cache ${report.cacheSlots} slots): ${ok ? 'PASS' : 'FAIL'} (engine < 300 MiB)\n`,
    );
    const file = path.join(repoRoot(), 'bench', 'results', `migrate-rss-${result.date.replace(/[:.]/g, '-')}.json`);
    fs.writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`results: ${path.relative(repoRoot(), file)}\n`);
  } finally {
    if (receiver.exitCode === null) receiver.kill('SIGKILL');
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (e: Error) => {
      process.stderr.write(`migrate-rss: ${e.message}\n`);
      process.exit(1);
    },
  );
}
