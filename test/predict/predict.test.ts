/** The migration predictor: dirty-page models, the pre-copy simulation, profiles, cost. */
import * as assert from 'node:assert/strict';
import * as fc from 'fast-check';
import { parseTrace } from '../../lib/migration/guests/trace-guest';
import { SimulatedGuest } from '../../lib/migration/guests/simulated-guest';
import {
  avgModel,
  avgModelFromTrace,
  CodecProfile,
  createRelocationEstimator,
  histModel,
  histModelFromTrace,
  machineFromReport,
  migrationCost,
  migrationEnergy,
  predictMigration,
  PredictInput,
  profileCodec,
  wwsCurve,
} from '../../lib/predict';
import type { MigrationReport } from '../../lib/migration/metrics';

/** A trace of `records` records 100 ms apart; record k dirties pfns(k). */
function trace(pageCount: number, records: number, pfns: (k: number) => number[]) {
  const lines = [JSON.stringify({ format: 'pagepress-dirty-trace', version: 1, pageSize: 4096, pageCount, durationMs: records * 100, intervalMs: 100 })];
  for (let k = 0; k < records; k++) lines.push(JSON.stringify({ t: (k + 1) * 100, pfns: pfns(k) }));
  return parseTrace(Buffer.from(lines.join('\n') + '\n'));
}

const range = (a: number, n: number) => Array.from({ length: n }, (_, i) => a + i);

const ZSTD_LIKE: CodecProfile = { codec: 'zstd', firstBytesPerPage: 1500, resentHitBytesPerPage: 300, resentMissBytesPerPage: 1500, encodePagesPerSec: 1e6, decodePagesPerSec: 1e6 };

function input(o: Partial<PredictInput> = {}): PredictInput {
  return {
    pageCount: 65536,
    dirty: avgModel(2000, 65536),
    link: { bytesPerSec: 12.5e6, latencyMs: 0.5 },
    codec: ZSTD_LIKE,
    machine: { linkEfficiency: 1, fixedDowntimeMs: 0, connectMs: 0, checksumBytesPerSec: 1e12, sharedCpu: false },
    ...o,
  };
}

describe('predict: dirty-page models', () => {
  it('the writable-working-set curve of a trace that rewrites the same 100 pages stays at 100', () => {
    const c = wwsCurve(trace(1000, 20, () => range(0, 100)));
    assert.deepEqual(c[0], { ms: 0, pages: 0 });
    for (const p of c.slice(1)) assert.equal(p.pages, 100);
    assert.equal(c[c.length - 1].ms, 2000);
  });

  it('the curve of a trace that dirties new pages every interval grows linearly', () => {
    const c = wwsCurve(trace(10000, 20, (k) => range(k * 50, 50)));
    for (const p of c.slice(1)) assert.equal(p.pages, (p.ms / 100) * 50);
  });

  it('the curve averages over every window position', () => {
    // Records alternate {0..9} and {10..29}: windows of 1 record hold 10 or 20 pages (mean 14.76 over 21 records).
    const t = trace(100, 21, (k) => (k % 2 === 0 ? range(0, 10) : range(10, 20)));
    const c = wwsCurve(t);
    assert.ok(Math.abs(c[1].pages - (11 * 10 + 10 * 20) / 21) < 1e-9);
    assert.equal(c[2].pages, 30);
  });

  it('HIST interpolates, extends along the last slope, and never exceeds the guest', () => {
    const m = histModel(
      [
        { ms: 0, pages: 0 },
        { ms: 100, pages: 50 },
        { ms: 200, pages: 80 },
      ],
      200,
    );
    assert.equal(m.dirtied(50), 25);
    assert.equal(m.dirtied(150), 65);
    assert.equal(m.dirtied(300), 110);
    assert.equal(m.dirtied(10_000), 200);
    assert.equal(m.dirtied(0), 0);
  });

  it('AVG from a trace is the mean pages per interval, per second, and HIST from it saturates where AVG does not', () => {
    const t = trace(1000, 20, () => range(0, 100));
    const avg = avgModelFromTrace(t);
    assert.equal(avg.dirtied(1000), 1000);
    assert.equal(avg.dirtied(500), 500);
    assert.equal(histModelFromTrace(t).dirtied(1000), 100);
  });

  it('refuses a bad rate and an empty trace', () => {
    assert.throws(() => avgModel(-1, 10), { code: 'PP_ERR_ARG' });
    assert.throws(() => wwsCurve(trace(10, 0, () => [])), /no records/);
  });
});

