/**
 * Where the guest tooling keeps what it builds (kernel, busybox, workload binaries,
 * initramfs images): `<repo>/.cache/guest/` (gitignored), or `$PAGEPRESS_GUEST_CACHE`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Root of the repository (this file is bench/guest/paths.ts or dist/bench/guest/paths.js). */
export function repoRoot(): string {
  let d = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(d, 'package.json')) && fs.existsSync(path.join(d, 'bench'))) return d;
    const up = path.dirname(d);
    if (up === d) return path.resolve(__dirname, '..', '..', '..');
    d = up;
  }
}

/** The cache directory, created on first use. */
export function guestCacheDir(): string {
  const dir = path.resolve(process.env.PAGEPRESS_GUEST_CACHE ?? path.join(repoRoot(), '.cache', 'guest'));
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** The committed sources of the guest (init script, workload C files): bench/guest/workloads/. */
export function workloadSourceDir(): string {
  for (const d of [path.join(__dirname, 'workloads'), path.join(repoRoot(), 'bench', 'guest', 'workloads')]) {
    if (fs.existsSync(path.join(d, 'init.sh'))) return d;
  }
  throw new GuestError('paths', `bench/guest/workloads/init.sh not found (looked next to ${__dirname} and in the repository)`);
}

/** A step of the guest tooling failed; `step` names it (kernel, initramfs, qmp, vm ...). */
export class GuestError extends Error {
  /** Which step failed. */
  readonly step: string;

  constructor(step: string, message: string) {
    super(`${step}: ${message}`);
    this.name = 'GuestError';
    this.step = step;
  }
}
