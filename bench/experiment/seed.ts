/**
 * `npm run experiment`: the seed study reproduced (issue 5, item 6). For each guest size x
 * link rate x method x repetition: make an emulated link, a SimulatedGuest (pages from the
 * real-memory corpus when present), start a receiver process on the link's far side, migrate,
 * and record total time, downtime, bytes on the wire, iterations and pages per iteration.
 * Writes bench/results/experiment-<date>.json (and experiment-latest.json on a full run),
 * docs/RESULTS.md and docs/results/*.svg.
 *
 *   npm run experiment                               # full: 0.5,1,1.5,2 GiB x 100M,1G x 4 methods x 3
 *   npm run experiment -- --quick                    # 32 and 64 MiB, 1G, 1 rep: a few minutes
 *   npm run experiment -- --sizes 0.5,1 --rates 100M --reps 3 --workload webserver
 *
 * Study: "Minimizing Migration Time of Virtual Machines by Serializing & Compressing Memory
 * Pages in Xen Hypervisor" (D. Abbi). Its published numbers are in render.ts (SEED_PUBLISHED).
 */
import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { createLink, Link, LinkSpec } from '../../lib/migration/link';
import { SimulatedGuest } from '../../lib/migration/guests/simulated-guest';
import { isWorkloadName, WORKLOADS, WorkloadName } from '../../lib/migration/guests/workloads';
import { migrate } from '../../lib/migration/sender';
import type { MigrationReport } from '../../lib/migration/metrics';
import { criterion, Criterion, formatCriterion, loadavg, machineInfo, MachineInfo, median, MiB, repoRoot } from '../common';
import { CommonSettings, METHOD_NAMES, METHODS, MethodName, WIRE_FRACTION_ESTIMATE } from './methods';

const GiB = 1024 * MiB;
const PAGE = 4096;

/** One migration. */
export interface RunRecord {
  sizeBytes: number;
  rate: string;
  method: MethodName;
  rep: number;
  ok: boolean;
  error?: string;
  link: string;
  linkKind: 'kernel' | 'userspace';
  totalMs: number;
  downtimeMs: number;
  downtime?: MigrationReport['downtime'];
  /** Protocol bytes both ways (sender -> receiver + back). */
  wireBytes: number;
  rawBytes: number;
  liveIterations: number;
  /** Pages sent per iteration, the final (paused) one last. */
  iterationPages: number[];
  /** Pages re-sent after the first pass (the dirty pages; Figure 4.2's quantity). */
  dirtyPages: number;
  /** Pages sent in the final, paused iteration. */
  finalPages: number;
  stopReason: string;
  kinds?: MigrationReport['kinds'];
  /** BATCH frames per codec (what `auto` chose). */
  codecs?: MigrationReport['codecs'];
  ratio: number;
  guestWrites?: number;
  /** Seconds for the guest's creation (not in totalMs). */
  guestSetupS: number;
}

export interface Spread {
  median: number;
  min: number;
  max: number;
}

/** Median and min-max over the repetitions of one point. */
export interface Point {
  sizeBytes: number;
  rate: string;
  method: MethodName;
  n: number;
  failed: number;
  totalMs: Spread;
  downtimeMs: Spread;
  wireBytes: Spread;
  liveIterations: Spread;
  dirtyPages: Spread;
  finalPages: Spread;
  /** Pages per iteration of the run with the median total time. */
  iterationPages: number[];
  stopReason: string;
}

export interface ExperimentReport {
  kind: 'pagepress-seed-experiment';
  date: string;
  quick: boolean;
  command: string;
  machine: MachineInfo;
  config: {
    sizes: number[];
    rates: string[];
    reps: number;
    methods: MethodName[];
    workload: WorkloadName;
    dirtyRate: number;
    source: string | null;
    common: CommonSettings;
    linkPrefer: 'kernel' | 'userspace';
    receiverThreads: number;
  };
  links: Record<string, string>;
  runs: RunRecord[];
  points: Point[];
  criteria: Criterion[];
  criteriaRate: string | null;
  estimateS: number;
  seconds: number;
  load: { before: number[]; after: number[] };
  notes: string[];
}

