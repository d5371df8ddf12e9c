/** compress | decompress round trips through the real bin: pipes and files, every codec, 1 and 2 threads. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { CODEC_CHOICES as CODECS } from '../../lib/codec/registry';
import { makeInput, run, tmpDir } from './helpers';
import { withStreamId } from '../helpers';

describe('cli: round trip', function () {
  this.timeout(60000);
  // 768 pages (3 MiB) + a 1234-byte tail: not a multiple of the page size; 4 frames at --batch-pages 256.
  const input = makeInput(768);
  const t = tmpDir();
  const inFile = t.file('input.bin');
  before(() => fs.writeFileSync(inFile, input));
  after(() => t.cleanup());

  for (const codec of CODECS) {
    for (const threads of ['1', '2']) {
      it(`${codec} -T${threads} through stdin/stdout pipes`, async () => {
        const c = await run(['compress', '--codec', codec, `-T${threads}`, '--batch-pages', '256'], { input });
        assert.equal(c.code, 0, c.stderr);
        assert.ok(c.stdout.length > 0 && c.stdout.length < input.length * 1.01);
        const d = await run(['decompress', `-T${threads}`], { input: c.stdout });
        assert.equal(d.code, 0, d.stderr);
        assert.ok(d.stdout.equals(input), 'decompressed bytes differ from the input');
      });

      it(`${codec} -T${threads} through FILE -o OUT`, async () => {
        const pp = t.file(`${codec}-${threads}.pp`);
        const back = t.file(`${codec}-${threads}.out`);
        const c = await run(['compress', inFile, '-o', pp, '--codec', codec, '-T', threads]);
        assert.equal(c.code, 0, c.stderr);
        assert.equal(c.stdout.length, 0);
        const d = await run(['decompress', pp, '-o', back, '-T', threads]);
        assert.equal(d.code, 0, d.stderr);
        assert.ok(fs.readFileSync(back).equals(input), 'decompressed file differs from the input');
      });
    }
  }

  it('-d FILE decompresses to stdout; FILE with no command compresses', async () => {
    const c = await run([inFile, '-T2']);
    assert.equal(c.code, 0, c.stderr);
    const pp = t.file('default.pp');
    fs.writeFileSync(pp, c.stdout);
    const d = await run(['-d', pp]);
    assert.equal(d.code, 0, d.stderr);
    assert.ok(d.stdout.equals(input));
    const d2 = await run(['-d', '-'], { input: c.stdout });
    assert.equal(d2.code, 0, d2.stderr);
    assert.ok(d2.stdout.equals(input));
  });

  it('"-o -" writes to stdout and "-" reads stdin', async () => {
    const c = await run(['compress', '-', '-o', '-'], { input });
    assert.equal(c.code, 0, c.stderr);
    const d = await run(['decompress', '-o', '-', '-'], { input: c.stdout });
    assert.equal(d.code, 0, d.stderr);
    assert.ok(d.stdout.equals(input));
  });

  it('stdin given as a regular file descriptor (the fast path)', async () => {
    const c = await run(['compress', '--page-size', '8k', '--batch-pages', '100'], { stdinFile: inFile });
    assert.equal(c.code, 0, c.stderr);
    const pp = t.file('fd.pp');
    fs.writeFileSync(pp, c.stdout);
    const d = await run(['decompress'], { stdinFile: pp });
    assert.equal(d.code, 0, d.stderr);
    assert.ok(d.stdout.equals(input));
  });

  for (const [name, data] of [
    ['empty', Buffer.alloc(0)],
    ['one short page', Buffer.from('hello, pages\n')],
    ['exactly one page', Buffer.alloc(4096, 7)],
  ] as const) {
    it(`${name} input, through pipes and through files`, async () => {
      const c = await run(['compress'], { input: data });
      assert.equal(c.code, 0, c.stderr);
      const d = await run(['decompress'], { input: c.stdout });
      assert.equal(d.code, 0, d.stderr);
      assert.ok(d.stdout.equals(data));
      const f = t.file(`small-${data.length}.bin`);
      fs.writeFileSync(f, data);
      const c2 = await run(['compress', f, '-o', `${f}.pp`]);
      assert.equal(c2.code, 0, c2.stderr);
      assert.ok(withStreamId(fs.readFileSync(`${f}.pp`)).equals(withStreamId(c.stdout)), 'file and pipe paths produce the same stream (but for its random id)');
      const d2 = await run(['decompress', `${f}.pp`, '-o', `${f}.out`]);
      assert.equal(d2.code, 0, d2.stderr);
      assert.ok(fs.readFileSync(`${f}.out`).equals(data));
    });
  }

  it('page cache streams (--cache-slots) round trip', async () => {
    const c = await run(['compress', '--cache-slots', '1024', '--batch-pages', '64', '-T2'], { input });
    assert.equal(c.code, 0, c.stderr);
    const d = await run(['decompress', '-T2'], { input: c.stdout });
    assert.equal(d.code, 0, d.stderr);
    assert.ok(d.stdout.equals(input));
  });

  it('--json prints one summary line on stderr with ratio, pages, kinds and codecs', async () => {
    // From a file: batches are then exact (a pipe input is flushed whenever it pauses, so
    // its frame and page counts depend on timing).
    const c = await run(['compress', '--json', '--batch-pages', '256'], { stdinFile: inFile });
    assert.equal(c.code, 0, c.stderr);
    const lines = c.stderr.trim().split('\n');
    assert.equal(lines.length, 1, c.stderr);
    const s = JSON.parse(lines[0]);
    assert.equal(s.command, 'compress');
    assert.equal(s.inputBytes, input.length);
    assert.equal(s.input, 'stdin');
    assert.equal(s.outputBytes, c.stdout.length);
    assert.ok(s.ratio > 1, `ratio ${s.ratio}`);
    assert.equal(s.pages, 769);
    assert.equal(s.frames, 4);
    assert.equal(s.kinds.zero + s.kinds.literal + s.kinds.dup + s.kinds.unchanged + s.kinds.delta, 769);
    assert.ok(s.kinds.zero >= 128 && s.kinds.dup > 0 && s.kinds.literal > 0, JSON.stringify(s.kinds));
    // zstd, or none for a batch that zstd does not shrink (the encoder's fallback).
    assert.equal(
      Object.values(s.codecs as Record<string, number>).reduce((a, b) => a + b, 0),
      4,
    );
    assert.ok(s.codecs.zstd >= 1 && Object.keys(s.codecs).every((k) => k === 'zstd' || k === 'none'), JSON.stringify(s.codecs));
    assert.equal(typeof s.seconds, 'number');
    assert.equal(typeof s.mbPerSecond, 'number');

    const d = await run(['decompress', '--json'], { input: c.stdout });
    assert.equal(d.code, 0, d.stderr);
    const sd = JSON.parse(d.stderr.trim());
    assert.equal(sd.command, 'decompress');
    assert.equal(sd.outputBytes, input.length);
    assert.equal(sd.inputBytes, c.stdout.length);
    assert.equal(sd.pages, 769);
    assert.deepEqual(sd.kinds, s.kinds);
    assert.equal(sd.ratio, s.ratio);
  });

  it('-q suppresses the --json summary', async () => {
    const c = await run(['compress', '--json', '-q'], { input: input.subarray(0, 10000) });
    assert.equal(c.code, 0, c.stderr);
    assert.equal(c.stderr, '');
  });
});
