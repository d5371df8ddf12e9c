import * as assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { PassThrough, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createDecoder, createEncoder } from '../../lib';
import { memoryLike, through } from '../helpers';
import { XenEncoder } from '../../lib/xen/filter';
import { collect, XenWriter } from '../../lib/xen/writer';
import { LibxcRec, PageType } from '../../lib/xen/constants';

function randomPages(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n * 4096);
  let x = seed >>> 0;
  for (let i = 0; i < b.length; i += 4) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    b.writeUInt32LE(x, i);
  }
  return b;
}

/** The start of a libxc v3 HVM stream, up to its first PAGE_DATA. */
function libxcHead(): Buffer {
  return collect((emit) => new XenWriter(emit).libxcImageHeader(3).libxcDomainHeader(2, 4, 17).libxcRecord(LibxcRec.STATIC_DATA_END));
}

/** One PAGE_DATA record of `pages` at pfns first.. (offsets of the writer restart at 0: it is 8-aligned anyway). */
function pageRecord(pages: Buffer, first: number): Buffer {
  const entries = Array.from({ length: pages.length / 4096 }, (_, i) => ({ pfn: first + i, type: PageType.NOTAB }));
  return collect((emit) => new XenWriter(emit).pageData(entries, pages));
}

describe('stream behaviour', () => {
  it('never waits for EOF: a small write comes out of encoder+decoder promptly', async () => {
    const input = new PassThrough();
    const encoder = createEncoder({ threads: 1 });
    const decoder = createDecoder({ threads: 1 });
    input.pipe(encoder).pipe(decoder);
    const received: Buffer[] = [];
    const arrived = (n: number) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${Buffer.concat(received).length} of ${n} bytes within 1 s`)), 1000);
        const check = () => {
          if (Buffer.concat(received).length >= n) {
            clearTimeout(timer);
            decoder.off('data', onData);
            resolve();
          }
        };
        const onData = (c: Buffer) => {
          received.push(c);
          check();
        };
        decoder.on('data', onData);
      });
    const hello = Buffer.from('xl migrate handshake: ready\n');
    let wait = arrived(hello.length);
    input.write(hello);
    await wait;
    const more = memoryLike(3, 2);
    wait = arrived(hello.length + more.length);
    input.write(more);
    await wait;
    assert.ok(Buffer.concat(received).equals(Buffer.concat([hello, more])));
    input.end();
    await new Promise((r) => decoder.on('end', r).resume());
  });

  it('keeps the event loop responsive while encoding at full speed (p99 < 20 ms)', async function () {
    this.timeout(60_000);
    const block = memoryLike(1024, 4);
    const h = monitorEventLoopDelay({ resolution: 1 });
    let sent = 0;
    const total = 96; // 384 MiB
    const source = new Readable({
      read() {
        this.push(sent++ < total ? block : null);
      },
    });
    h.enable();
    await pipeline(source, createEncoder({ threads: 2 }), new Writable({ write: (_c, _e, cb) => cb() }));
    h.disable();
    const p99 = h.percentile(99) / 1e6;
    assert.ok(p99 < 20, `event-loop delay p99 ${p99.toFixed(1)} ms`);
  });

  it('a consumer that stops reading stops the input: memory stays bounded (frames are pushed after the write callbacks)', async function () {
    this.timeout(10000);
    for (const encoder of [createEncoder({ threads: 2, window: 4 }), new XenEncoder({ threads: 2, window: 4, format: 'libxc' })]) {
      const xen = encoder instanceof XenEncoder;
      // Random pages barely compress, so every frame is about as large as its batch.
      const block = randomPages(256, 31); // 1 MiB
      let accepted = 0;
      const writeOne = (chunk: Uint8Array) => new Promise<void>((resolve, reject) => encoder.write(chunk, (err) => (err ? reject(err) : resolve())));
      const feeding = (async () => {
        if (xen) await writeOne(libxcHead());
        for (let i = 0; i < 400; i++) {
          await writeOne(xen ? pageRecord(block, i * 256) : block);
          accepted++;
        }
      })();
      feeding.catch(() => {});
      await new Promise((r) => setTimeout(r, 1500)); // nobody reads
      assert.ok(accepted < 100, `${xen ? 'xen' : 'raw'}: ${accepted} MiB accepted while nobody read`);
      assert.ok(encoder.readableLength < 48 * 1024 * 1024, `${xen ? 'xen' : 'raw'}: ${encoder.readableLength} bytes buffered`);
      encoder.destroy();
    }
  });

  it('applies backpressure: a stalled consumer bounds what the encoder holds', async () => {
    const encoder = createEncoder({ threads: 2, window: 4, batchPages: 64 });
    const block = memoryLike(64, 8);
    let written = 0;
    // Nobody reads the encoder: writes must stop being accepted after a bounded amount.
    for (let i = 0; i < 200; i++) {
      const ok = encoder.write(block);
      written++;
      if (!ok) break;
    }
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(written < 200, 'the encoder accepted everything without backpressure');
    assert.ok(encoder.writableLength + encoder.readableLength < 64 * 1024 * 1024);
    encoder.destroy();
  });
});

describe('paused input', () => {
  it('stays on the page grid after a flush in the middle of a page', async () => {
    const input = new PassThrough();
    const encoder = createEncoder({ threads: 1, flushDelayMs: 1 });
    const frames: Buffer[] = [];
    encoder.on('data', (c: Buffer) => frames.push(c));
    input.pipe(encoder);
    // 100 bytes, a pause (the encoder flushes), then 3 zero pages' worth of bytes.
    input.write(Buffer.alloc(100, 1));
    await new Promise((r) => setTimeout(r, 50));
    input.end(Buffer.alloc(3 * 4096 - 100));
    await new Promise((r) => encoder.on('end', r));
    // Batches: [100 bytes], [rest of page 0: 3996 bytes], [pages 1 and 2, both zero].
    assert.equal(encoder.totals.frames, 3);
    assert.deepEqual(encoder.totals.kinds.slice(0, 2), [3, 1]);
    const decoded = await through(Buffer.concat(frames), createDecoder({ threads: 1 }));
    assert.ok(decoded.equals(Buffer.concat([Buffer.alloc(100, 1), Buffer.alloc(3 * 4096 - 100)])));
  });
});