export const RATES: Record<string, number> = { '10M': 10e6, '100M': 100e6, '1G': 1e9, '10G': 10e9 };

const USAGE = `usage: npm run experiment -- [options]
  --quick              32 and 64 MiB guests, 1 Gbit/s, 1 repetition (a few minutes)
  --sizes LIST         guest sizes, GiB by default or with a suffix: 0.5,1,1.5,2 or 32M,64M
  --rates LIST         link rates: 10M, 100M, 1G, 10G (default 100M,1G)
  --reps N             repetitions per point (default 3)
  --methods LIST       subset of raw,non-adaptive,seed,pagepress
  --workload NAME      idle, pagecache, hotset, inplace, webserver (default webserver)
  --dirty-rate N       page writes per second (default: the workload's)
  --source FILE        memory image for the guest's pages (default: the real-memory corpus if present)
  --link kernel|userspace  preferred link implementation (default kernel, falls back to userspace)
  --deflate-level N    level of the two deflate methods (default 1)
  --downtime-target MS pagepress's adaptive policy target (default 50)
  --verify sent|paused COMMIT checksum mode for every method (default sent)
  --out FILE           results JSON (default bench/results/experiment-<date>.json)
  --merge FILE         also report the runs of an earlier results JSON at link rates this run
                       does not cover (e.g. a 1G run merged with a 100M run); the page names both
  --no-docs            do not write docs/RESULTS.md and docs/results/*.svg`;

interface Args {
  quick: boolean;
  sizes: number[];
  rates: string[];
  reps: number;
  methods: MethodName[];
  workload: WorkloadName;
  dirtyRate?: number;
  source?: string;
  link: 'kernel' | 'userspace';
  deflateLevel: number;
  verify: 'sent' | 'paused';
  downtimeTargetMs: number;
  out?: string;
  merge?: string;
  docs: boolean;
}

function die(msg: string): never {
  process.stderr.write(`${msg}\n${USAGE}\n`);
  process.exit(2);
}

export function parseSizeArg(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMG]?)i?B?$/i.exec(s.trim());
  if (!m) die(`bad size ${s}`);
  const n = Number(m[1]);
  const unit = (m[2] || 'G').toUpperCase();
  const bytes = Math.round(n * (unit === 'K' ? 1024 : unit === 'M' ? MiB : GiB));
  if (bytes <= 0 || bytes % PAGE) die(`size ${s} must be a positive multiple of 4 KiB`);
  return bytes;
}

