import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import { createDecoder, createEncoder } from '../../lib';
import { memoryLike, through, throughSettled } from '../helpers';

/** Decoded-byte offsets at which a frame ends: the only lengths a failed decode may leave. */
function frameBoundaries(pages: number, pageSize: number, batchPages: number, total: number): Set<number> {
  const s = new Set<number>([0]);
  for (let p = batchPages; p < pages + batchPages; p += batchPages) s.add(Math.min(total, p * pageSize));
  return s;
}

describe('corrupt and truncated streams', function () {
  this.timeout(120_000);
  const pageSize = 512;
  const batchPages = 2;
  const original = memoryLike(7, 5, pageSize, 100);
  let stream: Buffer;
  let boundaries: Set<number>;

  before(async () => {
    stream = await through(original, createEncoder({ pageSize, batchPages, threads: 1 }));
    boundaries = frameBoundaries(8, pageSize, batchPages, original.length);
  });

  it('refuses the stream cut at every byte offset with a typed error and an offset', async () => {
    for (let cut = 0; cut < stream.length; cut++) {
      const { out, err } = await throughSettled(stream.subarray(0, cut), createDecoder({ threads: 1 }));
      assert.ok(err, `cut at ${cut}: no error`);
      assert.match(String((err as { code?: string }).code), /^PP_ERR_/, `cut at ${cut}: ${err.message}`);
      assert.equal(typeof err.offset, 'number', `cut at ${cut}: no offset in ${err.message}`);
      assert.match(err.message, /offset \d+/);
      assert.ok(original.subarray(0, out.length).equals(out), `cut at ${cut}: output is not a prefix`);
      assert.ok(boundaries.has(out.length), `cut at ${cut}: output ends inside a frame (${out.length})`);
    }
  });

  it('refuses trailing bytes after END', async () => {
    const { err } = await throughSettled(Buffer.concat([stream, Buffer.from([0])]), createDecoder({ threads: 1 }));
    assert.equal(err?.code, 'PP_ERR_TRAILING');
  });

  it('refuses random bit flips: typed error, output a frame-aligned prefix, never wrong bytes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: 1_000_000 }), fc.nat({ max: 7 }), async (pos, bit) => {
        const bad = Buffer.from(stream);
        const at = pos % bad.length;
        bad[at] ^= 1 << bit;
        const { out, err } = await throughSettled(bad, createDecoder({ threads: 1 }));
        assert.ok(err, `flip at ${at}.${bit} was not detected`);
        assert.match(String(err.code), /^PP_ERR_/);
        assert.ok(original.subarray(0, out.length).equals(out));
        assert.ok(boundaries.has(out.length));
      }),
      { numRuns: 150, seed: 42 },
    );
  });

  it('refuses unknown versions and foreign data', async () => {
    const v2 = Buffer.from(stream);
    v2[4] = 2;
    let r = await throughSettled(v2, createDecoder({ threads: 1 }));
    assert.ok(r.err?.code === 'PP_ERR_CHECKSUM' || r.err?.code === 'PP_ERR_VERSION');
    r = await throughSettled(Buffer.from('hello, this is not a pagepress stream'), createDecoder({ threads: 1 }));
    assert.equal(r.err?.code, 'PP_ERR_MAGIC');
    assert.equal(r.err?.offset, 0);
  });

  it('refuses stream headers asking for more memory than the decoder allows', async () => {
    const big = await through(memoryLike(4, 1), createEncoder({ batchPages: 4096 }));
    const r = await throughSettled(big, createDecoder({ threads: 1, maxBatchBytes: 1 << 20 }));
    assert.equal(r.err?.code, 'PP_ERR_LIMIT');
    const cached = await through(memoryLike(4, 1), createEncoder({ cacheSlots: 1 << 15 }));
    const r2 = await throughSettled(cached, createDecoder({ threads: 1, maxCacheBytes: 64 << 20 }));
    assert.equal(r2.err?.code, 'PP_ERR_LIMIT');
    assert.equal(r2.err?.offset, 12);
  });
});
