import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createDecoder, createEncoder, encodeFd, decodeFd, CODEC_CHOICES } from '../../lib';
import { memoryLike, through, withStreamId } from '../helpers';
import { END_BODY_BYTES, FRAME_HEADER_BYTES } from '../../lib/format/constants';

const codecs = CODEC_CHOICES;

describe('stream round trip', () => {
  const data = memoryLike(2500, 7, 4096, 1234);

  for (const codec of codecs) {
    it(`is byte-exact with codec ${codec}, 1 and 2 threads`, async () => {
      for (const threads of [1, 2]) {
        const enc = await through([data.subarray(0, 777_777), data.subarray(777_777)], createEncoder({ codec, threads }));
        assert.ok(enc.length < data.length, 'stream is smaller than the input');
        const dec = await through(enc, createDecoder({ threads }));
        assert.ok(dec.equals(data), `${codec}/${threads}: decoded bytes differ`);
      }
    });
  }

  it('handles empty input, one byte, one page, and page sizes from 512 to 64 KiB', async () => {
    for (const input of [Buffer.alloc(0), Buffer.from([42]), memoryLike(1, 3)]) {
      const dec = await through(await through(input, createEncoder()), createDecoder());
      assert.ok(dec.equals(input));
    }
    for (const pageSize of [512, 8192, 65536]) {
      const input = memoryLike(40, 9, pageSize, 17);
      const dec = await through(await through(input, createEncoder({ pageSize, batchPages: 16 })), createDecoder());
      assert.ok(dec.equals(input), `page size ${pageSize}`);
    }
  });

  it('keeps input order with many small batches in flight', async () => {
    const input = memoryLike(600, 11);
    const enc = await through(input, createEncoder({ batchPages: 3, threads: 2, window: 8 }));
    const dec = await through(enc, createDecoder({ threads: 2, window: 3 }));
    assert.ok(dec.equals(input));
  });

  it('encodes and decodes between file descriptors (the CLI fast path)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pp-fd-'));
    try {
      const src = path.join(dir, 'in'),
        mid = path.join(dir, 'mid'),
        dst = path.join(dir, 'out');
      fs.writeFileSync(src, data);
      const inFd = fs.openSync(src, 'r'),
        midFd = fs.openSync(mid, 'w');
      const totals = await encodeFd(inFd, midFd, { threads: 2 });
      fs.closeSync(inFd);
      fs.closeSync(midFd);
      assert.equal(totals.rawBytes, data.length);
      assert.equal(totals.streamBytes + FRAME_HEADER_BYTES + END_BODY_BYTES, fs.statSync(mid).size); // + the END frame
      const midIn = fs.openSync(mid, 'r'),
        outFd = fs.openSync(dst, 'w');
      const r = await decodeFd(midIn, outFd, { threads: 2 });
      fs.closeSync(midIn);
      fs.closeSync(outFd);
      assert.equal(r.end.rawBytes, data.length);
      assert.ok(fs.readFileSync(dst).equals(data));
      // The same stream as the Transform makes, byte for byte.
      assert.ok(withStreamId(fs.readFileSync(mid)).equals(withStreamId(await through(data, createEncoder({ threads: 1 })))));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('decodes into a regular file with holes for zero pages, and exact contents', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pp-sparse-'));
    try {
      const input = Buffer.alloc(8 << 20); // 2048 pages, mostly zero
      input.set(memoryLike(64, 5), 1 << 20);
      input.set(memoryLike(3, 6), (8 << 20) - 3 * 4096 - 100); // data near the end, then a zero tail
      const src = path.join(dir, 'in.pp'),
        dst = path.join(dir, 'out');
      fs.writeFileSync(src, await through(input, createEncoder({ threads: 2 })));
      const inFd = fs.openSync(src, 'r'),
        outFd = fs.openSync(dst, 'w');
      await decodeFd(inFd, outFd, { threads: 2 });
      fs.closeSync(inFd);
      fs.closeSync(outFd);
      assert.ok(fs.readFileSync(dst).equals(input));
      const st = fs.statSync(dst);
      assert.equal(st.size, input.length);
      assert.ok(st.blocks * 512 < input.length / 2, `expected holes: ${st.blocks * 512} bytes allocated for ${input.length}`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("decodes into a regular file when batches end in short pages mid-stream (workers' positions corrected)", async () => {
    // An input that pauses mid-page makes batches whose last page is short; the workers
    // write every batch where it would go if all before it were full, so each batch after
    // the first short one lands in the wrong place and the main thread writes it again,
    // zero pages included (decode-engine.ts). The file must come out exact anyway.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pp-short-'));
    try {
      const parts: Buffer[] = [];
      for (let k = 0; k < 6; k++) {
        const part = Buffer.alloc(3 * 4096 + 1000 + 517 * k); // ends mid-page
        part.set(memoryLike(2, 20 + k), 4096); // page 1 has data, pages 0 and 2 are zero
        part.fill(k + 1, part.length - 300);
        parts.push(part);
      }
      const input = Buffer.concat(parts);
      const encoder = createEncoder({ threads: 2, batchPages: 2, flushDelayMs: 1 });
      const frames: Buffer[] = [];
      encoder.on('data', (c: Buffer) => frames.push(c));
      for (const part of parts) {
        encoder.write(part);
        await new Promise((r) => setTimeout(r, 40)); // a pause: the encoder flushes mid-page
      }
      encoder.end();
      await new Promise((r) => encoder.on('end', r));
      assert.ok(encoder.totals.frames >= 12, `${encoder.totals.frames} frames`);
      const src = path.join(dir, 'in.pp'),
        dst = path.join(dir, 'out');
      fs.writeFileSync(src, Buffer.concat(frames));
      for (const threads of [1, 2]) {
        fs.writeFileSync(dst, Buffer.alloc(0));
        const inFd = fs.openSync(src, 'r'),
          outFd = fs.openSync(dst, 'w');
        await decodeFd(inFd, outFd, { threads });
        fs.closeSync(inFd);
        fs.closeSync(outFd);
        assert.ok(fs.readFileSync(dst).equals(input), `${threads} threads: decoded file differs`);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('classifies zero and repeated pages (page kinds are counted)', async () => {
    const input = Buffer.alloc(64 * 4096);
    input.fill(7, 4096, 8192);
    input.fill(7, 3 * 4096, 4 * 4096);
    const encoder = createEncoder({ batchPages: 64 });
    await through(input, encoder);
    assert.deepEqual(encoder.totals.kinds, [62, 1, 1, 0, 0]);
  });
});
