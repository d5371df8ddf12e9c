/**
 * XenReader on well-formed streams from generateXenStream: Xen's verifier and our reader
 * both accept them, the handler output reproduces the input byte for byte whatever the chunk
 * splits, flush points and page pfns are where they belong, checkpointed (Remus/COLO) and
 * legacy streams, and truncation at many offsets.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { generateXenStream, GenerateOptions } from '../../lib/xen/generate';
import { XenReader, XenStreamError } from '../../lib/xen/reader';
import { XL_MANDATORY_FLAG_JSON, XL_MIGRATE_GO } from '../../lib/xen/constants';
import { build, readXen, requireVerifier, Verifier } from './verifier';

const VGA_HOLE = Array.from({ length: 32 }, (_, i) => 0xa0 + i);

/** Page contents that identify pfn and iteration (and are not all alike). */
function fillPage(pfn: number, iteration: number, out: Uint8Array): void {
  out.fill(pfn % 7 === 0 ? 0 : (pfn * 31 + iteration) & 0xff);
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  v.setUint32(0, pfn);
  v.setUint32(8, iteration);
}

/** Generates a stream into memory; also returns the pfns of the pages it wrote, in order. */
function generate(opts: Omit<GenerateOptions, 'page'>): { stream: Buffer; pfns: number[] } {
  const parts: Buffer[] = [];
  const pfns: number[] = [];
  generateXenStream({ ...opts, page: (pfn, it, out) => (pfns.push(pfn), fillPage(pfn, it, out)) }, (c) => parts.push(Buffer.from(c)));
  return { stream: Buffer.concat(parts), pfns };
}