function parseArgs(argv: string[]): Args {
  const a: Partial<Args> & { quick: boolean; docs: boolean } = { quick: false, docs: true };
  const set: Record<string, boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = (): string => (i + 1 < argv.length ? argv[++i] : die(`${k} needs a value`));
    set[k] = true;
    switch (k) {
      case '--quick':
        a.quick = true;
        break;
      case '--sizes':
        a.sizes = v().split(',').filter(Boolean).map(parseSizeArg);
        break;
      case '--rates':
        a.rates = v()
          .split(',')
          .filter(Boolean)
          .map((r) => (r.toUpperCase() in RATES ? r.toUpperCase() : die(`unknown rate ${r}`)));
        break;
      case '--reps':
        a.reps = Number(v());
        if (!Number.isInteger(a.reps) || a.reps < 1 || a.reps > 50) die('--reps must be 1..50');
        break;
      case '--methods':
        a.methods = v()
          .split(',')
          .map((m) => ((METHOD_NAMES as readonly string[]).includes(m) ? (m as MethodName) : die(`unknown method ${m}`)));
        break;
      case '--workload': {
        const w = v();
        if (!isWorkloadName(w)) die(`unknown workload ${w}`);
        a.workload = w;
        break;
      }
      case '--dirty-rate':
        a.dirtyRate = Number(v());
        if (!(a.dirtyRate >= 0)) die('bad --dirty-rate');
        break;
      case '--source':
        a.source = path.resolve(v());
        break;
      case '--link': {
        const l = v();
        if (l !== 'kernel' && l !== 'userspace') die('--link kernel|userspace');
        a.link = l;
        break;
      }
      case '--deflate-level':
        a.deflateLevel = Number(v());
        if (!Number.isInteger(a.deflateLevel) || a.deflateLevel < 1 || a.deflateLevel > 9) die('--deflate-level 1..9');
        break;
      case '--verify': {
        const m = v();
        if (m !== 'sent' && m !== 'paused') die('--verify sent|paused');
        a.verify = m;
        break;
      }
      case '--downtime-target':
        a.downtimeTargetMs = Number(v());
        if (!(a.downtimeTargetMs > 0)) die('bad --downtime-target');
        break;
      case '--out':
        a.out = path.resolve(v());
        break;
      case '--merge':
        a.merge = path.resolve(v());
        if (!fs.existsSync(a.merge)) die(`--merge: no such file ${a.merge}`);
        break;
      case '--no-docs':
        a.docs = false;
        break;
      case '-h':
      case '--help':
        process.stdout.write(`${USAGE}\n`);
        process.exit(0);
        break;
      default:
        die(`unknown argument ${k}`);
    }
  }
  return {
    quick: a.quick,
    sizes: a.sizes ?? (a.quick ? [32 * MiB, 64 * MiB] : [0.5, 1, 1.5, 2].map((g) => g * GiB)),
    rates: a.rates ?? (a.quick ? ['1G'] : ['100M', '1G']),
    reps: a.reps ?? (a.quick ? 1 : 3),
    methods: a.methods ?? [...METHOD_NAMES],
    workload: a.workload ?? 'webserver',
    dirtyRate: a.dirtyRate,
    source: a.source,
    link: a.link ?? 'kernel',
    deflateLevel: a.deflateLevel ?? 1,
    verify: a.verify ?? 'sent',
    downtimeTargetMs: a.downtimeTargetMs ?? 50,
    out: a.out,
    merge: a.merge,
    docs: a.docs,
  };
}

export function sizeLabel(bytes: number): string {
  return bytes >= GiB ? `${+(bytes / GiB).toFixed(2)} GiB` : `${+(bytes / MiB).toFixed(1)} MiB`;
}

/** Seconds the run should take: wire time of each method's bytes plus setup (rough; printed at start). */
export function estimateSeconds(a: Pick<Args, 'sizes' | 'rates' | 'reps' | 'methods'>): number {
  let s = 0;
  for (const size of a.sizes) {
    for (const rate of a.rates) {
      const goodput = Math.min((RATES[rate] / 8) * 0.956, 110e6); // bytes/s; ~110 MB/s: what 2 cores encode + decode + shape here
      for (const m of a.methods) {
        const resend = 1.25; // later iterations
        // One-page frames are CPU-bound here: ~160 us a page (quick run: 42630 pages in 6.9 s), and
        // being slow they let the guest dirty more, so xen-4.4 tends to run to its 3x-memory cap (~2x counted).
        const cpuFloor = m === 'non-adaptive' ? (size / PAGE) * 160e-6 * 2 : size / 150e6;
        s += Math.max((size * WIRE_FRACTION_ESTIMATE[m] * resend) / goodput, cpuFloor) + 3 + (1.5 * size) / GiB;
      }
    }
  }
  return s * a.reps;
}

// ---------------------------------------------------------------------------------------
// Receiver child: `node seed.js --receiver-child JSON` (started with the link's receiverPrefix)

