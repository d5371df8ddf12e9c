/**
 * Long-range streams (docs/FORMAT.md 2.9): every frame a block of one zstd stream with
 * long-distance matching. Round trips through every path, content repeated further back
 * than a batch found, and hostile headers and blocks refused with typed errors.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BatchDecoder, BatchEncoder, createDecoder, createEncoder, decodeFd, encodeFd, SyncBatchCodec } from '../../lib';
import { addon } from '../../lib/native';
import { decodeFrameHeader, decodeStreamHeader, frameSeed, streamHeaderLength, writeFrameHeader } from '../../lib/format/frame';
import { FRAME_HEADER_BYTES, FrameType, STREAM_HEADER_BYTES } from '../../lib/format/constants';
import { inspectStream } from '../../lib/format/inspect';
import { memoryLike, randomBytes, through, throughSettled } from '../helpers';

/** 8 MiB of random-looking pages, then the same 8 MiB again: a repeat 2048 pages back, beyond any batch. */
function farRepeat(): Buffer {
  const half = Buffer.from(randomBytes(8 << 20, 77));
  return Buffer.concat([half, half, memoryLike(40, 5, 4096, 333)]);
}

function frames(b: Buffer): Array<{ at: number; len: number; type: number }> {
  const s = decodeStreamHeader(b);
  const out = [];
  let at = streamHeaderLength(b);
  for (let i = 0; ; i++) {
    const h = decodeFrameHeader(b.subarray(at, at + FRAME_HEADER_BYTES), s, at, i);
    out.push({ at, len: FRAME_HEADER_BYTES + h.bodyLength, type: h.type });
    if (h.type === FrameType.END) return out;
    at += FRAME_HEADER_BYTES + h.bodyLength;
  }
}

