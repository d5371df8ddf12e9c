/**
 * Real memory corpus: snapshots the resident pages of running processes into one file of
 * 4 KiB pages (plus FILE.json with statistics).
 *
 *   node dist/bench/corpus/snapshot.js --out FILE [--pids 1,2,3 | --spawn] [--max-mib N]
 *        [--workloads node,python,tsc,bash] [--scale X] [--freeze] [--quiet]
 *
 * For each pid: parse /proc/PID/maps; for each readable mapping read the pagemap range in
 * bulk (8 bytes per virtual page, bit 63 = present, bits 0-54 = PFN, visible to root);
 * keep present pages whose PFN was not seen before (a shared libc page counts once, as in
 * guest RAM); read them from /proc/PID/mem in runs of consecutive pages; append them to
 * FILE. Pages whose read fails ([vvar], I/O mappings) are skipped.
 *
 * --spawn starts the workloads in ./workloads (node heap, python+sqlite, tsc, bash array),
 * waits for each to print READY, freezes them (SIGSTOP) while snapshotting, and kills their
 * process groups afterwards, also on error or signal.
 *
 * If the selected pages exceed --max-mib (default 512), they are thinned evenly in blocks
 * of 64 pages across all processes, so every process and every region stays represented.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as crypto from 'node:crypto';
import * as os from 'node:os';
import { spawn, ChildProcess } from 'node:child_process';

export const PAGE = 4096;
const PAGEMAP_CHUNK = 65536; // pagemap entries read per syscall (512 KiB)
const MEM_RUN = 1024; // max pages per /proc/PID/mem read (4 MiB)
const THIN_BLOCK = 64; // pages per block when thinning to --max-mib

type Kind = 'anon' | 'file' | 'special';

interface Mapping {
  start: number;
  end: number;
  perms: string;
  inode: string;
  name: string;
  kind: Kind;
}

interface Run {
  addr: number;
  pages: number;
  kind: Kind;
}

export interface ProcessStats {
  pid: number;
  name: string;
  cmdline: string;
  workload?: string;
  mappings: number;
  readableMappings: number;
  virtualPages: number;
  presentPages: number;
  /** Present pages whose PFN was already taken (from this or an earlier process). */
  sharedPfnPages: number;
  /** Present pages that map the kernel's shared zero page, after its first occurrence (skipped). */
  zeroPfnPages: number;
  /** Pages dropped to respect --max-mib. */
  thinnedPages: number;
  readFailedPages: number;
  pages: number;
  anonPages: number;
  filePages: number;
  specialPages: number;
  zeroPages: number;
  mib: number;
}

export interface SnapshotSidecar {
  tool: 'pagepress bench/corpus/snapshot';
  createdAt: string;
  file: string;
  pageSize: number;
  pages: number;
  mib: number;
  maxMib: number;
  thinRatio: number;
  pfnVisible: boolean;
  zeroPages: number;
  zeroFraction: number;
  /** Non-zero pages whose content equals an earlier page of the file. */
  duplicateNonZeroPages: number;
  /** (pages - distinct page contents) / pages, zero pages included. */
  duplicateFraction: number;
  anonPages: number;
  filePages: number;
  specialPages: number;
  processes: ProcessStats[];
  spawn: boolean;
  kernel: string;
  seconds: number;
}

export interface SnapshotOptions {
  out: string;
  pids?: number[];
  spawn?: boolean;
  maxMib?: number;
  /** Subset of WORKLOADS names (spawn mode). */
  workloads?: string[];
  /** Multiplies workload sizes (spawn mode); 1 gives a few hundred MiB. */
  scale?: number;
  /** SIGSTOP the processes while reading them (always on in spawn mode). */
  freeze?: boolean;
  log?: (msg: string) => void;
}

// ---------------------------------------------------------------------------------------
// /proc parsing

const MAPS_RE = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) [0-9a-f]+ \S+ (\d+)\s*(.*)$/;

