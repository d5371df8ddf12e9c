import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { changedPages, writeXlStream } from '../../bench/corpus/guest';
import { PageCounter, pageStats } from '../../bench/corpus/stats';
import { XenReader } from '../../lib/xen/reader';

const PAGE = 4096;

function page(tag: number): Buffer {
  const b = Buffer.alloc(PAGE);
  for (let i = 0; i < PAGE; i += 4) b.writeUInt32LE((tag * 2654435761 + i) >>> 0, i);
  return b;
}

/** Pages of a Xen stream in order, grouped by PAGE_DATA record: [pfn, content][]. */
function xenPages(file: string): Array<Array<[number, Buffer]>> {
  const records: Array<Array<[number, Buffer]>> = [];
  let pfns: Float64Array = new Float64Array(0);
  let acc = Buffer.alloc(0);
  const r = new XenReader({
    verbatim() {
      /* not pages */
    },
    pageRecord(p) {
      pfns = p;
      records.push([]);
      acc = Buffer.alloc(0);
    },
    pageBytes(b) {
      acc = Buffer.concat([acc, Buffer.from(b)]);
      while (acc.length >= PAGE) {
        const rec = records[records.length - 1];
        rec.push([pfns[rec.length], acc.subarray(0, PAGE)]);
        acc = acc.subarray(PAGE);
      }
    },
    flushPoint() {
      /* not needed */
    },
  });
  r.push(fs.readFileSync(file));
  r.end();
  return records;
}

describe('guest corpus: snapshot diffs, xl streams, page statistics', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pp-guest-corpus-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('changedPages finds exactly the pages that differ; the xl stream sends snapshot 0, then those pages with the later contents', () => {
    const pages = 1100; // > 1024 so the first pass takes two PAGE_DATA records; covers the 0xA0-0xBF hole
    const s0 = Buffer.concat(Array.from({ length: pages }, (_, p) => page(p)));
    const s1 = Buffer.from(s0);
    const changed = [3, 0xa5, 1024, 1099];
    for (const p of changed) s1[p * PAGE + 100] ^= 0xff;
    const s2 = Buffer.from(s1);
    page(7777).copy(s2, 5 * PAGE);
    const files = [s0, s1, s2].map((b, i) => {
      const f = path.join(dir, `s${i}.bin`);
      fs.writeFileSync(f, b);
      return f;
    });
    assert.deepEqual(changedPages(files[0], files[1]), changed);
    assert.deepEqual(changedPages(files[1], files[2]), [5]);
    const out = path.join(dir, 'xl.bin');
    const r = writeXlStream(files, [changed, [5]], out);
    assert.equal(fs.statSync(out).size, r.bytes);
    const recs = xenPages(out);
    // pass 0: two records, every pfn except the XTAB hole; round 1 without the hole pfn 0xa5; round 2 pfn 5.
    assert.equal(recs.length, 4);
    const first = [...recs[0], ...recs[1]];
    assert.equal(first.length, pages - 32);
    for (const [pfn, content] of first) assert.ok(content.equals(s0.subarray(pfn * PAGE, (pfn + 1) * PAGE)), `pass 0 pfn ${pfn}`);
    assert.deepEqual(
      recs[2].map(([p]) => p),
      [3, 1024, 1099],
    );
    for (const [pfn, content] of recs[2]) assert.ok(content.equals(s1.subarray(pfn * PAGE, (pfn + 1) * PAGE)), `round 1 pfn ${pfn}`);
    assert.deepEqual(
      recs[3].map(([p]) => p),
      [5],
    );
    assert.ok(recs[3][0][1].equals(page(7777)));
    // stats over the stream: 4 records, the round-2 page is new, round-1 pages are new (changed), no zero pages
    const st = pageStats(out);
    assert.deepEqual([st.kind, st.pages, st.batches, st.zeroPages, st.duplicateNonZeroPages], ['xen', pages - 32 + 3 + 1, 4, 0, 0]);
  });

  it('PageCounter tells duplicates inside the batch from those whose copy is only in earlier batches', () => {
    const c = new PageCounter();
    c.nextBatch();
    c.add(page(1));
    c.add(page(2));
    c.add(page(1));
    c.add(Buffer.alloc(PAGE));
    c.add(Buffer.alloc(PAGE));
    c.nextBatch();
    c.add(page(2));
    c.add(page(3));
    c.add(page(2));
    c.add(page(1));
    const r = c.result('x', 'raw');
    assert.deepEqual([r.pages, r.batches, r.zeroPages, r.duplicateNonZeroPages, r.duplicateSameBatch, r.duplicateEarlierBatch], [9, 2, 2, 4, 2, 2]);
    assert.equal(r.duplicateSameBatchFraction, 0.5);
  });

  it('pageStats of a raw file uses 1024-page batches', () => {
    const f = path.join(dir, 'raw.bin');
    // page A at 0 and 1023 (same batch), again at 1024 (earlier batch only), page B at 2000 and 2047
    const b = Buffer.alloc(2048 * PAGE);
    for (const p of [0, 1023, 1024]) page(1).copy(b, p * PAGE);
    for (const p of [2000, 2047]) page(2).copy(b, p * PAGE);
    fs.writeFileSync(f, b);
    const s = pageStats(f);
    assert.deepEqual([s.kind, s.pages, s.batches, s.zeroPages, s.duplicateNonZeroPages, s.duplicateSameBatch, s.duplicateEarlierBatch], ['raw', 2048, 2, 2043, 3, 2, 1]);
  });
});
