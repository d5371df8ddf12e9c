/**
 * Builds the guest-memory corpus: for each workload, boots a real Linux guest under QEMU
 * (TCG, bench/guest/), takes `pmemsave` snapshots of its RAM a few seconds apart, and writes
 *
 *   guest-<workload>-<mib>m-snap0.bin, guest-<workload>-<mib>m-snap<N-1>.bin
 *       the guest's RAM (guest-physical 0..mib) at the first and last snapshot;
 *   guest-<workload>-<mib>m-xl.bin
 *       an xl-layer HVM save stream (lib/xen/generate.ts): first pass = snapshot 0, then one
 *       pre-copy round per later snapshot re-sending the pages that changed since the one
 *       before, with the later snapshot's contents;
 *
 * each with a `.json` sidecar (workload, guest MiB, snapshot times, page statistics).
 * Existing files (sidecar present, size matching) are kept; new ones are written to a temp
 * name and renamed.
 *
 *   node dist/bench/corpus/guest.js [--dir DIR] [--workloads pagecache,heap,idle,dirty] [--mib 512]
 *        [--snapshots 5] [--interval-ms 4000] [--force]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { generateXenStream } from '../../lib/xen/generate';
import { ensureInitramfs } from '../guest/initramfs';
import { ensureKernel } from '../guest/kernel';
import { repoRoot } from '../guest/paths';
import { ensureQemu, GuestVm } from '../guest/vm';
import { pageStats, PageStats } from './stats';

const PAGE = 4096;
/** The HVM VGA hole, sent as XTAB in the first pass (as Xen's saver does). */
const HOLE_FIRST = 0xa0;
const HOLE_LAST = 0xbf;

/** A workload of the corpus and the /init settings it runs with. */
export interface GuestWorkload {
  name: string;
  params: Record<string, string | number>;
  /** What it does, for the sidecar. */
  about: string;
  /** Built only when asked for by name (not in the default set). */
  optional?: boolean;
}

/** The default workloads. */
export const GUEST_WORKLOADS: GuestWorkload[] = [
  {
    name: 'pagecache',
    params: { interval: 2000 },
    about:
      'tmpfs page cache: /data (~93 MiB of host headers, Python sources, libraries, binaries) copied exactly, every second file shifted by 1-7 bytes, edited text copies, growing logs; every 2 s 200 log lines, 8 MiB of /data copied into a rotating set (a third of the files again shifted by 1-7 bytes, kept 4 intervals), one text edit',
  },
  {
    name: 'heap',
    params: { heap_mib: 192, interval: 2000, mutate: 0.01 },
    about: 'pp-heap: ~192 MiB of customer records (names, e-mails, JSON text, hash index); every 2 s 1 % of the records change, a quarter of them get a new text blob',
  },
  { name: 'idle', params: {}, about: 'nearly idle: only the heartbeat runs; the initramfs (/data) sits in the page cache' },
  {
    name: 'dirty',
    params: { dirty_mib: 256, dirty_rate: 16, dirty_mode: 'bytes' },
    about: 'pp-dirty: 256 MiB of text-like pages, 16 MiB/s of them get a 16-byte stamp (small in-place updates)',
    optional: true,
  },
];

/** Options of {@link buildGuestCorpus}. */
export interface GuestCorpusOptions {
  /** Output directory (default bench/corpus/ or $PAGEPRESS_CORPUS_DIR). */
  dir?: string;
  /** Workload names (default pagecache, heap, idle; dirty on request). */
  workloads?: string[];
  /** Guest RAM in MiB (default 512). */
  mib?: number;
  /** Snapshots per workload (default 5: a first pass and 4 pre-copy rounds). */
  snapshots?: number;
  /** Guest running time between snapshots (default 4000 ms). */
  intervalMs?: number;
  /** Rebuild even if the files exist. */
  force?: boolean;
  log?: (m: string) => void;
}

/** The files of one workload. */
export interface GuestCorpusFiles {
  workload: string;
  /** Raw RAM snapshots kept (first and last). */
  raw: string[];
  /** The xl stream. */
  xl: string;
}

function corpusDir(dir?: string): string {
  return path.resolve(dir ?? process.env.PAGEPRESS_CORPUS_DIR ?? path.join(repoRoot(), 'bench', 'corpus'));
}

/** The file names for a workload (whether or not they exist). */
export function guestFileNames(dir: string, workload: string, mib: number, snapshots: number): GuestCorpusFiles {
  const base = path.join(dir, `guest-${workload}-${mib}m`);
  return { workload, raw: [`${base}-snap0.bin`, `${base}-snap${snapshots - 1}.bin`], xl: `${base}-xl.bin` };
}

