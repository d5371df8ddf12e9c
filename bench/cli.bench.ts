/**
 * Criteria A and B: the `pagepress` CLI against the zstd, lz4 and gzip command lines,
 * file on tmpfs to file on tmpfs, same bytes, same run. Each timing is the wall time of
 * the whole process (start-up and I/O included) and the median of N runs; the tools take
 * turns within each round so load spikes hit all of them alike. Every compressed output
 * is decompressed by its own tool and byte-compared with the input.
 *
 *   node dist/bench/cli.bench.js [--quick] [--corpus F] [--zero-heavy F] [--runs N]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BenchOptions, benchMain, cliPath, Criterion, criterion, fmt, inputs, MB, median, sameFile, scratchDir, Table, timeCommand } from './common';

interface Tool {
  name: string;
  ext: string;
  /** Command that compresses `input` into `out`. */
  compress: (input: string, out: string) => { cmd: string; args: string[]; stdin?: string; stdout?: string };
  /** Command that decompresses `input` into `out`. */
  decompress: (input: string, out: string) => { cmd: string; args: string[]; stdin?: string; stdout?: string };
  /** Is pagepress (the subject), not a baseline. */
  subject?: boolean;
}

const node = process.execPath;

export function tools(): Tool[] {
  const cli = cliPath();
  const pp = (codec: string | null): Tool => ({
    name: codec ? `pagepress -T2 --codec ${codec}` : 'pagepress -T2 (default: zstd 1)',
    ext: codec ? `.${codec}.pp` : '.pp',
    subject: codec === null,
    compress: (i, o) => ({ cmd: node, args: [cli, 'compress', i, '-o', o, '-T2', '-f', '-q', ...(codec ? ['--codec', codec] : [])] }),
    decompress: (i, o) => ({ cmd: node, args: [cli, 'decompress', i, '-o', o, '-T2', '-f', '-q'] }),
  });
  return [
    pp(null),
    pp('lz4'),
    pp('auto'),
    {
      name: 'zstd -1 -T2',
      ext: '.zst',
      compress: (i, o) => ({ cmd: 'zstd', args: ['-1', '-T2', '-q', '-f', i, '-o', o] }),
      decompress: (i, o) => ({ cmd: 'zstd', args: ['-d', '-q', '-f', i, '-o', o] }),
    },
    {
      name: 'lz4 -1',
      ext: '.lz4',
      compress: (i, o) => ({ cmd: 'lz4', args: ['-1', '-q', '-f', i, o] }),
      decompress: (i, o) => ({ cmd: 'lz4', args: ['-d', '-q', '-f', i, o] }),
    },
    {
      name: 'gzip -1',
      ext: '.gz',
      compress: (i, o) => ({ cmd: 'gzip', args: ['-1', '-c'], stdin: i, stdout: o }),
      decompress: (i, o) => ({ cmd: 'gzip', args: ['-d', '-c'], stdin: i, stdout: o }),
    },
  ];
}

interface ToolResult {
  tool: string;
  inputBytes: number;
  outputBytes: number;
  ratio: number;
  compressSeconds: number[];
  decompressSeconds: number[];
  compressMBps: number;
  decompressMBps: number;
  roundTrip: boolean;
}

function exec(c: { cmd: string; args: string[]; stdin?: string; stdout?: string }): number {
  if (c.stdout) fs.rmSync(c.stdout, { force: true });
  return timeCommand(c.cmd, c.args, { stdin: c.stdin, stdout: c.stdout });
}

/** Measures every tool on one input file (already on tmpfs). */
function measure(input: string, dir: string, runs: number, list: Tool[]): ToolResult[] {
  const size = fs.statSync(input).size;
  const res = list.map((t) => ({ t, c: [] as number[], d: [] as number[], out: path.join(dir, `x${t.ext}`), back: path.join(dir, `x${t.ext}.out`), roundTrip: true }));
  // Warm-up: one untimed compress + decompress per tool (page cache, binaries, JIT of the CLI's modules).
  // Decompressed copies are removed as soon as they are timed (the last round's after the
  // round-trip check): six 2 GiB copies on tmpfs would put the machine under memory
  // pressure and slow every tool's page allocation, unevenly.
  for (const r of res) {
    exec(r.t.compress(input, r.out));
    exec(r.t.decompress(r.out, r.back));
    fs.rmSync(r.back, { force: true });
  }
  for (let round = 0; round < runs; round++) {
    for (const r of res) {
      fs.rmSync(r.out, { force: true });
      r.c.push(exec(r.t.compress(input, r.out)));
    }
    for (const r of res) {
      fs.rmSync(r.back, { force: true });
      r.d.push(exec(r.t.decompress(r.out, r.back)));
      if (round === runs - 1) r.roundTrip = sameFile(input, r.back);
      fs.rmSync(r.back, { force: true });
    }
  }
  const out: ToolResult[] = [];
  for (const r of res) {
    const outputBytes = fs.statSync(r.out).size;
    const roundTrip = r.roundTrip;
    fs.rmSync(r.out, { force: true });
    const cs = median(r.c);
    const ds = median(r.d);
    out.push({
      tool: r.t.name,
      inputBytes: size,
      outputBytes,
      ratio: size / outputBytes,
      compressSeconds: r.c,
      decompressSeconds: r.d,
      compressMBps: size / MB / cs,
      decompressMBps: size / MB / ds,
      roundTrip,
    });
  }
  return out;
}

