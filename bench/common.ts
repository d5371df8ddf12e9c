/**
 * Shared helpers of the benchmark suite: argument parsing, inputs, timing, medians,
 * tables, acceptance criteria, machine information and the child-process protocol.
 *
 * Every `bench/<area>.bench.ts` exports `run(opts): Promise<SectionResult>` and is
 * runnable alone (`node dist/bench/cli.bench.js [--quick] [--corpus F] ...`); the runner
 * (bench/run.ts) starts each one in its own child process with `--result FILE` and
 * collects the JSON it writes there.
 */
import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureCorpus } from './corpus/ensure';

/** 10^6 bytes: every MB/s figure is uncompressed megabytes per second. */
export const MB = 1e6;
export const MiB = 1024 * 1024;

/** Options every benchmark file understands. */
export interface BenchOptions {
  /** Tiny CI configuration (16 MiB corpus, 1 run each, small RSS stream). */
  quick: boolean;
  /** Real-memory corpus file. */
  corpus: string;
  /** Zero-heavy image file. */
  zeroHeavy: string;
  /** Runs per timed CLI case (median); undefined = the file's default. */
  runs?: number;
  /** Where a child writes its SectionResult (runner protocol). */
  result?: string;
  /** Sections selected (runner only). */
  only: string[];
}

export const SECTIONS = ['cli', 'batch', 'loop', 'rss', 'xen'] as const;
export type SectionName = (typeof SECTIONS)[number];

/** One printed table. */
export interface Table {
  title: string;
  headers: string[];
  rows: Array<Array<string | number>>;
  /** Optional note printed under the table. */
  note?: string;
}

/** One acceptance criterion, checked on measured numbers. */
export interface Criterion {
  id: string;
  /** What is compared, e.g. "compress -T2 throughput vs zstd -1 -T2 (real corpus)". */
  what: string;
  measured: number;
  target: number;
  /** `>=`: measured must be at least target; `<`: below it. */
  op: '>=' | '<';
  unit: string;
  pass: boolean;
  /** The raw figures behind a ratio, e.g. "412 vs 455 MB/s". */
  detail?: string;
}

/** What a benchmark file returns. */
export interface SectionResult {
  section: SectionName;
  tables: Table[];
  criteria: Criterion[];
  notes: string[];
  /** Machine-readable measurements (free form per section). */
  data: unknown;
  seconds: number;
  /** Load average before / after the section. */
  load: { before: number[]; after: number[] };
}

export function criterion(id: string, what: string, measured: number, op: '>=' | '<', target: number, unit: string, detail?: string): Criterion {
  const ok = Number.isFinite(measured) && (op === '>=' ? measured >= target : measured < target);
  return { id, what, measured, target, op, unit, pass: ok, detail };
}

export function formatCriterion(c: Criterion): string {
  let digits = c.unit === 'x' ? 3 : c.unit.startsWith('of ') ? 0 : 1;
  if (!c.pass && fmt(c.measured, digits) === fmt(c.target, digits)) digits += 2; // a fail must not print as equal to its target
  const m = `${fmt(c.measured, digits)}${c.unit === 'x' ? 'x' : ' ' + c.unit}`;
  const t = `${c.op === '>=' ? '≥' : '<'} ${c.target}${c.unit === 'x' ? 'x' : ' ' + c.unit}`;
  return `${c.pass ? 'PASS' : 'FAIL'}: ${c.id} ${c.what}: measured ${m} vs target ${t}${c.detail ? ` (${c.detail})` : ''}`;
}

/** Parses the common flags; unknown flags are a usage error. */
export function parseArgs(argv: string[], usage: string): Partial<BenchOptions> & { only: string[]; quick: boolean } {
  const o: Partial<BenchOptions> & { only: string[]; quick: boolean } = { only: [...SECTIONS], quick: false };
  const die = (msg: string): never => {
    process.stderr.write(`${msg}\n${usage}\n`);
    process.exit(2);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = (): string => (i + 1 < argv.length ? argv[++i] : die(`${a} needs a value`));
    switch (a) {
      case '--quick':
        o.quick = true;
        break;
      case '--corpus':
        o.corpus = path.resolve(v());
        break;
      case '--zero-heavy':
        o.zeroHeavy = path.resolve(v());
        break;
      case '--runs': {
        const n = Number(v());
        if (!Number.isInteger(n) || n < 1 || n > 100) die('--runs must be an integer 1..100');
        o.runs = n;
        break;
      }
      case '--only': {
        const list = v()
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
        for (const s of list) if (!(SECTIONS as readonly string[]).includes(s)) die(`--only: unknown section ${s} (${SECTIONS.join(',')})`);
        o.only = list;
        break;
      }
      case '--result':
        o.result = path.resolve(v());
        break;
      case '-h':
      case '--help':
        process.stdout.write(`${usage}\n`);
        process.exit(0);
        break;
      default:
        die(`unknown argument ${a}`);
    }
  }
  return o;
}

