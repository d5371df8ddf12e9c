/**
 * Builds the guest's initramfs (gzip'd newc cpio) into the cache: Debian's busybox-static
 * (fetched with {@link fetchDeb}, not installed), `/init` from bench/guest/workloads/init.sh,
 * the workload programs compiled from bench/guest/workloads/*.c with `gcc -static`, and
 * `/data`: real files copied from the host (headers, Python sources, shared libraries,
 * binaries) that the page-cache workload copies and shifts. Images are keyed by a hash of
 * everything that goes in, so a rebuilt image means changed inputs.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { CpioWriter } from './cpio';
import { fetchDeb } from './deb';
import { have, run } from './exec';
import { GuestError, guestCacheDir, workloadSourceDir } from './paths';

/** A host directory whose regular files are copied to /data/<as>, up to `mib` MiB. */
export interface DataSource {
  dir: string;
  as: string;
  mib: number;
}

/** The host's Python standard library directory (/usr/lib/python3.N, newest N), or null. */
function pythonLib(): string | null {
  let names: string[];
  try {
    names = fs.readdirSync('/usr/lib').filter((n) => /^python3\.\d+$/.test(n));
  } catch {
    return null;
  }
  names.sort((a, b) => Number(a.split('.')[1]) - Number(b.split('.')[1]));
  return names.length ? path.join('/usr/lib', names[names.length - 1]) : null;
}

/**
 * Default /data: ~100 MiB of text and binaries a guest's page cache would hold (on Debian 12
 * with gcc and python3: 4571 files, 92.6 MiB). Missing directories are skipped.
 */
export function defaultData(): DataSource[] {
  const py = pythonLib();
  return [
    { dir: '/usr/include', as: 'include', mib: 32 },
    ...(py ? [{ dir: py, as: 'python', mib: 16 }] : []),
    { dir: '/usr/lib/x86_64-linux-gnu', as: 'lib', mib: 36 },
    { dir: '/usr/bin', as: 'bin', mib: 16 },
  ];
}

/** Options of {@link ensureInitramfs}. */
export interface InitramfsOptions {
  /** Host files for /data (default {@link defaultData}; [] for none). */
  data?: DataSource[];
  log?: (m: string) => void;
}

/** The image built or found. */
export interface InitramfsInfo {
  /** Path of the .cpio.gz. */
  path: string;
  /** Bytes of /data files in it. */
  dataBytes: number;
  /** Files under /data. */
  dataFiles: number;
}

const MAX_FILE = 8 * 1024 * 1024;

/** Regular files under `dir` in sorted order (symlinks skipped, files over 8 MiB skipped), until `budget` bytes. */
function pickFiles(dir: string, budget: number): Array<{ rel: string; size: number; mtime: number }> {
  const out: Array<{ rel: string; size: number; mtime: number }> = [];
  let used = 0;
  const walk = (rel: string): boolean => {
    let names: string[];
    try {
      names = fs.readdirSync(path.join(dir, rel)).sort();
    } catch {
      return true;
    }
    for (const n of names) {
      const r = rel ? `${rel}/${n}` : n;
      let st: fs.Stats;
      try {
        st = fs.lstatSync(path.join(dir, r));
      } catch {
        continue;
      }
      if (st.isDirectory()) {
        if (!walk(r)) return false;
      } else if (st.isFile() && st.size > 0 && st.size <= MAX_FILE) {
        if (used + st.size > budget) return false;
        try {
          fs.accessSync(path.join(dir, r), fs.constants.R_OK);
        } catch {
          continue;
        }
        out.push({ rel: r, size: st.size, mtime: Math.floor(st.mtimeMs) });
        used += st.size;
      }
    }
    return true;
  };
  walk('');
  return out;
}