export async function run(o: BenchOptions): Promise<{ tables: Table[]; criteria: Criterion[]; notes: string[]; data: unknown }> {
  const dir = scratchDir('cli');
  const tables: Table[] = [];
  const criteria: Criterion[] = [];
  const notes: string[] = [];
  const data: Record<string, unknown> = {};
  const list = tools();
  try {
    for (const inp of inputs(o)) {
      const runs = o.runs ?? (o.quick ? 1 : inp.key === 'zeroHeavy' ? 5 : 7);
      const copy = path.join(dir, `input-${inp.key}.bin`);
      fs.copyFileSync(inp.file, copy);
      process.stderr.write(`[cli] ${inp.name}: ${list.length} tools x ${runs} runs\n`);
      const r = measure(copy, dir, runs, list);
      fs.rmSync(copy, { force: true });
      data[inp.key] = r;
      const zstd = r.find((x) => x.tool.startsWith('zstd'))!;
      const pp = r.find((x) => x.tool.startsWith('pagepress -T2 (default'))!;
      tables.push({
        title: `CLI, ${inp.name}, ${fmt(r[0].inputBytes / MB, 0)} MB, tmpfs → tmpfs, median of ${runs}`,
        headers: ['tool', 'ratio', 'compress MB/s', 'x vs zstd', 'decompress MB/s', 'x vs zstd -d', 'round trip'],
        rows: r.map((x) => [
          x.tool,
          fmt(x.ratio, 3),
          fmt(x.compressMBps, 0),
          fmt(x.compressMBps / zstd.compressMBps, 2),
          fmt(x.decompressMBps, 0),
          fmt(x.decompressMBps / zstd.decompressMBps, 2),
          x.roundTrip ? 'ok' : 'MISMATCH',
        ]),
      });
      for (const x of r) if (!x.roundTrip) notes.push(`round trip FAILED for ${x.tool} on ${inp.name}`);
      const tag = inp.key === 'real' ? 'real corpus' : 'zero-heavy';
      criteria.push(criterion(inp.key === 'real' ? 'A1' : 'A3', `compress ratio vs zstd -1 -T2 (${tag})`, pp.ratio / zstd.ratio, '>=', 1.0, 'x', `${fmt(pp.ratio, 3)} vs ${fmt(zstd.ratio, 3)}`));
      criteria.push(
        criterion(
          inp.key === 'real' ? 'A2' : 'A4',
          `compress -T2 throughput vs zstd -1 -T2 (${tag})`,
          pp.compressMBps / zstd.compressMBps,
          '>=',
          inp.key === 'real' ? 0.85 : 1.0,
          'x',
          `${fmt(pp.compressMBps, 0)} vs ${fmt(zstd.compressMBps, 0)} MB/s`,
        ),
      );
      criteria.push(
        criterion(
          inp.key === 'real' ? 'B1' : 'B2',
          `decompress throughput vs zstd -d (${tag})`,
          pp.decompressMBps / zstd.decompressMBps,
          '>=',
          1.0,
          'x',
          `${fmt(pp.decompressMBps, 0)} vs ${fmt(zstd.decompressMBps, 0)} MB/s`,
        ),
      );
      criteria.push(criterion(inp.key === 'real' ? 'AB-rt1' : 'AB-rt2', `round trips byte-identical, all tools (${tag})`, r.filter((x) => x.roundTrip).length, '>=', r.length, 'of ' + r.length));
    }
    const startup: number[] = [];
    for (let i = 0; i < 5; i++) startup.push(timeCommand(node, [cliPath(), '--version']));
    const empty = path.join(dir, 'empty.bin');
    fs.writeFileSync(empty, Buffer.alloc(0));
    const startupCompress: number[] = [];
    for (let i = 0; i < 5; i++) startupCompress.push(exec(list[0].compress(empty, path.join(dir, 'empty.pp'))));
    data.startup = { versionSeconds: startup, emptyCompressSeconds: startupCompress };
    notes.push(
      `CLI timings are whole-process wall time, start-up included: \`pagepress --version\` takes ${fmt(median(startup) * 1000, 0)} ms and ` +
        `\`pagepress compress\` of an empty file -T2 ${fmt(median(startupCompress) * 1000, 0)} ms (median of 5) on this machine. zstd -d decodes on one thread and writes from another (--asyncio, its default).`,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return { tables, criteria, notes, data };
}

if (require.main === module) benchMain('cli', '', run);