async function receiverChild(cfgText: string): Promise<void> {
  const { receive } = await import('../../lib/migration/receiver');
  const cfg = JSON.parse(cfgText) as { host: string; port: number; threads: number };
  const emit = (o: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
  try {
    const g = await receive(
      { host: cfg.host, port: cfg.port },
      // insecure: plain TCP on purpose. A kernel link's receiver listens on its veth address
      // (10.213.x.y, inside a namespace this benchmark made), which is not loopback; TLS would
      // add its cost to the figures being measured, and nothing leaves the machine.
      { threads: cfg.threads, idleTimeoutMs: 180_000, maxCacheBytes: 8 * GiB, insecure: true, onListening: (l) => emit({ event: 'listening', port: l.port }) },
    );
    emit({ event: 'done', pages: g.pageCount, pausedMs: g.report.pausedMs, verifyMs: g.report.verifyMs });
    process.exit(0);
  } catch (err) {
    emit({ event: 'error', message: (err as Error).message, code: (err as { code?: string }).code });
    process.exit(1);
  }
}

export interface Child {
  proc: cp.ChildProcess;
  done: Promise<{ ok: boolean; msg: string }>;
}

/** Starts a receiver process (seed.js --receiver-child) on the far side of `link`; resolves once it listens. */
export function startReceiver(link: Link, threads: number): Promise<Child> {
  const argv = [...link.receiverPrefix, process.execPath, __filename, '--receiver-child', JSON.stringify({ host: link.listen.host, port: link.listen.port, threads })];
  const proc = cp.spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let listening = false;
    let result: { ok: boolean; msg: string } | null = null;
    const done = new Promise<{ ok: boolean; msg: string }>((res) => {
      proc.on('exit', (code, sig) => res(result ?? { ok: code === 0, msg: `receiver exited ${code ?? sig}` }));
    });
    const rl = readline.createInterface({ input: proc.stdout });
    rl.on('line', (line) => {
      let ev: { event?: string; message?: string };
      try {
        ev = JSON.parse(line) as typeof ev;
      } catch {
        return;
      }
      if (ev.event === 'listening' && !listening) {
        listening = true;
        resolve({ proc, done });
      } else if (ev.event === 'done') result = { ok: true, msg: 'done' };
      else if (ev.event === 'error') result = { ok: false, msg: `receiver: ${ev.message}` };
    });
    proc.on('exit', (code) => {
      if (!listening) reject(new Error(`receiver exited ${code} before listening`));
    });
    setTimeout(() => {
      if (!listening) {
        proc.kill('SIGKILL');
        reject(new Error('receiver did not listen within 20 s'));
      }
    }, 20_000).unref();
  });
}

// ---------------------------------------------------------------------------------------

function spread(xs: number[]): Spread {
  if (!xs.length) return { median: NaN, min: NaN, max: NaN };
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
}

export function summarize(runs: RunRecord[]): Point[] {
  const keys = new Map<string, RunRecord[]>();
  for (const r of runs) {
    const k = `${r.sizeBytes}|${r.rate}|${r.method}`;
    if (!keys.has(k)) keys.set(k, []);
    keys.get(k)!.push(r);
  }
  const pts: Point[] = [];
  for (const rs of keys.values()) {
    const ok = rs.filter((r) => r.ok);
    const byTotal = [...ok].sort((x, y) => x.totalMs - y.totalMs);
    const mid = byTotal[(byTotal.length - 1) >> 1];
    pts.push({
      sizeBytes: rs[0].sizeBytes,
      rate: rs[0].rate,
      method: rs[0].method,
      n: ok.length,
      failed: rs.length - ok.length,
      totalMs: spread(ok.map((r) => r.totalMs)),
      downtimeMs: spread(ok.map((r) => r.downtimeMs)),
      wireBytes: spread(ok.map((r) => r.wireBytes)),
      liveIterations: spread(ok.map((r) => r.liveIterations)),
      dirtyPages: spread(ok.map((r) => r.dirtyPages)),
      finalPages: spread(ok.map((r) => r.finalPages)),
      iterationPages: mid?.iterationPages ?? [],
      stopReason: mid?.stopReason ?? rs[0].error ?? '',
    });
  }
  return pts;
}

