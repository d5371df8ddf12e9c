/** `pagepress inspect`: readable summary, --frames table, --json, and failures with offsets. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { makeInput, run, tmpDir } from './helpers';
import { inspectStream } from '../../lib/format/inspect';
import { isPagepressError } from '../../lib/errors';

describe('cli: inspect', function () {
  this.timeout(30000);
  const input = makeInput(300, 100, 3);
  const t = tmpDir();
  const pp = t.file('s.pp');
  before(async () => {
    fs.writeFileSync(t.file('in.bin'), input);
    const c = await run(['compress', t.file('in.bin'), '-o', pp, '--batch-pages', '128', '--codec', 'lz4']);
    assert.equal(c.code, 0, c.stderr);
  });
  after(() => t.cleanup());

  it('prints frames, codec and page kinds', async () => {
    const r = await run(['inspect', pp]);
    assert.equal(r.code, 0, r.stderr);
    const text = r.stdout.toString();
    assert.match(text, /page size 4096, batch 128 pages/);
    assert.match(text, /3 batch frames \+ END, 301 pages/);
    assert.match(text, /codecs:\s+lz4 3/);
    assert.match(text, /kinds:\s+zero \d+, literal \d+, dup \d+, unchanged 0, delta 0/);
    assert.match(text, /END:\s+ok/);
  });

  it('--frames adds one row per frame', async () => {
    const r = await run(['inspect', '--frames', pp]);
    assert.equal(r.code, 0, r.stderr);
    const rows = r.stdout
      .toString()
      .split('\n')
      .filter((l) => /^\s+\d+\s+\d+\s+(batch|end)\s/.test(l));
    assert.equal(rows.length, 4);
  });

  it('--json parses and agrees with the input', async () => {
    const r = await run(['inspect', '--json', '--frames', pp]);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout.toString());
    assert.equal(j.ok, true);
    assert.equal(j.header.pageSize, 4096);
    assert.equal(j.totals.frames, 3);
    assert.equal(j.totals.pages, 301);
    assert.equal(j.totals.rawBytes, input.length);
    assert.equal(j.totals.totalBytes, fs.statSync(pp).size);
    assert.deepEqual(j.totals.codecs, { lz4: 3 });
    const k = j.totals.kinds;
    assert.equal(k.zero + k.literal + k.dup + k.unchanged + k.delta, 301);
    assert.ok(k.zero > 0 && k.dup > 0);
    assert.equal(j.frames.length, 4);
    assert.deepEqual({ ...j.end, digest: undefined }, { frames: 3, pages: 301, rawBytes: input.length, streamBytes: j.frames[3].offset, digest: undefined });
    assert.ok(Number.isInteger(j.end.digest) && j.end.digest >= 0, 'END carries the stream digest');
  });

  it('reads stdin', async () => {
    const r = await run(['inspect', '--json'], { input: fs.readFileSync(pp) });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout.toString()).totals.pages, 301);
  });

  it('a corrupted file exits 1 with the offset', async () => {
    const bad = Buffer.from(fs.readFileSync(pp));
    const j = JSON.parse((await run(['inspect', '--json', '--frames', pp])).stdout.toString());
    const f = j.frames[1];
    bad[f.offset + 24 + 10] ^= 1;
    fs.writeFileSync(t.file('bad.pp'), bad);
    const r = await run(['inspect', t.file('bad.pp')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^pagepress: inspect: frame 1 [^\n]*offset \d+[^\n]*\(PP_ERR_CHECKSUM\)\n$/);
    const rj = await run(['inspect', '--json', t.file('bad.pp')]);
    assert.equal(rj.code, 1);
    const e = JSON.parse(rj.stdout.toString());
    assert.equal(e.ok, false);
    assert.equal(e.error.code, 'PP_ERR_CHECKSUM');
    assert.equal(e.error.frame, 1);
    assert.equal(typeof e.error.offset, 'number');
  });

  it('a truncated file exits 1 with the offset', async () => {
    const data = fs.readFileSync(pp);
    for (const cut of [3, 25, 1000, data.length - 10]) {
      fs.writeFileSync(t.file('cut.pp'), data.subarray(0, cut));
      const r = await run(['inspect', t.file('cut.pp')]);
      assert.equal(r.code, 1, `cut ${cut}`);
      assert.match(r.stderr, new RegExp(`offset ${cut}\\b.*PP_ERR_TRUNCATED`));
    }
  });

  it('inspectStream (library) rejects an END frame whose totals disagree, with its offset', async () => {
    // Drop frame 1 entirely: the END frame then counts a frame that is not there.
    const data = fs.readFileSync(pp);
    const j = JSON.parse((await run(['inspect', '--json', '--frames', pp])).stdout.toString());
    const spliced = Buffer.concat([data.subarray(0, j.frames[1].offset), data.subarray(j.frames[2].offset)]);
    fs.writeFileSync(t.file('spliced.pp'), spliced);
    await assert.rejects(inspectStream(t.file('spliced.pp')), (err: unknown) => {
      assert.ok(isPagepressError(err));
      assert.equal(err.code, 'PP_ERR_FORMAT');
      assert.equal(typeof err.offset, 'number');
      return true;
    });
  });
});
