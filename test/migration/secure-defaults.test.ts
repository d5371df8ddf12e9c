/**
 * The network's secure default (lib/migration/loopback.ts): plain TCP only on loopback.
 * `migrate receive --listen` on another address and `migrate send --to` another host
 * without TLS exit 2 naming TLS and --insecure, before anything listens, connects or opens
 * the guest; the library refuses the same with PP_ERR_ARG unless `insecure: true`.
 *
 * Non-loopback targets are only ever the veth address of a network namespace this file
 * creates (a /30 of 10.213.0.0/16 that no interface of the machine uses), or 0.0.0.0 / ::
 * (which on Linux reach this machine): nothing can leave the machine even if a check
 * regressed. A recorder listening in the namespace proves a refused sender never
 * connected; strace proves a refused process made no IP socket at all (and, for the
 * sender, never opened its guest image).
 */
import * as assert from 'node:assert/strict';
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { isPagepressError } from '../../lib/errors';
import { isLoopbackHost } from '../../lib/migration/loopback';
import { findBinary, NetnsPair } from '../../lib/migration/link/netns';
import { receive } from '../../lib/migration/receiver';
import { migrate } from '../../lib/migration/sender';
import { SimulatedGuest } from '../../lib/migration/guests/simulated-guest';
import { BIN, run, RunResult, tmpDir } from '../cli/helpers';
import { ChildReceiver, HOST, startReceiver } from './receiver-process';

