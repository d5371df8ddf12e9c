/**
 * Fetches a Debian package without installing it: `apt-get download` into the cache, then
 * `dpkg-deb --fsys-tarfile | tar -x` (all of it, or only the members asked for). Extracted
 * trees are kept per package version, so later runs reuse them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { run } from './exec';
import { GuestError, guestCacheDir } from './paths';

let updated = false;

/** Runs `apt-get update` once per process (apt-cache finds nothing, or an old list, before it). */
export function aptUpdateOnce(log?: (m: string) => void): void {
  if (updated) return;
  log?.('apt-get update');
  run('apt', 'apt-get', ['-o', 'DPkg::Lock::Timeout=300', 'update'], { timeoutMs: 600_000 });
  updated = true;
}

/** The candidate version apt would pick for `pkg`, or null if apt knows no such package. */
export function candidateVersion(pkg: string): string | null {
  let out: string;
  try {
    out = run('apt', 'apt-cache', ['show', '--no-all-versions', pkg]);
  } catch {
    return null;
  }
  const m = /^Version: (\S+)$/m.exec(out);
  return m ? m[1] : null;
}

/** The package names `meta` depends on (e.g. linux-image-amd64 -> linux-image-6.1.0-57-amd64). */
export function dependsOf(meta: string): string[] {
  let out: string;
  try {
    out = run('apt', 'apt-cache', ['depends', meta]);
  } catch {
    return [];
  }
  return [...out.matchAll(/^\s+Depends: (\S+)$/gm)].map((m) => m[1]);
}

/** Options of {@link fetchDeb}. */
export interface FetchDebOptions {
  /** Extract only these tar members (wildcards allowed, e.g. "./boot/vmlinuz-*"); default all. */
  members?: string[];
  log?: (m: string) => void;
}

/**
 * Downloads and extracts `pkg` (apt's candidate version) under `<cache>/deb/<pkg>_<version>/`;
 * returns that directory. Runs `apt-get update` first when apt does not know the package.
 */
export function fetchDeb(pkg: string, opts: FetchDebOptions = {}): string {
  let version = candidateVersion(pkg);
  if (version === null) {
    aptUpdateOnce(opts.log);
    version = candidateVersion(pkg);
  }
  if (version === null) throw new GuestError('deb', `apt knows no package ${pkg} (after apt-get update)`);
  const base = path.join(guestCacheDir(), 'deb');
  const dir = path.join(base, `${pkg}_${version.replace(/[^A-Za-z0-9.+~-]/g, '_')}`);
  if (fs.existsSync(path.join(dir, '.done'))) return dir;
  fs.mkdirSync(base, { recursive: true });
  const work = fs.mkdtempSync(path.join(base, `.${pkg}-`));
  try {
    opts.log?.(`apt-get download ${pkg}=${version}`);
    run('deb', 'apt-get', ['download', `${pkg}=${version}`], { cwd: work, timeoutMs: 600_000 });
    const deb = fs.readdirSync(work).find((f) => f.endsWith('.deb'));
    if (!deb) throw new GuestError('deb', `apt-get download ${pkg} left no .deb in ${work}`);
    const tree = path.join(work, 'tree');
    fs.mkdirSync(tree);
    const members = opts.members ?? [];
    // The tar stream is extracted directly so that unwanted members (391 MB of kernel modules) never hit the disk.
    run('deb', 'sh', ['-c', 'set -e; dpkg-deb --fsys-tarfile "$1" > "$2/all.tar"; shift 2; tar -x -f all.tar --wildcards "$@"; rm all.tar', 'sh', path.join(work, deb), tree, ...members], {
      cwd: tree,
    });
    fs.writeFileSync(path.join(tree, '.done'), `${pkg} ${version}\n`);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(tree, dir);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  return dir;
}
