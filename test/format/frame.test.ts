import * as assert from 'node:assert/strict';
import { createDecoder, createEncoder } from '../../lib';
import { addon } from '../../lib/native';
import { decodeFrameHeader, decodeStreamHeader, encodeEndFrame, encodeStreamHeader, writeFrameHeader, FrameHeader } from '../../lib/format/frame';
import { FRAME_HEADER_BYTES, FrameType, imageBound } from '../../lib/format/constants';
import { memoryLike, through, throughSettled } from '../helpers';

const stream = { version: 1, flags: 1, pageSize: 4096, cacheSlots: 0, batchPages: 16 };

/** A frame header with a valid CRC, so validation gets past the checksum to the rule under test. */
function header(h: Partial<FrameHeader>): Buffer {
  const b = Buffer.alloc(FRAME_HEADER_BYTES);
  writeFrameHeader(b, 0, { type: FrameType.BATCH, codec: 0, flags: 0, rawLength: 200, bodyLength: 200, pages: 1, bodyCrc: 0, ...h });
  return b;
}

/** A stream header whose CRC is recomputed after `edit`. */
function streamHeader(edit: (b: Buffer) => void): Buffer {
  const b = encodeStreamHeader(stream);
  edit(b);
  b.writeUInt32LE(addon.crc32c(b.subarray(0, 16)), 16);
  return b;
}

describe('frame layer validation (hand-built headers)', () => {
  it('stream header: each rule gives its code and offset', () => {
    const cases: Array<[string, (b: Buffer) => void, string, number]> = [
      ['version 2', (b) => b.writeUInt8(2, 4), 'PP_ERR_VERSION', 4],
      ['unknown flag', (b) => b.writeUInt8(0x81, 5), 'PP_ERR_FORMAT', 5],
      ['batch size 0', (b) => b.writeUInt16LE(0, 6), 'PP_ERR_LIMIT', 6],
      ['batch size 4097', (b) => b.writeUInt16LE(4097, 6), 'PP_ERR_LIMIT', 6],
      ['page size 3000', (b) => b.writeUInt32LE(3000, 8), 'PP_ERR_FORMAT', 8],
      ['page size 128 KiB', (b) => b.writeUInt32LE(131072, 8), 'PP_ERR_FORMAT', 8],
      ['cache of 2^23 slots', (b) => b.writeUInt32LE(1 << 23, 12), 'PP_ERR_LIMIT', 12],
    ];
    for (const [name, edit, code, offset] of cases) {
      assert.throws(() => decodeStreamHeader(streamHeader(edit)), { code, offset }, name);
    }
    assert.throws(() => decodeStreamHeader(encodeStreamHeader(stream).subarray(0, 19)), { code: 'PP_ERR_TRUNCATED' });
    const bad = encodeStreamHeader(stream);
    bad[9] ^= 1; // page size bit, CRC not updated
    assert.throws(() => decodeStreamHeader(bad), { code: 'PP_ERR_CHECKSUM', offset: 16 });
  });

  it('frame header: each rule gives its code, frame index and offset', () => {
    const bound = imageBound(1, 4096);
    const cases: Array<[string, Partial<FrameHeader>, string]> = [
      ['unknown type', { type: 7 }, 'PP_ERR_FORMAT'],
      ['flags set', { flags: 1 }, 'PP_ERR_FORMAT'],
      ['unknown codec', { codec: 9 }, 'PP_ERR_FORMAT'],
      ['zero pages', { pages: 0 }, 'PP_ERR_LIMIT'],
      ['more pages than the batch size', { pages: 17 }, 'PP_ERR_LIMIT'],
      ['raw length 0', { rawLength: 0 }, 'PP_ERR_LIMIT'],
      ['raw length above imageBound', { rawLength: bound + 1, bodyLength: 10 }, 'PP_ERR_LIMIT'],
      ['body length above the codec bound', { codec: 0, rawLength: 100, bodyLength: 101 }, 'PP_ERR_LIMIT'],
      ['zstd body above its bound', { codec: 3, rawLength: 100, bodyLength: 10_000 }, 'PP_ERR_LIMIT'],
      ['END with pages', { type: FrameType.END, rawLength: 32, bodyLength: 32, pages: 1 }, 'PP_ERR_FORMAT'],
      ['END with a codec', { type: FrameType.END, codec: 3, rawLength: 32, bodyLength: 32, pages: 0 }, 'PP_ERR_FORMAT'],
    ];
    for (const [name, h, code] of cases) {
      assert.throws(() => decodeFrameHeader(header(h), stream, 1234, 5), { code, offset: 1234, frame: 5 }, name);
    }
    const flipped = header({});
    flipped[4] ^= 1;
    assert.throws(() => decodeFrameHeader(flipped, stream, 20, 0), { code: 'PP_ERR_CHECKSUM', offset: 20 });
  });

  it('an lz4 body claiming 1 GiB is refused before lz4-napi allocates anything', async () => {
    // 6-byte lz4 body whose size prefix claims 1 GiB; the frame says the image is 200 bytes.
    const body = Buffer.from([0x00, 0x00, 0x00, 0x40, 0x10, 0x41]);
    const frame = Buffer.concat([header({ codec: 2, rawLength: 200, bodyLength: body.length, bodyCrc: addon.crc32c(body) }), body]);
    const input = Buffer.concat([encodeStreamHeader(stream), frame, encodeEndFrame({ frames: 1, pages: 1, rawBytes: 1, streamBytes: 50 })]);
    const before = process.memoryUsage().rss;
    const { err } = await throughSettled(input, createDecoder({ threads: 1 }));
    assert.equal(err?.code, 'PP_ERR_CODEC');
    assert.match(err.message, /size prefix says 1073741824 bytes, frame header says 200/);
    assert.ok(process.memoryUsage().rss - before < 256 * 1024 * 1024, 'no 1 GiB allocation');
  });

  it('END totals that do not match what was decoded are refused', async () => {
    const good = await through(memoryLike(20, 3), createEncoder({ batchPages: 16, threads: 1 }));
    const end = good.subarray(good.length - 56);
    const tampered = Buffer.from(good);
    const body = Buffer.from(end.subarray(24));
    body.writeBigUInt64LE(body.readBigUInt64LE(8) + 1n, 8); // one page more
    const hdr = Buffer.from(end.subarray(0, 24));
    writeFrameHeader(hdr, 0, { type: 2, codec: 0, flags: 0, rawLength: 32, bodyLength: 32, pages: 0, bodyCrc: addon.crc32c(body) });
    Buffer.concat([hdr, body]).copy(tampered, good.length - 56);
    const { out, err } = await throughSettled(tampered, createDecoder({ threads: 1 }));
    assert.equal(err?.code, 'PP_ERR_FORMAT');
    assert.equal(err?.offset, good.length - 56);
    assert.equal(out.length, 20 * 4096);
  });

  it('a stream with frames but no END is truncated; a stream of only a header too', async () => {
    const good = await through(memoryLike(20, 3), createEncoder({ batchPages: 16, threads: 1 }));
    let r = await throughSettled(good.subarray(0, good.length - 56), createDecoder({ threads: 1 }));
    assert.equal(r.err?.code, 'PP_ERR_TRUNCATED');
    r = await throughSettled(good.subarray(0, 20), createDecoder({ threads: 1 }));
    assert.equal(r.err?.code, 'PP_ERR_TRUNCATED');
    assert.equal(r.err?.offset, 20);
  });
});