/** The issue's acceptance, at `rate`: pagepress below raw and seed in total time and downtime at every size, total <= half of raw. */
export function criteriaFor(points: Point[], rate: string): Criterion[] {
  const out: Criterion[] = [];
  const sizes = [...new Set(points.filter((p) => p.rate === rate).map((p) => p.sizeBytes))].sort((x, y) => x - y);
  const get = (s: number, m: MethodName): Point | undefined => points.find((p) => p.rate === rate && p.sizeBytes === s && p.method === m);
  for (const s of sizes) {
    const pp = get(s, 'pagepress');
    if (!pp) continue;
    for (const other of ['raw', 'seed'] as MethodName[]) {
      const o = get(s, other);
      if (!o) continue;
      const tag = `${sizeLabel(s).replace(' ', '')}@${rate}`;
      out.push(
        criterion(
          `total<${other} ${tag}`,
          `pagepress median total time vs ${other}, ${sizeLabel(s)} at ${rate}`,
          pp.totalMs.median,
          '<',
          Math.round(o.totalMs.median),
          'ms',
          `${(pp.totalMs.median / 1000).toFixed(2)} s vs ${(o.totalMs.median / 1000).toFixed(2)} s`,
        ),
      );
      out.push(criterion(`downtime<${other} ${tag}`, `pagepress median downtime vs ${other}, ${sizeLabel(s)} at ${rate}`, pp.downtimeMs.median, '<', Math.round(o.downtimeMs.median * 10) / 10, 'ms'));
      if (other === 'raw') {
        out.push(
          criterion(
            `total<=raw/2 ${tag}`,
            `raw median total time / pagepress median total time, ${sizeLabel(s)} at ${rate} (pagepress at most half of raw)`,
            o.totalMs.median / pp.totalMs.median,
            '>=',
            2,
            'x',
          ),
        );
      }
    }
  }
  return out;
}

function rel(f: string): string {
  const r = path.relative(repoRoot(), f);
  return r.startsWith('..') ? f : r;
}