describe('predict: pre-copy simulation', () => {
  it('a guest that dirties nothing goes in one pass: its pages at the link rate, nothing in the final copy', () => {
    const p = predictMigration(input({ dirty: avgModel(0, 65536) }));
    assert.equal(p.liveIterations, 1);
    assert.equal(p.iterations[1].pages, 0);
    const pass = (65536 * 1500) / 12.5e6;
    assert.ok(Math.abs(p.totalMs / 1000 - pass) < 0.05, `${p.totalMs} ms`);
    assert.ok(Math.abs(p.wireBytes - 65536 * 1500) / (65536 * 1500) < 0.01);
    assert.ok(p.downtimeMs < 5);
  });

  it('iteration k+1 sends what the model dirties during iteration k, and the policy stops it', () => {
    const p = predictMigration(input({ policy: 'xen', dirty: avgModel(2000, 65536) }));
    for (let k = 1; k < p.iterations.length; k++) {
      assert.equal(p.iterations[k].pages, Math.round(2000 * (p.iterations[k - 1].ms / 1000)));
    }
    assert.ok(p.liveIterations <= 5);
  });

  it('xen stops at 5 live iterations when the guest dirties faster than the link sends', () => {
    const p = predictMigration(input({ policy: 'xen', dirty: avgModel(20000, 65536) }));
    assert.equal(p.liveIterations, 5);
    assert.match(p.stopReason, /5 live iterations/);
  });

  it('the adaptive policy stops once the predicted final copy fits its target', () => {
    const p = predictMigration(
      input({
        policy: 'adaptive',
        policyOptions: { downtimeTargetMs: 50 },
        dirty: histModel(
          [
            { ms: 0, pages: 0 },
            { ms: 100, pages: 300 },
            { ms: 1000, pages: 600 },
          ],
          65536,
        ),
      }),
    );
    assert.match(p.stopReason, /<= target 50 ms/);
    assert.ok(p.downtimeMs < 60, `${p.downtimeMs}`);
  });

  it('properties: a faster link or a better codec never makes a migration slower or bigger', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1024, max: 1 << 19 }),
        fc.integer({ min: 0, max: 50000 }),
        fc.double({ min: 1e6, max: 1.25e9, noNaN: true }),
        fc.double({ min: 1.1, max: 4, noNaN: true }),
        fc.constantFrom('xen', 'xen-4.4' as const),
        (pageCount, rate, bps, faster, policy) => {
          const base = input({ pageCount, dirty: avgModel(rate, pageCount), link: { bytesPerSec: bps, latencyMs: 0.5 }, policy });
          const a = predictMigration(base);
          const b = predictMigration({ ...base, link: { bytesPerSec: bps * faster, latencyMs: 0.5 } });
          assert.ok(Number.isFinite(a.totalMs) && a.totalMs > 0 && a.downtimeMs >= 0 && a.wireBytes > 0);
          assert.ok(a.iterations[0].pages === pageCount);
          // Same stop rule outcome or an earlier stop: a faster pass leaves fewer dirty pages behind.
          assert.ok(b.iterations[0].ms <= a.iterations[0].ms);
          assert.ok(b.iterations[1].pages <= a.iterations[1].pages);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('refuses a bad input with PP_ERR_ARG naming the field', () => {
    assert.throws(() => predictMigration(input({ pageCount: 0 })), /pageCount/);
    assert.throws(() => predictMigration(input({ link: { bytesPerSec: 0, latencyMs: 0 } })), /link.bytesPerSec/);
    assert.throws(() => predictMigration(input({ codec: { ...ZSTD_LIKE, encodePagesPerSec: NaN } })), /codec.encodePagesPerSec/);
    assert.throws(() => predictMigration(input({ policy: 'nope' as 'xen' })), /unknown stop policy/);
  });
});

