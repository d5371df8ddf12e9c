/**
 * A Debian bookworm kernel for the guest, never installed on the host: the package that
 * `linux-image-amd64` depends on (e.g. linux-image-6.1.0-57-amd64), only its
 * /boot/vmlinuz-* extracted into the cache. `$PAGEPRESS_GUEST_KERNEL` overrides it with a file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { aptUpdateOnce, dependsOf, fetchDeb } from './deb';
import { run } from './exec';
import { GuestError } from './paths';

/** The kernel found or fetched. */
export interface KernelInfo {
  /** Path of the bzImage. */
  vmlinuz: string;
  /** Debian package it came from (or "env" for $PAGEPRESS_GUEST_KERNEL). */
  pkg: string;
}

const NAME = /^linux-image-(\d+)\.(\d+)\.(\d+)-(\d+)-amd64$/;

/** The newest plain amd64 kernel image package apt offers (not -rt, -cloud, -unsigned or -dbg). */
function pickPackage(): string | null {
  const dep = dependsOf('linux-image-amd64').find((p) => NAME.test(p));
  if (dep) return dep;
  let out: string;
  try {
    out = run('kernel', 'apt-cache', ['search', '--names-only', '^linux-image-[0-9.]+-[0-9]+-amd64$']);
  } catch {
    return null;
  }
  const names = out
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter((n) => NAME.test(n));
  const key = (n: string) => (NAME.exec(n) as RegExpExecArray).slice(1).map(Number);
  names.sort((a, b) => {
    const x = key(a);
    const y = key(b);
    for (let i = 0; i < 4; i++) if (x[i] !== y[i]) return x[i] - y[i];
    return 0;
  });
  return names.length ? names[names.length - 1] : null;
}

/** Returns the kernel, downloading and extracting it on first use (about 70 MB download, 8 MB kept). */
export function ensureKernel(log?: (m: string) => void): KernelInfo {
  const env = process.env.PAGEPRESS_GUEST_KERNEL;
  if (env) {
    if (!fs.existsSync(env)) throw new GuestError('kernel', `$PAGEPRESS_GUEST_KERNEL=${env} does not exist`);
    return { vmlinuz: env, pkg: 'env' };
  }
  let pkg = pickPackage();
  if (pkg === null) {
    aptUpdateOnce(log);
    pkg = pickPackage();
  }
  if (pkg === null) throw new GuestError('kernel', 'apt offers no linux-image-*-amd64 package (is this Debian with deb.debian.org in sources?)');
  const dir = fetchDeb(pkg, { members: ['./boot/vmlinuz-*'], log });
  const boot = path.join(dir, 'boot');
  const file = fs.existsSync(boot) ? fs.readdirSync(boot).find((f) => f.startsWith('vmlinuz-')) : undefined;
  if (!file) throw new GuestError('kernel', `${pkg} holds no /boot/vmlinuz-* (looked in ${boot})`);
  return { vmlinuz: path.join(boot, file), pkg };
}