describe('xen reader: generated streams', function () {
  let verifier: Verifier;
  let dir: string;
  before(function () {
    verifier = requireVerifier(this);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pagepress-xen-'));
  });
  after(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

  for (const guest of ['hvm', 'pv'] as const) {
    for (const version of [2, 3] as const) {
      for (const layer of ['libxc', 'libxl', 'xl'] as const) {
        it(`${guest.toUpperCase()} v${version} ${layer}: accepted by verify-stream-v2 and XenReader, reproduced byte for byte`, () => {
          const { stream, pfns } = generate({
            guest,
            version,
            layer,
            pages: 2100,
            holes: guest === 'hvm' ? VGA_HOLE : [],
            iterations: [{ pfns: [2099, 3, 1, 0xa5, 1500, 1501] }, { pfns: [7] }],
            xenstore: [], // verify-stream-v2 wrongly refuses any non-empty EMULATOR_XENSTORE_DATA (tested in rules)
            trailing: layer === 'xl' ? XL_MIGRATE_GO : undefined,
          });
          const file = path.join(dir, `s.${layer}`);
          fs.writeFileSync(file, stream);
          const v = verifier.run(file, layer);
          assert.equal(v.status, 0, `verify-stream-v2 refused it:\n${v.output}`);

          const r = readXen(stream);
          assert.ok(r.output.equals(stream), 'verbatim + pageBytes reproduce the input');
          assert.deepEqual(r.pfns, pfns, 'pageRecord pfns are the data pages, in stream order');
          const s = r.summary;
          assert.equal(s.format, layer);
          assert.deepEqual(s.layers, layer === 'xl' ? ['xl', 'libxl', 'libxc'] : layer === 'libxl' ? ['libxl', 'libxc'] : ['libxc']);
          assert.equal(s.guest, guest);
          assert.equal(s.libxcVersion, version);
          assert.equal(s.xen, version === 3 ? '4.17' : '4.13');
          assert.equal(s.ending, 'END');
          assert.equal(s.trailingBytes, layer === 'xl' ? 44 : 0);
          assert.equal(s.bytes, stream.length);
          // First pass: 2100 pfns in batches of at most 1024; then the two iterations.
          assert.equal(s.pages.records, 3 + 1 + 1);
          assert.equal(s.pages.count, 2100 + (guest === 'hvm' ? 5 : 6) + 1);
          assert.equal(s.pages.dataPages, pfns.length);
          if (guest === 'hvm') assert.deepEqual(s.pages.types, { NOTAB: pfns.length, XTAB: 32 });
          else assert.ok(s.pages.types.L4TAB_PIN === 2 && s.pages.types.L1TAB > 0 && s.pages.types.XTAB === undefined);
          assert.equal(s.records['libxc END'], 1);
          assert.equal(s.records['libxl END'], layer === 'libxc' ? undefined : 1);
          assert.equal(s.records['libxc STATIC_DATA_END'], version === 3 ? 1 : undefined);
          const pageRecords = r.records.filter((x) => x.name === 'PAGE_DATA');
          assert.ok(pageRecords.every((x) => x.pages!.count <= 1024));
          // Flush after libxc END, libxl END, and the trailing bytes.
          const flushes = layer === 'libxc' ? ['END'] : layer === 'libxl' ? ['END', 'END'] : ['END', 'END', 'trailing'];
          assert.deepEqual(r.flushes, flushes);
          // Each flush point comes right after the END record it follows.
          const ends = r.records.filter((x) => x.name === 'END').map((x) => x.offset + 8);
          assert.deepEqual(ends.length, layer === 'libxc' ? 1 : 2);
        });
      }
    }
  }

  it('EMULATOR_XENSTORE_DATA is written for HVM by default (the verifier refuses it; XenReader accepts it)', () => {
    const { stream } = generate({ guest: 'hvm', version: 3, layer: 'libxl', pages: 16 });
    const file = path.join(dir, 'xs.libxl');
    fs.writeFileSync(file, stream);
    assert.notEqual(verifier.run(file, 'libxl').status, 0);
    const r = readXen(stream);
    assert.equal(r.summary.records['libxl EMULATOR_XENSTORE_DATA'], 1);
    assert.ok(r.output.equals(stream));
  });

  it('checkpointed streams (Remus, COLO): verifier cannot parse them; XenReader accepts, flushes at each checkpoint, ends at a failover point', () => {
    for (const kind of ['remus', 'colo'] as const) {
      for (const layer of ['libxl', 'xl'] as const) {
        const { stream, pfns } = generate({ guest: 'hvm', version: 3, layer, pages: 300, holes: VGA_HOLE, checkpoints: { kind, count: 3, pfns: [1, 5, 0xa3, 299] } });
        const file = path.join(dir, `cp.${layer}`);
        fs.writeFileSync(file, stream);
        assert.notEqual(verifier.run(file, layer).status, 0, 'verify-stream-v2 reads past CHECKPOINT as if still in libxc');
        const r = readXen(stream, { colo: kind === 'colo' });
        assert.ok(r.output.equals(stream));
        assert.deepEqual(r.pfns, pfns);
        assert.equal(r.summary.ending, 'failover');
        assert.equal(r.summary.checkpoints, 3);
        assert.equal(r.summary.checkpointEnds, 3);
        const one = kind === 'colo' ? ['CHECKPOINT', 'CHECKPOINT_END', 'CHECKPOINT_STATE'] : ['CHECKPOINT', 'CHECKPOINT_END'];
        assert.deepEqual(r.flushes, [...one, ...one, ...one]);
        assert.equal(r.summary.records['libxc END'], undefined);
        assert.equal(r.summary.records['libxc PAGE_DATA'], 1 + 2);
      }
    }
    // Read with the wrong --colo setting, each fails at the first CHECKPOINT_STATE / the record after CHECKPOINT_END.
    const colo = generate({ guest: 'pv', version: 3, layer: 'libxl', pages: 64, checkpoints: { kind: 'colo', count: 2, pfns: [3] } }).stream;
    assert.throws(
      () => readXen(colo),
      (e: XenStreamError) => e.code === 'PP_ERR_XEN' && e.recordName === 'CHECKPOINT_STATE' && /use --colo/.test(e.message),
    );
    const remus = generate({ guest: 'pv', version: 3, layer: 'libxl', pages: 64, checkpoints: { kind: 'remus', count: 2, pfns: [3] } }).stream;
    assert.throws(
      () => readXen(remus, { colo: true }),
      (e: XenStreamError) => e.code === 'PP_ERR_XEN' && e.layer === 'libxl' && /CHECKPOINT_STATE record must follow/.test(e.message),
    );
  });
});

describe('xen reader: chunking, flush points, truncation, legacy', () => {
  const kinds: Array<[string, Omit<GenerateOptions, 'page'>, { colo?: boolean }]> = [
    ['HVM v3 xl + go message', { guest: 'hvm', version: 3, layer: 'xl', pages: 300, holes: VGA_HOLE, iterations: [{ pfns: [1, 2, 3, 250] }], trailing: XL_MIGRATE_GO }, {}],
    ['PV v2 libxl', { guest: 'pv', version: 2, layer: 'libxl', pages: 200, iterations: [{ pfns: [4, 5] }] }, {}],
    ['PV v3 libxc + trailing', { guest: 'pv', version: 3, layer: 'libxc', pages: 100, trailing: Buffer.from('tail') }, {}],
    ['HVM v3 libxl COLO', { guest: 'hvm', version: 3, layer: 'libxl', pages: 100, checkpoints: { kind: 'colo', count: 2, pfns: [9, 10] } }, { colo: true }],
  ];

  for (const [name, opts, readOpts] of kinds) {
    it(`${name}: any chunk split gives the same bytes, pfns, records and flush points`, () => {
      const { stream } = generate(opts);
      const whole = readXen(stream, readOpts);
      assert.ok(whole.output.equals(stream));
      const noTrailing = (f: string[]) => f.filter((x) => x !== 'trailing');
      fc.assert(
        fc.property(fc.array(fc.integer({ min: 0, max: 70_000 }), { maxLength: 40 }), (sizes) => {
          const r = readXen(stream, readOpts, sizes);
          assert.ok(r.output.equals(stream));
          assert.deepEqual(r.pfns, whole.pfns);
          assert.deepEqual(r.records, whole.records);
          assert.deepEqual(noTrailing(r.flushes), noTrailing(whole.flushes));
          // Trailing bytes are always followed by a flush before the push returns.
          const last = r.events.lastIndexOf('v');
          if (r.summary.trailingBytes > 0) assert.ok(r.events.slice(last).includes('f:trailing'));
          assert.deepEqual(r.summary, whole.summary);
        }),
        { numRuns: 60, seed: 20240611 },
      );
    });
  }

  it('one byte at a time', () => {
    const { stream } = generate({ guest: 'hvm', version: 3, layer: 'xl', pages: 20, trailing: XL_MIGRATE_GO });
    const r = readXen(stream, {}, new Array<number>(stream.length).fill(1));
    assert.ok(r.output.equals(stream));
    assert.equal(r.summary.trailingBytes, 44);
    assert.equal(r.flushes.filter((f) => f === 'trailing').length, 44);
  });

  it('page contents are never buffered: each piece of a PAGE_DATA body is passed on as it arrives', () => {
    const { stream } = generate({ guest: 'hvm', version: 3, layer: 'libxc', pages: 1024 });
    const page = readXen(stream).records.find((x) => x.name === 'PAGE_DATA')!;
    const contents = page.offset + 16 + 8 * page.pages!.count;
    const seen: number[] = [];
    const reader = new XenReader({ verbatim() {}, pageRecord() {}, pageBytes: (b) => seen.push(b.length), flushPoint() {} });
    reader.push(stream.subarray(0, contents + 100));
    assert.deepEqual(seen, [100]);
    reader.push(stream.subarray(contents + 100, contents + 5000));
    assert.deepEqual(seen, [100, 4900]);
  });

  it('truncation at many offsets is PP_ERR_TRUNCATED at that offset (never a hang or a crash)', function () {
    this.timeout(20_000);
    const cases: Array<[Buffer, { colo?: boolean }, (n: number) => boolean]> = [];
    {
      // xl stream with the go message: any prefix that includes libxl END is complete.
      const { stream } = generate({ guest: 'hvm', version: 3, layer: 'xl', pages: 40, holes: [0x10, 0x11], trailing: XL_MIGRATE_GO });
      cases.push([stream, {}, (n) => n >= stream.length - 44]);
    }
    {
      const { stream } = generate({ guest: 'pv', version: 2, layer: 'libxl', pages: 40 });
      cases.push([stream, {}, (n) => n === stream.length]);
    }
    {
      // Remus: the stream may end exactly after any CHECKPOINT_END.
      const { stream } = generate({ guest: 'hvm', version: 3, layer: 'libxl', pages: 30, checkpoints: { kind: 'remus', count: 3, pfns: [2] } });
      const r = readXen(stream);
      const ok = new Set(r.records.filter((x) => x.name === 'CHECKPOINT_END').map((x) => x.offset + 8));
      cases.push([stream, {}, (n) => ok.has(n)]);
    }
    const rand = fc.sample(fc.integer({ min: 0, max: 1 << 30 }), { numRuns: 300, seed: 7 });
    for (const [stream, opts, complete] of cases) {
      const r = readXen(stream, opts);
      const offsets = new Set<number>();
      for (let i = 0; i <= 120; i++) offsets.add(i);
      for (const rec of r.records) {
        for (const d of [-9, -8, -1, 0, 1, 4, 7, 8, 9, 15, 16, 17, 4096]) offsets.add(rec.offset + d);
      }
      for (const x of rand) offsets.add(x % stream.length);
      for (const n of [...offsets].filter((x) => x >= 0 && x <= stream.length)) {
        const reader = new XenReader({ verbatim() {}, pageRecord() {}, pageBytes() {}, flushPoint() {} }, opts);
        reader.push(stream.subarray(0, n));
        if (complete(n)) {
          assert.doesNotThrow(() => reader.end(), `prefix of ${n} bytes`);
        } else {
          assert.throws(
            () => reader.end(),
            (e: XenStreamError) => e instanceof XenStreamError && e.code === 'PP_ERR_TRUNCATED' && e.offset === n,
            `prefix of ${n} bytes`,
          );
        }
      }
    }
  });

  it('legacy (v1) streams: refused with how to convert them, or passed through verbatim with legacy: pass', () => {
    // A 64-bit legacy image starts with p2m_size as an unsigned long.
    const legacy = Buffer.concat([Buffer.from([0x00, 0x00, 0x01, 0x00, 0, 0, 0, 0]), Buffer.alloc(5000, 0x5a)]);
    assert.throws(
      () => readXen(legacy),
      (e: XenStreamError) =>
        e.code === 'PP_ERR_VERSION' &&
        e.offset === 0 &&
        /legacy \(Xen <= 4\.5\)/.test(e.message) &&
        /convert-legacy-stream/.test(e.message) &&
        /-g hvm\|pv/.test(e.message) &&
        /--legacy pass/.test(e.message),
    );
    const r = readXen(legacy, { legacy: 'pass' }, [3, 100]);
    assert.ok(r.output.equals(legacy));
    assert.equal(r.summary.format, 'legacy');
    assert.equal(r.summary.ending, 'legacy');
    assert.equal(r.summary.legacyBytes, legacy.length);
    assert.deepEqual(r.flushes, ['legacy', 'legacy']);

    // An xl save file without STREAMv2: the header is checked, the legacy stream after it passes or is refused.
    const xl = Buffer.concat([build((w) => w.xlHeader('{"c_info": {}}', { mandatoryFlags: XL_MANDATORY_FLAG_JSON })), legacy]);
    assert.throws(
      () => readXen(xl),
      (e: XenStreamError) =>
        e.code === 'PP_ERR_VERSION' && e.offset === 36 && e.layer === 'xl' && e.recordName === 'header' && /lack STREAMv2/.test(e.message) && /convert-legacy-stream/.test(e.message),
    );
    const p = readXen(xl, { legacy: 'pass' });
    assert.ok(p.output.equals(xl));
    assert.deepEqual(
      p.records.map((x) => `${x.layer} ${x.name}`),
      ['xl header'],
    );
    assert.equal(p.summary.legacyBytes, legacy.length);
    assert.equal(p.summary.format, 'legacy');

    // A libvirt save file of version 1 (libvirt restores it with libxl stream version 1): the same.
    const lv = Buffer.concat([build((w) => w.libvirtHeader('<domain/>', 1)), legacy]);
    assert.throws(
      () => readXen(lv),
      (e: XenStreamError) => e.code === 'PP_ERR_VERSION' && e.offset === 16 && e.layer === 'libvirt' && /convert-legacy-stream/.test(e.message),
    );
    const q = readXen(lv, { legacy: 'pass' }, [10, 70]);
    assert.ok(q.output.equals(lv));
    assert.deepEqual(
      q.records.map((x) => `${x.layer} ${x.name}`),
      ['libvirt header'],
    );
    assert.equal(q.summary.legacyBytes, legacy.length);
  });

  it('an explicit format must match the stream; bad options are PP_ERR_ARG', () => {
    const { stream } = generate({ guest: 'hvm', version: 3, layer: 'libxl', pages: 4 });
    assert.ok(readXen(stream, { format: 'libxl' }).output.equals(stream));
    assert.throws(() => readXen(stream, { format: 'libxc' }), { code: 'PP_ERR_MAGIC', offset: 0 });
    assert.throws(() => readXen(stream, { format: 'xl' }), { code: 'PP_ERR_MAGIC', offset: 0 });
    assert.throws(() => new XenReader({ verbatim() {}, pageRecord() {}, pageBytes() {}, flushPoint() {} }, { format: 'qemu' as never }), { code: 'PP_ERR_ARG' });
    assert.throws(() => new XenReader({ verbatim() {}, pageRecord() {}, pageBytes() {}, flushPoint() {} }, { legacy: 'convert' as never }), { code: 'PP_ERR_ARG' });
    assert.throws(() => readXen(Buffer.alloc(0)), { code: 'PP_ERR_TRUNCATED', offset: 0 });
  });

  it('after an error the reader stays failed', () => {
    const reader = new XenReader({ verbatim() {}, pageRecord() {}, pageBytes() {}, flushPoint() {} });
    const bad = Buffer.alloc(64, 0xff);
    assert.throws(() => reader.push(bad), { code: 'PP_ERR_MAGIC', offset: 8 });
    assert.throws(() => reader.push(Buffer.alloc(8)), { code: 'PP_ERR_MAGIC', offset: 8 });
    assert.throws(() => reader.end(), { code: 'PP_ERR_MAGIC' });
  });
});
