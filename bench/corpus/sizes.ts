/**
 * Compressed sizes of corpus files against the baselines pagepress is measured by: for each
 * file its page statistics (stats.ts) and the output bytes (and wall time) of
 * `zstd -1 -T2`, `zstd -1 -T2 --long=30` and `pagepress compress -T2` (dist/lib/cli/main.js,
 * run with NODE_EXTRA_CA_CERTS unset). Prints a markdown table; --json writes the rows.
 *
 *   node dist/bench/corpus/sizes.js FILE [FILE...] [--json OUT]
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../guest/paths';
import { pageStats, PageStats } from './stats';

/** One compressor's result on one file. */
export interface SizeResult {
  bytes: number;
  seconds: number;
}

/** One file's row. */
export interface SizeRow {
  file: string;
  inputBytes: number;
  stats: PageStats;
  zstd1: SizeResult;
  zstd1Long30: SizeResult;
  pagepress: SizeResult;
}

/** Runs `cmd args < file`, counting its stdout bytes; rejects naming the command if it fails. */
export function compressedSize(cmd: string, args: string[], file: string): Promise<SizeResult> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    const t0 = process.hrtime.bigint();
    const fd = fs.openSync(file, 'r');
    const child = spawn(cmd, args, { stdio: [fd, 'pipe', 'pipe'], env });
    fs.closeSync(fd); // the child has its own copy
    let bytes = 0;
    let err = '';
    child.stdout?.on('data', (d: Buffer) => {
      bytes += d.length;
    });
    child.stderr?.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-2000);
    });
    child.once('error', (e) => reject(new Error(`${cmd}: ${e.message}`)));
    child.once('close', (code, signal) => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      if (code !== 0) reject(new Error(`${cmd} ${args.join(' ')} < ${file}: exit ${code ?? signal}: ${err.trim()}`));
      else resolve({ bytes, seconds: +seconds.toFixed(3) });
    });
  });
}

/** Measures one file (the three compressors run one after another). */
export async function measure(file: string): Promise<SizeRow> {
  const cli = path.join(repoRoot(), 'dist', 'lib', 'cli', 'main.js');
  const stats = pageStats(file);
  const zstd1 = await compressedSize('zstd', ['-1', '-T2', '-c', '-q'], file);
  const zstd1Long30 = await compressedSize('zstd', ['-1', '-T2', '--long=30', '-c', '-q'], file);
  const pagepress = await compressedSize(process.execPath, [cli, 'compress', '-T2', '-q', '-o', '-'], file);
  return { file, inputBytes: fs.statSync(file).size, stats, zstd1, zstd1Long30, pagepress };
}

/** The markdown table of the rows. */
export function table(rows: SizeRow[]): string {
  const mb = (n: number) => (n / 1e6).toFixed(1);
  const pct = (x: number) => (x * 100).toFixed(1);
  const lines = [
    '| file | input MB | zero % | dup % | dup in same batch % | zstd -1 -T2 MB | zstd -1 -T2 --long=30 MB | pagepress -T2 MB | pagepress / --long |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    lines.push(
      `| ${path.basename(r.file)} | ${mb(r.inputBytes)} | ${pct(r.stats.zeroFraction)} | ${pct(r.stats.duplicateNonZeroFraction)} | ` +
        `${pct(r.stats.duplicateSameBatchFraction)} | ${mb(r.zstd1.bytes)} | ${mb(r.zstd1Long30.bytes)} | ${mb(r.pagepress.bytes)} | ` +
        `${(r.pagepress.bytes / r.zstd1Long30.bytes).toFixed(2)}x |`,
    );
  }
  const sum = (f: (r: SizeRow) => number) => rows.reduce((n, r) => n + f(r), 0);
  if (rows.length > 1) {
    lines.push(
      `| **total** | ${mb(sum((r) => r.inputBytes))} | | | | ${mb(sum((r) => r.zstd1.bytes))} | ${mb(sum((r) => r.zstd1Long30.bytes))} | ` +
        `${mb(sum((r) => r.pagepress.bytes))} | ${(sum((r) => r.pagepress.bytes) / sum((r) => r.zstd1Long30.bytes)).toFixed(2)}x |`,
    );
  }
  return lines.join('\n');
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const j = args.indexOf('--json');
  const jsonOut = j >= 0 ? args[j + 1] : undefined;
  const files = args.filter((_, i) => j < 0 || (i !== j && i !== j + 1));
  if (files.length === 0 || (j >= 0 && !jsonOut)) {
    process.stderr.write('usage: node dist/bench/corpus/sizes.js FILE [FILE...] [--json OUT]\n');
    process.exit(2);
  }
  (async () => {
    const rows: SizeRow[] = [];
    for (const f of files) {
      const r = await measure(f);
      process.stderr.write(
        `${path.basename(f)}: zstd -1 ${r.zstd1.bytes} (${r.zstd1.seconds} s), --long=30 ${r.zstd1Long30.bytes} ` +
          `(${r.zstd1Long30.seconds} s), pagepress ${r.pagepress.bytes} (${r.pagepress.seconds} s)\n`,
      );
      rows.push(r);
    }
    if (jsonOut) fs.writeFileSync(jsonOut, `${JSON.stringify(rows, null, 2)}\n`);
    process.stdout.write(`${table(rows)}\n`);
  })().catch((e: Error) => {
    process.stderr.write(`sizes: ${e.message}\n`);
    process.exit(1);
  });
}
