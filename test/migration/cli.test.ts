/**
 * `pagepress migrate receive` and `pagepress migrate send`: the real bin as child
 * processes over real TCP on 127.0.0.1. A simulated guest under a write-heavy workload
 * migrates and both reports agree; usage errors exit 2 before any connection; failures
 * (nothing listening, a guest above --max-guest, a peer of another protocol version,
 * timeouts) exit 1 with one clear line on both sides.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { run, RunResult, tmpDir } from '../cli/helpers';
import { ChildReceiver, HOST, startReceiver } from './receiver-process';
import { SimulatedGuest } from '../../lib/migration/guests/simulated-guest';
import { migrate } from '../../lib/migration/sender';
import { MigrationError } from '../../lib/migration/protocol';
import type { MigrationReport, ReceiverReport } from '../../lib/migration/metrics';

/** What `migrate send --json` prints: the sender's report and the command. */
type SenderJson = MigrationReport & { command: string; tls: unknown };
/** What `migrate receive --json` prints: the receiver's report, the command and where it wrote. */
type ReceiverJson = ReceiverReport & { command: string; output?: string; meta: { guest: { workload: string } } };

/** A port nothing listens on (bound, then released). */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, HOST, r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A listening server that counts connections (usage errors must not connect). */
async function sentinel(): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  let n = 0;
  const s = net.createServer((c) => {
    n++;
    c.destroy();
  });
  await new Promise<void>((r) => s.listen(0, HOST, r));
  return { port: (s.address() as net.AddressInfo).port, connections: () => n, close: () => new Promise((r) => s.close(() => r())) };
}

/** The one JSON line a command printed on stdout, as the report type `T` it prints. */
function jsonLine<T>(r: RunResult): T {
  const text = r.stdout.toString();
  assert.match(text, /^\{[^\n]*\}\n$/, `one JSON line on stdout, got ${JSON.stringify(text.slice(0, 200))}`);
  return JSON.parse(text) as T;
}

/** stderr lines other than "listening on". */
function messages(r: RunResult): string[] {
  return r.stderr.split('\n').filter((l) => l && !/listening on/.test(l));
}

