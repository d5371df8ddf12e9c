/**
 * The kernel half of an emulated link: a network namespace for the receiver, a veth pair to
 * it with a private /30, and a tbf qdisc on each end (one per direction). Needs root and the
 * `ip` and `tc` binaries (iproute2). Names carry the creating pid, so leftovers of a process
 * that died without cleaning up (SIGKILL) can be found and removed by the next one.
 */
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Every namespace this module makes is named `pp-rx-<pid base 36>_<n base 36>`. */
export const NETNS_PREFIX = 'pp-rx-';
/** Root-side veth names: `pp-<pid base 36>_<n base 36>s` (the namespace side ends in `r`); at most 15 characters. */
export const VETH_PREFIX = 'pp-';
/** The /16 the links' /30s are taken from. */
const SUBNET = [10, 213];
/** Queue of a tbf: packets waiting longer than this are dropped (it bounds the qdisc's backlog). */
export const TBF_LATENCY_MS = 20;

/** Finds a system binary also when /usr/sbin is not on PATH. */
export function findBinary(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), '/usr/sbin', '/sbin', '/usr/bin', '/bin'];
  for (const dir of dirs) {
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return null;
}

function run(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 10_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${path.basename(file)} ${args.join(' ')}: ${String(stderr).trim() || err.message}`));
      else resolve(String(stdout));
    });
  });
}

function runSync(file: string, args: string[]): string {
  return execFileSync(file, args, { timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] }).toString();
}

/** The tc arguments of one direction's shaper (after `tc qdisc add dev <dev> root`). */
export function tbfArgs(rateBitsPerSec: number, burst: number): string[] {
  return ['tbf', 'rate', `${Math.round(rateBitsPerSec)}bit`, 'burst', String(burst), 'latency', `${TBF_LATENCY_MS}ms`];
}

/** A namespace + veth pair + qdiscs, as created. */
export class NetnsPair {
  readonly ns: string;
  readonly rootIf: string;
  readonly nsIf: string;
  readonly rootAddr: string;
  readonly nsAddr: string;
  private removed = false;

  private constructor(
    /** Absolute path of the ip binary used. */
    readonly ip: string,
    id: string,
    index: number,
  ) {
    this.ns = `${NETNS_PREFIX}${id}`;
    this.rootIf = `${VETH_PREFIX}${id}s`;
    this.nsIf = `${VETH_PREFIX}${id}r`;
    const base = index * 4;
    this.rootAddr = `${SUBNET[0]}.${SUBNET[1]}.${base >> 8}.${(base & 255) + 1}`;
    this.nsAddr = `${SUBNET[0]}.${SUBNET[1]}.${base >> 8}.${(base & 255) + 2}`;
  }

  /**
   * Creates the pair. `rate` null leaves the veth unshaped (for baselines). Throws with the
   * failing command's message; whatever was made before the failure is removed again.
   */
  static async create(id: string, rateBitsPerSec: number | null, burst: number): Promise<NetnsPair> {
    const ip = findBinary('ip');
    if (!ip) throw new Error('the ip binary (iproute2) is not installed');
    const tc = rateBitsPerSec === null ? null : findBinary('tc');
    if (rateBitsPerSec !== null && !tc) throw new Error('the tc binary (iproute2) is not installed');
    const pair = new NetnsPair(ip, id, await freeSubnetIndex(ip));
    try {
      await run(ip, ['netns', 'add', pair.ns]);
      await run(ip, ['link', 'add', pair.rootIf, 'type', 'veth', 'peer', 'name', pair.nsIf, 'netns', pair.ns]);
      // No IPv6 link-local addresses: no neighbour discovery chatter in the byte counters.
      await run(ip, ['link', 'set', pair.rootIf, 'addrgenmode', 'none']).catch(() => undefined);
      await run(ip, ['-n', pair.ns, 'link', 'set', pair.nsIf, 'addrgenmode', 'none']).catch(() => undefined);
      await run(ip, ['addr', 'add', `${pair.rootAddr}/30`, 'dev', pair.rootIf]);
      await run(ip, ['-n', pair.ns, 'addr', 'add', `${pair.nsAddr}/30`, 'dev', pair.nsIf]);
      if (tc && rateBitsPerSec !== null) {
        // Egress of each end: the root side shapes sender -> receiver, the namespace side the way back.
        await run(tc, ['qdisc', 'add', 'dev', pair.rootIf, 'root', ...tbfArgs(rateBitsPerSec, burst)]);
        await run(ip, ['netns', 'exec', pair.ns, tc, 'qdisc', 'add', 'dev', pair.nsIf, 'root', ...tbfArgs(rateBitsPerSec, burst)]);
      }
      await run(ip, ['link', 'set', pair.rootIf, 'up']);
      await run(ip, ['-n', pair.ns, 'link', 'set', pair.nsIf, 'up']);
      await run(ip, ['-n', pair.ns, 'link', 'set', 'lo', 'up']);
    } catch (err) {
      pair.removeSync();
      throw err;
    }
    return pair;
  }

  /** Bytes through the root-side veth: tx = sender -> receiver, rx = the way back (frames, headers included). */
  wireBytes(): { forwardBytes: number; reverseBytes: number } | null {
    try {
      const dir = `/sys/class/net/${this.rootIf}/statistics`;
      return {
        forwardBytes: Number(fs.readFileSync(`${dir}/tx_bytes`, 'utf8')),
        reverseBytes: Number(fs.readFileSync(`${dir}/rx_bytes`, 'utf8')),
      };
    } catch {
      return null;
    }
  }

  /** Removes everything; safe to call twice. Synchronous so it can run in an exit handler. */
  removeSync(): void {
    if (this.removed) return;
    this.removed = true;
    removeByNames(this.ip, this.ns, this.rootIf);
  }

  /** Same as {@link removeSync}, without blocking the event loop. */
  async remove(): Promise<void> {
    if (this.removed) return;
    this.removed = true;
    const pids = await run(this.ip, ['netns', 'pids', this.ns]).catch(() => '');
    for (const pid of pids.split(/\s+/).filter(Boolean)) killQuietly(Number(pid));
    await run(this.ip, ['link', 'del', this.rootIf]).catch(() => undefined);
    await run(this.ip, ['netns', 'del', this.ns]).catch(() => undefined);
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/**
 * Kills what still runs in the namespace (its veth would otherwise live on with it), deletes
 * the veth (which takes its peer and both qdiscs along) and the namespace. Errors are ignored:
 * any of them may already be gone.
 */
function removeByNames(ip: string, ns: string, rootIf: string): void {
  try {
    for (const pid of runSync(ip, ['netns', 'pids', ns]).split(/\s+/).filter(Boolean)) killQuietly(Number(pid));
  } catch {
    // no such namespace
  }
  try {
    runSync(ip, ['link', 'del', rootIf]);
  } catch {
    // already gone
  }
  try {
    runSync(ip, ['netns', 'del', ns]);
  } catch {
    // already gone
  }
}

/** Picks a /30 of 10.213.0.0/16 that no address in the root namespace uses (random, so parallel processes rarely collide). */
async function freeSubnetIndex(ip: string): Promise<number> {
  const used = new Set<number>();
  const out = await run(ip, ['-o', '-4', 'addr', 'show']);
  for (const m of out.matchAll(/inet (\d+)\.(\d+)\.(\d+)\.(\d+)/g)) {
    if (Number(m[1]) === SUBNET[0] && Number(m[2]) === SUBNET[1]) used.add((Number(m[3]) * 256 + Number(m[4])) >> 2);
  }
  for (let tries = 0; tries < 1000; tries++) {
    const index = 1 + Math.floor(Math.random() * 16383);
    if (!used.has(index)) return index;
  }
  throw new Error('no free /30 left in 10.213.0.0/16');
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes namespaces and veths left by processes that no longer exist (killed before their
 * cleanup could run). Returns the names of the namespaces removed.
 */
export function sweepStale(): string[] {
  const ip = findBinary('ip');
  if (!ip) return [];
  const ids = new Set<string>();
  try {
    for (const line of runSync(ip, ['netns', 'list']).split('\n')) {
      const name = line.split(' ')[0];
      if (name.startsWith(NETNS_PREFIX)) ids.add(name.slice(NETNS_PREFIX.length));
    }
    for (const m of runSync(ip, ['-o', 'link', 'show']).matchAll(/^\d+: pp-([0-9a-z]+_[0-9a-z]+)s[@:]/gm)) ids.add(m[1]);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const id of ids) {
    const m = /^([0-9a-z]+)_[0-9a-z]+$/.exec(id);
    if (!m || pidAlive(parseInt(m[1], 36))) continue;
    removeByNames(ip, `${NETNS_PREFIX}${id}`, `${VETH_PREFIX}${id}s`);
    removed.push(`${NETNS_PREFIX}${id}`);
  }
  return removed;
}