/** True when `file` and its sidecar exist and the sidecar's byte count matches. */
function valid(file: string): boolean {
  try {
    const meta = JSON.parse(fs.readFileSync(`${file}.json`, 'utf8')) as { bytes?: number };
    return typeof meta.bytes === 'number' && meta.bytes > 0 && fs.statSync(file).size === meta.bytes;
  } catch {
    return false;
  }
}

function writeJson(file: string, value: unknown): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  fs.renameSync(tmp, file);
}

/** pfns whose 4 KiB page differs between two equally long RAM files. */
export function changedPages(a: string, b: string): number[] {
  const fa = fs.openSync(a, 'r');
  const fb = fs.openSync(b, 'r');
  const chunk = 16384 * PAGE;
  const x = Buffer.alloc(chunk);
  const y = Buffer.alloc(chunk);
  const out: number[] = [];
  try {
    const size = fs.fstatSync(fa).size;
    if (fs.fstatSync(fb).size !== size) throw new Error(`${a} and ${b} differ in size`);
    for (let off = 0; off < size; off += chunk) {
      const n = fs.readSync(fa, x, 0, chunk, off);
      if (fs.readSync(fb, y, 0, chunk, off) !== n) throw new Error(`short read at ${off}`);
      for (let p = 0; p < n / PAGE; p++) {
        if (x.compare(y, p * PAGE, (p + 1) * PAGE, p * PAGE, (p + 1) * PAGE) !== 0) out.push(off / PAGE + p);
      }
    }
  } finally {
    fs.closeSync(fa);
    fs.closeSync(fb);
  }
  return out;
}

