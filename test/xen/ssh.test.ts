/**
 * `pagepress xen ssh` as xl's ssh (docs/XEN.md 4.3): real processes and pipes end to end.
 * The sender and receiver programs (xl-peers.ts) play `xl migrate` and `xl migrate-receive`;
 * a fake ssh (a shell script that ignores HOST and runs the command line with sh -c, as
 * sshd does) stands in for the network. Every sender step has its own timer, so a
 * deadlock fails with the step that hung.
 */
import * as assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { generateXenStream } from '../../lib/xen/generate';
import { shellQuote as q } from '../../lib/xen/ssh';
import { BIN, run, tmpDir } from '../cli/helpers';
import type { ReceiverReport, SenderReport } from './xl-peers';

const PEERS = path.join(__dirname, 'xl-peers.js');
const NODE = process.execPath;
/** pagepress as a shell command (paths quoted). */
const PP = `${q(NODE)} ${q(BIN)}`;
/** The words xl puts after HOST. */
const XL_WORDS = ['-t', 'migrate-receive', '-e'];

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/** Collects `n` bytes from `stream`; rejects after `ms`, saying what hung. */
function readBytes(stream: Readable, n: number, ms: number, what: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let got = 0;
    const onData = (b: Buffer) => {
      parts.push(b);
      got += b.length;
      if (got >= n) {
        done();
        resolve(Buffer.concat(parts));
      }
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`${what}: only ${got} of ${n} bytes within ${ms} ms`));
    }, ms);
    const done = () => {
      clearTimeout(timer);
      stream.off('data', onData);
    };
    stream.on('data', onData);
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(check: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return check();
}

