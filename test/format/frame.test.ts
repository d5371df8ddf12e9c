import * as assert from 'node:assert/strict';
import { createDecoder, createEncoder } from '../../lib';
import { addon } from '../../lib/native';
import { decodeFrameHeader, decodeStreamHeader, encodeEndFrame, encodeStreamHeader, frameSeed, writeFrameHeader, FrameHeader, StreamHeader } from '../../lib/format/frame';
import { END_BODY_BYTES, FRAME_HEADER_BYTES, FrameType, imageBound, STREAM_HEADER_BYTES } from '../../lib/format/constants';
import { memoryLike, through, throughSettled } from '../helpers';

const stream: StreamHeader = { version: 2, flags: 1, pageSize: 4096, cacheSlots: 0, batchPages: 16, streamId: 0x1234n };
encodeStreamHeader(stream); // sets stream.crc
const END_FRAME_BYTES = FRAME_HEADER_BYTES + END_BODY_BYTES;

/** A frame header with a valid CRC, so validation gets past the checksum to the rule under test. */
function header(h: Partial<FrameHeader>, s: StreamHeader = stream): Buffer {
  const b = Buffer.alloc(FRAME_HEADER_BYTES);
  writeFrameHeader(b, 0, { type: FrameType.BATCH, codec: 0, flags: 0, rawLength: 200, bodyLength: 200, pages: 1, outLength: 4096, seq: 0, outOffset: 0, bodyCrc: 0, ...h }, frameSeed(s));
  return b;
}

/** A stream header whose CRC is recomputed after `edit`. */
function streamHeader(edit: (b: Buffer) => void): Buffer {
  const b = encodeStreamHeader({ ...stream });
  edit(b);
  b.writeUInt32LE(addon.crc32c(b.subarray(0, STREAM_HEADER_BYTES - 4)), STREAM_HEADER_BYTES - 4);
  return b;
}

