/**
 * The migration engine over real loopback sockets: a write-heavy 256 MiB guest migrates
 * with each stop policy and arrives byte for byte as it was at pause (compared here,
 * independently of the protocol's own checksum); small guests with each codec; the
 * policies' rules; the protocol's encodings.
 */
import * as assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { SimulatedGuest } from '../../lib/migration/guests/simulated-guest';
import { FileGuest } from '../../lib/migration/guests/file-guest';
import { migrate, MigrateOptions, unionPfns } from '../../lib/migration/sender';
import { receive, ReceivedGuest, ReceiveOptions } from '../../lib/migration/receiver';
import { createPolicy, PolicyInput, POLICY_NAMES, predictFinalMs } from '../../lib/migration/policy';
import { decodeMessage, decodePfnRuns, encodeMessage, encodePfnRuns, MessageType, decodeBatchBody, Message } from '../../lib/migration/protocol';
import { formatReport, MigrationReport, resentCheaply } from '../../lib/migration/metrics';
import type { GuestMemory } from '../../lib/migration/guest';
import { createLink, LINKS } from '../../lib/migration/link';
import { CODEC_CHOICES } from '../../lib/codec/registry';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const P = 4096;
const HOST = '127.0.0.1';

/** Starts a receiver (default: on an ephemeral port of 127.0.0.1). */
async function startReceiver(options: ReceiveOptions = {}, at = { host: HOST, port: 0 }): Promise<{ port: number; result: Promise<ReceivedGuest> }> {
  let listening!: (port: number) => void;
  const port = new Promise<number>((r) => (listening = r));
  const result = receive(at, { threads: 1, idleTimeoutMs: 20_000, ...options, onListening: (a) => listening(a.port) });
  result.catch(() => undefined);
  return { port: await Promise.race([port, result.then(() => -1)]), result };
}

/** Pfns whose page differs between the source memory and the received memory. */
function differingPages(source: Uint8Array, received: Buffer): number[] {
  assert.equal(received.length, source.length, 'memory sizes differ');
  const src = Buffer.from(source.buffer, source.byteOffset, source.byteLength);
  const out: number[] = [];
  for (let p = 0; p * P < src.length; p++) {
    if (src.compare(received, p * P, (p + 1) * P, p * P, (p + 1) * P) !== 0) out.push(p);
  }
  return out;
}

/** True when the guest's writer makes no writes for `ms`. */
async function isPaused(g: SimulatedGuest, ms = 100): Promise<boolean> {
  const before = g.stats().writes;
  await sleep(ms);
  return g.stats().writes === before;
}

function summary(r: MigrationReport): string {
  const re = r.iterations.slice(1).reduce((s, it) => s + resentCheaply(it.kinds), 0);
  const resent = r.pagesSent - r.pageCount;
  return (
    `${r.policy.name}/${r.codec}: ${r.totalMs.toFixed(0)} ms total, downtime ${r.downtimeMs.toFixed(1)} ms ` +
    `(${Object.entries(r.downtime)
      .map(([k, v]) => `${k.replace(/Ms$/, '')} ${v.toFixed(1)}`)
      .join(', ')}), ${r.liveIterations} live iterations + 1 paused ` +
    `[${r.iterations.map((i) => i.pages).join(', ')} pages], ${(r.bytes.sent / 1048576).toFixed(1)} MiB sent / ${r.bytes.received} B back, ratio ${r.ratio.toFixed(2)}, ` +
    `kinds ${JSON.stringify(r.kinds)}, ${re} of ${resent} re-sent pages UNCHANGED/DELTA; stop: ${r.stopReason}`
  );
}

/** Migrates `guest` to an in-process receiver; returns both ends' results. */
async function migrateLoopback(guest: GuestMemory, options: Partial<MigrateOptions> = {}, rxOptions: ReceiveOptions = {}): Promise<{ report: MigrationReport; received: ReceivedGuest }> {
  const rx = await startReceiver(rxOptions);
  const report = await migrate(guest, { host: HOST, port: rx.port, threads: 1, idleTimeoutMs: 20_000, ...options });
  return { report, received: await rx.result };
}

