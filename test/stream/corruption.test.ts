import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { CODEC_CHOICES, CodecChoice, createDecoder, createEncoder, decodeFd } from '../../lib';
import { memoryLike, through, throughSettled } from '../helpers';
import { addon } from '../../lib/native';
import { STREAM_HEADER_BYTES } from '../../lib/format/constants';

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
    const v3 = Buffer.from(stream);
    v3[4] = 3; // CRC not updated: damage
    let r = await throughSettled(v3, createDecoder({ threads: 1 }));
    assert.equal(r.err?.code, 'PP_ERR_CHECKSUM');
    v3.writeUInt32LE(addon.crc32c(v3.subarray(0, STREAM_HEADER_BYTES - 4)), STREAM_HEADER_BYTES - 4); // a real version 3 header
    r = await throughSettled(v3, createDecoder({ threads: 1 }));
    assert.equal(r.err?.code, 'PP_ERR_VERSION');
    assert.equal(r.err?.offset, 4);
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

  it('mutated streams of every codec, page size and batch size, through the Transform and decodeFd: exact bytes, or a typed error and a prefix', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pagepress-mutate-'));
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bits: fc.array(fc.nat({ max: 7 }), { minLength: 1, maxLength: 4 }) }),
      fc.record({ kind: fc.constant('overwrite' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
      fc.record({ kind: fc.constant('u32' as const), at: fc.nat(), value: fc.constantFrom(0, 1, 4096, 1 << 20, 0x7fffffff, 0x80000000, 0xffffffff) }),
      fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 64 }) }),
      fc.record({ kind: fc.constant('repeat' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 64 }) }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
    );
    type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;
    const apply = (s: Buffer, m: Mutation): Buffer => {
      const at = m.at % s.length;
      switch (m.kind) {
        case 'flip': {
          const b = Buffer.from(s);
          m.bits.forEach((bit, i) => {
            b[(at + i * 977) % b.length] ^= 1 << bit;
          });
          return b;
        }
        case 'overwrite': {
          const b = Buffer.from(s);
          b.set(m.bytes.subarray(0, b.length - at), at);
          return b;
        }
        case 'u32': {
          const b = Buffer.from(s);
          if (at + 4 <= b.length) b.writeUInt32LE(m.value, at);
          else b[at] ^= 0xff;
          return b;
        }
        case 'delete':
          return Buffer.concat([s.subarray(0, at), s.subarray(at + m.length)]);
        case 'repeat':
          return Buffer.concat([s.subarray(0, at + m.length), s.subarray(at)]);
        case 'insert':
          return Buffer.concat([s.subarray(0, at), Buffer.from(m.bytes), s.subarray(at)]);
        case 'truncate':
          return s.subarray(0, at);
      }
    };
    const viaFile = async (stream: Buffer, threads: number, n: number): Promise<{ out: Buffer; err: (Error & { code?: string }) | null }> => {
      const inPath = path.join(dir, `in-${n}`);
      const outPath = path.join(dir, `out-${n}`);
      fs.writeFileSync(inPath, stream);
      const inFd = fs.openSync(inPath, 'r');
      const outFd = fs.openSync(outPath, 'w');
      let err: (Error & { code?: string }) | null = null;
      try {
        await decodeFd(inFd, outFd, { threads });
      } catch (e) {
        err = e as Error & { code?: string };
      } finally {
        fs.closeSync(inFd);
        fs.closeSync(outFd);
      }
      const out = fs.readFileSync(outPath);
      fs.rmSync(inPath);
      fs.rmSync(outPath);
      return { out, err };
    };
    let n = 0;
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.record({
            codec: fc.constantFrom<CodecChoice>(...CODEC_CHOICES),
            pageSize: fc.constantFrom(512, 4096),
            batchPages: fc.constantFrom(1, 3, 8),
            pages: fc.integer({ min: 1, max: 24 }),
            tail: fc.integer({ min: 0, max: 511 }),
            seed: fc.nat(),
            threads: fc.constantFrom(1, 2),
            file: fc.boolean(),
          }),
          mutation,
          async (c, m) => {
            const original = memoryLike(c.pages, c.seed, c.pageSize, c.tail);
            const stream = await through(original, createEncoder({ codec: c.codec, pageSize: c.pageSize, batchPages: c.batchPages, threads: 1 }));
            const bad = apply(stream, m);
            const { out, err } = c.file ? await viaFile(bad, c.threads, n++) : await throughSettled(bad, createDecoder({ threads: c.threads }));
            if (!err) {
              assert.ok(out.equals(original), 'decoded without an error, but not the original bytes');
              return;
            }
            assert.match(String(err.code), /^PP_ERR_/, err.message);
            assert.ok(out.length <= original.length && original.subarray(0, out.length).equals(out), `output (${out.length} bytes) is not a prefix of the original`);
          },
        ),
        { numRuns: 120, seed: 20261127 },
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
