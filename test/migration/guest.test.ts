/** Guest memory for pre-copy migration: simulated (real writer threads), file and trace guests, --guest specs. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DirtyLog, fillMemoryLike, GUEST_PAGE_SIZE, MAX_GUEST_PAGES } from '../../lib/migration/guest';
import { FileGuest } from '../../lib/migration/guests/file-guest';
import { parseGuestSpec, parseSize } from '../../lib/migration/guests/parse';
import { SimulatedGuest } from '../../lib/migration/guests/simulated-guest';
import { formatTraceHeader, formatTraceRecord, parseTrace, readTrace, recordTrace, traceRecord, TraceGuest, writeTrace } from '../../lib/migration/guests/trace-guest';
import { createWriter, WORKLOAD_NAMES, WORKLOADS } from '../../lib/migration/guests/workloads';
import { memoryLike } from '../helpers';

const P = GUEST_PAGE_SIZE;

/** Pfns whose page differs between `a` and `b`. */
function changedPages(a: Uint8Array, b: Uint8Array): number[] {
  const out: number[] = [];
  for (let p = 0; p * P < a.length; p++) if (Buffer.compare(a.subarray(p * P, (p + 1) * P), b.subarray(p * P, (p + 1) * P)) !== 0) out.push(p);
  return out;
}

function snapshot(g: { pageCount: number; readRange(first: number, count: number, out: Uint8Array): void }): Buffer {
  const out = Buffer.alloc(g.pageCount * P);
  g.readRange(0, g.pageCount, out);
  return out;
}

