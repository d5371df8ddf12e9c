import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import { BatchDecoder, BatchEncoder, SyncBatchCodec } from '../../lib';
import { memoryLike, rng } from '../helpers';

describe('batch API', function () {
  this.timeout(60_000);

  it('re-sent pfns become UNCHANGED or DELTA pages and decode byte-exact (pre-copy iterations)', async () => {
    const options = { cacheSlots: 4096, batchPages: 256, threads: 2 };
    const enc = new BatchEncoder(options);
    const dec = new BatchDecoder(options);
    try {
      const guest = memoryLike(1024, 21);
      const r = rng(5);
      const pfnsOf = (first: number, n: number) => Array.from({ length: n }, (_, i) => first + i);
      // Iteration 0: every page once.
      const frames0 = await Promise.all([0, 1, 2, 3].map((b) => enc.encode(guest.subarray(b * 256 * 4096, (b + 1) * 256 * 4096), pfnsOf(b * 256, 256))));
      for (const [b, f] of frames0.entries()) {
        const { pages } = await dec.decode(f);
        assert.ok(pages.equals(guest.subarray(b * 256 * 4096, (b + 1) * 256 * 4096)));
      }
      const before = { ...enc.totals, kinds: [...enc.totals.kinds] };
      // Iteration 1: 200 dirtied pages, a few bytes changed in each, plus 56 untouched re-sends.
      const dirty = Array.from(new Set(Array.from({ length: 256 }, () => Math.floor(r() * 1024)))).slice(0, 200);
      for (const pfn of dirty) {
        const at = pfn * 4096 + Math.floor(r() * 4000);
        guest[at] ^= 0x5a;
        guest[at + 3] ^= 0x11;
      }
      const resend = [...dirty, ...Array.from({ length: 56 }, (_, i) => (i * 17) % 1024)];
      const batch = Buffer.concat(resend.map((pfn) => guest.subarray(pfn * 4096, (pfn + 1) * 4096)));
      const frame = await enc.encode(batch, resend);
      assert.ok(frame.length < batch.length / 20, `re-sent batch should be tiny, got ${frame.length}`);
      const { pages } = await dec.decode(frame);
      assert.ok(pages.equals(batch));
      const kinds = enc.totals.kinds.map((k, i) => k - before.kinds[i]);
      assert.ok(kinds[3] + kinds[4] >= 200, `expected UNCHANGED+DELTA pages, got kinds ${kinds}`);
      assert.ok(kinds[4] > 0, 'expected DELTA pages');
    } finally {
      await enc.close();
      await dec.close();
    }
  });

  it('property: any sequence of batches with repeated pfns round-trips', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(fc.record({ pfn: fc.nat({ max: 40 }), seed: fc.nat({ max: 5 }), edit: fc.nat({ max: 4095 }) }), { minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 5 }),
        async (batches) => {
          const options = { cacheSlots: 16, batchPages: 12, threads: 1, pageSize: 4096 };
          const enc = new BatchEncoder(options);
          const dec = new BatchDecoder(options);
          try {
            const frames: Buffer[] = [];
            const inputs: Buffer[] = [];
            for (const b of batches) {
              const pages = Buffer.concat(
                b.map(({ seed, edit }) => {
                  const p = seed === 0 ? Buffer.alloc(4096) : memoryLike(1, seed);
                  p[edit] ^= 1;
                  return p;
                }),
              );
              inputs.push(pages);
              frames.push(
                await enc.encode(
                  pages,
                  b.map((x) => x.pfn),
                ),
              );
            }
            // Check late, so a buffer reused too early would show.
            for (let i = 0; i < frames.length; i++) assert.ok((await dec.decode(frames[i])).pages.equals(inputs[i]));
          } finally {
            await enc.close();
            await dec.close();
          }
        },
      ),
      { numRuns: 25, seed: 7 },
    );
  });

  it('encodeWith fills the input slot in place and gives the same frames as encode, in call order', async () => {
    const options = { cacheSlots: 1024, batchPages: 128, threads: 2 };
    const a = new BatchEncoder(options);
    const b = new BatchEncoder(options);
    try {
      const pages = memoryLike(512, 9);
      const pfns = (k: number) => Array.from({ length: 128 }, (_, i) => 1000 + k * 128 + i);
      const slice = (k: number) => pages.subarray(k * 128 * 4096, (k + 1) * 128 * 4096);
      // Twice over the same pfns: the second round hits the cache (UNCHANGED).
      for (let round = 0; round < 2; round++) {
        const viaEncode = await Promise.all([0, 1, 2, 3].map((k) => a.encode(slice(k), pfns(k))));
        const viaWith = await Promise.all([0, 1, 2, 3].map((k) => b.encodeWith(128, (dst) => dst.set(slice(k)), pfns(k))));
        for (let k = 0; k < 4; k++) assert.ok(viaWith[k].equals(viaEncode[k]), `round ${round} batch ${k}`);
      }
      assert.deepEqual(b.totals.kinds, a.totals.kinds);
      await assert.rejects(
        b.encodeWith(0, () => undefined),
        { code: 'PP_ERR_ARG' },
      );
      await assert.rejects(
        b.encodeWith(129, () => undefined),
        { code: 'PP_ERR_ARG' },
      );
      await assert.rejects(
        b.encodeWith(2, () => undefined, [1]),
        { code: 'PP_ERR_ARG' },
      );
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('validates its arguments', async () => {
    const enc = new BatchEncoder({ threads: 1, batchPages: 4 });
    try {
      await assert.rejects(enc.encode(Buffer.alloc(0)), { code: 'PP_ERR_ARG' });
      await assert.rejects(enc.encode(Buffer.alloc(5 * 4096)), { code: 'PP_ERR_ARG' });
      await assert.rejects(enc.encode(Buffer.alloc(2 * 4096), [1]), { code: 'PP_ERR_ARG' });
    } finally {
      await enc.close();
    }
    assert.throws(() => new BatchEncoder({ codec: 'brotli' as never }), { code: 'PP_ERR_ARG', message: /options\.codec/ });
    assert.throws(() => new BatchEncoder({ level: 99 }), { code: 'PP_ERR_ARG', message: /options\.level/ });
    assert.throws(() => new BatchEncoder({ pageSize: 3000 }), { code: 'PP_ERR_ARG', message: /options\.pageSize/ });
  });
});

describe('batch API concurrency', () => {
  it('many overlapping encode() and decode() calls keep their order', async () => {
    const options = { threads: 2, batchPages: 64, codec: 'zstd' as const };
    const enc = new BatchEncoder(options);
    const dec = new BatchDecoder(options);
    try {
      const inputs = Array.from({ length: 24 }, (_, i) => memoryLike(64, 100 + i));
      const frames = await Promise.all(inputs.map((p) => enc.encode(p)));
      const outputs = await Promise.all(frames.map((f) => dec.decode(f)));
      outputs.forEach((o, i) => assert.ok(o.pages.equals(inputs[i]), `batch ${i}`));
      // A corrupt frame rejects its own call and every later one, and nothing is left unhandled.
      const dec2 = new BatchDecoder(options);
      const bad = Buffer.from(frames[1]);
      bad[bad.length - 3] ^= 1;
      const results = await Promise.allSettled([dec2.decode(frames[0]), dec2.decode(bad), dec2.decode(frames[2])]);
      assert.equal(results[0].status, 'fulfilled');
      assert.equal(results[1].status, 'rejected');
      assert.equal(results[2].status, 'rejected');
      await dec2.close();
    } finally {
      await enc.close();
      await dec.close();
    }
  });
});

describe('synchronous batch codec', () => {
  it("makes the same frames as BatchEncoder, and each decodes the other's", async () => {
    for (const options of [{ batchPages: 64 }, { batchPages: 64, cacheSlots: 128, codec: 'lz4' as const }, { batchPages: 64, codec: 'deflate' as const }]) {
      const sync = new SyncBatchCodec(options);
      const enc = new BatchEncoder({ ...options, threads: 1 });
      const dec = new BatchDecoder({ ...options, threads: 1 });
      try {
        for (let round = 0; round < 4; round++) {
          const pages = memoryLike(64, 10 + round);
          // Rounds 2 and 3 re-send the pfns of rounds 0 and 1: cache hits when there is a cache.
          const pfns = Array.from({ length: 64 }, (_, i) => (round % 2 ? 1000 + i * 3 : i));
          if (round >= 2) pages[5] ^= 1;
          const a = sync.encode(pages, pfns);
          const b = await enc.encode(pages, pfns);
          assert.ok(a.equals(b), `frames differ (round ${round}, ${JSON.stringify(options)})`);
          const viaSync = sync.decode(b);
          assert.ok(viaSync.pages.equals(pages));
          assert.deepEqual(Array.from(viaSync.pfns), pfns);
          assert.ok((await dec.decode(a)).pages.equals(pages));
        }
        assert.throws(() => sync.decode(Buffer.from('not a frame at all, just bytes')), { code: /^PP_ERR_/ });
      } finally {
        await enc.close();
        await dec.close();
      }
    }
  });

  it('cuts frames from shared buffers: kept frames stay intact, and each costs its own size, not the codec bound', () => {
    const sync = new SyncBatchCodec({ codec: 'zstd' });
    const inputs: Buffer[] = [];
    const frames: Buffer[] = [];
    for (let i = 0; i < 40; i++) {
      const pages = Buffer.alloc(1024 * 4096); // 4 MiB, mostly zero: frames of a few KiB
      pages.set(memoryLike(8, 100 + i), (i % 100) * 4096);
      inputs.push(pages);
      frames.push(sync.encode(pages));
    }
    const backing = new Set(frames.map((f) => f.buffer));
    assert.ok(backing.size < frames.length / 4, `${backing.size} buffers behind ${frames.length} frames`);
    const footprint = [...backing].reduce((n, b) => n + b.byteLength, 0);
    assert.ok(footprint <= 32 * 1024 * 1024, `${footprint} bytes hold 40 small frames`);
    // Later encodes never wrote over earlier frames.
    const check = new SyncBatchCodec({ codec: 'zstd' });
    frames.forEach((f, i) => assert.ok(check.decode(f).pages.equals(inputs[i]), `frame ${i}`));
  });

  it('warns once when lz4 output piles up without a turn of the event loop (lz4-napi frees it only then), and not when the caller yields', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => {
      if ((w as Error & { code?: string }).code === 'PAGEPRESS_LZ4_PENDING') warnings.push(w);
    };
    process.on('warning', onWarning);
    try {
      const batch = memoryLike(1024, 3); // 4 MiB, a fifth of it zero pages
      const polite = new SyncBatchCodec({ codec: 'lz4' });
      for (let i = 0; i < 80; i++) {
        polite.encode(batch);
        await new Promise((resolve) => setImmediate(resolve));
      }
      await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
      assert.equal(warnings.length, 0, 'warned although the caller yields after every batch');
      const greedy = new SyncBatchCodec({ codec: 'lz4' });
      for (let i = 0; i < 160; i++) greedy.encode(batch);
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(warnings.length, 1, 'one warning for a synchronous loop of 160 lz4 batches');
      assert.match(warnings[0].message, /lz4-napi issue #678/);
    } finally {
      process.off('warning', onWarning);
    }
  });
});