/** Compiles `src` with `gcc -O2 -static` into the cache (keyed by the source's hash); returns the binary. */
function compile(src: string, log?: (m: string) => void): string {
  if (!have('gcc')) throw new GuestError('initramfs', 'gcc not found (apt-get install gcc libc6-dev)');
  const hash = crypto.createHash('sha256').update(fs.readFileSync(src)).digest('hex').slice(0, 16);
  const out = path.join(guestCacheDir(), 'bin', `${path.basename(src, '.c')}-${hash}`);
  if (fs.existsSync(out)) return out;
  fs.mkdirSync(path.dirname(out), { recursive: true });
  log?.(`gcc -static ${src}`);
  const tmp = `${out}.tmp-${process.pid}`;
  run('initramfs', 'gcc', ['-O2', '-static', '-Wall', '-o', tmp, src]);
  fs.renameSync(tmp, out);
  return out;
}

/** Returns the initramfs, building it when its inputs changed (about 5 s for 100 MiB of /data). */
export function ensureInitramfs(opts: InitramfsOptions = {}): InitramfsInfo {
  const log = opts.log;
  const src = workloadSourceDir();
  const busyboxDir = fetchDeb('busybox-static', { members: ['./bin/busybox'], log });
  const busybox = path.join(busyboxDir, 'bin', 'busybox');
  if (!fs.existsSync(busybox)) throw new GuestError('initramfs', `busybox-static has no bin/busybox (looked in ${busyboxDir})`);
  const programs = fs
    .readdirSync(src)
    .filter((f) => f.endsWith('.c'))
    .sort()
    .map((f) => ({ name: `pp-${path.basename(f, '.c')}`, bin: compile(path.join(src, f), log) }));
  const init = fs.readFileSync(path.join(src, 'init.sh'));
  const sources = opts.data ?? defaultData();
  const data = sources.map((s) => ({ s, files: pickFiles(s.dir, s.mib * 1024 * 1024) }));

  const key = crypto.createHash('sha256');
  key.update(init).update(busyboxDir);
  for (const p of programs) key.update(p.bin);
  for (const { s, files } of data) for (const f of files) key.update(`${s.dir}|${s.as}|${f.rel}|${f.size}|${f.mtime}\n`);
  const out = path.join(guestCacheDir(), `initramfs-${key.digest('hex').slice(0, 16)}.cpio.gz`);
  const dataFiles = data.reduce((n, d) => n + d.files.length, 0);
  const dataBytes = data.reduce((n, d) => n + d.files.reduce((m, f) => m + f.size, 0), 0);
  if (fs.existsSync(out)) return { path: out, dataBytes, dataFiles };

  log?.(`building initramfs ${out} (/data: ${dataFiles} files, ${(dataBytes / 1048576).toFixed(1)} MiB)`);
  const w = new CpioWriter();
  for (const d of ['bin', 'dev', 'proc', 'sys', 'tmp', 'data']) w.add({ type: 'dir', name: d });
  w.add({ type: 'char', name: 'dev/console', major: 5, minor: 1 });
  w.add({ type: 'file', name: 'init', data: init, mode: 0o755 });
  w.add({ type: 'file', name: 'bin/busybox', data: fs.readFileSync(busybox), mode: 0o755 });
  w.add({ type: 'symlink', name: 'bin/sh', target: 'busybox' });
  for (const p of programs) w.add({ type: 'file', name: `bin/${p.name}`, data: fs.readFileSync(p.bin), mode: 0o755 });
  for (const { s, files } of data) {
    const dirs = new Set<string>();
    const addDir = (rel: string) => {
      if (rel === '.' || dirs.has(rel)) return;
      addDir(path.posix.dirname(rel));
      dirs.add(rel);
      w.add({ type: 'dir', name: `data/${s.as}${rel === '' ? '' : `/${rel}`}` });
    };
    dirs.add('.');
    w.add({ type: 'dir', name: `data/${s.as}` });
    dirs.add('');
    for (const f of files) {
      addDir(path.posix.dirname(f.rel));
      w.add({ type: 'file', name: `data/${s.as}/${f.rel}`, data: fs.readFileSync(path.join(s.dir, f.rel)) });
    }
  }
  const gz = zlib.gzipSync(w.finish(), { level: 1 });
  const tmp = `${out}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, gz);
  fs.renameSync(tmp, out);
  return { path: out, dataBytes, dataFiles };
}