describe('frame layer validation (hand-built headers)', () => {
  it('stream header: each rule gives its code and offset', () => {
    const cases: Array<[string, (b: Buffer) => void, string, number]> = [
      ['version 3', (b) => b.writeUInt8(3, 4), 'PP_ERR_VERSION', 4],
      ['unknown feature bit', (b) => b.writeUInt32LE(0x100, 24), 'PP_ERR_FORMAT', 24],
      ['long-range window 2^19', (b) => b.writeUInt32LE(19, 24), 'PP_ERR_LIMIT', 24],
      ['long-range window 2^31', (b) => b.writeUInt32LE(31, 24), 'PP_ERR_LIMIT', 24],
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
    assert.throws(() => decodeStreamHeader(encodeStreamHeader({ ...stream }).subarray(0, 31)), { code: 'PP_ERR_TRUNCATED' });
    const bad = encodeStreamHeader({ ...stream });
    bad[9] ^= 1; // page size bit, CRC not updated
    assert.throws(() => decodeStreamHeader(bad), { code: 'PP_ERR_CHECKSUM', offset: 28 });
    // A version 1 header still reads, with its own layout.
    const v1 = decodeStreamHeader(encodeStreamHeader({ version: 1, flags: 1, pageSize: 4096, cacheSlots: 0, batchPages: 16 }));
    assert.equal(v1.version, 1);
    assert.equal(v1.batchPages, 16);
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
      ['END with pages', { type: FrameType.END, rawLength: 40, bodyLength: 40, pages: 1, outLength: 0 }, 'PP_ERR_FORMAT'],
      ['END with a codec', { type: FrameType.END, codec: 3, rawLength: 40, bodyLength: 40, pages: 0, outLength: 0 }, 'PP_ERR_FORMAT'],
      ['END that decodes to bytes', { type: FrameType.END, rawLength: 40, bodyLength: 40, pages: 0, outLength: 1 }, 'PP_ERR_FORMAT'],
      ['1 page decoding to 4097 bytes', { outLength: 4097 }, 'PP_ERR_FORMAT'],
      ['2 pages decoding to 4096 bytes', { pages: 2, outLength: 4096 }, 'PP_ERR_FORMAT'],
    ];
    for (const [name, h, code] of cases) {
      assert.throws(() => decodeFrameHeader(header(h), stream, 1234, 5), { code, offset: 1234, frame: 5 }, name);
    }
    const flipped = header({});
    flipped[4] ^= 1;
    assert.throws(() => decodeFrameHeader(flipped, stream, 20, 0), { code: 'PP_ERR_CHECKSUM', offset: 20 });
    // A header valid in another stream (another id) fails its CRC here.
    const other: StreamHeader = { ...stream, streamId: 0x1235n };
    encodeStreamHeader(other);
    assert.throws(() => decodeFrameHeader(header({}, other), stream, 32, 0), { code: 'PP_ERR_CHECKSUM', message: /another stream/ });
  });

  it('an lz4 body claiming 1 GiB is refused before lz4-napi allocates anything', async () => {
    // 6-byte lz4 body whose size prefix claims 1 GiB; the frame says the image is 200 bytes.
    const body = Buffer.from([0x00, 0x00, 0x00, 0x40, 0x10, 0x41]);
    const frame = Buffer.concat([header({ codec: 2, rawLength: 200, bodyLength: body.length, bodyCrc: addon.crc32c(body) }), body]);
    const input = Buffer.concat([encodeStreamHeader({ ...stream }), frame, encodeEndFrame({ frames: 1, pages: 1, rawBytes: 4096, streamBytes: 50, digest: 0 }, frameSeed(stream))]);
    const before = process.memoryUsage().rss;
    const { err } = await throughSettled(input, createDecoder({ threads: 1 }));
    assert.equal(err?.code, 'PP_ERR_CODEC');
    assert.match(err.message, /size prefix says 1073741824 bytes, frame header says 200/);
    assert.ok(process.memoryUsage().rss - before < 256 * 1024 * 1024, 'no 1 GiB allocation');
  });

  it('END totals that do not match what was decoded are refused', async () => {
    const good = await through(memoryLike(20, 3), createEncoder({ batchPages: 16, threads: 1 }));
    const s = decodeStreamHeader(good);
    for (const [name, edit] of [
      ['one page more', (body: Buffer) => body.writeBigUInt64LE(body.readBigUInt64LE(8) + 1n, 8)],
      ['another digest', (body: Buffer) => body.writeUInt32LE((body.readUInt32LE(32) ^ 1) >>> 0, 32)],
    ] as const) {
      const end = good.subarray(good.length - END_FRAME_BYTES);
      const tampered = Buffer.from(good);
      const body = Buffer.from(end.subarray(FRAME_HEADER_BYTES));
      edit(body);
      const hdr = Buffer.from(end.subarray(0, FRAME_HEADER_BYTES));
      writeFrameHeader(hdr, 0, { type: 2, codec: 0, flags: 0, rawLength: 40, bodyLength: 40, pages: 0, outLength: 0, seq: 2, outOffset: 20 * 4096, bodyCrc: addon.crc32c(body) }, frameSeed(s));
      Buffer.concat([hdr, body]).copy(tampered, good.length - END_FRAME_BYTES);
      const { out, err } = await throughSettled(tampered, createDecoder({ threads: 1 }));
      assert.equal(err?.code, 'PP_ERR_FORMAT', name);
      assert.equal(err?.offset, good.length - END_FRAME_BYTES, name);
      assert.equal(out.length, 20 * 4096, name);
    }
  });

  it('a stream with frames but no END is truncated; a stream of only a header too', async () => {
    const good = await through(memoryLike(20, 3), createEncoder({ batchPages: 16, threads: 1 }));
    let r = await throughSettled(good.subarray(0, good.length - END_FRAME_BYTES), createDecoder({ threads: 1 }));
    assert.equal(r.err?.code, 'PP_ERR_TRUNCATED');
    r = await throughSettled(good.subarray(0, STREAM_HEADER_BYTES), createDecoder({ threads: 1 }));
    assert.equal(r.err?.code, 'PP_ERR_TRUNCATED');
    assert.equal(r.err?.offset, STREAM_HEADER_BYTES);
  });
});