/** Writes the xl stream: pass 0 from snaps[0], round k re-sends rounds[k-1] from snaps[k]. */
export function writeXlStream(snaps: string[], rounds: number[][], out: string): { bytes: number; dataPages: number } {
  const pages = fs.statSync(snaps[0]).size / PAGE;
  const hole = (p: number) => p >= HOLE_FIRST && p <= HOLE_LAST;
  let loaded = -1;
  let ram: Buffer = Buffer.alloc(0);
  const tmp = `${out}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w');
  let res;
  try {
    res = generateXenStream(
      {
        guest: 'hvm',
        version: 3,
        layer: 'xl',
        pages,
        holes: Array.from({ length: HOLE_LAST - HOLE_FIRST + 1 }, (_, i) => HOLE_FIRST + i),
        iterations: rounds.map((r) => ({ pfns: r.filter((p) => !hole(p)) })),
        page(pfn, iteration, page) {
          if (iteration !== loaded) {
            ram = Buffer.alloc(0); // drop the previous snapshot before reading the next
            ram = fs.readFileSync(snaps[iteration]);
            loaded = iteration;
          }
          page.set(ram.subarray(pfn * PAGE, (pfn + 1) * PAGE));
        },
      },
      (chunk) => {
        let at = 0;
        while (at < chunk.length) at += fs.writeSync(fd, chunk, at, chunk.length - at);
      },
    );
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, out);
  return { bytes: res.bytes, dataPages: res.dataPages };
}

function statsOf(file: string): Omit<PageStats, 'file'> {
  const { file: _f, ...rest } = pageStats(file);
  return rest;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Boots one workload's guest, snapshots it, writes its files. */
async function buildWorkload(w: GuestWorkload, files: GuestCorpusFiles, o: Required<Omit<GuestCorpusOptions, 'dir' | 'workloads'>> & { dir: string }): Promise<void> {
  const { log, mib, snapshots, intervalMs } = o;
  ensureQemu(log);
  const kernel = ensureKernel(log);
  const initrd = ensureInitramfs({ log });
  const work = path.join(o.dir, `guest-${w.name}.tmp-${process.pid}`);
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(work, { recursive: true });
  const snaps: string[] = [];
  const times: Array<{ index: number; sinceReadySec: number; pausedMs: number; heartbeat: number }> = [];
  const t0 = Date.now();
  try {
    log(`[${w.name}] booting a ${mib} MiB guest (TCG)`);
    const vm = await GuestVm.start({ kernel: kernel.vmlinuz, initrd: initrd.path, memMiB: mib, workload: w.name, params: w.params, log });
    const qemuVersion = vm.qmp.version;
    const readyAt = Date.now();
    try {
      await sleep(intervalMs); // let the workload run its first intervals
      for (let i = 0; i < snapshots; i++) {
        if (i > 0) await sleep(intervalMs);
        const file = path.join(work, `snap${i}.bin`);
        const at = (Date.now() - readyAt) / 1000;
        const { pausedMs } = await vm.pmemsave(file);
        snaps.push(file);
        times.push({ index: i, sinceReadySec: +at.toFixed(2), pausedMs, heartbeat: vm.lastHeartbeat() });
        log(`[${w.name}] snapshot ${i} at ${at.toFixed(1)} s after ready (paused ${pausedMs} ms)`);
      }
    } finally {
      await vm.shutdown();
    }
    const common = {
      workload: w.name,
      about: w.about,
      guestMiB: mib,
      params: w.params,
      cmdline: GuestVm.cmdline({ workload: w.name, params: w.params }),
      kernel: kernel.pkg,
      qemu: qemuVersion,
      bootToReadySec: vm.readyMs !== null ? vm.readyMs / 1000 : null,
      initramfsDataMiB: +(initrd.dataBytes / 1048576).toFixed(1),
    };
    const rounds: number[][] = [];
    for (let i = 1; i < snapshots; i++) rounds.push(changedPages(snaps[i - 1], snaps[i]));
    log(`[${w.name}] changed pages per round: ${rounds.map((r) => r.length).join(', ')}`);
    const keep: Array<[number, string]> = [
      [0, files.raw[0]],
      [snapshots - 1, files.raw[1]],
    ];
    for (const [i, dest] of keep) {
      if (valid(dest) && !o.force) continue;
      const st = statsOf(snaps[i]);
      fs.copyFileSync(snaps[i], `${dest}.tmp-${process.pid}`);
      fs.renameSync(`${dest}.tmp-${process.pid}`, dest);
      writeJson(`${dest}.json`, { kind: 'guest-ram', ...common, snapshot: times[i], bytes: mib * 1048576, pages: mib * 256, stats: st });
      log(`[${w.name}] wrote ${dest}`);
    }
    if (!valid(files.xl) || o.force) {
      const r = writeXlStream(snaps, rounds, files.xl);
      writeJson(`${files.xl}.json`, {
        kind: 'guest-xl-stream',
        ...common,
        layer: 'xl',
        guest: 'hvm',
        libxcVersion: 3,
        passes: snapshots,
        preCopyRounds: snapshots - 1,
        snapshots: times,
        resentPages: rounds.map((x) => x.filter((p) => p < HOLE_FIRST || p > HOLE_LAST).length),
        dataPages: r.dataPages,
        bytes: r.bytes,
        stats: statsOf(files.xl),
      });
      log(`[${w.name}] wrote ${files.xl} (${(r.bytes / 1e6).toFixed(1)} MB)`);
    }
    log(`[${w.name}] done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** Builds whatever is missing of the guest corpus; returns every workload's files. */
export async function buildGuestCorpus(opts: GuestCorpusOptions = {}): Promise<GuestCorpusFiles[]> {
  const log = opts.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const dir = corpusDir(opts.dir);
  const mib = opts.mib ?? 512;
  const snapshots = opts.snapshots ?? 5;
  if (!Number.isInteger(snapshots) || snapshots < 2) throw new RangeError('snapshots must be an integer >= 2');
  const intervalMs = opts.intervalMs ?? 4000;
  const names = opts.workloads ?? GUEST_WORKLOADS.filter((w) => !w.optional).map((w) => w.name);
  fs.mkdirSync(dir, { recursive: true });
  const out: GuestCorpusFiles[] = [];
  for (const name of names) {
    const w = GUEST_WORKLOADS.find((x) => x.name === name);
    if (!w) throw new RangeError(`unknown guest workload ${name} (known: ${GUEST_WORKLOADS.map((x) => x.name).join(', ')})`);
    const files = guestFileNames(dir, name, mib, snapshots);
    if (opts.force || ![...files.raw, files.xl].every(valid)) {
      await buildWorkload(w, files, { dir, mib, snapshots, intervalMs, log, force: opts.force === true });
    }
    out.push(files);
  }
  return out;
}

if (require.main === module) {
  const a = process.argv.slice(2);
  const o: GuestCorpusOptions = {};
  const usage = (): never => {
    process.stderr.write('usage: node dist/bench/corpus/guest.js [--dir DIR] [--workloads pagecache,heap,idle,dirty] [--mib N] ' + '[--snapshots N] [--interval-ms MS] [--force]\n');
    process.exit(2);
  };
  for (let i = 0; i < a.length; i++) {
    const v = (): string => (i + 1 < a.length ? a[++i] : usage());
    switch (a[i]) {
      case '--dir':
        o.dir = v();
        break;
      case '--workloads':
        o.workloads = v().split(',').filter(Boolean);
        break;
      case '--mib':
        o.mib = Number(v());
        break;
      case '--snapshots':
        o.snapshots = Number(v());
        break;
      case '--interval-ms':
        o.intervalMs = Number(v());
        break;
      case '--force':
        o.force = true;
        break;
      default:
        usage();
    }
  }
  const t0 = Date.now();
  buildGuestCorpus(o).then(
    (files) => {
      for (const f of files) process.stdout.write(`${[...f.raw, f.xl].join('\n')}\n`);
      process.stderr.write(`guest corpus ready in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
    },
    (e: Error) => {
      process.stderr.write(`guest corpus: ${e.message}\n`);
      process.exit(1);
    },
  );
}