export function parseMaps(text: string): Mapping[] {
  const out: Mapping[] = [];
  for (const line of text.split('\n')) {
    const m = MAPS_RE.exec(line);
    if (!m) continue;
    const name = m[5];
    const inode = m[4];
    let kind: Kind;
    if (name === '[heap]' || name.startsWith('[stack') || name.startsWith('[anon')) kind = 'anon';
    else if (name.startsWith('[')) kind = 'special';
    else if (inode === '0') kind = 'anon';
    else kind = 'file';
    out.push({ start: parseInt(m[1], 16), end: parseInt(m[2], 16), perms: m[3], inode, name, kind });
  }
  return out;
}

function readProcText(pid: number, file: string): string {
  try {
    return fs.readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return '';
  }
}

function isZeroPage(buf: Buffer, off: number): boolean {
  // 8 bytes at a time; bails out at the first non-zero word (almost always early).
  for (let i = off; i < off + PAGE; i += 8) {
    if (buf.readBigUInt64LE(i) !== 0n) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// Phase 1: pagemap scan (selects pages, dedups by PFN)

interface ProcPlan {
  stats: ProcessStats;
  runs: Run[];
}

function scanProcess(pid: number, seenPfn: Set<number>, state: { pfnVisible: boolean; zeroPfn: number }): ProcPlan {
  const cmdline = readProcText(pid, 'cmdline').split('\0').filter(Boolean).join(' ');
  const stats: ProcessStats = {
    pid,
    name: readProcText(pid, 'comm').trim(),
    cmdline: cmdline.slice(0, 300),
    mappings: 0,
    readableMappings: 0,
    virtualPages: 0,
    presentPages: 0,
    sharedPfnPages: 0,
    zeroPfnPages: 0,
    thinnedPages: 0,
    readFailedPages: 0,
    pages: 0,
    anonPages: 0,
    filePages: 0,
    specialPages: 0,
    zeroPages: 0,
    mib: 0,
  };
  const mapsText = readProcText(pid, 'maps');
  if (!mapsText) throw new Error(`cannot read /proc/${pid}/maps (no such process or no permission)`);
  const maps = parseMaps(mapsText);
  stats.mappings = maps.length;
  const runs: Run[] = [];
  const fd = fs.openSync(`/proc/${pid}/pagemap`, 'r');
  const buf = Buffer.alloc(PAGEMAP_CHUNK * 8);
  try {
    for (const m of maps) {
      if (m.perms[0] !== 'r' || m.name === '[vsyscall]' || m.name.startsWith('[vvar')) continue;
      stats.readableMappings++;
      const first = m.start / PAGE;
      const total = (m.end - m.start) / PAGE;
      stats.virtualPages += total;
      let runStart = -1; // page index (within mapping) of the open run
      const close = (endIdx: number): void => {
        if (runStart >= 0) runs.push({ addr: m.start + runStart * PAGE, pages: endIdx - runStart, kind: m.kind });
        runStart = -1;
      };
      for (let done = 0; done < total;) {
        const n = Math.min(PAGEMAP_CHUNK, total - done);
        let got: number;
        try {
          got = fs.readSync(fd, buf, 0, n * 8, (first + done) * 8);
        } catch {
          got = 0;
        }
        const entries = Math.floor(got / 8);
        if (entries === 0) break;
        for (let i = 0; i < entries; i++) {
          const lo = buf.readUInt32LE(i * 8);
          const hi = buf.readUInt32LE(i * 8 + 4);
          const idx = done + i;
          if ((hi & 0x80000000) === 0) {
            close(idx);
            continue;
          }
          stats.presentPages++;
          const pfn = (hi & 0x7fffff) * 0x100000000 + lo;
          if (pfn !== 0) {
            state.pfnVisible = true;
            if (seenPfn.has(pfn)) {
              stats.sharedPfnPages++;
              if (pfn === state.zeroPfn) stats.zeroPfnPages++;
              close(idx);
              continue;
            }
            seenPfn.add(pfn);
          }
          if (runStart < 0) runStart = idx;
          else if (idx - runStart >= MEM_RUN) {
            close(idx);
            runStart = idx;
          }
        }
        done += entries;
      }
      close(total);
    }
  } finally {
    fs.closeSync(fd);
  }
  return { stats, runs };
}

/** PFN of the kernel's shared zero page, found by read-faulting a fresh anonymous page of our own. */
function findZeroPfn(): number {
  // A new ArrayBuffer that is only read maps the zero page if the allocator got fresh mmap memory;
  // not guaranteed, so the result is only used for statistics.
  try {
    const a = new Float64Array((16 * 1024 * 1024) / 8); // 16 MiB: large enough for its own mmap
    let s = 0;
    for (let i = 0; i < a.length; i += 512) s += a[i];
    const maps = parseMaps(fs.readFileSync('/proc/self/maps', 'utf8'));
    void s;
    const fd = fs.openSync('/proc/self/pagemap', 'r');
    try {
      const counts = new Map<number, number>();
      const b = Buffer.alloc(8 * 4096);
      for (const m of maps) {
        if (m.kind !== 'anon' || m.end - m.start < 16 * 1024 * 1024) continue;
        const got = fs.readSync(fd, b, 0, b.length, (m.start / PAGE) * 8);
        for (let i = 0; i + 8 <= got; i += 8) {
          const hi = b.readUInt32LE(i + 4);
          if ((hi & 0x80000000) === 0) continue;
          const pfn = (hi & 0x7fffff) * 0x100000000 + b.readUInt32LE(i);
          counts.set(pfn, (counts.get(pfn) ?? 0) + 1);
        }
      }
      let best = -1,
        bestN = 8;
      for (const [pfn, n] of counts)
        if (n > bestN && pfn !== 0) {
          best = pfn;
          bestN = n;
        }
      return best;
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return -1;
  }
}

// ---------------------------------------------------------------------------------------
// Thinning to --max-mib

function thin(plans: ProcPlan[], maxPages: number): number {
  let total = 0;
  for (const p of plans) for (const r of p.runs) total += r.pages;
  if (total <= maxPages) return 1;
  const ratio = maxPages / total;
  let credit = 0;
  let kept = 0;
  for (const p of plans) {
    const out: Run[] = [];
    for (const r of p.runs) {
      for (let off = 0; off < r.pages; off += THIN_BLOCK) {
        const n = Math.min(THIN_BLOCK, r.pages - off);
        credit += n * ratio;
        if (credit >= n && kept + n <= maxPages) {
          credit -= n;
          kept += n;
          out.push({ addr: r.addr + off * PAGE, pages: n, kind: r.kind });
        } else {
          p.stats.thinnedPages += n;
        }
      }
    }
    p.runs = out;
  }
  return ratio;
}

// ---------------------------------------------------------------------------------------
// Phase 2: read page contents and append

interface Totals {
  zero: number;
  dupNonZero: number;
  hashes: Set<string>;
}

function copyProcess(plan: ProcPlan, outFd: number, totals: Totals): void {
  const { stats } = plan;
  const buf = Buffer.alloc(MEM_RUN * PAGE);
  let fd: number;
  try {
    fd = fs.openSync(`/proc/${stats.pid}/mem`, 'r');
  } catch (e) {
    throw new Error(`cannot open /proc/${stats.pid}/mem: ${(e as Error).message}`, { cause: e });
  }
  try {
    for (const r of plan.runs) {
      let i = 0;
      while (i < r.pages) {
        const want = Math.min(MEM_RUN, r.pages - i);
        let got = 0;
        try {
          got = fs.readSync(fd, buf, 0, want * PAGE, r.addr + i * PAGE);
        } catch {
          got = 0;
        }
        const full = Math.floor(got / PAGE);
        if (full === 0) {
          // The first page of this stretch is unreadable: skip it, retry from the next.
          stats.readFailedPages++;
          i++;
          continue;
        }
        fs.writeSync(outFd, buf, 0, full * PAGE);
        for (let k = 0; k < full; k++) {
          const off = k * PAGE;
          if (isZeroPage(buf, off)) {
            stats.zeroPages++;
            totals.zero++;
          }
          const h = crypto
            .createHash('sha1')
            .update(buf.subarray(off, off + PAGE))
            .digest('base64');
          if (totals.hashes.has(h)) {
            if (!isZeroPage(buf, off)) totals.dupNonZero++;
          } else {
            totals.hashes.add(h);
          }
        }
        stats.pages += full;
        if (r.kind === 'anon') stats.anonPages += full;
        else if (r.kind === 'file') stats.filePages += full;
        else stats.specialPages += full;
        i += full;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  stats.mib = +((stats.pages * PAGE) / 1048576).toFixed(2);
}

// ---------------------------------------------------------------------------------------
// Spawned workloads

export interface WorkloadSpec {
  name: string;
  command: string;
  args: (dir: string, root: string, scale: number) => string[];
}

export const WORKLOADS: WorkloadSpec[] = [
  { name: 'node', command: process.execPath, args: (d, _r, s) => [path.join(d, 'node-heap.js'), '--scale', String(s)] },
  { name: 'python', command: 'python3', args: (d, _r, s) => [path.join(d, 'py-heap.py'), '--scale', String(s)] },
  { name: 'tsc', command: process.execPath, args: (d, r, s) => [path.join(d, 'tsc-check.js'), '--root', r, '--scale', String(s)] },
  { name: 'bash', command: 'bash', args: (d, _r, s) => [path.join(d, 'bash-array.sh'), '--scale', String(s)] },
];

/** The repository root (directory with package.json) above this file, in src or dist. */
export function repoRoot(): string {
  let d = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(d, 'package.json')) && fs.existsSync(path.join(d, 'bench'))) return d;
    const up = path.dirname(d);
    if (up === d) return path.resolve(__dirname, '..', '..', '..');
    d = up;
  }
}

function workloadDir(): string {
  const root = repoRoot();
  for (const d of [path.join(__dirname, 'workloads'), path.join(root, 'bench', 'corpus', 'workloads')]) {
    if (fs.existsSync(path.join(d, 'node-heap.js'))) return d;
  }
  throw new Error('bench/corpus/workloads not found');
}

export interface Running {
  name: string;
  child: ChildProcess;
  ready: string;
}

const live = new Set<ChildProcess>();

/**
 * Kill a spawned workload's whole process group (it was started detached, so its pgid is its
 * pid). The group is signalled even if the leader already exited: helpers such as bash's
 * process substitutions may still be in it.
 */
export function killChild(child: ChildProcess): void {
  live.delete(child);
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
}

function killAllLive(): void {
  for (const c of [...live]) killChild(c);
}

export async function startWorkloads(names: string[], scale: number, log: (m: string) => void, timeoutMs = 600_000): Promise<Running[]> {
  const dir = workloadDir();
  const root = repoRoot();
  const specs = names.map((n) => {
    const s = WORKLOADS.find((w) => w.name === n);
    if (!s) throw new Error(`unknown workload '${n}' (have: ${WORKLOADS.map((w) => w.name).join(', ')})`);
    return s;
  });
  const started: Running[] = [];
  const waits = specs.map(
    (spec) =>
      new Promise<Running>((resolve, reject) => {
        const child = spawn(spec.command, spec.args(dir, root, scale), {
          stdio: ['ignore', 'pipe', 'inherit'],
          detached: true,
          cwd: root,
          env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
        });
        live.add(child);
        const run: Running = { name: spec.name, child, ready: '' };
        started.push(run);
        let out = '';
        const timer = setTimeout(() => reject(new Error(`workload ${spec.name} not ready after ${timeoutMs / 1000}s`)), timeoutMs);
        child.on('error', (e) => {
          clearTimeout(timer);
          reject(new Error(`workload ${spec.name}: ${e.message}`));
        });
        child.on('exit', (code, sig) => {
          clearTimeout(timer);
          reject(new Error(`workload ${spec.name} exited early (code ${code}, signal ${sig})`));
        });
        child.stdout.setEncoding('utf8');
        child.stdout.on('data', (d: string) => {
          out += d;
          const line = out.split('\n').find((l) => l.startsWith('READY'));
          if (line && !run.ready) {
            run.ready = line;
            clearTimeout(timer);
            log(`  ${spec.name} (pid ${child.pid}): ${line}`);
            resolve(run);
          }
        });
      }),
  );
  try {
    return await Promise.all(waits);
  } catch (e) {
    for (const r of started) killChild(r.child);
    throw e;
  }
}

function stopAndWait(pid: number): void {
  process.kill(pid, 'SIGSTOP');
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const stat = readProcText(pid, 'stat');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'T' || state === 't' || state === '') return;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
  }
}

// ---------------------------------------------------------------------------------------
// Snapshot

export async function snapshot(opts: SnapshotOptions): Promise<SnapshotSidecar> {
  const log = opts.log ?? ((m: string) => process.stderr.write(m + '\n'));
  const maxMib = opts.maxMib ?? 512;
  const t0 = Date.now();
  let running: Running[] = [];
  const onExit = (): void => killAllLive();
  process.on('exit', onExit);
  try {
    let pids: { pid: number; workload?: string }[];
    if (opts.spawn) {
      const names = opts.workloads ?? WORKLOADS.map((w) => w.name);
      log(`starting workloads: ${names.join(', ')} (scale ${opts.scale ?? 1})`);
      running = await startWorkloads(names, opts.scale ?? 1, log);
      await new Promise((r) => setTimeout(r, 1000)); // let them settle into their idle loops
      pids = running.map((r) => ({ pid: r.child.pid!, workload: r.name }));
    } else {
      if (!opts.pids || opts.pids.length === 0) throw new Error('need --pids or --spawn');
      pids = opts.pids.map((pid) => ({ pid }));
    }
    const freeze = opts.spawn || opts.freeze === true;
    const frozen: number[] = [];
    const plans: ProcPlan[] = [];
    const state = { pfnVisible: false, zeroPfn: findZeroPfn() };
    const seen = new Set<number>();
    const tmp = `${opts.out}.tmp-${process.pid}`;
    const outFd = fs.openSync(tmp, 'w');
    const totals: Totals = { zero: 0, dupNonZero: 0, hashes: new Set() };
    let thinRatio = 1;
    try {
      if (freeze)
        for (const p of pids) {
          stopAndWait(p.pid);
          frozen.push(p.pid);
        }
      for (const p of pids) {
        const plan = scanProcess(p.pid, seen, state);
        plan.stats.workload = p.workload;
        plans.push(plan);
      }
      thinRatio = thin(plans, Math.floor((maxMib * 1048576) / PAGE));
      for (const plan of plans) {
        copyProcess(plan, outFd, totals);
        const s = plan.stats;
        log(
          `  pid ${s.pid} ${s.workload ?? s.name}: present ${s.presentPages}, shared-pfn ${s.sharedPfnPages}, ` +
            `thinned ${s.thinnedPages}, failed ${s.readFailedPages}, written ${s.pages} (${s.mib} MiB, ${s.zeroPages} zero)`,
        );
      }
    } finally {
      fs.closeSync(outFd);
      for (const pid of frozen) {
        try {
          process.kill(pid, 'SIGCONT');
        } catch {
          /* gone */
        }
      }
    }
    fs.renameSync(tmp, opts.out);
    const pages = plans.reduce((a, p) => a + p.stats.pages, 0);
    const sum = (f: (s: ProcessStats) => number): number => plans.reduce((a, p) => a + f(p.stats), 0);
    const sidecar: SnapshotSidecar = {
      tool: 'pagepress bench/corpus/snapshot',
      createdAt: new Date().toISOString(),
      file: path.basename(opts.out),
      pageSize: PAGE,
      pages,
      mib: +((pages * PAGE) / 1048576).toFixed(2),
      maxMib,
      thinRatio: +thinRatio.toFixed(4),
      pfnVisible: state.pfnVisible,
      zeroPages: totals.zero,
      zeroFraction: pages ? +(totals.zero / pages).toFixed(5) : 0,
      duplicateNonZeroPages: totals.dupNonZero,
      duplicateFraction: pages ? +((pages - totals.hashes.size) / pages).toFixed(5) : 0,
      anonPages: sum((s) => s.anonPages),
      filePages: sum((s) => s.filePages),
      specialPages: sum((s) => s.specialPages),
      processes: plans.map((p) => p.stats),
      spawn: !!opts.spawn,
      kernel: os.release(),
      seconds: +((Date.now() - t0) / 1000).toFixed(1),
    };
    if (!state.pfnVisible) log('warning: PFNs not visible (not root?): pages shared between processes are not de-duplicated');
    fs.writeFileSync(`${opts.out}.json`, JSON.stringify(sidecar, null, 2) + '\n');
    return sidecar;
  } finally {
    for (const r of running) killChild(r.child);
    process.removeListener('exit', onExit);
  }
}

// ---------------------------------------------------------------------------------------
// CLI

function usage(): never {
  process.stderr.write(
    'usage: node dist/bench/corpus/snapshot.js --out FILE [--pids 1,2,3 | --spawn] [--max-mib N]\n' + '         [--workloads node,python,tsc,bash] [--scale X] [--freeze] [--quiet]\n',
  );
  process.exit(2);
}

export function parseArgs(argv: string[]): SnapshotOptions {
  const o: SnapshotOptions = { out: '' };
  let quiet = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = (): string => {
      if (i + 1 >= argv.length) usage();
      return argv[++i];
    };
    switch (a) {
      case '--out':
        o.out = val();
        break;
      case '--pids':
        o.pids = val()
          .split(',')
          .filter(Boolean)
          .map((s) => {
            const n = Number(s);
            if (!Number.isInteger(n) || n <= 0) usage();
            return n;
          });
        break;
      case '--spawn':
        o.spawn = true;
        break;
      case '--max-mib':
        o.maxMib = Number(val());
        break;
      case '--workloads':
        o.workloads = val().split(',').filter(Boolean);
        break;
      case '--scale':
        o.scale = Number(val());
        break;
      case '--freeze':
        o.freeze = true;
        break;
      case '--quiet':
        quiet = true;
        break;
      default:
        usage();
    }
  }
  if (!o.out || (!o.spawn && !o.pids) || (o.spawn && o.pids)) usage();
  if (o.maxMib !== undefined && !(o.maxMib > 0)) usage();
  if (o.scale !== undefined && !(o.scale > 0)) usage();
  if (quiet) o.log = () => undefined;
  return o;
}

if (require.main === module) {
  const opts = parseArgs(process.argv.slice(2));
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      killAllLive();
      process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
    });
  }
  snapshot(opts).then(
    (s) => {
      process.stdout.write(
        `${opts.out}: ${s.pages} pages (${s.mib} MiB), zero ${(s.zeroFraction * 100).toFixed(2)}%, ` +
          `duplicate ${(s.duplicateFraction * 100).toFixed(2)}%, anon ${s.anonPages}, file ${s.filePages}, ` +
          `${s.seconds}s\n`,
      );
    },
    (e: Error) => {
      killAllLive();
      process.stderr.write(`snapshot: ${e.message}\n`);
      process.exit(1);
    },
  );
}
