/**
 * Criterion X (issue: Xen integration): `pagepress compress` on a Xen live-migration
 * stream against `zstd -1 -T2` on the same file, same run. The stream (bench/corpus/
 * xen-stream.ts) is an HVM xl save of a 1 GiB guest whose pages come from the real-memory
 * corpus, plus three further pre-copy passes that each re-send 15 % of the pages with
 * small changes. pagepress recognises the stream and sends re-sent pages as deltas
 * against the copy already sent (page cache keyed by guest pfn); zstd sees only bytes.
 * `pagepress --format raw` (the same bytes as a plain byte stream) is the control.
 * Every output is decompressed by its own tool and byte-compared with the input.
 *
 *   node dist/bench/xen.bench.js [--quick] [--corpus F] [--runs N]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { benchMain, BenchOptions, cliPath, Criterion, criterion, fmt, MB, median, sameFile, scratchDir, Table, timeCommand } from './common';
import { buildXenStream } from './corpus/xen-stream';

interface Tool {
  name: string;
  ext: string;
  compress: (i: string, o: string) => { cmd: string; args: string[] };
  decompress: (i: string, o: string) => { cmd: string; args: string[] };
}

const node = process.execPath;

function tools(): Tool[] {
  const cli = cliPath();
  const pp = (name: string, ext: string, extra: string[]): Tool => ({
    name,
    ext,
    compress: (i, o) => ({ cmd: node, args: [cli, 'compress', i, '-o', o, '-T2', '-f', '-q', ...extra] }),
    decompress: (i, o) => ({ cmd: node, args: [cli, 'decompress', i, '-o', o, '-T2', '-f', '-q'] }),
  });
  return [
    pp('pagepress -T2 (default: Xen filter, zstd 1)', '.pp', []),
    pp('pagepress -T2 --format raw (control)', '.raw.pp', ['--format', 'raw']),
    {
      name: 'zstd -1 -T2',
      ext: '.zst',
      compress: (i, o) => ({ cmd: 'zstd', args: ['-1', '-T2', '-q', '-f', i, '-o', o] }),
      decompress: (i, o) => ({ cmd: 'zstd', args: ['-d', '-q', '-f', i, '-o', o] }),
    },
  ];
}

export async function run(o: BenchOptions): Promise<{ tables: Table[]; criteria: Criterion[]; notes: string[]; data: unknown }> {
  const dir = scratchDir('xen');
  const runs = o.runs ?? (o.quick ? 1 : 3);
  const mib = o.quick ? 16 : 1024;
  try {
    const input = path.join(dir, 'guest.xl');
    const meta = buildXenStream(o.corpus, input, { mib });
    const size = meta.bytes;
    process.stderr.write(`[xen] ${fmt(size / MB, 0)} MB stream (${mib} MiB guest + 3 passes of ${meta.resentPages.join('/')} pages): 3 tools x ${runs} runs\n`);
    const res = tools().map((t) => ({ t, out: path.join(dir, `x${t.ext}`), back: path.join(dir, `x${t.ext}.back`), c: [] as number[], d: [] as number[], ok: true }));
    const exec = (c: { cmd: string; args: string[] }, out: string) => {
      fs.rmSync(out, { force: true });
      return timeCommand(c.cmd, c.args);
    };
    for (const r of res) exec(r.t.compress(input, r.out), r.out); // warm-up
    for (let round = 0; round < runs; round++) {
      for (const r of res) r.c.push(exec(r.t.compress(input, r.out), r.out));
      for (const r of res) {
        r.d.push(exec(r.t.decompress(r.out, r.back), r.back));
        if (round === runs - 1) r.ok = sameFile(input, r.back);
        fs.rmSync(r.back, { force: true });
      }
    }
    const rows = res.map((r) => {
      const bytes = fs.statSync(r.out).size;
      return { tool: r.t.name, bytes, ratio: size / bytes, compressMBps: size / MB / median(r.c), decompressMBps: size / MB / median(r.d), ok: r.ok, c: r.c, d: r.d };
    });
    const zstd = rows.find((x) => x.tool.startsWith('zstd'))!;
    const pp = rows[0];
    const tables: Table[] = [
      {
        title: `Xen HVM migration stream, ${fmt(size / MB, 0)} MB (${mib} MiB guest + 3 passes re-sending 15 %), tmpfs → tmpfs, median of ${runs}`,
        headers: ['tool', 'output MB', 'x zstd size', 'ratio', 'compress MB/s', 'x vs zstd', 'decompress MB/s', 'x vs zstd -d', 'round trip'],
        rows: rows.map((x) => [
          x.tool,
          fmt(x.bytes / MB, 1),
          fmt(x.bytes / zstd.bytes, 3),
          fmt(x.ratio, 3),
          fmt(x.compressMBps, 0),
          fmt(x.compressMBps / zstd.compressMBps, 2),
          fmt(x.decompressMBps, 0),
          fmt(x.decompressMBps / zstd.decompressMBps, 2),
          x.ok ? 'ok' : 'MISMATCH',
        ]),
      },
    ];
    const criteria = [
      criterion('X1', 'Xen stream: output size vs zstd -1 -T2 (at most 0.75x)', pp.bytes / zstd.bytes, '<', 0.75, 'x', `${fmt(pp.bytes / MB, 1)} vs ${fmt(zstd.bytes / MB, 1)} MB`),
      criterion('X2', 'Xen stream: compress -T2 throughput vs zstd -1 -T2', pp.compressMBps / zstd.compressMBps, '>=', 0.85, 'x', `${fmt(pp.compressMBps, 0)} vs ${fmt(zstd.compressMBps, 0)} MB/s`),
      criterion('X3', 'Xen stream: round trips byte-identical, all tools', rows.filter((x) => x.ok).length, '>=', rows.length, `of ${rows.length}`),
    ];
    const notes = [
      "The Xen filter keeps a page cache of 262144 pages (1 GiB) on each side, so its peak RSS is about 1.2 GB here (the cache fills as the guest's pages are sent); `--cache-slots` bounds it.",
    ];
    return { tables, criteria, notes, data: { stream: { ...meta, bytes: size, mib }, rows } };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) benchMain('xen', '', run);