describe('migration: CLI (migrate receive / migrate send)', function () {
  this.timeout(30_000);
  const receivers: ChildReceiver[] = [];
  const receiver = (args: string[]): ChildReceiver => {
    const r = startReceiver(args);
    receivers.push(r);
    return r;
  };
  afterEach(() => {
    for (const r of receivers.splice(0)) r.kill();
  });

  it('migrates a 32 MiB sim guest under hotset: both exit 0, their --json reports agree, downtime > 0', async () => {
    const rx = receiver(['--json', '-T', '1', '--timeout', '20']);
    const port = await rx.port;
    const tx = await run(['migrate', 'send', '--guest', 'sim:32M,workload=hotset,dirty-rate=20000', '--to', `${HOST}:${port}`, '--policy', 'xen', '-T', '1', '--json']);
    const rr = await rx.done;
    assert.equal(tx.code, 0, tx.stderr);
    assert.equal(rr.code, 0, rr.stderr);
    const s = jsonLine<SenderJson>(tx);
    const r = jsonLine<ReceiverJson>(rr);
    assert.equal(s.command, 'migrate send');
    assert.equal(r.command, 'migrate receive');
    assert.equal(s.outcome, 'migrated');
    assert.equal(r.outcome, 'resumed');
    assert.equal(s.pageCount, 8192);
    assert.equal(r.pageCount, 8192);
    assert.equal(s.guest.workload, 'hotset');
    assert.equal(r.meta.guest.workload, 'hotset');
    // The guest wrote while it migrated: pages were re-sent.
    assert.ok(s.pagesSent > 8192, `pages sent ${s.pagesSent}`);
    assert.equal(r.pagesReceived, s.pagesSent);
    assert.equal(r.bytes.received, s.bytes.sent);
    assert.equal(r.bytes.sent, s.bytes.received);
    assert.equal(r.bytes.batches, s.bytes.batches);
    assert.deepEqual(r.kinds, s.kinds);
    assert.equal(r.iterations.length, s.iterations.length);
    assert.deepEqual(
      r.iterations.map((i) => i.pages),
      s.iterations.map((i) => i.pages),
    );
    assert.ok(s.downtimeMs > 0, `downtime ${s.downtimeMs}`);
    assert.ok(r.pausedMs > 0);
    assert.ok(s.totalMs >= s.downtimeMs);
    assert.ok(s.ratio > 1, `ratio ${s.ratio}`);
    assert.equal(s.policy.name, 'xen');
    assert.ok(s.stopReason.length > 0);
    assert.equal(s.tls, null);
    // One summary line on each side's stderr.
    const sl = messages(tx);
    assert.equal(sl.length, 1, tx.stderr);
    assert.match(sl[0], /^pagepress: migrate send: migrated 32\.0 MiB \(8192 pages\) to 127\.0\.0\.1:\d+ in .*downtime .*live iteration.*on the wire .*ratio .*policy xen: /);
    const rl = messages(rr);
    assert.equal(rl.length, 1, rr.stderr);
    assert.match(rl[0], /^pagepress: migrate receive: received 32\.0 MiB \(8192 pages\) in .*paused .*memory verified$/);
    console.log(
      `      sender: ${s.totalMs.toFixed(0)} ms, downtime ${s.downtimeMs.toFixed(1)} ms, ${s.liveIterations} live iterations ` +
        `(${s.iterations.map((i) => i.pages).join(', ')} pages), ${s.bytes.sent} bytes, ratio ${s.ratio.toFixed(2)}; receiver paused ${r.pausedMs.toFixed(1)} ms`,
    );
  });

  it('--output writes the received image: a file guest arrives byte for byte; a failed migration writes nothing', async () => {
    const t = tmpDir();
    try {
      const image = t.file('vm.img');
      const pages = Buffer.alloc(3000 * 4096);
      for (let p = 0; p < 3000; p += 3) pages.write(`page ${p} `.repeat(40), p * 4096); // a third zero pages
      fs.writeFileSync(image, pages);
      const rx = receiver(['--output', t.file('out.img'), '--json']);
      const port = await rx.port;
      const tx = await run(['migrate', 'send', '--guest', `file:${image}`, '--to', `${HOST}:${port}`, '-q']);
      const rr = await rx.done;
      assert.equal(tx.code, 0, tx.stderr);
      assert.equal(rr.code, 0, rr.stderr);
      assert.equal(jsonLine<ReceiverJson>(rr).output, t.file('out.img'));
      assert.ok(fs.readFileSync(t.file('out.img')).equals(pages), 'the received image equals the sent one');
      assert.deepEqual(fs.readdirSync(t.dir).sort(), ['out.img', 'vm.img'], 'no temporary file left');

      // The sender dies before sending anything: the receiver fails and writes nothing.
      const rx2 = receiver(['--output', t.file('never.img'), '--timeout', '1']);
      const port2 = await rx2.port;
      const sock = net.connect(port2, HOST);
      await new Promise((r) => sock.on('connect', r));
      sock.destroy();
      const rr2 = await rx2.done;
      assert.equal(rr2.code, 1, rr2.stderr);
      assert.equal(fs.existsSync(t.file('never.img')), false);

      // A place that cannot be written is refused before listening.
      const bad = await run(['migrate', 'receive', '--listen', `${HOST}:0`, '--output', '/nonexistent/dir/x.img']);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr.toString(), /--output \/nonexistent\/dir\/x\.img: cannot write there \(ENOENT\)/);
      assert.doesNotMatch(bad.stderr.toString(), /listening on/);
    } finally {
      t.cleanup();
    }
  });

  it('without --json nothing goes to stdout; a sender with -q prints nothing at all on success', async () => {
    const rx2 = receiver([]);
    const port = await rx2.port;
    const tx = await run(['migrate', 'send', '--guest', 'sim:4M', '--to', `${HOST}:${port}`, '-q', '-T', '1', '--codec', 'lz4', '--policy', 'xen-4.4']);
    const rr = await rx2.done;
    assert.equal(tx.code, 0, tx.stderr);
    assert.equal(rr.code, 0, rr.stderr);
    assert.equal(tx.stdout.length, 0);
    assert.equal(tx.stderr, '');
    assert.equal(rr.stdout.length, 0);
    assert.equal(messages(rr).length, 1);
  });

  describe('usage errors exit 2, name the option, and connect to nothing', () => {
    let s: Awaited<ReturnType<typeof sentinel>>;
    const t = tmpDir();
    before(async () => {
      s = await sentinel();
      fs.writeFileSync(t.file('not-pem.txt'), 'hello\n');
    });
    after(async () => {
      await s.close();
      t.cleanup();
    });
    const to = (): string => `${HOST}:${s.port}`;
    const cases: Array<[string, () => string[], RegExp]> = [
      ['bad --to (no port)', () => ['send', '--guest', 'sim:4M', '--to', 'localhost'], /option '--to <HOST:PORT>' argument 'localhost' is invalid.*HOST:PORT/],
      ['bad --to (port out of range)', () => ['send', '--guest', 'sim:4M', '--to', '127.0.0.1:70000'], /--to <HOST:PORT>.*port 70000 is outside 1\.\.65535/],
      ['bad --to (no host)', () => ['send', '--guest', 'sim:4M', '--to', ':7000'], /--to <HOST:PORT>.*host is missing/],
      ['bad --guest (kind)', () => ['send', '--guest', 'vm:1G', '--to', to()], /option '--guest <SPEC>' argument 'vm:1G' is invalid.*sim:SIZE, trace:FILE or file:IMAGE/],
      ['bad --guest (size)', () => ['send', '--guest', 'sim:12X', '--to', to()], /--guest <SPEC>.*"12X" is not a size/],
      ['bad --guest (workload)', () => ['send', '--guest', 'sim:4M,workload=nope', '--to', to()], /--guest <SPEC>.*workload "nope"/],
      ['bad --guest (missing image)', () => ['send', '--guest', 'file:/nonexistent/vm.img', '--to', to()], /--guest <SPEC>.*image \/nonexistent\/vm\.img: no such file/],
      ['unknown --policy', () => ['send', '--guest', 'sim:4M', '--to', to(), '--policy', 'xen-3'], /option '--policy <NAME>' argument 'xen-3' is invalid.*xen-4\.4, xen, adaptive/],
      ['unknown --codec', () => ['send', '--guest', 'sim:4M', '--to', to(), '--codec', 'brotli'], /--codec <NAME>.*brotli/],
      ["--level out of the codec's range", () => ['send', '--guest', 'sim:4M', '--to', to(), '--codec', 'deflate', '-l', '12'], /--level.*deflate.*0\.\.9/],
      ['--downtime-target with a xen policy', () => ['send', '--guest', 'sim:4M', '--to', to(), '--policy', 'xen', '--downtime-target', '50'], /--downtime-target.*adaptive/],
      ['--max-iterations 0', () => ['send', '--guest', 'sim:4M', '--to', to(), '--max-iterations', '0'], /--max-iterations <N>.*1\.\.10000/],
      ['--tls-cert without --tls-key', () => ['send', '--guest', 'sim:4M', '--to', to(), '--tls-cert', t.file('not-pem.txt')], /--tls-key.*required/],
      ['--tls-ca not a PEM file', () => ['send', '--guest', 'sim:4M', '--to', to(), '--tls-ca', t.file('not-pem.txt')], /--tls-ca .*not a PEM file/],
      ['--tls-ca missing file', () => ['send', '--guest', 'sim:4M', '--to', to(), '--tls-ca', '/nonexistent.pem'], /--tls-ca <FILE>.*no such file/],
      ['missing --guest', () => ['send', '--to', to()], /required option '--guest <SPEC>'/],
      ['bad --listen', () => ['receive', '--listen', '127.0.0.1'], /option '--listen <HOST:PORT>' argument '127\.0\.0\.1' is invalid/],
      ['missing --listen', () => ['receive'], /required option '--listen <HOST:PORT>'/],
      ['bad --max-guest', () => ['receive', '--listen', `${HOST}:0`, '--max-guest', 'lots'], /--max-guest <SIZE>.*not a size/],
      ['--require-client-cert without TLS', () => ['receive', '--listen', `${HOST}:0`, '--require-client-cert'], /--require-client-cert.*--tls-cert/],
      // Secure defaults: on Linux 0.0.0.0 and :: reach this machine, so a regressed check would connect to the sentinel.
      ['plain --to 0.0.0.0', () => ['send', '--guest', 'sim:4M', '--to', `0.0.0.0:${s.port}`], /--to 0\.0\.0\.0:\d+ is not a loopback address.*Use TLS \(--tls-ca FILE, or --tls.*or --insecure/],
      ['plain --to [::]', () => ['send', '--guest', 'sim:4M', '--to', `[::]:${s.port}`], /--to \[::\]:\d+ is not a loopback address.*TLS.*--insecure/],
      ['--insecure with --tls', () => ['send', '--guest', 'sim:4M', '--to', to(), '--tls', '--insecure'], /--insecure.*does not turn off TLS certificate checks/],
      ['plain --listen 0.0.0.0', () => ['receive', '--listen', '0.0.0.0:0'], /--listen 0\.0\.0\.0:0 is not a loopback address.*Use TLS \(--tls-cert FILE --tls-key FILE.*or --insecure/],
      [
        '--insecure with --tls-cert',
        () => ['receive', '--listen', '0.0.0.0:0', '--tls-cert', t.file('not-pem.txt'), '--tls-key', t.file('not-pem.txt'), '--insecure'],
        /--insecure.*does not turn off TLS/,
      ],
      ['--handshake-timeout 0', () => ['receive', '--listen', `${HOST}:0`, '--handshake-timeout', '0'], /--handshake-timeout <S>.*0\.1\.\.3600/],
    ];
    for (const [name, args, message] of cases) {
      it(name, async () => {
        const r = await run(['migrate', ...args()]);
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, message);
        assert.match(r.stderr, /^pagepress: [^\n]+\n$/, 'one line');
        assert.equal(r.stdout.length, 0);
        assert.equal(s.connections(), 0, 'no connection was made');
      });
    }
  });

  it('a sender to a port where nothing listens exits 1 with "connection refused", the guest running', async () => {
    const port = await freePort();
    const r = await run(['migrate', 'send', '--guest', 'sim:4M,workload=hotset', '--to', `${HOST}:${port}`, '--json']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^pagepress: migrate send: cannot connect to 127\.0\.0\.1:\d+: .*ECONNREFUSED.*connection refused.*the source guest is running\n$/);
    assert.equal(r.stdout.length, 0);
  });

  it("a guest above the receiver's --max-guest: both exit 1, the receiver says why, the sender passes it on", async () => {
    const rx = receiver(['--max-guest', '8M']);
    const port = await rx.port;
    const tx = await run(['migrate', 'send', '--guest', 'sim:16M,workload=hotset', '--to', `${HOST}:${port}`]);
    const rr = await rx.done;
    assert.equal(rr.code, 1, rr.stderr);
    assert.equal(tx.code, 1, tx.stderr);
    assert.match(rr.stderr, /migrate receive: HELLO: guest of 16777216 bytes exceeds this receiver's limit of 8388608 bytes.*partial guest was discarded/);
    assert.match(tx.stderr, /migrate send: receiver refused the migration: HELLO: guest of 16777216 bytes exceeds .*the source guest is running/);
  });

  it('a sender of another protocol version: the receiver exits 1 naming both versions', async () => {
    const rx = receiver([]);
    const port = await rx.port;
    const guest = await SimulatedGuest.create({ pages: 256, workload: 'idle' });
    try {
      await assert.rejects(migrate(guest, { host: HOST, port, protocolVersion: 2, threads: 1 }), (e: MigrationError) => /version/i.test(e.message));
    } finally {
      await guest.close();
    }
    const rr = await rx.done;
    assert.equal(rr.code, 1, rr.stderr);
    assert.match(messages(rr)[0], /^pagepress: migrate receive: .*version.*2.*1|^pagepress: migrate receive: .*version.*1.*2/i);
  });

  it('--handshake-timeout: a peer that connects and trickles bytes without completing HELLO is cut off, although it is never idle', async () => {
    const rx = receiver(['--handshake-timeout', '0.6', '--timeout', '5']);
    const port = await rx.port;
    const c = net.connect(port, HOST);
    c.on('error', () => undefined);
    // A HELLO header announcing a 100-byte body, then one byte every 100 ms: never idle for 5 s, never a whole message.
    const header = Buffer.from([100, 0, 0, 0, 1]);
    let i = 0;
    const timer = setInterval(() => c.write(i < header.length ? header.subarray(i, ++i) : Buffer.from([0])), 100);
    const t0 = performance.now();
    const rr = await rx.done;
    clearInterval(timer);
    c.destroy();
    assert.equal(rr.code, 1, rr.stderr);
    assert.match(messages(rr)[0], /migrate receive: no message from the sender for 600 ms during handshake/);
    assert.ok(performance.now() - t0 < 4000, 'cut at the handshake limit, not the idle one');
  });

  it('receiver timeouts: no sender (--accept-timeout) and a silent peer (--timeout) exit 1', async () => {
    const a = receiver(['--accept-timeout', '0.3']);
    await a.port;
    const ra = await a.done;
    assert.equal(ra.code, 1, ra.stderr);
    assert.match(messages(ra)[0], /migrate receive: no sender connected to 127\.0\.0\.1:\d+ in 300 ms/);

    const b = receiver(['--timeout', '0.5']);
    const port = await b.port;
    const c = net.connect(port, HOST);
    c.on('error', () => undefined);
    const rb = await b.done;
    c.destroy();
    assert.equal(rb.code, 1, rb.stderr);
    assert.match(messages(rb)[0], /migrate receive: idle timeout: no progress for \d+ ms \(limit 500 ms\) during handshake.*partial guest was discarded/);
  });

  it('a plain sender to a receiver killed mid-migration exits 1 and says the source guest is running', async () => {
    const rx = receiver(['-T', '1']);
    const port = await rx.port;
    const tx = run(['migrate', 'send', '--guest', 'sim:64M,workload=hotset', '--to', `${HOST}:${port}`, '-T', '1', '--policy', 'xen-4.4']);
    await new Promise((r) => setTimeout(r, 250));
    rx.kill();
    const r = await tx;
    if (r.code === 0) return console.log('      (the migration finished before the kill)');
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^pagepress: migrate send: .*(connection|ECONNRESET|EPIPE|closed).*the source guest is running\n$/);
  });
});