describe('predict: cost and relocation', () => {
  it('cost is the weighted sum of downtime, time, volume and the linear energy', () => {
    const p = { downtimeMs: 2000, totalMs: 10_000, wireBytes: 100 * 1024 * 1024 };
    const c = migrationCost(p, { a: 10, b: 1, c: 0.5, d: 2 });
    assert.equal(c.energyJ, 0.512 * 100 + 20.165);
    assert.ok(Math.abs(c.cost - (10 * 2 + 10 + 50 + 2 * c.energyJ)) < 1e-9);
    assert.equal(migrationEnergy(0), 20.165);
    assert.throws(() => migrationCost(p, { a: -1 }), /weight a/);
  });

  it('the relocation estimator prices a bigger or busier guest higher, deterministically', () => {
    const est = createRelocationEstimator({ linkBytesPerSec: 125e6, latencyMs: 10 });
    const small = est({ id: 'a', memBytes: 2 ** 30, workload: 'idle' });
    const big = est({ id: 'b', memBytes: 8 * 2 ** 30, workload: 'idle' });
    const busy = est({ id: 'c', memBytes: 2 ** 30, workload: 'hotset', dirtyRate: 50000 });
    assert.ok(big.cost > small.cost && big.wireBytes > small.wireBytes && big.totalMs > small.totalMs);
    assert.ok(busy.cost > small.cost);
    assert.deepEqual(est({ id: 'a', memBytes: 2 ** 30, workload: 'idle' }), small);
    assert.throws(() => est({ id: 'x', memBytes: 0, workload: 'idle' }), /guest x: memBytes/);
    assert.throws(() => createRelocationEstimator({ linkBytesPerSec: 1e6, latencyMs: 0, codec: 'brotli' }), /no codec profile/);
  });

  it('a machine profile from a report takes out the modelled parts', () => {
    const r = {
      pageCount: 1024,
      pageSize: 4096,
      totalMs: 1000,
      downtimeMs: 30,
      drainBeforePauseMs: 10,
      iterations: [
        { ms: 800, final: false },
        { ms: 5, final: true },
      ],
      downtime: { pauseMs: 1, finalCopyMs: 5, checksumMs: 2, commitMs: 4, resumeMs: 3 },
      measured: { linkBytesPerSec: 11e6, checksumMs: 2, wireBytesPerPage: 0, encodePagesPerSec: 0, batchCodecMs: 0 },
    } as unknown as MigrationReport;
    const m = machineFromReport(r, { bytesPerSec: 12.5e6, latencyMs: 0.5 }, true);
    assert.equal(m.linkEfficiency, 0.88);
    assert.equal(m.fixedDowntimeMs, 1 + 4 + 3 - 2);
    assert.equal(m.connectMs, 1000 - 800 - 10 - 30 - 1);
    assert.equal(m.checksumBytesPerSec, (1024 * 4096) / ((5 + 2) / 1000));
    assert.equal(m.transferBytesPerSec, Infinity);
  });
});

describe('predict: codec profile on a running guest', function () {
  this.timeout(60_000);
  it('measures first-pass and re-sent page costs of a real hot-set guest', async () => {
    const guest = await SimulatedGuest.create({ pages: 8192, workload: 'hotset', dirtyRate: 5000, seed: 3 });
    try {
      const p = await profileCodec(guest, { codec: 'zstd', threads: 2, sampleBatches: 4, gapMs: 300 });
      assert.equal(p.codec, 'zstd');
      assert.ok(p.firstBytesPerPage > 0 && p.firstBytesPerPage < 4096, `first ${p.firstBytesPerPage}`);
      // A cached re-sent page goes as a delta against its last copy: never dearer than sending it whole.
      assert.ok(p.resentHitBytesPerPage < p.resentMissBytesPerPage, `hit ${p.resentHitBytesPerPage} miss ${p.resentMissBytesPerPage}`);
      assert.ok(p.encodePagesPerSec > 0 && p.decodePagesPerSec > 0);
    } finally {
      await guest.close();
    }
  });

  it('profiles auto as a link-bound migration sends (zstd) unless told the encoder is the bottleneck (lz4)', async () => {
    const guest = await SimulatedGuest.create({ pages: 8192, workload: 'idle', seed: 4 });
    try {
      const o = { codec: 'auto' as const, threads: 2, sampleBatches: 4, gapMs: 50 };
      const linkBound = await profileCodec(guest, o);
      const cpuBound = await profileCodec(guest, { ...o, linkBound: false });
      assert.ok(linkBound.firstBytesPerPage < cpuBound.firstBytesPerPage * 0.9, `link-bound ${linkBound.firstBytesPerPage}, encoder-bound ${cpuBound.firstBytesPerPage} bytes/page`);
    } finally {
      await guest.close();
    }
  });
});