export const COMMON_USAGE =
  '  --quick            tiny CI configuration (16 MiB corpus, 1 run each)\n' +
  '  --corpus FILE      real-memory corpus (default: built by bench/corpus/ensure)\n' +
  '  --zero-heavy FILE  zero-heavy image (default: built by bench/corpus/ensure)\n' +
  '  --runs N           timed runs per case (median)';

/** Resolves the two input files, building missing ones with the corpus helper. */
export async function resolveInputs(o: Partial<BenchOptions> & { quick: boolean; only: string[] }): Promise<BenchOptions> {
  let corpus = o.corpus;
  let zeroHeavy = o.zeroHeavy;
  if (!corpus || !zeroHeavy) {
    const files = await ensureCorpus({ tiny: o.quick, log: (m) => process.stderr.write(`[corpus] ${m}\n`) });
    corpus ??= files.real;
    zeroHeavy ??= files.zeroHeavy;
  }
  for (const f of [corpus, zeroHeavy]) if (!fs.existsSync(f)) throw new Error(`input file missing: ${f}`);
  return { quick: o.quick, corpus, zeroHeavy, runs: o.runs, result: o.result, only: o.only };
}

/** The two inputs with display names. */
export function inputs(o: BenchOptions): Array<{ key: 'real' | 'zeroHeavy'; name: string; file: string }> {
  return [
    { key: 'real', name: `real corpus (${path.basename(o.corpus)})`, file: o.corpus },
    { key: 'zeroHeavy', name: `zero-heavy (${path.basename(o.zeroHeavy)})`, file: o.zeroHeavy },
  ];
}

/** Root of the repository (this file is dist/bench/common.js or bench/common.ts). */
export function repoRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 5; i++) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    dir = path.dirname(dir);
  }
  throw new Error('repository root not found');
}

/** The compiled CLI entry point. */
export function cliPath(): string {
  return path.join(repoRoot(), 'dist', 'lib', 'cli', 'main.js');
}

/** A private scratch directory on tmpfs, removed by the caller. */
export function scratchDir(tag: string): string {
  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  return fs.mkdtempSync(path.join(base, `pagepress-bench-${tag}-`));
}

export function now(): bigint {
  return process.hrtime.bigint();
}

