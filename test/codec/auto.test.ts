import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AutoCodec } from '../../lib/codec/auto';
import { lz4, none, zstd } from '../../lib/codec/registry';
import { createDecoder, createEncoder } from '../../lib';
import { memoryLike, through } from '../helpers';

describe('auto codec', () => {
  it('starts with zstd, and keeps it while the output is the bottleneck and zstd pays', () => {
    const auto = new AutoCodec();
    for (let i = 0; i < 40; i++) {
      const c = auto.choose(undefined);
      assert.equal(c.codec, zstd.id, `batch ${i}`);
      auto.observe({ codec: c.codec, rawLength: 4 << 20, bodyLength: 1 << 20, outputBound: true });
    }
  });

  it('moves to lz4 for high-entropy batches, to none when lz4 does not shrink them, and re-probes zstd', () => {
    const auto = new AutoCodec();
    const seen: number[] = [];
    for (let i = 0; i < 48; i++) {
      const c = auto.choose(undefined);
      seen.push(c.codec);
      auto.observe({ codec: c.codec, rawLength: 1000, bodyLength: c.codec === none.id ? 1000 : 995, outputBound: true });
    }
    assert.ok(seen.slice(10).includes(none.id), 'stores incompressible batches');
    assert.ok(seen.slice(10).filter((c) => c === zstd.id).length >= 2, 're-probes zstd now and then');
    assert.ok(seen.slice(10).filter((c) => c === zstd.id).length <= 4, 'but rarely');
  });

  it('prefers lz4 when the workers, not the output, are the bottleneck', () => {
    const auto = new AutoCodec();
    const seen: number[] = [];
    for (let i = 0; i < 30; i++) {
      const c = auto.choose(undefined);
      seen.push(c.codec);
      auto.observe({ codec: c.codec, rawLength: 4 << 20, bodyLength: 1 << 20, outputBound: false });
    }
    assert.ok(seen.slice(15).filter((c) => c === lz4.id).length >= 12, `late choices ${seen.slice(15)}`);
  });

  // The Transform encoder copies each frame out and releases its slot at once, so the
  // stream (not the slot count) must tell `auto` that the consumer is the slow part.
  for (const [name, delayMs, expect] of [
    ['a slow consumer (a slow link): mostly zstd', 15, 'zstd'],
    ['a consumer that keeps up: mostly lz4', 0, 'lz4'],
  ] as const) {
    it(`createEncoder with auto, ${name}`, async () => {
      const encoder = createEncoder({ codec: 'auto', threads: 2 });
      const out: Buffer[] = [];
      await pipeline(
        Readable.from([memoryLike(24 * 1024, 3)]),
        encoder,
        new Writable({
          highWaterMark: 1,
          write(chunk: Buffer, _e, cb) {
            out.push(chunk);
            if (delayMs) setTimeout(cb, delayMs);
            else cb();
          },
        }),
      );
      const c = encoder.totals.codecs;
      const other = expect === 'zstd' ? 'lz4' : 'zstd';
      // (The first batches find the output buffer empty either way.)
      assert.ok((c[expect] ?? 0) >= 1.5 * (c[other] ?? 0), `codecs used: ${JSON.stringify(c)}`);
      assert.ok((await through(Buffer.concat(out), createDecoder())).equals(memoryLike(24 * 1024, 3)));
    });
  }

  it('round-trips a stream that switches codecs as its content changes', async () => {
    const input = Buffer.concat([memoryLike(2048, 1), crypto.randomBytes(16 << 20), memoryLike(2048, 2)]);
    const encoder = createEncoder({ codec: 'auto', threads: 2 });
    const encoded = await through(input, encoder);
    assert.ok(Object.keys(encoder.totals.codecs).length >= 2, `codecs used: ${JSON.stringify(encoder.totals.codecs)}`);
    assert.ok((await through(encoded, createDecoder())).equals(input));
  });
});