describe('long-range streams', function () {
  this.timeout(120_000);
  const input = farRepeat();
  let long: Buffer;

  before(async () => {
    long = await through(input, createEncoder({ threads: 2, longWindowLog: 24 }));
  });

  it('finds a repeat 8 MiB back (a per-batch codec cannot) and round-trips through the Transform at 1 and 2 threads', async () => {
    const plain = await through(input, createEncoder({ threads: 2 }));
    assert.ok(long.length < plain.length * 0.6, `long ${long.length} vs plain ${plain.length}`);
    assert.equal(decodeStreamHeader(long).longWindowLog, 24);
    for (const threads of [1, 2]) assert.ok((await through(long, createDecoder({ threads }))).equals(input));
  });

  it('round-trips between files (encodeFd/decodeFd), and inspect reads it', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pp-long-'));
    try {
      const src = path.join(dir, 'in'),
        mid = path.join(dir, 'mid'),
        dst = path.join(dir, 'out');
      fs.writeFileSync(src, input);
      const inFd = fs.openSync(src, 'r'),
        midFd = fs.openSync(mid, 'w');
      await encodeFd(inFd, midFd, { threads: 2, longWindowLog: 24 });
      fs.closeSync(inFd);
      fs.closeSync(midFd);
      const midIn = fs.openSync(mid, 'r'),
        outFd = fs.openSync(dst, 'w');
      await decodeFd(midIn, outFd, { threads: 2 });
      fs.closeSync(midIn);
      fs.closeSync(outFd);
      assert.ok(fs.readFileSync(dst).equals(input));
      const report = await inspectStream(mid);
      assert.equal(report.totals.rawBytes, input.length);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the batch API: BatchEncoder frames decode in order with BatchDecoder given its stream header; SyncBatchCodec refuses it', async () => {
    const enc = new BatchEncoder({ threads: 2, longWindowLog: 22, cacheSlots: 64 });
    const dec = new BatchDecoder({ streamHeader: enc.streamHeader, threads: 2 });
    try {
      const pages = memoryLike(64, 9);
      for (let round = 0; round < 3; round++) {
        const frame = await enc.encode(
          pages,
          Array.from({ length: 64 }, (_x, i) => i),
        );
        assert.ok((await dec.decode(frame)).pages.equals(pages));
      }
    } finally {
      await enc.close();
      await dec.close();
    }
    assert.throws(() => new SyncBatchCodec({ longWindowLog: 22 }), { code: 'PP_ERR_ARG' });
    assert.throws(() => createEncoder({ codec: 'lz4', longWindowLog: 22 }), { code: 'PP_ERR_ARG' });
    assert.throws(() => createEncoder({ longWindowLog: 31 }), { code: 'PP_ERR_ARG' });
  });

  it('a header asking for a window past 2^30 is refused before anything is allocated', async () => {
    const b = Buffer.from(long);
    b.writeUInt32LE(31, 24);
    b.writeUInt32LE(addon.crc32c(b.subarray(0, STREAM_HEADER_BYTES - 4)), STREAM_HEADER_BYTES - 4);
    const r = await throughSettled(b, createDecoder({ threads: 1 }));
    assert.equal(r.err?.code, 'PP_ERR_LIMIT');
    assert.equal(r.err?.offset, 24);
  });

  it('blocks need the window the header states: a smaller declared window is a codec error, not wrong output', async () => {
    // Re-declare the stream with a 1 MiB window (all CRCs recomputed): the 8 MiB-back matches cannot be followed.
    const b = Buffer.from(long);
    const s = decodeStreamHeader(b);
    const smaller = { ...s, longWindowLog: 20 };
    const { encodeStreamHeader } = await import('../../lib/format/frame');
    encodeStreamHeader(smaller).copy(b, 0);
    for (const f of frames(long)) {
      const h = decodeFrameHeader(b.subarray(f.at, f.at + FRAME_HEADER_BYTES), s, f.at, 0);
      writeFrameHeader(b, f.at, h, frameSeed(smaller));
    }
    const r = await throughSettled(b, createDecoder({ threads: 2 }));
    assert.equal(r.err?.code, 'PP_ERR_CODEC');
    assert.ok(r.out.equals(input.subarray(0, r.out.length)), 'output is a prefix of the original');
  });

  it('a block out of its place is refused before it is decoded; a block that is not zstd is refused by its header', async () => {
    const f = frames(long).filter((x) => x.type === FrameType.BATCH);
    const parts = [long.subarray(0, f[0].at), long.subarray(f[1].at, f[1].at + f[1].len), long.subarray(f[0].at, f[0].at + f[0].len), long.subarray(f[2].at)];
    const r = await throughSettled(Buffer.concat(parts), createDecoder({ threads: 2 }));
    assert.equal(r.err?.code, 'PP_ERR_FORMAT');
    assert.equal(r.out.length, 0);
    const b = Buffer.from(long);
    const s = decodeStreamHeader(b);
    const h = decodeFrameHeader(b.subarray(f[1].at, f[1].at + FRAME_HEADER_BYTES), s, f[1].at, 1);
    writeFrameHeader(b, f[1].at, { ...h, codec: 0 }, frameSeed(s));
    const r2 = await throughSettled(b, createDecoder({ threads: 2 }));
    assert.equal(r2.err?.code, 'PP_ERR_FORMAT');
    assert.match(r2.err.message, /long-range stream/);
    assert.equal(r2.out.length, f[1].at > 0 ? 4 << 20 : 0);
  });

  it("codec 'auto' means zstd in a long-range stream (fuzz finding: the encoder had no codec for it)", async () => {
    for (const codec of ['auto', 'zstd'] as const) {
      const out = await through(input, createEncoder({ codec, threads: 2, longWindowLog: 24 }));
      assert.equal(decodeStreamHeader(out).longWindowLog, 24);
      assert.ok((await through(out, createDecoder({ threads: 2 }))).equals(input), codec);
    }
  });

  it('incompressible input grows by less than 0.5 %', async () => {
    const noise = Buffer.from(randomBytes(6 << 20, 99));
    const out = await through(noise, createEncoder({ threads: 2, longWindowLog: 22 }));
    assert.ok(out.length < noise.length * 1.005, `${out.length} bytes for ${noise.length}`);
    assert.ok((await through(out, createDecoder({ threads: 2 }))).equals(noise));
  });
});
