/** Corrupt and truncated streams: exit 1, one line naming an offset and a PP_ERR code, output a good prefix. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { isPrefix, makeInput, run, tmpDir } from './helpers';

const ERROR_LINE = /^pagepress: decompress: [^\n]*offset \d+[^\n]*\(PP_ERR_[A-Z_]+\)[^\n]*\n$/;

interface FrameInfo {
  offset: number;
  type: string;
  bodyLength: number;
  bytes: number;
}

describe('cli: corrupt and truncated input', function () {
  this.timeout(60000);
  // 512 pages + tail, 64 pages a batch: 9 BATCH frames (8 full, 1 tail-only).
  const input = makeInput(512, 777, 7);
  let stream: Buffer;
  let frames: FrameInfo[];
  /** Decoded bytes at each frame boundary (0, after frame 0, after frame 1 ...). */
  let boundaries: number[];
  const t = tmpDir();
  after(() => t.cleanup());

  before(async () => {
    const c = await run(['compress', '--batch-pages', '64', '-T2'], { input });
    assert.equal(c.code, 0, c.stderr);
    stream = c.stdout;
    fs.writeFileSync(t.file('good.pp'), stream);
    const i = await run(['inspect', '--json', '--frames', t.file('good.pp')]);
    assert.equal(i.code, 0, i.stderr);
    frames = JSON.parse(i.stdout.toString()).frames;
    boundaries = [0];
    for (const f of frames) if (f.type === 'batch') boundaries.push(boundaries[boundaries.length - 1] + f.bytes);
    assert.equal(boundaries[boundaries.length - 1], input.length);
    assert.ok(frames.length >= 9);
  });

  /** Runs decompress on `data` via stdin and via FILE -o OUT; checks exit 1, the message and the prefix. */
  async function expectFailure(data: Buffer, code?: RegExp): Promise<{ pipeOut: Buffer; fileOut: Buffer; stderr: string }> {
    const r = await run(['decompress', '-T2'], { input: data });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, ERROR_LINE);
    if (code) assert.match(r.stderr, code);
    assert.ok(boundaries.includes(r.stdout.length), `output of ${r.stdout.length} bytes does not end at a frame boundary`);
    assert.ok(isPrefix(r.stdout, input), 'output is not a prefix of the original');

    const bad = t.file('bad.pp');
    const out = t.file('bad.out');
    fs.writeFileSync(bad, data);
    fs.rmSync(out, { force: true });
    const f = await run(['decompress', bad, '-o', out, '-T2']);
    assert.equal(f.code, 1, f.stderr);
    assert.match(f.stderr, ERROR_LINE);
    assert.match(f.stderr, /keeps the \d+ bytes decoded before the error/);
    const kept = fs.readFileSync(out);
    assert.ok(boundaries.includes(kept.length), `OUT of ${kept.length} bytes does not end at a frame boundary`);
    assert.ok(isPrefix(kept, input), 'OUT is not a prefix of the original');
    return { pipeOut: r.stdout, fileOut: kept, stderr: r.stderr };
  }

  function flipped(at: number): Buffer {
    const b = Buffer.from(stream);
    b[at] ^= 0x40;
    return b;
  }

  it('a flipped byte in the stream header: magic', async () => {
    const r = await expectFailure(flipped(1), /PP_ERR_MAGIC/);
    assert.equal(r.pipeOut.length, 0);
  });

  it('a flipped byte in the stream header: a field (header checksum)', async () => {
    await expectFailure(flipped(9), /offset 28[^\d].*PP_ERR_CHECKSUM/);
  });

  it('a flipped byte in a frame header', async () => {
    const f = frames[3];
    await expectFailure(flipped(f.offset + 5), new RegExp(`offset ${f.offset}\\b.*PP_ERR_CHECKSUM`));
  });

  it('a flipped byte in a frame body', async () => {
    const f = frames[2];
    await expectFailure(flipped(f.offset + 24 + Math.floor(f.bodyLength / 2)), /PP_ERR_CHECKSUM/);
  });

  it('a corrupt stream decoded with -f over a larger OUT leaves only the good prefix', async () => {
    // A large existing OUT is replaced, its storage freed in the background (io.ts
    // replace()): none of the old bytes may survive, in the holes or past the end.
    const f = frames[2];
    const bad = t.file('bad-f.pp');
    const out = t.file('bad-f.out');
    fs.writeFileSync(bad, flipped(f.offset + 24 + Math.floor(f.bodyLength / 2)));
    fs.writeFileSync(out, Buffer.alloc(20 << 20, 0xaa));
    const r = await run(['decompress', bad, '-o', out, '-f', '-T2']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /PP_ERR_CHECKSUM/);
    const kept = fs.readFileSync(out);
    assert.equal(kept.length, boundaries[2]);
    assert.ok(isPrefix(kept, input), 'OUT is not a prefix of the original');
  });

  it('a flipped byte in the END frame', async () => {
    const end = frames[frames.length - 1];
    await expectFailure(flipped(end.offset + 30), /PP_ERR_CHECKSUM/);
  });

  it('trailing bytes after the END frame', async () => {
    await expectFailure(Buffer.concat([stream, Buffer.from('junk')]), /PP_ERR_TRAILING/);
  });

  it('truncated streams, cut at several offsets including mid-frame', async () => {
    const cuts = [0, 5, 20, 30, frames[1].offset, frames[1].offset + 10, frames[4].offset + 100, frames[frames.length - 1].offset, stream.length - 1];
    for (const cut of cuts) {
      const r = await expectFailure(stream.subarray(0, cut), /PP_ERR_TRUNCATED/);
      assert.match(r.stderr, new RegExp(`offset ${cut}\\b`), `cut at ${cut}: ${r.stderr}`);
    }
  });

  it('keeps every good frame before a truncation or a corrupt frame', async () => {
    const cut = frames[4].offset + 100; // inside frame 4: frames 0..3 are good
    const r = await expectFailure(stream.subarray(0, cut), /PP_ERR_TRUNCATED/);
    assert.equal(r.pipeOut.length, boundaries[4]);
    assert.equal(r.fileOut.length, boundaries[4]);
    const bad = Buffer.from(stream);
    bad[frames[3].offset + 30] ^= 0x40; // inside frame 3's body
    const c = await expectFailure(bad, /PP_ERR_CHECKSUM/);
    assert.equal(c.pipeOut.length, boundaries[3]);
    assert.equal(c.fileOut.length, boundaries[3]);
  });

  it('garbage that is not a pagepress stream', async () => {
    await expectFailure(Buffer.from('this is plainly not a pagepress stream, just text'), /PP_ERR_MAGIC/);
  });
});