const NAMES_TLS_AND_INSECURE = /is not a loopback address.*Use TLS \(--tls.*or --insecure/;
const ONE_LINE = /^pagepress: [^\n]+\n$/;
const CI = !!process.env.CI;

/** Skips `ctx` with `reason`, except under CI, where a missing prerequisite is a failure (the project's rule). */
function skipUnlessCi(ctx: Mocha.Context, reason: string): void {
  if (CI) throw new Error(`${reason} (required under CI)`);
  console.log(`      skipped: ${reason}`);
  ctx.skip();
}

function hasCommand(file: string, args: string[]): boolean {
  try {
    execFileSync(file, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Runs argv[0] with the rest as arguments; resolves with its exit and output. */
function runArgv(argv: string[]): Promise<RunResult> {
  return new Promise<RunResult>((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout: Buffer.concat(out), stderr: err }));
  });
}

/** Runs the bin under `strace -f` for the network and open calls; returns its result and the trace. */
async function traced(args: string[]): Promise<{ r: RunResult; trace: string }> {
  const t = tmpDir();
  try {
    const log = t.file('strace.log');
    const r = await runArgv(['strace', '-f', '-qq', '-e', 'trace=socket,bind,listen,connect,openat', '-o', log, process.execPath, BIN, ...args]);
    return { r, trace: fs.readFileSync(log, 'utf8') };
  } finally {
    t.cleanup();
  }
}

/** The IP (not AF_UNIX) socket calls in a trace. */
function ipSocketCalls(trace: string): string[] {
  return trace.split('\n').filter((l) => /\bsocket\(AF_INET6?\b|\b(bind|connect)\(\d+, \{sa_family=AF_INET6?\b/.test(l));
}

describe('migration: secure defaults (plain TCP only on loopback)', function () {
  this.timeout(60_000);

  describe('isLoopbackHost', () => {
    const cases: Array<[string, boolean]> = [
      ['127.0.0.1', true],
      ['127.255.3.4', true],
      ['::1', true],
      ['0:0:0:0:0:0:0:1', true],
      ['[::1]', true],
      ['::1%lo', true],
      ['::ffff:127.0.0.1', true],
      ['::ffff:7f00:1', true],
      ['localhost', true],
      ['LocalHost', true],
      ['0.0.0.0', false],
      ['::', false],
      ['10.213.0.2', false],
      ['192.168.1.7', false],
      ['128.0.0.1', false],
      ['::2', false],
      ['::ffff:10.0.0.1', false],
      ['fe80::1%eth0', false],
      ['', false],
      // Names are never resolved: only "localhost" itself counts (not a DNS name ending in a dot, not 127.1 shorthand).
      ['localhost.', false],
      ['dest.example', false],
      ['localhost.example', false],
      ['127.1', false],
      [' 127.0.0.1', false],
    ];
    for (const [host, loopback] of cases) {
      it(`${JSON.stringify(host)} is ${loopback ? '' : 'not '}loopback`, () => assert.equal(isLoopbackHost(host), loopback));
    }
  });

  describe('library', () => {
    it('receive() on 0.0.0.0 / :: without insecure rejects with PP_ERR_ARG before listening', async () => {
      for (const host of ['0.0.0.0', '::']) {
        let listened = false;
        await assert.rejects(
          receive({ host, port: 0 }, { onListening: () => (listened = true) }),
          (e: unknown) => isPagepressError(e) && e.code === 'PP_ERR_ARG' && /not a loopback address/.test(e.message) && /TLS/.test(e.message) && /insecure/.test(e.message),
        );
        assert.equal(listened, false, `nothing listened on ${host}`);
      }
    });

    it('receive() on 0.0.0.0 with insecure: true listens and takes a migration from a loopback sender', async () => {
      let port!: (p: number) => void;
      const listening = new Promise<number>((r) => (port = r));
      const received = receive({ host: '0.0.0.0', port: 0 }, { insecure: true, threads: 1, idleTimeoutMs: 20_000, onListening: (a) => port(a.port) });
      const guest = await SimulatedGuest.create({ pages: 512, workload: 'hotset', seed: 3 });
      try {
        const report = await migrate(guest, { host: HOST, port: await listening, threads: 1, policy: 'xen' });
        const g = await received;
        assert.equal(report.outcome, 'migrated');
        assert.equal(g.pageCount, 512);
      } finally {
        await guest.close();
      }
    });

    it('migrate() to 0.0.0.0 without insecure rejects with PP_ERR_ARG, and a listener on this machine sees no connection', async () => {
      // On Linux a connect to 0.0.0.0 reaches this machine: had the check not run, this listener would count it.
      let connections = 0;
      const s = net.createServer((c) => (connections++, c.destroy()));
      await new Promise<void>((r) => s.listen(0, '0.0.0.0', r));
      const guest = await SimulatedGuest.create({ pages: 16, workload: 'idle' });
      try {
        const port = (s.address() as net.AddressInfo).port;
        await assert.rejects(migrate(guest, { host: '0.0.0.0', port, threads: 1 }), (e: unknown) => isPagepressError(e) && e.code === 'PP_ERR_ARG' && /options\.insecure/.test(e.message));
        await new Promise((r) => setTimeout(r, 100));
        assert.equal(connections, 0);
      } finally {
        await guest.close();
        await new Promise((r) => s.close(r));
      }
    });
  });

  describe('CLI, without a namespace', () => {
    for (const listen of ['0.0.0.0:0', '[::]:0', ':0']) {
      it(`migrate receive --listen ${listen} exits 2 naming TLS and --insecure, before listening`, async () => {
        const t0 = performance.now();
        const r = await run(['migrate', 'receive', '--listen', listen]);
        const ms = performance.now() - t0;
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, ONE_LINE);
        assert.match(r.stderr, NAMES_TLS_AND_INSECURE);
        assert.doesNotMatch(r.stderr, /listening on/);
        // A node start and an argument check; a listening receiver would wait for a sender.
        assert.ok(ms < 5000, `${ms.toFixed(0)} ms`);
      });
    }

    it('with --insecure, receive --listen 0.0.0.0:0 listens and takes a migration from a loopback sender', async () => {
      const rx = startReceiver(['--insecure', '-T', '1', '--timeout', '20', '--json'], { host: '0.0.0.0' });
      try {
        const port = await rx.port;
        const tx = await run(['migrate', 'send', '--guest', 'sim:4M,workload=hotset', '--to', `${HOST}:${port}`, '-T', '1', '-q']);
        const rr = await rx.done;
        assert.equal(tx.code, 0, tx.stderr);
        assert.equal(rr.code, 0, rr.stderr);
        assert.match(rr.stderr, /listening on 0\.0\.0\.0:\d+\n.*memory verified/s);
      } finally {
        rx.kill();
      }
    });

    it('strace: a refused receiver makes no IP socket; a loopback one binds and listens (control)', async function () {
      if (!hasCommand('strace', ['-V'])) return skipUnlessCi(this, 'strace is not installed (apt-get install strace)');
      const refused = await traced(['migrate', 'receive', '--listen', '0.0.0.0:7000']);
      assert.equal(refused.r.code, 2, refused.r.stderr);
      assert.match(refused.r.stderr, NAMES_TLS_AND_INSECURE);
      assert.deepEqual(ipSocketCalls(refused.trace), [], 'no socket(AF_INET...) nor bind/connect of one');
      assert.doesNotMatch(refused.trace, /\blisten\(/);
      const control = await traced(['migrate', 'receive', '--listen', `${HOST}:0`, '--accept-timeout', '0.2']);
      assert.equal(control.r.code, 1, control.r.stderr);
      assert.ok(
        ipSocketCalls(control.trace).some((l) => /bind\(.*127\.0\.0\.1/.test(l)),
        'the trace shows a bind when there is one',
      );
      assert.match(control.trace, /\blisten\(/);
    });
  });

  describe('receiver limits', () => {
    it('TLS: while one peer sits in its handshake a second connection is dropped, and the handshake times out at --handshake-timeout', async function () {
      if (!hasCommand('openssl', ['version'])) return skipUnlessCi(this, 'openssl is not installed');
      const t = tmpDir();
      try {
        execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-keyout', 'k.pem', '-out', 'c.pem'], { cwd: t.dir, stdio: 'ignore' });
        const rx = startReceiver(['--tls-cert', t.file('c.pem'), '--tls-key', t.file('k.pem'), '--handshake-timeout', '1.5']);
        try {
          const port = await rx.port;
          const first = net.connect(port, HOST);
          first.on('error', () => undefined);
          await new Promise((r) => first.once('connect', r));
          await new Promise((r) => setTimeout(r, 200));
          const second = net.connect(port, HOST);
          second.on('error', () => undefined);
          const t0 = performance.now();
          await new Promise((r) => second.once('close', r));
          const droppedMs = performance.now() - t0;
          assert.ok(droppedMs < 1000, `the second connection was closed after ${droppedMs.toFixed(0)} ms, before the first one's handshake timed out`);
          const rr = await rx.done;
          first.destroy();
          assert.equal(rr.code, 1, rr.stderr);
          assert.match(rr.stderr, /TLS handshake.*failed.*timeout/i);
        } finally {
          rx.kill();
        }
      } finally {
        t.cleanup();
      }
    });
  });

  describe('CLI and library against a network namespace', function () {
    const t = tmpDir();
    let pair: NetnsPair | null = null;
    let prefix: string[] = [];
    let recorder: ChildProcess | null = null;
    let recorderPort = 0;
    const recorded: string[] = [];
    const receivers: ChildReceiver[] = [];

    /** Listens on the namespace's address and prints one line per connection (the refused senders must cause none). */
    const RECORDER = `
      const net = require('net');
      const [host] = process.argv.slice(1);
      const s = net.createServer((c) => { process.stdout.write('connection from ' + c.remoteAddress + '\\n'); c.destroy(); });
      s.listen(0, host, () => process.stdout.write('port ' + s.address().port + '\\n'));
    `;

    before(async function () {
      if (process.getuid?.() !== 0) return skipUnlessCi(this, 'network namespaces need root');
      if (!findBinary('ip')) return skipUnlessCi(this, 'the ip binary (iproute2) is not installed');
      pair = await NetnsPair.create(`${process.pid.toString(36)}_sd`, null, 0);
      prefix = [pair.ip, 'netns', 'exec', pair.ns];
      recorder = spawn(prefix[0], [...prefix.slice(1), process.execPath, '-e', RECORDER, pair.nsAddr], { stdio: ['ignore', 'pipe', 'inherit'] });
      recorderPort = await new Promise<number>((resolve, reject) => {
        readline.createInterface({ input: recorder!.stdout! }).on('line', (line) => {
          const m = /^port (\d+)$/.exec(line);
          if (m) resolve(Number(m[1]));
          else recorded.push(line);
        });
        recorder!.once('exit', (code) => reject(new Error(`recorder exited with ${code}`)));
      });
      fs.writeFileSync(t.file('vm.img'), Buffer.alloc(64 * 4096, 7));
    });
    afterEach(() => {
      for (const r of receivers.splice(0)) r.kill();
    });
    after(async () => {
      recorder?.kill();
      await pair?.remove();
      t.cleanup();
    });

    const target = (): string => `${pair!.nsAddr}:${recorderPort}`;
    /** Lets a connection that was (wrongly) made reach the recorder and be printed. */
    const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 300));

    it('the namespace address is not loopback, and the recorder there counts a connection (control, run first and last)', async () => {
      assert.equal(isLoopbackHost(pair!.nsAddr), false);
      const c = net.connect(recorderPort, pair!.nsAddr);
      await new Promise<void>((resolve, reject) => (c.once('close', () => resolve()), c.once('error', reject)));
      await settle();
      assert.equal(recorded.length, 1, recorded.join('; '));
      recorded.length = 0;
    });

    it('migrate send --to the namespace address exits 2 naming TLS and --insecure, and never connects', async () => {
      const r = await run(['migrate', 'send', '--guest', 'sim:64M,workload=hotset', '--to', target()]);
      await settle();
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, ONE_LINE);
      assert.match(r.stderr, NAMES_TLS_AND_INSECURE);
      assert.deepEqual(recorded, [], 'the recorder saw no connection');
    });

    it('migrate() to the namespace address without insecure rejects with PP_ERR_ARG, and never connects', async () => {
      const guest = await SimulatedGuest.create({ pages: 16, workload: 'idle' });
      try {
        await assert.rejects(migrate(guest, { host: pair!.nsAddr, port: recorderPort, threads: 1 }), (e: unknown) => isPagepressError(e) && e.code === 'PP_ERR_ARG');
      } finally {
        await guest.close();
      }
      await settle();
      assert.deepEqual(recorded, []);
    });

    it('strace: a refused sender makes no IP socket and never opens its guest image; with --insecure it does both (control)', async function () {
      if (!hasCommand('strace', ['-V'])) return skipUnlessCi(this, 'strace is not installed (apt-get install strace)');
      const image = t.file('vm.img');
      const refused = await traced(['migrate', 'send', '--guest', `file:${image}`, '--to', target(), '-T', '1']);
      await settle();
      assert.equal(refused.r.code, 2, refused.r.stderr);
      assert.deepEqual(ipSocketCalls(refused.trace), []);
      assert.ok(!refused.trace.split('\n').some((l) => /openat\(/.test(l) && l.includes(image)), 'the image was not opened');
      assert.deepEqual(recorded, []);
      // The same command with --insecure: opens the image, connects (the recorder hangs up: exit 1).
      const control = await traced(['migrate', 'send', '--guest', `file:${image}`, '--to', target(), '-T', '1', '--insecure']);
      await settle();
      assert.equal(control.r.code, 1, control.r.stderr);
      assert.ok(
        control.trace.split('\n').some((l) => /openat\(/.test(l) && l.includes(image)),
        'the image was opened',
      );
      assert.ok(
        ipSocketCalls(control.trace).some((l) => l.includes(`connect(`) && l.includes(pair!.nsAddr)),
        'the trace shows the connect',
      );
      assert.equal(recorded.length, 1, recorded.join('; '));
      recorded.length = 0;
    });

    it('migrate receive --listen on the namespace address exits 2 without --insecure', async () => {
      // Inside the namespace, where that address exists: only the check stops it from listening.
      const r = await runArgv([...prefix, process.execPath, BIN, 'migrate', 'receive', '--listen', `${pair!.nsAddr}:0`, '--accept-timeout', '2']);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, NAMES_TLS_AND_INSECURE);
      assert.doesNotMatch(r.stderr, /listening on/);
    });

    it('with --insecure on both ends a migration into the namespace succeeds', async () => {
      // Plain TCP on purpose (--insecure): the two ends are this machine and a namespace this test made.
      const rx = startReceiver(['--insecure', '-T', '1', '--timeout', '20', '--json'], { host: pair!.nsAddr, prefix });
      receivers.push(rx);
      const port = await rx.port;
      const tx = await run(['migrate', 'send', '--guest', 'sim:16M,workload=hotset', '--to', `${pair!.nsAddr}:${port}`, '--insecure', '-T', '1', '--json']);
      const rr = await rx.done;
      assert.equal(tx.code, 0, tx.stderr);
      assert.equal(rr.code, 0, rr.stderr);
      const s = JSON.parse(tx.stdout.toString());
      const r = JSON.parse(rr.stdout.toString());
      assert.equal(s.pageCount, 4096);
      assert.equal(r.pagesReceived, s.pagesSent);
      assert.equal(s.tls, null);
    });

    it('library: insecure: true on both ends migrates into the namespace', async () => {
      // Plain TCP on purpose (insecure: true), as above.
      const child = spawn(prefix[0], [...prefix.slice(1), process.execPath, path.join(__dirname, 'receiver-child.js'), JSON.stringify({ host: pair!.nsAddr, port: 0, insecure: true })], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const events: Array<Record<string, unknown>> = [];
      const port = await new Promise<number>((resolve, reject) => {
        readline.createInterface({ input: child.stdout }).on('line', (line) => {
          const e = JSON.parse(line) as Record<string, unknown>;
          events.push(e);
          if (e.event === 'listening') resolve(e.port as number);
          if (e.event === 'error') reject(new Error(String(e.message)));
        });
      });
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      const guest = await SimulatedGuest.create({ pages: 1024, workload: 'hotset', seed: 5 });
      try {
        const report = await migrate(guest, { host: pair!.nsAddr, port, insecure: true, threads: 1 });
        assert.equal(report.outcome, 'migrated');
      } finally {
        await guest.close();
      }
      assert.equal(await exited, 0);
      assert.ok(
        events.some((e) => e.event === 'done' && e.pages === 1024),
        JSON.stringify(events),
      );
    });

    it('TLS needs no --insecure: a receiver with --tls-cert/--tls-key on the namespace address, a sender with --tls-ca', async function () {
      if (!hasCommand('openssl', ['version'])) return skipUnlessCi(this, 'openssl is not installed');
      const ip = pair!.nsAddr;
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${ip}`, '-addext', `subjectAltName=IP:${ip}`, '-keyout', 'ns.key', '-out', 'ns.pem'], {
        cwd: t.dir,
        stdio: 'ignore',
      });
      const rx = startReceiver(['--tls-cert', t.file('ns.pem'), '--tls-key', t.file('ns.key'), '-T', '1', '--timeout', '20', '--json'], { host: ip, prefix });
      receivers.push(rx);
      const port = await rx.port;
      const tx = await run(['migrate', 'send', '--guest', 'sim:8M,workload=hotset', '--to', `${ip}:${port}`, '--tls-ca', t.file('ns.pem'), '-T', '1', '--json']);
      const rr = await rx.done;
      assert.equal(tx.code, 0, tx.stderr);
      assert.equal(rr.code, 0, rr.stderr);
      assert.match(String(JSON.parse(tx.stdout.toString()).tls?.protocol), /^TLSv1\.[23]$/);
      assert.match(rr.stderr, /listening on [\d.]+:\d+ \(TLS\)/);
    });

    it('the recorder still counts a connection (control: it was listening all along)', async () => {
      const c = net.connect(recorderPort, pair!.nsAddr);
      await new Promise<void>((resolve, reject) => (c.once('close', () => resolve()), c.once('error', reject)));
      await settle();
      assert.equal(recorded.length, 1, recorded.join('; '));
    });
  });
});