describe('xen ssh: drop-in for ssh in xl migrate', function () {
  this.timeout(60000);
  const t = tmpDir();
  const fakeSsh = t.file('fake-ssh');
  before(() => {
    // Like `ssh HOST WORDS...` to this machine: drop HOST, join the words, run them with sh.
    fs.writeFileSync(fakeSsh, '#!/bin/sh\nshift\nexec sh -c "$*"\n', { mode: 0o755 });
  });
  after(() => t.cleanup());

  /** `pagepress xen ssh ... dst WORDS...` as a shell command (the rune xl would build around -s). */
  const xenSsh = (words: string[], options: string[] = []) => `exec ${PP} xen ssh -T 2 ${options.map(q).join(' ')} --rsh ${q(fakeSsh)} --remote-pagepress ${q(PP)} dst ${words.map(q).join(' ')}`;
  const receiverWords = (report: string, extra: string[] = []) => [NODE, PEERS, 'receiver', '--report', report, ...extra, ...XL_WORDS];
  const args = (words: string[], options: string[] = []) => ['xen', 'ssh', '-T', '2', ...options, '--rsh', fakeSsh, '--remote-pagepress', PP, 'dst', ...words];

  let runs = 0;
  /** Runs the sender on `rune`; the sender's own step timers end a hang, `limitMs` is the last resort. */
  async function send(rune: string, pages: number, extra: string[] = [], limitMs = 50000): Promise<{ report: SenderReport; stderr: string }> {
    const pidFile = t.file(`rune-${++runs}.pid`);
    const child = spawn(NODE, [PEERS, 'sender', '--rune', rune, '--pages', String(pages), '--pid-file', pidFile, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b) => (stdout += b));
    child.stderr.on('data', (b) => (stderr += b));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      try {
        process.kill(-Number(fs.readFileSync(pidFile, 'utf8')), 'SIGKILL'); // the rune's process group
      } catch {
        // not started, or gone
      }
    }, limitMs);
    const r = await exited(child);
    clearTimeout(timer);
    assert.ok(stdout.trim(), `the sender printed no report (exit ${r.code ?? r.signal}; killed after ${limitMs} ms?): ${stderr}`);
    return { report: JSON.parse(stdout) as SenderReport, stderr };
  }
  const readReport = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8')) as ReceiverReport;
  const describeRun = (r: { report: SenderReport; stderr: string }) => `${JSON.stringify(r.report)}\nstderr: ${r.stderr}`;

  it('--help describes HOST, the options and the exit status', async () => {
    const r = await run(['xen', 'ssh', '--help']);
    assert.equal(r.code, 0, r.stderr);
    for (const word of ['HOST', '--rsh', '--remote-pagepress', '--codec', '--format', 'Exit status']) assert.ok(r.stdout.toString().includes(word), word);
  });

  it('without a remote command: exit 2, one line', async () => {
    const r = await run(['xen', 'ssh', '--rsh', fakeSsh, 'dst'], { input: Buffer.alloc(0) });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^pagepress: xen ssh: a remote command is required[^\n]*\n$/);
  });

  it('every word after HOST reaches the remote command as one argument: options, spaces, quotes', async () => {
    // -t/-e are xl's, -T and --rsh would be ours before HOST; none may be parsed after it.
    const words = ["it's a test", '$HOME `id`', '', 'two  spaces', '-t', 'migrate-receive', '-e', '-T', '--rsh', 'x"y'];
    const r = await run(args(['sh', '-c', 'cat >/dev/null; printf "[%s]" "$@"', 'sh', ...words]), { input: Buffer.from('some input') });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.toString(), words.map((w) => `[${w}]`).join(''));
  });

  it('never waits for EOF: small writes reach the remote command while stdin stays open', async () => {
    const child = spawn(NODE, [BIN, ...args(['cat'])], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b) => (stderr += b));
    try {
      for (const chunk of [Buffer.from('0123456789'), Buffer.alloc(70_001, 7), Buffer.from('z')]) {
        const back = readBytes(child.stdout, chunk.length, 5000, `${chunk.length}-byte write with stdin open`);
        child.stdin.write(chunk);
        assert.ok((await back).equals(chunk));
      }
      child.stdin.end();
      const r = await exited(child);
      assert.equal(r.code, 0, stderr);
      assert.match(stderr, /sent .* \(raw\)/);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('a Xen stream is flushed at a pause too; SIGTERM stops the remote side and exits 143', async () => {
    const pidFile = t.file('remote.pid');
    const child = spawn(NODE, [BIN, ...args(['sh', '-c', `echo $$ > ${q(pidFile)}; exec cat`])], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b) => (stderr += b));
    try {
      // An xl header alone (48 bytes + config), as xl writes it before the libxl stream.
      const config = Buffer.from('{"c_info":{}}\0');
      const header = Buffer.alloc(48 + 4);
      Buffer.from('Xen saved domain, xl format\n \0 \r', 'latin1').copy(header);
      header.writeUInt32LE(0x01020304, 32);
      header.writeUInt32LE(3, 36);
      header.writeUInt32LE(4 + config.length, 44);
      header.writeUInt32LE(config.length, 48);
      const f1 = Buffer.concat([header, config]);
      const back = readBytes(child.stdout, f1.length, 5000, 'xl header with stdin open');
      child.stdin.write(f1);
      assert.ok((await back).equals(f1));
      const remotePid = Number(fs.readFileSync(pidFile, 'utf8'));
      assert.ok(alive(remotePid));
      child.kill('SIGTERM');
      const r = await exited(child);
      assert.equal(r.code, 143, stderr);
      assert.match(stderr, /stopped by SIGTERM/);
      assert.ok(await waitFor(() => !alive(remotePid), 5000), 'the remote command is still running');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('a local encoder failure stops the remote side: exit 1 naming the local side', async () => {
    // An xl header whose byte-order word is wrong: the Xen reader refuses it.
    const input = Buffer.alloc(100_000, 0x41);
    Buffer.from('Xen saved domain, xl format\n \0 \r', 'latin1').copy(input);
    const r = await run(args(['sh', '-c', 'cat >/dev/null']), { input });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^pagepress: xen ssh: the local encoder failed: .*; stopped the remote side/m);
  });

  it('a COLO stream passes when the remote command has a --colo word (as xl migrate-receive --colo does)', async () => {
    const parts: Buffer[] = [];
    generateXenStream(
      {
        guest: 'hvm',
        version: 3,
        layer: 'xl',
        pages: 1024,
        checkpoints: { kind: 'colo', count: 3, pfns: [1, 2, 3, 700] },
        page: (pfn, it, out) => out.fill((pfn + it) % 251),
      },
      (c) => parts.push(Buffer.from(c)),
    );
    const stream = Buffer.concat(parts);
    const r = await run(args(['sh', '-c', 'cat', 'sh', '--colo']), { input: stream });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.equals(stream));
    assert.match(r.stderr, /\(xen\)/);
  });

  it('xl migrate handshake through xen ssh: both ends see exactly the bytes the other wrote', async () => {
    const report = t.file('small.json');
    const received = t.file('small.received');
    const sent = t.file('small.sent');
    const r = await send(xenSsh(receiverWords(report, ['--save', received])), 4096, ['--save-sent', sent]);
    assert.ok(r.report.ok, describeRun(r));
    assert.ok(r.report.reverse.exact, 'the reverse pipe carried more or other bytes than the handshake');
    const rec = readReport(report);
    assert.ok(rec.ok, rec.error);
    assert.deepEqual(rec.args, XL_WORDS, 'xl -t migrate-receive -e must reach the receiver unchanged');
    assert.equal(rec.bytes, r.report.sent.bytes);
    assert.equal(rec.sha256, r.report.sent.sha256);
    assert.equal(rec.pageRecords, r.report.sent.pageRecords);
    assert.ok(fs.readFileSync(received).equals(fs.readFileSync(sent)));
    assert.match(r.stderr, /sent .* \(xen\) as/);
  });

  it('a large guest: xen ssh against cat as the transport (3 alternating rounds, medians printed; sanity bound 8x)', async function () {
    this.timeout(240000);
    const pages = 131072; // 512 MiB of page data
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[(xs.length - 1) >> 1];
    // Whole runs (the sender building its guest, the handshake, the transfer, both ends
    // checking what they got) and, from the sender's report, the part from spawning the
    // rune to the last acknowledgement. The two transports alternate, three rounds each,
    // so that a burst of load on this shared machine does not land on one side only.
    const whole = { cat: [] as number[], pp: [] as number[] };
    const rune = { cat: [] as number[], pp: [] as number[] };
    let lastStderr = '';
    for (let round = 0; round < 3; round++) {
      for (const via of ['cat', 'pp'] as const) {
        const reportFile = t.file(`${via}-${round}.json`);
        const words = receiverWords(reportFile);
        const t0 = Date.now();
        const r = await send(via === 'cat' ? `cat | ${words.map(q).join(' ')}` : xenSsh(words), pages);
        whole[via].push(Date.now() - t0);
        assert.ok(r.report.ok, describeRun(r));
        const rec = readReport(reportFile);
        assert.ok(rec.ok && r.report.reverse.exact, rec.error);
        assert.equal(rec.bytes, r.report.sent.bytes);
        assert.equal(rec.sha256, r.report.sent.sha256);
        rune[via].push(r.report.wallMs);
        if (via === 'pp') lastStderr = r.stderr.trim();
      }
    }
    const wholeRatio = median(whole.pp) / median(whole.cat);
    const runeRatio = median(rune.pp) / median(rune.cat);
    console.log(
      `      whole test run, median of 3: cat ${median(whole.cat)} ms [${whole.cat.join(', ')}], ` + `xen ssh ${median(whole.pp)} ms [${whole.pp.join(', ')}]: ratio ${wholeRatio.toFixed(2)}`,
    );
    console.log(`      rune to last ack, median of 3: cat ${median(rune.cat)} ms [${rune.cat.join(', ')}], ` + `xen ssh ${median(rune.pp)} ms [${rune.pp.join(', ')}]: ratio ${runeRatio.toFixed(2)}`);
    console.log(`      ${lastStderr}`);
    assert.ok(wholeRatio < 8, `xen ssh took ${wholeRatio.toFixed(1)}x the time of cat`);
  });

  it('the remote command fails after the stream (exit 3, no acknowledgement): exit 3 at once, no hang', async () => {
    const report = t.file('fail.json');
    const r = await send(xenSsh(receiverWords(report, ['--fail-after-stream', '3'])), 4096, ['--step-ms', '10000']);
    assert.equal(r.report.ok, false);
    assert.equal(r.report.failedStep, 'R2 domain received', describeRun(r));
    assert.match(r.report.error!, /reverse pipe ended/);
    assert.equal(r.report.killed, false, 'xen ssh had to be killed');
    assert.equal(r.report.exit.code, 3, describeRun(r));
    assert.match(r.stderr, /pagepress: xen ssh: the remote side \(.*fake-ssh dst\) exited with status 3/);
  });

  it('(why the remote side is not `decompress | COMMAND`) that pipeline hangs at R2 on the same failure', async () => {
    const report = t.file('naive.json');
    const rune = `${PP} compress -T 2 | ${PP} decompress -T 2 | ${receiverWords(report, ['--fail-after-stream', '3']).map(q).join(' ')}`;
    const r = await send(rune, 1024, ['--step-ms', '2000']);
    assert.equal(r.report.failedStep, 'R2 domain received', describeRun(r));
    assert.match(r.report.error!, /step R2 domain received hung/);
  });

  it('the receiver is killed mid-stream: xen ssh exits non-zero by itself, naming the remote side', async () => {
    const report = t.file('killed.json');
    const r = await send(xenSsh(receiverWords(report, ['--die-after-bytes', String(8 << 20)])), 16384, ['--step-ms', '10000']);
    assert.equal(r.report.ok, false);
    assert.equal(r.report.killed, false, `xen ssh had to be killed: ${describeRun(r)}`);
    assert.notEqual(r.report.exit.code, 0, describeRun(r));
    assert.equal(r.report.exit.signal, null);
    assert.match(r.stderr, /pagepress: xen ssh: the remote side \(.*fake-ssh dst\) .*(exited with status|before the end of the input)/);
  });
});
