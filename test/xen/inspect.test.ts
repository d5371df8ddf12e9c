/** `pagepress xen inspect` as a real child process: text and --json on good streams, exit 1 with one clear line on bad ones. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { generateXenStream, GenerateOptions } from '../../lib/xen/generate';
import { XL_MIGRATE_GO } from '../../lib/xen/constants';
import { run, tmpDir } from '../cli/helpers';

function generate(opts: Omit<GenerateOptions, 'page'>): Buffer {
  const parts: Buffer[] = [];
  generateXenStream({ ...opts, page: (pfn, it, out) => out.fill((pfn + it) & 0xff) }, (c) => parts.push(Buffer.from(c)));
  return Buffer.concat(parts);
}

describe('cli: xen inspect', function () {
  this.timeout(30_000);
  const tmp = tmpDir();
  after(() => tmp.cleanup());
  const good = generate({ guest: 'hvm', version: 3, layer: 'xl', pages: 1100, holes: [0xa0, 0xa1], iterations: [{ pfns: [5, 6] }], trailing: XL_MIGRATE_GO });
  const goodFile = tmp.file('vm.save');
  fs.writeFileSync(goodFile, good);

  it('lists headers and records with offsets and lengths, PAGE_DATA pages by type, then totals; exit 0', async () => {
    const r = await run(['xen', 'inspect', goodFile]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const text = r.stdout.toString();
    assert.match(text, /^xl\s+header\s+offset\s+0\s+length\s+\d+\n/);
    assert.match(text, /\nlibxl\s+LIBXC_CONTEXT\s+offset\s+\d+\s+length\s+0\n/);
    assert.match(text, /\nlibxc\s+image header\s+offset\s+\d+\s+length\s+24\n/);
    assert.match(text, /\nlibxc\s+PAGE_DATA\s+offset\s+\d+\s+length\s+4194312\s+pages 1024 \(1022 with data\): NOTAB 1022, XTAB 2\n/);
    assert.match(text, /\nlibxc\s+PAGE_DATA\s+offset\s+\d+\s+length\s+8216\s+pages 2 \(2 with data\): NOTAB 2\n/);
    assert.match(text, /\nlibxl\s+END\s+offset\s+\d+\s+length\s+0\n/);
    assert.match(text, /\nstream: {2}xl format, layers xl > libxl > libxc, HVM guest, libxc v3 from Xen 4\.17\n/);
    assert.match(text, /\npages: {3}3 PAGE_DATA records, 1102 entries, 1100 with data \(4\.3 MiB\): NOTAB 1100, XTAB 2\n/);
    assert.match(text, /\ntrailing: 44 bytes after the last END\n/);
    assert.match(text, new RegExp(`\\nend:     ok, ${good.length} bytes .*ended END\\n$`));
  });

  it('--json prints one JSON document on stdout; stdin works as "-"', async () => {
    const r = await run(['xen', 'inspect', '--json', '-'], { stdinFile: goodFile });
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout.toString());
    assert.equal(doc.ok, true);
    assert.equal(doc.file, 'stdin');
    assert.equal(doc.summary.format, 'xl');
    assert.deepEqual(doc.summary.layers, ['xl', 'libxl', 'libxc']);
    assert.equal(doc.summary.bytes, good.length);
    assert.equal(doc.summary.trailingBytes, 44);
    assert.equal(doc.summary.records['libxc PAGE_DATA'], 3);
    assert.equal(doc.records[0].name, 'header');
    const pd = doc.records.find((x: { name: string }) => x.name === 'PAGE_DATA');
    assert.deepEqual(pd.pages, { count: 1024, dataPages: 1022, types: { NOTAB: 1022, XTAB: 2 } });
    // The same through a pipe.
    const p = await run(['xen', 'inspect', '--json'], { input: good });
    assert.equal(p.code, 0, p.stderr);
    assert.deepEqual(JSON.parse(p.stdout.toString()).summary, doc.summary);
  });

  it('a libvirt save file (virsh save): libvirt > libxl > libxc; compress treats it as Xen and restores it byte for byte', async () => {
    const parts: Buffer[] = [];
    generateXenStream({ guest: 'pv', version: 3, layer: 'libvirt', pages: 600, iterations: [{ pfns: [1, 2, 3, 500] }], page: (pfn, it, out) => out.fill((pfn * 7 + it) % 251) }, (c) =>
      parts.push(Buffer.from(c)),
    );
    const saved = Buffer.concat(parts);
    const r = await run(['xen', 'inspect', '--json'], { input: saved });
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout.toString());
    assert.equal(doc.summary.format, 'libvirt');
    assert.deepEqual(doc.summary.layers, ['libvirt', 'libxl', 'libxc']);
    assert.equal(doc.records[0].layer, 'libvirt');
    const c = await run(['compress', '-T2', '--json'], { input: saved });
    assert.equal(c.code, 0, c.stderr);
    assert.equal(JSON.parse(c.stderr.trim().split('\n').pop()!).format, 'xen');
    const d = await run(['decompress'], { input: c.stdout });
    assert.ok(d.stdout.equals(saved));
  });

  it('a COLO stream needs --colo', async () => {
    const colo = tmp.file('colo.libxl');
    fs.writeFileSync(colo, generate({ guest: 'pv', version: 3, layer: 'libxl', pages: 64, checkpoints: { kind: 'colo', count: 2, pfns: [1, 2] } }));
    const ok = await run(['xen', 'inspect', '--colo', colo]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout.toString(), /checkpoints: 2 libxc CHECKPOINT, 2 libxl CHECKPOINT_END\n/);
    assert.match(ok.stdout.toString(), /ended after a complete checkpoint \(failover point, no END\)/);
    const bad = await run(['xen', 'inspect', colo]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^pagepress: xen inspect: libxl CHECKPOINT_STATE at offset \d+: .*--colo.*\(PP_ERR_XEN\)\n$/);
  });

  it('a bad stream: exit 1, one line on stderr naming offset, layer and record; the records before it are listed', async () => {
    const bad = Buffer.from(good);
    const first = 48 + bad.readUInt32LE(44) + 16 + 8 + 40 + 8 + 552 + 8 + 32 + 8; // xl header, libxl header, LIBXC_CONTEXT, libxc headers, CPUID, MSR, STATIC_DATA_END
    assert.equal(bad.readUInt32LE(first), 1, 'the first PAGE_DATA');
    bad.writeUInt32LE(bad.readUInt32LE(first + 4) - 4096, first + 4); // one page short
    const file = tmp.file('bad.save');
    fs.writeFileSync(file, bad);
    const r = await run(['xen', 'inspect', file]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `pagepress: xen inspect: libxc PAGE_DATA at offset ${first}: count 1024 (1022 with data) needs body length 4194312, record says 4190216 (PP_ERR_XEN)\n`);
    assert.match(r.stdout.toString(), /libxc\s+STATIC_DATA_END\s+offset/);
    assert.doesNotMatch(r.stdout.toString(), /PAGE_DATA/);

    const j = await run(['xen', 'inspect', '--json', file]);
    assert.equal(j.code, 1);
    const doc = JSON.parse(j.stdout.toString());
    assert.equal(doc.ok, false);
    assert.deepEqual({ ...doc.error, message: undefined }, { code: 'PP_ERR_XEN', message: undefined, offset: first + 4, layer: 'libxc', record: 'PAGE_DATA', recordType: 1, recordOffset: first });
    assert.equal(doc.records.at(-1).name, 'STATIC_DATA_END');
  });

  it('truncated, legacy and non-Xen input: exit 1 with the reason', async () => {
    const cut = await run(['xen', 'inspect'], { input: good.subarray(0, 5000) });
    assert.equal(cut.code, 1);
    assert.match(cut.stderr, /^pagepress: xen inspect: libxc PAGE_DATA at offset \d+: input ended at offset 5000, .*\(PP_ERR_TRUNCATED\)\n$/);
    const legacy = await run(['xen', 'inspect'], { input: Buffer.alloc(4096, 1) });
    assert.equal(legacy.code, 1);
    assert.match(legacy.stderr, /legacy \(Xen <= 4\.5\).*convert-legacy-stream.*\(PP_ERR_VERSION\)\n$/);
    const empty = await run(['xen', 'inspect'], { input: Buffer.alloc(0) });
    assert.equal(empty.code, 1);
    assert.match(empty.stderr, /empty input.*\(PP_ERR_TRUNCATED\)/);
    const missing = await run(['xen', 'inspect', tmp.file('nope')]);
    assert.equal(missing.code, 2);
  });
});