describe('migration engine', function () {
  this.timeout(60_000);

  it('long-range matching (longWindowLog 24): a 64 MiB guest with a running writer arrives as it was at pause, fewer bytes than without', async () => {
    const sizes: number[] = [];
    for (const longWindowLog of [24, 0]) {
      const guest = await SimulatedGuest.create({ pages: 16384, workload: 'webserver', dirtyRate: 5_000, seed: 3 });
      try {
        const { report, received } = await migrateLoopback(guest, { threads: 2, longWindowLog });
        assert.equal(report.sourceState, 'paused');
        assert.deepEqual(differingPages(guest.memory, received.memory).slice(0, 10), [], `longWindowLog ${longWindowLog}`);
        sizes.push(report.bytes.sent);
      } finally {
        await guest.close();
      }
    }
    assert.ok(sizes[0] <= sizes[1] * 1.01, `long-range ${sizes[0]} B vs ${sizes[1]} B`);
  });

  describe('256 MiB hotset guest (20000 writes/s) over loopback', () => {
    for (const policy of POLICY_NAMES) {
      it(`policy ${policy}: every page arrives as it was at pause; re-sent pages go as UNCHANGED/DELTA; the source stays paused`, async () => {
        const guest = await SimulatedGuest.create({ pages: 65536, workload: 'hotset', dirtyRate: 20_000, seed: 7 });
        try {
          const progress: number[] = [];
          // A cache as large as the guest: every re-sent page can find its last copy (the
          // default, 64 MiB, holds a quarter of this guest after the full pass).
          const { report, received } = await migrateLoopback(guest, { policy, cacheSlots: 65536, onProgress: (p) => progress.push(p.iteration) });
          console.log(`      ${summary(report)}`);
          // The source is paused (it migrated away): its memory now is its memory at pause.
          assert.equal(report.sourceState, 'paused');
          assert.ok(await isPaused(guest), 'source guest still writing after a successful migration');
          assert.deepEqual(differingPages(guest.memory, received.memory).slice(0, 10), []);
          assert.equal(received.state, 'running');

          // Iterations: a full pass, then dirty sets, then the paused copy.
          assert.equal(report.iterations[0].pages, 65536);
          assert.equal(report.iterations.length, report.liveIterations + 1);
          assert.ok(report.iterations[report.iterations.length - 1].final);
          assert.ok(report.liveIterations >= 1 && report.liveIterations <= (policy === 'xen' ? 5 : policy === 'xen-4.4' ? 29 : 30));
          assert.ok(report.stopReason.length > 0);
          assert.ok(progress.length > 64, `${progress.length} progress calls`);
          // The guest was really written during the migration, and those pages were sent again.
          assert.ok(report.pagesSent > 65536 + 500, `only ${report.pagesSent - 65536} pages re-sent`);
          const resent = report.iterations.slice(1).reduce((s, it) => s + resentCheaply(it.kinds), 0);
          assert.ok(resent > (report.pagesSent - 65536) * 0.5, `${resent} of ${report.pagesSent - 65536} re-sent pages as UNCHANGED/DELTA`);
          assert.equal(report.kinds.unchanged + report.kinds.delta, resent, 'UNCHANGED/DELTA in the first pass');

          // Both ends agree on what went over the wire.
          assert.equal(received.report.pagesReceived, report.pagesSent);
          assert.deepEqual(received.report.kinds, report.kinds);
          assert.equal(received.report.bytes.received, report.bytes.sent);
          assert.equal(received.report.bytes.sent, report.bytes.received);
          assert.equal(received.report.bytes.batches, report.bytes.batches);
          assert.ok(report.ratio > 2, `ratio ${report.ratio}`);
          // Downtime is pause -> RESUMED and covers its parts.
          const d = report.downtime;
          assert.ok(report.downtimeMs >= d.pauseMs + d.finalCopyMs + d.checksumMs + d.commitMs + d.resumeMs - 0.5);
          assert.ok(report.downtimeMs < report.totalMs);
          assert.match(formatReport(report), /migrated 65536 pages/);
        } finally {
          await guest.close();
        }
      });
    }
  });

  describe('16 MiB guests', () => {
    for (const codec of CODEC_CHOICES) {
      it(`codec ${codec}: arrives intact`, async () => {
        const guest = await SimulatedGuest.create({ pages: 4096, workload: 'webserver', dirtyRate: 20_000, seed: 3 });
        try {
          const { report, received } = await migrateLoopback(guest, { codec, policy: 'xen' });
          assert.equal(report.codec, codec);
          assert.equal(received.report.codec, codec);
          assert.deepEqual(differingPages(guest.memory, received.memory).slice(0, 10), []);
          if (codec === 'none') assert.ok(report.ratio < 4, `ratio ${report.ratio} with codec none`);
        } finally {
          await guest.close();
        }
      });
    }

    it('codec auto over a 100 Mbit/s link: zstd, since the link (not the encoder) holds the sender up', async () => {
      const guest = await SimulatedGuest.create({ pages: 32768, workload: 'idle', seed: 5 });
      const link = await createLink(LINKS['100M'], { prefer: 'userspace' });
      try {
        const rx = await startReceiver({}, link.listen);
        const report = await migrate(guest, { host: link.connect.host, port: link.connect.port, codec: 'auto', policy: 'xen', threads: 1, idleTimeoutMs: 20_000 });
        const received = await rx.result;
        assert.deepEqual(differingPages(guest.memory, received.memory).slice(0, 10), []);
        const c = report.codecs;
        // The first ~10 frames fill the socket buffers (the link's rate shows only then): lz4.
        assert.ok((c.zstd ?? 0) > (c.lz4 ?? 0) + 5, `frames per codec ${JSON.stringify(c)}`);
        assert.match(formatReport(report), /codec auto .*\(frames: .*zstd \d+/);
      } finally {
        await link.close();
        await guest.close();
      }
    });

    it("verify 'sent', 2 threads, small batches and cache: arrives intact; report and receiver agree", async () => {
      const guest = await SimulatedGuest.create({ pages: 4096, workload: 'inplace', dirtyRate: 20_000, seed: 4 });
      try {
        const { report, received } = await migrateLoopback(
          guest,
          { verify: 'sent', threads: 2, batchPages: 100, cacheSlots: 1000, policy: 'adaptive', downtimeTargetMs: 5, link: 'loopback' },
          { threads: 2 },
        );
        assert.deepEqual(differingPages(guest.memory, received.memory).slice(0, 10), []);
        assert.equal(report.batchPages, 100);
        assert.equal(report.link, 'loopback');
        assert.equal(report.measured.checksumMs, 0);
        assert.equal(received.report.batchPages, 100);
        assert.equal(received.report.cacheSlots, 1000);
        assert.deepEqual((received.report.meta.policy as { name: string }).name, 'adaptive');
        assert.equal(report.iterations[0].batches, 41);
      } finally {
        await guest.close();
      }
    });

    it('a file guest (static) migrates in one pass plus an empty paused copy; resume() is called with the memory', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pagepress-mig-'));
      try {
        const image = path.join(dir, 'mem.img');
        const data = Buffer.alloc(1000 * P);
        for (let i = 0; i < data.length; i += 7) data[i] = (i * 31) & 0xff;
        fs.writeFileSync(image, data);
        const guest = await FileGuest.open(image);
        let resumed: Buffer | null = null;
        const { report, received } = await migrateLoopback(guest, { policy: 'xen' }, { resume: (memory) => void (resumed = memory) });
        assert.ok(received.memory.equals(data));
        assert.equal(resumed, received.memory);
        assert.deepEqual(
          report.iterations.map((i) => i.pages),
          [1000, 0],
        );
        assert.match(report.stopReason, /0 dirty pages/);
        await guest.close();
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('stop policies', () => {
    const base: PolicyInput = {
      iteration: 0,
      dirtyCount: 1000,
      sentThisIteration: 65536,
      totalSent: 65536,
      pageCount: 65536,
      batchPages: 1024,
      dirtyHistory: [1000],
      measured: { wireBytesPerPage: 1000, linkBytesPerSec: 12.5e6, encodePagesPerSec: 100_000, batchCodecMs: 10, checksumMs: 0 },
    };
    const at = (o: Partial<PolicyInput>): PolicyInput => ({ ...base, ...o });

    it('xen-4.4: fewer than 50 pages sent in the last iteration, 29 iterations, or more than 3x the guest sent', () => {
      const p = createPolicy('xen-4.4');
      assert.equal(p.decide(at({})).stop, false);
      assert.equal(p.decide(at({ dirtyCount: 10 })).stop, false, 'xen-4.4 looks at pages sent, not dirty');
      assert.match(p.decide(at({ iteration: 3, sentThisIteration: 49 })).reason, /sent 49 pages/);
      assert.equal(p.decide(at({ iteration: 3, sentThisIteration: 50 })).stop, false);
      assert.equal(p.decide(at({ iteration: 27 })).stop, false);
      assert.match(p.decide(at({ iteration: 28 })).reason, /29 live iterations/);
      assert.equal(p.decide(at({ totalSent: 3 * 65536 })).stop, false);
      assert.match(p.decide(at({ totalSent: 3 * 65536 + 1 })).reason, /> 3 x 65536/);
    });

    it('xen: fewer than 50 dirty pages or 5 live iterations', () => {
      const p = createPolicy('xen');
      assert.equal(p.decide(at({ dirtyCount: 50 })).stop, false);
      assert.match(p.decide(at({ dirtyCount: 49 })).reason, /49 dirty pages \(< 50\)/);
      assert.equal(p.decide(at({ iteration: 3 })).stop, false);
      assert.match(p.decide(at({ iteration: 4 })).reason, /5 live iterations/);
      assert.equal(createPolicy('xen', { maxIterations: 2 }).decide(at({ iteration: 1 })).stop, true);
    });

    it('adaptive: predicted final copy under the target, a dirty set that stopped shrinking, or the cap', () => {
      // 1000 pages x 1000 B at 12.5 MB/s = 80 ms + 10 ms codec.
      assert.ok(Math.abs(predictFinalMs(1000, base.measured) - 90) < 1e-9);
      assert.equal(predictFinalMs(0, base.measured), 0);
      assert.equal(predictFinalMs(1000, { ...base.measured, checksumMs: 50 }), 140);
      const p = createPolicy('adaptive', { downtimeTargetMs: 100 });
      const d = p.decide(at({}));
      assert.equal(d.stop, true);
      assert.match(d.reason, /predicted final copy 90 ms <= target 100 ms/);
      assert.equal(p.decide(at({ dirtyCount: 2000, dirtyHistory: [3000, 2000] })).stop, false);
      assert.match(p.decide(at({ dirtyCount: 2100, dirtyHistory: [2000, 2100, 2100] })).reason, /stopped shrinking for 2 iterations \(2000, 2100, 2100 pages\)/);
      assert.equal(p.decide(at({ dirtyCount: 2000, dirtyHistory: [2000, 2000, 2000] })).stop, true, 'equal counts do not shrink');
      assert.equal(p.decide(at({ dirtyCount: 2000, dirtyHistory: [2100, 2000, 2000] })).stop, false, 'one iteration without shrinking');
      assert.equal(p.decide(at({ dirtyCount: 2000, dirtyHistory: [2100, 2200, 2000] })).stop, false);
      assert.match(p.decide(at({ iteration: 29, dirtyCount: 5000, dirtyHistory: [5000] })).reason, /30 live iterations/);
      assert.equal(createPolicy('adaptive').describe().downtimeTargetMs, 300);
    });

    it('unknown names and bad options are PP_ERR_ARG; custom policies pass through', () => {
      assert.throws(() => createPolicy('xen-3' as never), { code: 'PP_ERR_ARG', message: /unknown stop policy "xen-3"/ });
      assert.throws(() => createPolicy('xen', { maxIterations: 0 }), { code: 'PP_ERR_ARG' });
      assert.throws(() => createPolicy('adaptive', { downtimeTargetMs: -1 }), { code: 'PP_ERR_ARG' });
      const custom = { name: 'mine', decide: () => ({ stop: true, reason: 'always' }), describe: () => ({ name: 'mine' }) };
      assert.equal(createPolicy(custom), custom);
    });
  });

  describe('protocol encodings', () => {
    it('pfn runs round-trip and are compact; bad runs are PP_ERR_FORMAT', () => {
      const pfns = Uint32Array.from([0, 1, 2, 3, 10, 11, 500, 70000, 70001]);
      const runs = encodePfnRuns(pfns);
      assert.deepEqual(Array.from(decodePfnRuns(runs, pfns.length, 80000)), Array.from(pfns));
      assert.equal(encodePfnRuns(Uint32Array.from({ length: 1024 }, (_, i) => 5000 + i)).length, 4);
      assert.throws(() => decodePfnRuns(runs, pfns.length, 70001), { code: 'PP_ERR_FORMAT', message: /outside the guest/ });
      assert.throws(() => decodePfnRuns(runs, pfns.length + 1, 80000), { code: 'PP_ERR_FORMAT', message: /hold 9 pages/ });
      assert.throws(() => decodePfnRuns(runs, 3, 80000), { code: 'PP_ERR_FORMAT', message: /more than the 3/ });
      assert.throws(() => decodePfnRuns(Buffer.from([0x80, 0x80]), 1, 80000), { code: 'PP_ERR_FORMAT', message: /inside a number/ });
      assert.throws(() => encodePfnRuns([3, 2]), { code: 'PP_ERR_ARG' });
      assert.deepEqual(Array.from(unionPfns(Uint32Array.from([1, 4, 9]), Uint32Array.from([2, 4, 10]))), [1, 2, 4, 9, 10]);
    });

    it('every control message round-trips through encodeMessage/decodeMessage', () => {
      const messages: Message[] = [
        { type: 'HELLO', version: 1, pageSize: 4096, pageCount: 65536, batchPages: 1024, cacheSlots: 65536, codec: 'zstd', level: 1, streamHeader: Buffer.alloc(20, 7), meta: { a: 1 } },
        { type: 'HELLO_ACK', version: 1, meta: { host: 'x' } },
        { type: 'ERROR', code: 'PP_ERR_VERSION', reason: 'version 2' },
        { type: 'ABORT', code: 'PP_ERR_CHECKSUM', reason: 'é'.repeat(10) },
        { type: 'ITERATION_BEGIN', iteration: 3, dirtyCount: 77, final: true },
        { type: 'ITERATION_END', iteration: 3, pages: 77, bytes: 2 ** 40 },
        { type: 'PAUSED', iteration: 4 },
        { type: 'COMMIT', pageCount: 2048, chunkPages: 1024, checksum: 0xdeadbeef, chunks: Uint32Array.from([1, 0xffffffff]) },
        { type: 'COMMIT_ACK', ok: false, firstPfn: 1024, pageCrcs: Uint32Array.from([5, 6]) },
        { type: 'GO' },
        { type: 'RESUMED', verifyMs: 1.5, resumeMs: 0.25 },
      ];
      for (const m of messages) {
        const bytes = Buffer.concat(encodeMessage(m));
        assert.equal(bytes.readUInt32LE(0), bytes.length - 5);
        assert.equal(bytes[4], MessageType[m.type]);
        assert.deepEqual(decodeMessage(bytes[4], bytes.subarray(5)), m);
      }
      const batch = Buffer.concat(encodeMessage({ type: 'BATCH', iteration: 2, pfns: Uint32Array.from([7, 8, 9]), frame: Buffer.from('frame') }));
      const b = decodeBatchBody(batch.subarray(5), 100, 1024);
      assert.deepEqual([b.iteration, Array.from(b.pfns), b.frame.toString(), b.bytes], [2, [7, 8, 9], 'frame', batch.length]);
      assert.throws(() => decodeBatchBody(batch.subarray(5), 100, 2), { code: 'PP_ERR_LIMIT' });
      assert.throws(() => decodeMessage(MessageType.PAUSED, Buffer.alloc(5)), { code: 'PP_ERR_FORMAT', message: /5 bytes, expected 4/ });
      assert.throws(() => decodeMessage(99, Buffer.alloc(0)), { code: 'PP_ERR_FORMAT', message: /unknown message type 99/ });
      const hello = Buffer.concat(encodeMessage(messages[0])).subarray(5);
      hello.writeUInt16LE(2, 4);
      assert.throws(() => decodeMessage(MessageType.HELLO, hello), { code: 'PP_ERR_VERSION', message: /version 2, this side speaks version 1/ });
      hello.write('XXXX', 0, 'latin1');
      assert.throws(() => decodeMessage(MessageType.HELLO, hello), { code: 'PP_ERR_MAGIC' });
    });
  });
});