function allPfns(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

async function rejects(fn: () => unknown, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(
    async () => fn(),
    (err: Error & { code?: string }) => {
      assert.equal(err.code, code, err.message);
      if (message) assert.match(err.message, message);
      return true;
    },
  );
}

describe('migration guests', function () {
  this.timeout(20_000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pagepress-guest-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  describe('DirtyLog', () => {
    it('marks, counts, and takes ascending with fetch-and-clear; allDirty masks the last word', () => {
      const log = new DirtyLog(70, undefined, true);
      assert.equal(log.count(), 70);
      assert.deepEqual(Array.from(log.take()), allPfns(70));
      assert.equal(log.take().length, 0);
      for (const p of [69, 3, 32, 31, 0, 3]) log.mark(p);
      assert.deepEqual(Array.from(log.take()), [0, 3, 31, 32, 69]);
      assert.equal(log.count(), 0);
    });
  });

  describe('SimulatedGuest', () => {
    const pages = 4096; // 16 MiB

    it('first takeDirty is every page; dirty pages appear at roughly the requested rate; takeDirty clears', async () => {
      const g = await SimulatedGuest.create({ pages, workload: 'pagecache', dirtyRate: 5000 });
      try {
        assert.deepEqual(Array.from(g.takeDirty()), allPfns(pages));
        const before = g.stats();
        await sleep(300);
        const set = g.takeDirty();
        const after = g.stats();
        const ms = after.activeMs - before.activeMs;
        const writes = after.writes - before.writes;
        assert.ok(writes > 0.6 * 5 * ms && writes < 1.4 * 5 * ms + 50, `${writes} writes in ${ms.toFixed(0)} ms at 5000/s`);
        // pagecache streams mostly fresh pages: distinct dirty pages track the writes.
        assert.ok(set.length >= writes * 0.5 && set.length <= writes + 100, `${set.length} dirty pages for ${writes} writes`);
        for (let i = 1; i < set.length; i++) assert.ok(set[i] > set[i - 1]);
        await g.pause();
        g.takeDirty();
        assert.equal(g.takeDirty().length, 0);
        const d = g.describe();
        assert.equal(d.kind, 'sim');
        assert.equal(d.workload, 'pagecache');
        assert.equal(d.dirtyRate, 5000);
        assert.equal(d.source, 'generated');
        assert.ok((d.writeRate as number) > 3000 && (d.writeRate as number) < 7000, `writeRate ${d.writeRate}`);
      } finally {
        await g.close();
      }
    });

    it('pause() really stops writes (memory identical 100 ms later, dirty log empty); resume() restarts them', async () => {
      const g = await SimulatedGuest.create({ pages, workload: 'hotset', dirtyRate: 50_000 });
      try {
        await sleep(50);
        await g.pause();
        g.takeDirty();
        const snap = snapshot(g);
        const writes = g.stats().writes;
        await sleep(100);
        assert.ok(snapshot(g).equals(snap), 'memory changed while paused');
        assert.equal(g.takeDirty().length, 0);
        assert.equal(g.stats().writes, writes);
        await g.resume();
        await sleep(100);
        assert.ok(g.stats().writes > writes + 1000, `only ${g.stats().writes - writes} writes after resume`);
        assert.ok(g.takeDirty().length > 0);
        assert.ok(!snapshot(g).equals(snap));
        // pause twice and resume twice are fine
        await g.pause();
        await g.pause();
        await g.resume();
        await g.resume();
      } finally {
        await g.close();
        await g.close();
      }
      await rejects(() => g.pause(), 'PP_ERR_ARG', /closed/);
    });

    for (const workload of WORKLOAD_NAMES) {
      it(`${workload}: runs; no write is lost (every changed page is reported dirty, also with takes while running)`, async () => {
        const g = await SimulatedGuest.create({ pages, workload, dirtyRate: 20_000, seed: 5, paused: true });
        try {
          assert.equal(g.takeDirty().length, pages);
          const snap = snapshot(g);
          const reported = new Set<number>();
          await g.resume();
          for (let i = 0; i < 6; i++) {
            await sleep(15 + i * 5);
            for (const p of g.takeDirty()) reported.add(p);
          }
          await g.pause();
          for (const p of g.takeDirty()) reported.add(p);
          const changed = changedPages(snap, g.memory);
          assert.ok(changed.length > 0, 'nothing changed');
          const lost = changed.filter((p) => !reported.has(p));
          assert.deepEqual(lost, [], `changed but never reported dirty: ${lost.slice(0, 10)}`);
          const s = g.stats();
          assert.ok(s.writes > 500, `${s.writes} writes`);
          assert.ok(reported.size <= s.writes);
          const perWrite = s.bytesWritten / s.writes;
          const [lo, hi] = { idle: [8, 64], pagecache: [4096, 4096], hotset: [64, 4096], inplace: [4, 256], webserver: [4, 4096] }[workload];
          assert.ok(perWrite >= lo && perWrite <= hi, `${perWrite} bytes per write`);
        } finally {
          await g.close();
        }
      });
    }

    it('each workload has a documented default rate, used when dirtyRate is omitted', async () => {
      for (const w of WORKLOAD_NAMES) assert.ok(WORKLOADS[w].defaultRate > 0 && WORKLOADS[w].models && WORKLOADS[w].pages && WORKLOADS[w].bytesPerWrite);
      const g = await SimulatedGuest.create({ pages: 64, workload: 'idle', paused: true });
      try {
        assert.equal(g.describe().dirtyRate, WORKLOADS.idle.defaultRate);
      } finally {
        await g.close();
      }
    });

    it('the write sequence and generated contents are deterministic for a seed', () => {
      const a = new Uint8Array(256 * P);
      fillMemoryLike(a, 9);
      const b = new Uint8Array(256 * P);
      fillMemoryLike(b, 9);
      assert.ok(Buffer.from(a).equals(b));
      const c = new Uint8Array(256 * P);
      fillMemoryLike(c, 10);
      assert.ok(!Buffer.from(a).equals(c));
      for (const w of WORKLOAD_NAMES) {
        const wa = createWriter(w, a, P, 3);
        const wb = createWriter(w, b, P, 3);
        for (let i = 0; i < 2000; i++) {
          assert.equal(wa.next(), wb.next());
          assert.equal(wa.bytes, wb.bytes);
        }
        assert.ok(Buffer.from(a).equals(b), w);
      }
    });

    it('every write changes only the page it reports (never a neighbour)', () => {
      for (const w of WORKLOAD_NAMES) {
        const mem = new Uint8Array(64 * P);
        fillMemoryLike(mem, 2);
        const writer = createWriter(w, mem, P, 11);
        for (let i = 0; i < 1500; i++) {
          const before = Buffer.from(mem);
          const pfn = writer.next();
          const changed = changedPages(before, mem);
          assert.ok(changed.length === 0 || (changed.length === 1 && changed[0] === pfn), `${w} write ${i}: reported ${pfn}, changed ${changed}`);
          assert.ok(changed.length === 1 || w === 'webserver', `${w} write ${i} changed nothing`);
        }
      }
    });

    it('fills from a source image, repeated; dirtyRate 0 writes nothing', async () => {
      const image = memoryLike(100, 4);
      const file = path.join(tmp, 'source.img');
      fs.writeFileSync(file, Buffer.concat([image, Buffer.alloc(100)])); // a partial last page is ignored
      const g = await SimulatedGuest.create({ pages: 250, workload: 'hotset', dirtyRate: 0, source: file });
      try {
        await sleep(30);
        const mem = snapshot(g);
        assert.ok(mem.subarray(0, 100 * P).equals(image));
        assert.ok(mem.subarray(100 * P, 200 * P).equals(image));
        assert.ok(mem.subarray(200 * P).equals(image.subarray(0, 50 * P)));
        g.takeDirty();
        await sleep(30);
        assert.equal(g.takeDirty().length, 0);
        assert.equal(g.describe().source, file);
        const out = Buffer.alloc(3 * P);
        g.readPages([7, 150, 8], out);
        assert.ok(out.equals(Buffer.concat([image.subarray(7 * P, 8 * P), image.subarray(50 * P, 51 * P), image.subarray(8 * P, 9 * P)])));
        assert.throws(() => g.readPages([250], out), { code: 'PP_ERR_ARG' });
        assert.throws(() => g.readPages([1, 2, 3, 4], out), { code: 'PP_ERR_ARG' });
        assert.throws(() => g.readRange(249, 2, out), { code: 'PP_ERR_ARG' });
      } finally {
        await g.close();
      }
    });

    it('rejects bad options with PP_ERR_ARG', async () => {
      await rejects(() => SimulatedGuest.create({ pages: 0 }), 'PP_ERR_ARG', /pages/);
      await rejects(() => SimulatedGuest.create({ pages: 16, workload: 'nope' as never }), 'PP_ERR_ARG', /unknown workload "nope"/);
      await rejects(() => SimulatedGuest.create({ pages: 16, dirtyRate: -1 }), 'PP_ERR_ARG', /dirtyRate/);
      await rejects(() => SimulatedGuest.create({ pages: 16, seed: 1.5 }), 'PP_ERR_ARG', /seed/);
      await rejects(() => SimulatedGuest.create({ pages: 16, source: path.join(tmp, 'missing') }), 'PP_ERR_ARG', /cannot open source/);
    });
  });

  describe('FileGuest', () => {
    const image = memoryLike(300, 7);
    let file: string;
    before(() => {
      file = path.join(tmp, 'guest.img');
      fs.writeFileSync(file, image);
    });

    for (const preload of [false, true]) {
      it(`reads the file's bytes exactly; first takeDirty = all pages, then none${preload ? ' (preload)' : ''}`, async () => {
        const g = await FileGuest.open(file, { preload });
        try {
          assert.equal(g.pageCount, 300);
          assert.ok(snapshot(g).equals(image));
          const pfns = [5, 6, 7, 299, 0, 3, 4];
          const out = Buffer.alloc(pfns.length * P);
          g.readPages(pfns, out);
          assert.ok(out.equals(Buffer.concat(pfns.map((p) => image.subarray(p * P, (p + 1) * P)))));
          const part = Buffer.alloc(10 * P);
          g.readRange(100, 10, part);
          assert.ok(part.equals(image.subarray(100 * P, 110 * P)));
          assert.deepEqual(Array.from(g.takeDirty()), allPfns(300));
          await g.pause();
          await g.resume();
          assert.equal(g.takeDirty().length, 0);
          assert.equal(g.takeDirty().length, 0);
          assert.deepEqual(g.describe(), { kind: 'file', source: file, pages: 300, bytes: 300 * P, preload });
          assert.throws(() => g.readPages([300], out), { code: 'PP_ERR_ARG' });
        } finally {
          await g.close();
        }
        assert.throws(() => g.readRange(0, 1, Buffer.alloc(P)), { code: 'PP_ERR_ARG', message: /closed/ });
      });
    }

    it('rejects images that are not whole pages, and missing files', async () => {
      const bad = path.join(tmp, 'bad.img');
      fs.writeFileSync(bad, Buffer.alloc(P + 10));
      await rejects(() => FileGuest.open(bad), 'PP_ERR_FORMAT', /4106 bytes, not a nonzero multiple of 4096/);
      fs.writeFileSync(bad, Buffer.alloc(0));
      await rejects(() => FileGuest.open(bad), 'PP_ERR_FORMAT');
      await rejects(() => FileGuest.open(path.join(tmp, 'missing.img')), 'PP_ERR_ARG', /cannot open/);
    });
  });

  describe('traces', () => {
    let traceFile: string;

    before(async () => {
      traceFile = path.join(tmp, 'hotset.trace');
      const g = await SimulatedGuest.create({ pages: 1024, workload: 'webserver', dirtyRate: 4000, seed: 2 });
      try {
        const r = await recordTrace(g, 300, 50, traceFile, { bytes: true });
        assert.equal(r.records, 6);
        assert.ok(r.entries > 100, `${r.entries} entries`);
      } finally {
        await g.close();
      }
    });

    it('recordTrace writes the documented format: header, per-interval ascending pfn sets with bytes changed', () => {
      const lines = fs.readFileSync(traceFile, 'utf8').trimEnd().split('\n');
      const h = JSON.parse(lines[0]);
      assert.equal(h.format, 'pagepress-dirty-trace');
      assert.equal(h.version, 1);
      assert.equal(h.pageSize, 4096);
      assert.equal(h.pageCount, 1024);
      assert.equal(h.intervalMs, 50);
      assert.equal(h.bytes, true);
      assert.equal(h.source.kind, 'sim');
      assert.equal(h.source.workload, 'webserver');
      const t = readTrace(traceFile);
      assert.equal(t.times.length, lines.length - 1);
      assert.equal(t.durationMs, t.times[t.times.length - 1]);
      assert.ok(t.durationMs >= 300);
      for (let k = 0; k < t.times.length; k++) {
        assert.ok(t.times[k] >= 50 * Math.min(k + 1, 6) - 1, `t ${t.times[k]}`);
        const rec = JSON.parse(lines[k + 1]);
        assert.deepEqual(Array.from(traceRecord(t, k)), rec.pfns);
        assert.equal(rec.bytes.length, rec.pfns.length);
      }
      // webserver writes whole pages and small updates: both sizes are recorded
      const bytes = Array.from(t.bytes!);
      assert.ok(bytes.some((b) => b > 2048) && bytes.some((b) => b > 0 && b <= 512), 'expected both whole-page and small changes');
    });

    it('a stepped replay gives the recorded dirty sets in order, and changes the pages it reports', async () => {
      const t = readTrace(traceFile);
      const g = await TraceGuest.open(traceFile, { stepped: true, seed: 4 });
      try {
        assert.equal(g.pageCount, 1024);
        assert.deepEqual(Array.from(g.takeDirty()), allPfns(1024));
        for (let k = 0; k < t.times.length; k++) {
          const before = snapshot(g);
          assert.equal(await g.step(), true);
          const want = Array.from(traceRecord(t, k));
          assert.deepEqual(Array.from(g.takeDirty()), want, `record ${k}`);
          const changed = changedPages(before, g.memory);
          const set = new Set(want);
          assert.ok(
            changed.every((p) => set.has(p)),
            `record ${k}: a page changed outside the record`,
          );
          const a = t.offsets[k];
          const mustChange = want.filter((_, i) => t.bytes![a + i] > 0);
          assert.deepEqual(
            mustChange.filter((p) => !changed.includes(p)),
            [],
            `record ${k}: entries with bytes > 0 left unchanged`,
          );
        }
        assert.equal(await g.step(), false);
        assert.equal(g.takeDirty().length, 0);
        assert.equal(g.finished, true);
        await g.pause();
        await rejects(() => g.step(), 'PP_ERR_ARG', /paused/);
      } finally {
        await g.close();
      }
    });

    it('a timed replay writes every record over the trace duration (speed 3); loop starts over', async () => {
      const t = readTrace(traceFile);
      const union = new Set(t.pfns);
      // Paused until the first take (every page) is done: a write before it would be cleared
      // with it (on a loaded machine the writer can start before this thread gets there).
      const g = await TraceGuest.open(traceFile, { speed: 3, paused: true });
      try {
        g.takeDirty();
        await g.resume();
        const seen = new Set<number>();
        const started = Date.now();
        while (!g.finished) {
          assert.ok(Date.now() - started < 5000, 'replay did not finish');
          await sleep(20);
          for (const p of g.takeDirty()) seen.add(p);
        }
        for (const p of g.takeDirty()) seen.add(p);
        assert.ok(Date.now() - started >= t.durationMs / 3 - 25, 'replay was faster than the trace');
        assert.deepEqual(
          [...seen].sort((a, b) => a - b),
          [...union].sort((a, b) => a - b),
        );
        const d = g.describe();
        assert.equal(d.kind, 'trace');
        assert.equal(d.source, traceFile);
        assert.equal(d.recordsApplied, t.times.length);
        assert.equal(d.writes, t.pfns.length);
      } finally {
        await g.close();
      }
      const l = await TraceGuest.open(traceFile, { speed: 10, loop: true });
      try {
        await sleep(t.durationMs / 10 + 150);
        assert.ok((l.describe().recordsApplied as number) > t.times.length);
        assert.equal(l.finished, false);
      } finally {
        await l.close();
      }
    });

    it('writeTrace and parseTrace round-trip; traces without bytes replay with defaultBytes', async () => {
      const file = path.join(tmp, 'hand.trace');
      const text = formatTraceHeader({ pageCount: 64, durationMs: 30 }) + formatTraceRecord(10, [1, 2, 63]) + formatTraceRecord(10, []) + formatTraceRecord(30, [0]);
      const t = parseTrace(Buffer.from(text));
      assert.equal(t.bytes, null);
      assert.deepEqual(Array.from(t.times), [10, 10, 30]);
      await writeTrace(file, t);
      assert.equal(fs.readFileSync(file, 'utf8'), text);
      const g = await TraceGuest.open(file, { stepped: true, defaultBytes: 16 });
      try {
        g.takeDirty();
        const before = snapshot(g);
        assert.equal(await g.step(), true);
        assert.deepEqual(Array.from(g.takeDirty()), [1, 2, 63]);
        let diff = 0;
        for (let i = 0; i < before.length; i++) if (before[i] !== g.memory[i]) diff++;
        assert.equal(diff, 3 * 16);
        assert.equal(await g.step(), true); // the empty record
        assert.equal(g.takeDirty().length, 0);
        assert.equal(await g.step(), true);
        assert.deepEqual(Array.from(g.takeDirty()), [0]);
        assert.equal(await g.step(), false);
      } finally {
        await g.close();
      }
    });

    it('bad trace files give PP_ERR_* errors naming the line and its byte offset', async () => {
      const header = formatTraceHeader({ pageCount: 16, durationMs: 100 });
      const headerB = formatTraceHeader({ pageCount: 16, durationMs: 100, bytes: true });
      const rec = formatTraceRecord(10, [1, 2]);
      const cases: [string, string, RegExp, number][] = [
        ['', 'PP_ERR_TRUNCATED', /empty file/, 0],
        ['{"format":"other","version":1}\n', 'PP_ERR_MAGIC', /line 1 \(byte offset 0\).*not a dirty-page trace/, 0],
        [header.replace('"version":1', '"version":2'), 'PP_ERR_VERSION', /line 1.*version 2/, 0],
        [header.replace('"pageSize":4096', '"pageSize":8192'), 'PP_ERR_FORMAT', /pageSize 8192/, 0],
        [header.replace('"pageCount":16', '"pageCount":0'), 'PP_ERR_FORMAT', /pageCount 0/, 0],
        [header + rec + 'not json\n', 'PP_ERR_FORMAT', /line 3 \(byte offset \d+\): not JSON/, header.length + rec.length],
        [header + rec + '[1,2]\n', 'PP_ERR_FORMAT', /line 3.*not a JSON object/, header.length + rec.length],
        [header + rec + '\n' + rec, 'PP_ERR_FORMAT', /line 3.*empty line/, header.length + rec.length],
        [header + '{"t":10,"pfns":[2,1]}\n', 'PP_ERR_FORMAT', /line 2.*pfns\[1\] 1 is not above pfns\[0\] 2/, header.length],
        [header + '{"t":10,"pfns":[3,3]}\n', 'PP_ERR_FORMAT', /ascending, without repeats/, header.length],
        [header + '{"t":10,"pfns":[16]}\n', 'PP_ERR_FORMAT', /pfns\[0\] 16 is not a pfn in 0\.\.15/, header.length],
        [header + '{"t":10,"pfns":[1.5]}\n', 'PP_ERR_FORMAT', /pfns\[0\] 1\.5/, header.length],
        [header + '{"t":10,"pfns":5}\n', 'PP_ERR_FORMAT', /pfns is not an array/, header.length],
        [header + rec + '{"t":5,"pfns":[]}\n', 'PP_ERR_FORMAT', /line 3.*t 5 is before the previous record's t 10/, header.length + rec.length],
        [header + '{"t":101,"pfns":[]}\n', 'PP_ERR_FORMAT', /t 101 is after the header's durationMs 100/, header.length],
        [header + '{"pfns":[]}\n', 'PP_ERR_FORMAT', /t undefined/, header.length],
        [header + '{"t":10,"pfns":[1],"bytes":[5]}\n', 'PP_ERR_FORMAT', /bytes given but the header says bytes: false/, header.length],
        [headerB + rec, 'PP_ERR_FORMAT', /bytes must be an array as long as pfns \(2\)/, headerB.length],
        [headerB + '{"t":1,"pfns":[1],"bytes":[4097]}\n', 'PP_ERR_FORMAT', /bytes\[0\] 4097/, headerB.length],
        [header + rec + '{"t":20,"pfns":[1', 'PP_ERR_TRUNCATED', /line 3.*ends inside this line/, header.length + rec.length],
      ];
      for (const [text, code, message, offset] of cases) {
        assert.throws(
          () => parseTrace(Buffer.from(text), 'x.trace'),
          (err: Error & { code?: string; offset?: number }) => {
            assert.equal(err.code, code, `${JSON.stringify(text)}: ${err.message}`);
            assert.match(err.message, message);
            assert.match(err.message, /^x\.trace/);
            assert.equal(err.offset, offset, err.message);
            return true;
          },
        );
      }
      const bad = path.join(tmp, 'bad.trace');
      fs.writeFileSync(bad, header + 'oops\n');
      await rejects(() => TraceGuest.open(bad), 'PP_ERR_FORMAT', /bad\.trace: line 2/);
      await rejects(() => TraceGuest.open(path.join(tmp, 'none.trace')), 'PP_ERR_ARG', /cannot read trace/);
      await rejects(() => TraceGuest.open(traceFile, { speed: 0 }), 'PP_ERR_ARG', /speed/);
    });
  });

  describe('parseGuestSpec', () => {
    it('parses sizes with binary suffixes', () => {
      assert.equal(parseSize('4096'), 4096);
      assert.equal(parseSize('4K'), 4096);
      assert.equal(parseSize('256M'), 256 * 2 ** 20);
      assert.equal(parseSize('1g'), 2 ** 30);
      assert.equal(parseSize('2GiB'), 2 ** 31);
      assert.equal(parseSize('16MB'), 16 * 2 ** 20);
      assert.throws(() => parseSize('1.5G'), { code: 'PP_ERR_ARG' });
    });

    it('accepts the documented forms', () => {
      const s = parseGuestSpec('sim:256M,workload=hotset,dirty-rate=20000');
      assert.equal(s.kind, 'sim');
      assert.deepEqual(s.options, { pages: 65536, workload: 'hotset', dirtyRate: 20000 });
      assert.deepEqual(parseGuestSpec('sim:1G').options, { pages: 262144, workload: 'idle' });
      assert.deepEqual(parseGuestSpec('sim:64K,workload=webserver,dirty-rate=2.5,seed=7,source=/data/x.bin').options, {
        pages: 16,
        workload: 'webserver',
        dirtyRate: 2.5,
        seed: 7,
        source: '/data/x.bin',
      });
      const t = parseGuestSpec('trace:/tmp/a.trace,speed=2,loop,seed=3,default-bytes=64');
      assert.equal(t.kind, 'trace');
      assert.ok(t.kind === 'trace' && t.file === '/tmp/a.trace');
      assert.deepEqual(t.options, { speed: 2, loop: true, seed: 3, defaultBytes: 64 });
      assert.deepEqual(parseGuestSpec('trace:run.trace').options, {});
      const f = parseGuestSpec('file:/images/vm.img,preload');
      assert.ok(f.kind === 'file' && f.file === '/images/vm.img');
      assert.deepEqual(f.options, { preload: true });
      assert.deepEqual(parseGuestSpec('file:vm.img').options, {});
    });

    it('rejects bad specs with PP_ERR_ARG naming the bad part', () => {
      const cases: [string, RegExp][] = [
        ['vm:1G', /expected sim:SIZE, trace:FILE or file:IMAGE, got kind "vm"/],
        ['256M', /expected sim:SIZE/],
        ['sim:', /missing the size/],
        ['file:', /missing the file after "file:"/],
        ['sim:12X', /size "12X" is not a size/],
        ['sim:1000', /size "1000" is not a nonzero multiple of 4096/],
        ['sim:0', /size "0"/],
        ['sim:128G', /above the limit/],
        // One GiB above what this Node can hold in one typed array (4G on Node 20): refused
        // by name, not with V8's "Invalid typed array length".
        [`sim:${(MAX_GUEST_PAGES * GUEST_PAGE_SIZE) / 2 ** 30 + 1}G`, /above the limit of \d+G/],
        ['sim:1G,workload=foo', /workload "foo" is not one of idle, pagecache, hotset, inplace, webserver/],
        ['sim:1G,dirty-rate=-5', /dirty-rate "-5" is not a number/],
        ['sim:1G,dirty-rate=fast', /dirty-rate "fast"/],
        ['sim:1G,dirty-rate=', /option "dirty-rate" needs a value/],
        ['sim:1G,dirty-rate', /option "dirty-rate" needs a value/],
        ['sim:1G,bogus=1', /unknown option "bogus" for sim \(known: workload, dirty-rate, seed, source\)/],
        ['sim:1G,seed=1,seed=2', /option "seed" given twice/],
        ['sim:1G,seed=-1', /seed "-1" is not an integer/],
        ['sim:1G,,seed=1', /empty option/],
        ['file:x.img,preload=1', /option "preload" takes no value/],
        ['file:x.img,loop', /unknown option "loop" for file/],
        ['trace:a.trace,speed=0', /speed "0" must be above 0/],
        ['trace:a.trace,speed=fast', /speed "fast"/],
        ['trace:a.trace,default-bytes=5000', /default-bytes "5000" is not an integer in 0\.\.4096/],
      ];
      for (const [spec, message] of cases) {
        assert.throws(
          () => parseGuestSpec(spec),
          (err: Error & { code?: string }) => {
            assert.equal(err.code, 'PP_ERR_ARG', spec);
            assert.match(err.message, new RegExp(`^guest spec "${spec.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}": `));
            assert.match(err.message, message, spec);
            return true;
          },
        );
      }
    });

    it('create() opens the guest it names', async () => {
      const file = path.join(tmp, 'spec.img');
      fs.writeFileSync(file, memoryLike(8, 3));
      const f = await parseGuestSpec(`file:${file}`).create();
      try {
        assert.equal(f.describe().kind, 'file');
        assert.equal(f.pageCount, 8);
      } finally {
        await f.close();
      }
      const s = await parseGuestSpec('sim:64K,workload=inplace,dirty-rate=1000').create();
      try {
        assert.equal(s.pageCount, 16);
        assert.equal(s.describe().workload, 'inplace');
      } finally {
        await s.close();
      }
    });
  });
});