async function runOne(a: Args, common: CommonSettings, size: number, rate: string, method: MethodName, rep: number, source: string | null, links: Record<string, string>): Promise<RunRecord> {
  const spec: LinkSpec = { rateBitsPerSec: RATES[rate], latencyMs: 0.5 };
  const pages = size / PAGE;
  const base: RunRecord = {
    sizeBytes: size,
    rate,
    method,
    rep,
    ok: false,
    link: '',
    linkKind: 'userspace',
    totalMs: NaN,
    downtimeMs: NaN,
    wireBytes: NaN,
    rawBytes: NaN,
    liveIterations: NaN,
    iterationPages: [],
    dirtyPages: NaN,
    finalPages: NaN,
    stopReason: '',
    ratio: NaN,
    guestSetupS: NaN,
  };
  const t0 = performance.now();
  const guest = await SimulatedGuest.create({ pages, workload: a.workload, dirtyRate: a.dirtyRate, seed: 1 + rep, source: source ?? undefined, paused: true });
  base.guestSetupS = (performance.now() - t0) / 1000;
  let link: Link | null = null;
  let child: Child | null = null;
  try {
    link = await createLink(spec, { prefer: a.link });
    base.link = link.describe();
    base.linkKind = link.kind;
    links[rate] = link.describe();
    child = await startReceiver(link, common.threads);
    await guest.resume();
    // Let the workload run a moment before the migration starts, as a running guest would.
    await new Promise((r) => setTimeout(r, 500));
    const rep0 = await migrate(guest, {
      host: link.connect.host,
      port: link.connect.port,
      ...METHODS[method].options(pages, common),
      // insecure: plain TCP on purpose; link.connect is the delay proxy on 127.0.0.1 or, with no
      // latency, the namespace's veth address (not loopback, but on this machine).
      insecure: true,
      idleTimeoutMs: 180_000,
      link: link.describe(),
      meta: { experiment: 'seed', method },
    });
    const rc = await child.done;
    if (!rc.ok) throw new Error(rc.msg);
    const its = rep0.iterations;
    return {
      ...base,
      ok: true,
      totalMs: rep0.totalMs,
      downtimeMs: rep0.downtimeMs,
      downtime: rep0.downtime,
      wireBytes: rep0.bytes.sent + rep0.bytes.received,
      rawBytes: rep0.bytes.raw,
      liveIterations: rep0.liveIterations,
      iterationPages: its.map((i) => i.pages),
      dirtyPages: its.slice(1).reduce((s, i) => s + i.pages, 0),
      finalPages: its.filter((i) => i.final).reduce((s, i) => s + i.pages, 0),
      stopReason: rep0.stopReason,
      kinds: rep0.kinds,
      codecs: rep0.codecs,
      ratio: rep0.ratio,
      guestWrites: Number((guest.describe() as { writes?: number }).writes ?? NaN),
    };
  } catch (err) {
    return { ...base, error: (err as Error).message };
  } finally {
    if (child && child.proc.exitCode === null) child.proc.kill('SIGKILL');
    await guest.close().catch(() => undefined);
    if (link) await link.close().catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--receiver-child') return receiverChild(argv[1]);
  const a = parseArgs(argv);
  const t0 = performance.now();
  const loadBefore = loadavg();
  const corpus = path.join(repoRoot(), 'bench', 'corpus', 'snapshot-480m.bin');
  const source = a.source ?? (fs.existsSync(corpus) ? corpus : null);
  const common: CommonSettings = { deflateLevel: a.deflateLevel, verify: a.verify, threads: Math.max(1, os.availableParallelism()), downtimeTargetMs: a.downtimeTargetMs };
  const estimateS = estimateSeconds(a);
  const command = `npm run experiment${argv.length ? ` -- ${argv.join(' ')}` : ''}`;
  process.stdout.write(`# seed experiment: ${a.sizes.map(sizeLabel).join(', ')} x ${a.rates.join(', ')} x ${a.methods.join(', ')} x ${a.reps} rep(s)\n`);
  process.stdout.write(`workload ${a.workload} (${a.dirtyRate ?? WORKLOADS[a.workload].defaultRate} page writes/s), pages from ${source ? rel(source) : 'generated memory-like contents'}\n`);
  process.stdout.write(`estimated duration: ~${Math.round(estimateS / 60)} min (${Math.round(estimateS)} s)\n`);
  const runs: RunRecord[] = [];
  const links: Record<string, string> = {};
  const total = a.sizes.length * a.rates.length * a.methods.length * a.reps;
  let k = 0;
  for (const rate of a.rates) {
    for (const size of a.sizes) {
      for (let rep = 0; rep < a.reps; rep++) {
        for (const method of a.methods) {
          k++;
          const r = await runOne(a, common, size, rate, method, rep, source, links);
          runs.push(r);
          const el = (performance.now() - t0) / 1000;
          process.stdout.write(
            r.ok
              ? `[${k}/${total} ${Math.round(el)} s] ${sizeLabel(size)} ${rate} ${method} #${rep + 1}: total ${(r.totalMs / 1000).toFixed(2)} s, downtime ${r.downtimeMs.toFixed(1)} ms, ` +
                  `${(r.wireBytes / MiB).toFixed(1)} MiB on the wire, ${r.liveIterations} live iterations, ${r.dirtyPages} pages re-sent, final ${r.finalPages} (${r.stopReason})\n`
              : `[${k}/${total} ${Math.round(el)} s] ${sizeLabel(size)} ${rate} ${method} #${rep + 1}: FAILED: ${r.error}\n`,
          );
        }
      }
    }
  }
  // Runs of an earlier report at other link rates (its own comparisons stay within its run).
  let merged: ExperimentReport | null = null;
  if (a.merge) {
    merged = JSON.parse(fs.readFileSync(a.merge, 'utf8')) as ExperimentReport;
    const other = merged.runs.filter((r) => !a.rates.includes(r.rate));
    runs.unshift(...other);
    for (const [rate, l] of Object.entries(merged.links)) if (!a.rates.includes(rate)) links[rate] = l;
  }
  const rates = merged ? [...new Set([...merged.config.rates.filter((r) => !a.rates.includes(r)), ...a.rates])] : a.rates;
  // The study's experiment: its four sizes at 100 Mbit/s, all four methods, 2+ repetitions.
  const full = !a.quick && a.reps >= 2 && rates.includes('100M') && [0.5, 1, 1.5, 2].every((g) => a.sizes.includes(g * GiB)) && a.methods.length === 4;
  const points = summarize(runs);
  const criteriaRate = rates.includes('100M') ? '100M' : (rates[0] ?? null);
  const criteria = criteriaRate ? criteriaFor(points, criteriaRate) : [];
  const dirtyRate = a.dirtyRate ?? WORKLOADS[a.workload].defaultRate;
  const date = new Date().toISOString();
  const notes: string[] = [];
  if (a.quick) notes.push('Quick run: small guests, 1 Gbit/s, 1 repetition. Not the experiment; the full run is `npm run experiment`.');
  if (merged) {
    const mr = merged.config.rates.filter((r) => !a.rates.includes(r));
    notes.push(
      `Two runs on this page: the ${mr.join(', ')} points come from \`${merged.command}\` (${merged.date}, pagepress commit ${merged.machine.gitCommit}, ${merged.config.reps} repetition(s), results ${rel(a.merge!)}); ` +
        `the ${a.rates.join(', ')} points from the run named above (${a.reps} repetition(s)). Every comparison between methods is within one run.`,
    );
  }
  if (criteriaRate && criteriaRate !== '100M') notes.push(`No 100 Mbit/s points in this run: the acceptance criteria are evaluated at ${criteriaRate} instead, as an indication only.`);
  const report: ExperimentReport = {
    kind: 'pagepress-seed-experiment',
    date,
    quick: !full,
    command,
    machine: machineInfo(),
    config: {
      sizes: merged ? [...new Set([...merged.config.sizes, ...a.sizes])].sort((x, y) => x - y) : a.sizes,
      rates,
      reps: merged ? Math.min(a.reps, merged.config.reps) : a.reps,
      methods: a.methods,
      workload: a.workload,
      dirtyRate,
      source: source ? rel(source) : null,
      common,
      linkPrefer: a.link,
      receiverThreads: common.threads,
    },
    links,
    runs,
    points,
    criteria,
    criteriaRate,
    estimateS: Math.round(estimateS),
    seconds: Math.round((performance.now() - t0) / 100) / 10,
    load: { before: loadBefore, after: loadavg() },
    notes,
  };
  const dir = path.join(repoRoot(), 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  const out = a.out ?? path.join(dir, `experiment-${date.replace(/[:.]/g, '-')}${full ? '' : '-quick'}.json`);
  fs.writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`\nresults: ${rel(out)}\n`);
  if (full) {
    fs.writeFileSync(path.join(dir, 'experiment-latest.json'), `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write('results: bench/results/experiment-latest.json\n');
  }
  const { renderAll, pointsTable } = await import('./render');
  process.stdout.write(`\n${pointsTable(report)}\n\n`);
  for (const c of criteria) process.stdout.write(`${formatCriterion(c)}\n`);
  if (a.docs) {
    const written = await renderAll(report, rel(out));
    for (const f of written) process.stdout.write(`wrote ${rel(f)}\n`);
  }
  process.stdout.write(`done in ${Math.round(report.seconds)} s (estimated ${report.estimateS} s)\n`);
}

if (require.main === module) {
  main().then(
    () => process.exit(process.exitCode ?? 0),
    (e: Error) => {
      process.stderr.write(`experiment: ${e.stack ?? e.message}\n`);
      process.exit(1);
    },
  );
}