export function secondsSince(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function fmt(x: number, digits = 1): string {
  if (!Number.isFinite(x)) return String(x);
  return x.toFixed(digits);
}

/** Markdown table text (the same text is printed and written into docs/PERFORMANCE.md). */
export function tableText(t: Table): string {
  const cells = [t.headers, ...t.rows.map((r) => r.map(String))];
  const widths = t.headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => `| ${r.map((c, i) => (c ?? '').padEnd(widths[i])).join(' | ')} |`;
  const out = [line(cells[0]), `| ${widths.map((w) => '-'.repeat(Math.max(3, w))).join(' | ')} |`, ...cells.slice(1).map(line)];
  return out.join('\n');
}

export function printTable(t: Table): void {
  process.stdout.write(`\n### ${t.title}\n\n${tableText(t)}\n${t.note ? `\n${t.note}\n` : ''}`);
}

/** Writes a section's tables and criteria to stdout. */
export function printSection(r: SectionResult): void {
  for (const t of r.tables) printTable(t);
  if (r.criteria.length) process.stdout.write(`\n${r.criteria.map(formatCriterion).join('\n')}\n`);
  for (const n of r.notes) process.stdout.write(`note: ${n}\n`);
}

export function loadavg(): number[] {
  return os.loadavg().map((x) => Math.round(x * 100) / 100);
}

function firstLine(cmd: string, args: string[]): string {
  try {
    const r = cp.spawnSync(cmd, args, { encoding: 'utf8' });
    return `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n').find((l) => l.trim()) ?? 'unknown';
  } catch {
    return 'not found';
  }
}

function pkgVersion(name: string): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(repoRoot(), 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** Machine and tool versions for the report. */
export interface MachineInfo {
  cpu: string;
  cores: number;
  ramGiB: number;
  kernel: string;
  os: string;
  node: string;
  zstd: string;
  lz4: string;
  gzip: string;
  zstdNapi: string;
  lz4Napi: string;
  benchmarkJs: string;
  pagepress: string;
  gitCommit: string;
  /** Files changed in the working tree (outside bench/) when the run started: what was measured is not exactly gitCommit. */
  gitDirty?: string[];
  loadavg: number[];
  /** Variables the benchmark removed from the environment of every tool it runs (see {@link STARTUP_ONLY_ENV}). */
  envRemoved: string[];
  /** `node -e 0`, median of 5 runs, ms: in the benchmark's environment, and with the caller's environment as it was. */
  nodeStartMs: { clean: number; inherited: number };
}

/**
 * Environment variables that cost every Node process start-up time and have no bearing on what
 * is measured. Node 20 reads and parses the NODE_EXTRA_CA_CERTS bundle as the process starts
 * (about 36 ms of one core on the reference machine, whose image sets it); none of the benchmarked
 * commands opens a TLS connection, and zstd, lz4 and gzip pay nothing alike.
 */
export const STARTUP_ONLY_ENV = ['NODE_EXTRA_CA_CERTS'];

/** The {@link STARTUP_ONLY_ENV} variables set in this process's environment. */
function startupOnlyEnvSet(): string[] {
  return STARTUP_ONLY_ENV.filter((k) => process.env[k] !== undefined);
}

/** Removes {@link STARTUP_ONLY_ENV} from this process's environment (inherited by every tool it starts); returns the names removed. */
export function cleanEnvironment(): string[] {
  const removed = startupOnlyEnvSet();
  for (const k of removed) delete process.env[k];
  return removed;
}

function nodeStartMs(env: NodeJS.ProcessEnv): number {
  const runs: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = now();
    cp.spawnSync(process.execPath, ['-e', '0'], { env, stdio: 'ignore' });
    runs.push(secondsSince(t0) * 1000);
  }
  return Math.round(median(runs));
}

/** Machine and tool versions; call before {@link cleanEnvironment} so that the start-up cost of the caller's environment is measured. */
export function machineInfo(): MachineInfo {
  let osName = os.type();
  try {
    const rel = fs.readFileSync('/etc/os-release', 'utf8');
    osName = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(rel)?.[1] ?? osName;
  } catch {
    /* not Linux */
  }
  let commit = 'unknown';
  let dirty: string[] = [];
  try {
    commit = cp.execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot(), encoding: 'utf8' }).trim();
    dirty = cp
      .execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: repoRoot(), encoding: 'utf8' })
      .split('\n')
      .map((l) => l.slice(3).trim())
      .filter((f) => f && !f.startsWith('bench/') && f !== 'docs/PERFORMANCE.md');
  } catch {
    /* no git */
  }
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    ramGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: os.release(),
    os: osName,
    node: process.version,
    zstd: firstLine('zstd', ['--version']).replace(/^\*+\s*|\s*\*+$/g, ''),
    lz4: firstLine('lz4', ['--version']).replace(/^\*+\s*|\s*\*+$/g, ''),
    gzip: firstLine('gzip', ['--version']),
    zstdNapi: pkgVersion('zstd-napi'),
    lz4Napi: pkgVersion('lz4-napi'),
    benchmarkJs: pkgVersion('benchmark'),
    pagepress: pkgVersion('../'),
    gitCommit: commit,
    gitDirty: dirty,
    loadavg: loadavg(),
    envRemoved: startupOnlyEnvSet(),
    nodeStartMs: {
      clean: nodeStartMs(Object.fromEntries(Object.entries(process.env).filter(([k]) => !STARTUP_ONLY_ENV.includes(k)))),
      inherited: nodeStartMs(process.env),
    },
  };
}

/** Runs a command to completion; returns wall seconds. Throws on a non-zero exit. */
export function timeCommand(cmd: string, args: string[], opts: { stdin?: string; stdout?: string } = {}): number {
  const inFd = opts.stdin ? fs.openSync(opts.stdin, 'r') : 'ignore';
  const outFd = opts.stdout ? fs.openSync(opts.stdout, 'w') : 'ignore';
  try {
    const t0 = now();
    const r = cp.spawnSync(cmd, args, { stdio: [inFd, outFd, 'pipe'], maxBuffer: 16 * MiB });
    const s = secondsSince(t0);
    if (r.error) throw r.error;
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}: ${String(r.stderr).trim()}`);
    return s;
  } finally {
    if (typeof inFd === 'number') fs.closeSync(inFd);
    if (typeof outFd === 'number') fs.closeSync(outFd);
  }
}

/** Byte compare of two files (cmp -s). */
export function sameFile(a: string, b: string): boolean {
  if (fs.statSync(a).size !== fs.statSync(b).size) return false;
  return cp.spawnSync('cmp', ['-s', a, b]).status === 0;
}

/**
 * Main of a benchmark file: parse flags, resolve inputs, run, print, and (as a child of
 * the runner) write the result JSON.
 */
export function benchMain(name: SectionName, usage: string, run: (o: BenchOptions) => Promise<Omit<SectionResult, 'seconds' | 'load' | 'section'>>): void {
  const parsed = parseArgs(process.argv.slice(2), `usage: node dist/bench/${name}... [options]\n${COMMON_USAGE}\n${usage}`);
  cleanEnvironment();
  (async () => {
    const o = await resolveInputs(parsed);
    const r = await runSection(name, o, run);
    printSection(r);
    if (o.result) fs.writeFileSync(o.result, JSON.stringify(r, null, 2));
  })().then(
    () => process.exit(0),
    (e: Error) => {
      process.stderr.write(`${name}: ${e.stack ?? e.message}\n`);
      process.exit(1);
    },
  );
}

export async function runSection(name: SectionName, o: BenchOptions, run: (o: BenchOptions) => Promise<Omit<SectionResult, 'seconds' | 'load' | 'section'>>): Promise<SectionResult> {
  const before = loadavg();
  const t0 = now();
  const r = await run(o);
  return { section: name, ...r, seconds: Math.round(secondsSince(t0) * 10) / 10, load: { before, after: loadavg() } };
}
