/**
 * Emulated network links for migration experiments: a rate and a one-way latency between a
 * sender (this process) and a receiver, over real TCP. Two ways to get one:
 *
 * - `kernel`: the receiver runs in its own network namespace behind a veth pair shaped by a
 *   tbf qdisc in each direction; the latency is added by a small delay proxy in the root
 *   namespace, because this kernel has no netem.
 * - `userspace`: everything on 127.0.0.1; the proxy shapes with a token bucket per direction
 *   and adds the same latency.
 *
 * Both put the proxy in a worker thread. See docs/MIGRATION-LINK.md.
 */
import * as net from 'node:net';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { ErrorCodes, PagepressError } from '../errors';
import type { ProxyConfig, ProxyReply, ProxyRequest, ProxyStats } from './link/delay-proxy';
import { NetnsPair, sweepStale } from './link/netns';
import { burstBytes } from './link/token-bucket';

/** A link's shape: the rate each way and the one-way delay added each way. */
export interface LinkSpec {
  /** Rate of each direction in bits per second (Infinity = unshaped, for baselines). */
  rateBitsPerSec: number;
  /** One-way added delay in milliseconds (the round trip grows by twice this). */
  latencyMs: number;
}

/**
 * Named presets: switched LANs of three speeds, each with 0.5 ms one way (1 ms more per round
 * trip: a couple of switches and the hosts' stacks). Pass your own LinkSpec for a WAN.
 */
export const LINKS: Readonly<Record<'100M' | '1G' | '10G', LinkSpec>> = Object.freeze({
  '100M': Object.freeze({ rateBitsPerSec: 100e6, latencyMs: 0.5 }),
  '1G': Object.freeze({ rateBitsPerSec: 1e9, latencyMs: 0.5 }),
  '10G': Object.freeze({ rateBitsPerSec: 10e9, latencyMs: 0.5 }),
});

/** Which implementation a link uses. */
export type LinkKind = 'kernel' | 'userspace';

/** What a link carried. */
export interface LinkStats {
  /**
   * What the two byte counts are: 'payload' = TCP payload the delay proxy delivered (every link
   * with a proxy); 'frames' = the veth's frame counters (a kernel link with latency 0 has no proxy).
   */
  counted: 'payload' | 'frames';
  /** Sender -> receiver bytes. */
  forwardBytes: number;
  /** Receiver -> sender bytes. */
  reverseBytes: number;
  /** Connections made through the proxy (0 without one). */
  connections: number;
  /** The most bytes the proxy held at once in one direction of one connection (at most its buffer bound + 64 KiB). */
  peakBufferedBytes: number;
  /** Kernel links: bytes of the frames on the veth (headers included; tx and rx of the root side). */
  wire?: { forwardBytes: number; reverseBytes: number };
}

/** An emulated link between this process (the sender) and a receiver process. */
export interface Link {
  /** Which implementation runs (reports must say). */
  readonly kind: LinkKind;
  /** Why a kernel link was asked for but a userspace one runs; undefined otherwise. */
  readonly fallbackReason?: string;
  readonly spec: LinkSpec;
  /** Where the receiver must listen: the veth address inside the namespace, or 127.0.0.1. */
  readonly listen: { host: string; port: number };
  /** Where the sender must connect: the delay proxy on 127.0.0.1 (a kernel link with latency 0 has none: the receiver's address). */
  readonly connect: { host: string; port: number };
  /** argv prefix that runs a process on the receiver side: `['/usr/sbin/ip','netns','exec',<ns>]` for kernel, [] for userspace. */
  readonly receiverPrefix: string[];
  /** The namespace of a kernel link. */
  readonly netns?: string;
  /** Bytes the link carried each way. */
  stats(): Promise<LinkStats>;
  /** One line for reports: kind, rate, latency, and the fallback reason if any. */
  describe(): string;
  /**
   * Removes namespace, veth, qdiscs and proxy, and kills processes left in the namespace.
   * Safe to call twice; also runs on process exit, SIGINT, SIGTERM and SIGHUP.
   */
  close(): Promise<void>;
}

/** Options of {@link createLink}. */
export interface CreateLinkOptions {
  /** Implementation to try first (default 'kernel'); 'kernel' falls back to 'userspace' unless `strict`. */
  prefer?: LinkKind;
  /** Throw instead of falling back when the preferred kind cannot be set up. */
  strict?: boolean;
  /** Port the receiver listens on (default: 7000 in a namespace, a free port on 127.0.0.1). */
  port?: number;
}

/** Thrown when a strict kernel link cannot be set up (no root, no iproute2, EPERM ...). */
export class LinkUnavailableError extends Error {
  readonly code = 'PP_LINK_UNAVAILABLE';
  constructor(message: string) {
    super(message);
    this.name = 'LinkUnavailableError';
  }
}

/** Receiver port inside a fresh namespace, where every port is free. */
const NETNS_DEFAULT_PORT = 7000;
/** Proxy buffer of an unshaped link (no rate to size it from). */
const UNSHAPED_BUFFER = 4 * 1024 * 1024;

/**
 * Bytes one direction of the proxy may hold before pausing its source: twice what the link
 * keeps in flight (rate x latency, plus the burst), so resuming at half never starves it.
 */
export function proxyBufferBytes(spec: LinkSpec): number {
  if (!Number.isFinite(spec.rateBitsPerSec)) return UNSHAPED_BUFFER;
  const inFlight = (spec.rateBitsPerSec / 8) * (spec.latencyMs / 1000);
  return Math.max(256 * 1024, Math.ceil(2 * (inFlight + burstBytes(spec.rateBitsPerSec))));
}

function checkSpec(spec: LinkSpec): void {
  if (!(typeof spec.rateBitsPerSec === 'number' && spec.rateBitsPerSec >= 1000)) {
    throw new PagepressError(`spec.rateBitsPerSec must be a number >= 1000 or Infinity, got ${spec.rateBitsPerSec}`, ErrorCodes.ARG);
  }
  if (!(typeof spec.latencyMs === 'number' && spec.latencyMs >= 0 && spec.latencyMs <= 10_000)) {
    throw new PagepressError(`spec.latencyMs must be a number in [0, 10000], got ${spec.latencyMs}`, ErrorCodes.ARG);
  }
}

function checkPort(port: number | undefined): void {
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) {
    throw new PagepressError(`options.port must be an integer in [1, 65535], got ${port}`, ErrorCodes.ARG);
  }
}

/** Formats a rate for reports: 100 Mbit/s, 10 Gbit/s. */
export function formatRate(bitsPerSec: number): string {
  if (!Number.isFinite(bitsPerSec)) return 'unshaped';
  if (bitsPerSec >= 1e9) return `${+(bitsPerSec / 1e9).toFixed(3)} Gbit/s`;
  if (bitsPerSec >= 1e6) return `${+(bitsPerSec / 1e6).toFixed(3)} Mbit/s`;
  return `${+(bitsPerSec / 1e3).toFixed(3)} kbit/s`;
}

// ---------------------------------------------------------------------------------------------
// The proxy worker

/** The delay proxy in its worker thread; the worker is unref'd except while a reply is awaited. */
class ProxyHandle {
  private nextId = 0;
  private readonly waiting = new Map<number, (stats: ProxyStats) => void>();
  private finalStats: ProxyStats | null = null;
  private closing: Promise<void> | null = null;
  private exited = false;
  /** Why the worker died, if it did before close(); kept for stats' callers to see zeros rather than hang. */
  failure: Error | null = null;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (msg: ProxyReply) => {
      if (msg.op === 'stats') {
        this.waiting.get(msg.id)?.(msg.stats);
        this.waiting.delete(msg.id);
      } else if (msg.op === 'closed') {
        this.finalStats = msg.stats;
      }
    });
    // Without a listener a crash in the worker would be rethrown in the sender's thread.
    worker.on('error', (err) => (this.failure = err));
    worker.on('exit', () => {
      this.exited = true;
      this.finalStats ??= { forwardBytes: 0, reverseBytes: 0, connections: 0, peakBufferedBytes: 0 };
      for (const done of this.waiting.values()) done({ ...this.finalStats });
      this.waiting.clear();
    });
  }

  static start(config: Omit<ProxyConfig, 'kind'>): Promise<{ proxy: ProxyHandle; port: number }> {
    const worker = new Worker(path.join(__dirname, 'link', 'delay-proxy.js'), { workerData: { kind: 'pp-link-proxy', ...config } satisfies ProxyConfig });
    return new Promise((resolve, reject) => {
      const onMessage = (msg: ProxyReply): void => {
        if (msg.op === 'listening') {
          worker.off('error', onError);
          worker.off('message', onMessage);
          worker.unref();
          resolve({ proxy: new ProxyHandle(worker), port: msg.port });
        } else if (msg.op === 'error') {
          void worker.terminate();
          reject(new Error(`delay proxy: ${msg.message}`));
        }
      };
      const onError = (err: Error): void => reject(new Error(`delay proxy: ${err.message}`));
      worker.on('message', onMessage);
      worker.once('error', onError);
    });
  }

  stats(): Promise<ProxyStats> {
    if (this.exited) return Promise.resolve({ ...this.finalStats! });
    const id = this.nextId++;
    // Keep the process alive for the reply: an unref'd worker alone would let it exit mid-await.
    this.worker.ref();
    return new Promise<ProxyStats>((resolve) => {
      this.waiting.set(id, (stats) => {
        if (this.waiting.size <= 1 && !this.closing) this.worker.unref();
        resolve(stats);
      });
      this.worker.postMessage({ op: 'stats', id } satisfies ProxyRequest);
    });
  }

  /** Asks the worker to cut its connections and stop; terminates it if it has not within 2 s. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      if (this.exited) return resolve();
      this.worker.ref();
      const timer = setTimeout(() => void this.worker.terminate(), 2000);
      this.worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      this.worker.postMessage({ op: 'close' } satisfies ProxyRequest);
    });
    return this.closing;
  }
}

// ---------------------------------------------------------------------------------------------
// Cleanup of kernel links on exit and signals

const openPairs = new Set<NetnsPair>();
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function removeAllSync(): void {
  for (const pair of openPairs) pair.removeSync();
  openPairs.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  removeAllSync();
  unhook();
  // Nobody else handles the signal: die of it as if we had not been listening.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

let hooked = false;
function hook(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', removeAllSync);
  for (const sig of SIGNALS) process.on(sig, onSignal);
}

function unhook(): void {
  if (!hooked) return;
  hooked = false;
  process.off('exit', removeAllSync);
  for (const sig of SIGNALS) process.off(sig, onSignal);
}

// ---------------------------------------------------------------------------------------------
// Links

class EmulatedLink implements Link {
  private closing: Promise<void> | null = null;
  private finalWire: { forwardBytes: number; reverseBytes: number } | null = null;

  constructor(
    readonly kind: LinkKind,
    readonly spec: LinkSpec,
    readonly listen: { host: string; port: number },
    readonly connect: { host: string; port: number },
    readonly receiverPrefix: string[],
    private readonly proxy: ProxyHandle | null,
    private readonly pair: NetnsPair | null,
    readonly fallbackReason?: string,
  ) {}

  get netns(): string | undefined {
    return this.pair?.ns;
  }

  async stats(): Promise<LinkStats> {
    const wire = this.pair ? (this.finalWire ?? this.pair.wireBytes() ?? { forwardBytes: 0, reverseBytes: 0 }) : undefined;
    if (!this.proxy) return { counted: 'frames', forwardBytes: wire!.forwardBytes, reverseBytes: wire!.reverseBytes, connections: 0, peakBufferedBytes: 0, wire };
    const s: LinkStats = { counted: 'payload', ...(await this.proxy.stats()) };
    if (wire) s.wire = wire;
    return s;
  }

  describe(): string {
    const shape = `${formatRate(this.spec.rateBitsPerSec)} each way, +${this.spec.latencyMs} ms one way`;
    if (this.kind === 'kernel') return `kernel link (netns ${this.pair!.ns}, tbf on veth${this.proxy ? ', userspace delay proxy' : ', no proxy'}): ${shape}`;
    return `userspace link (token-bucket + delay proxy on 127.0.0.1): ${shape}${this.fallbackReason ? `; kernel link unavailable: ${this.fallbackReason}` : ''}`;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.proxy?.close();
      if (this.pair) {
        this.finalWire = this.pair.wireBytes();
        await this.pair.remove();
        openPairs.delete(this.pair);
        if (openPairs.size === 0) unhook();
      }
    })();
    return this.closing;
  }
}

let linkCounter = 0;
let swept = false;

async function createKernelLink(spec: LinkSpec, port: number): Promise<Link> {
  if (!swept) {
    swept = true;
    sweepStale();
  }
  const shaped = Number.isFinite(spec.rateBitsPerSec);
  const id = `${process.pid.toString(36)}_${(linkCounter++).toString(36)}`;
  const pair = await NetnsPair.create(id, shaped ? spec.rateBitsPerSec : null, shaped ? burstBytes(spec.rateBitsPerSec) : 0);
  openPairs.add(pair);
  hook();
  const listen = { host: pair.nsAddr, port };
  const prefix = [pair.ip, 'netns', 'exec', pair.ns];
  // No latency to add: the sender talks to the namespace directly, so only the kernel limits the rate (10 Gbit/s is reachable).
  if (spec.latencyMs === 0) return new EmulatedLink('kernel', { ...spec }, listen, { ...listen }, prefix, null, pair);
  try {
    const { proxy, port: proxyPort } = await ProxyHandle.start({
      listenHost: '127.0.0.1',
      listenPort: 0,
      targetHost: pair.nsAddr,
      targetPort: port,
      latencyMs: spec.latencyMs,
      rateBitsPerSec: null,
      burstBytes: 0,
      bufferBytes: proxyBufferBytes(spec),
    });
    return new EmulatedLink('kernel', { ...spec }, listen, { host: '127.0.0.1', port: proxyPort }, prefix, proxy, pair);
  } catch (err) {
    pair.removeSync();
    openPairs.delete(pair);
    if (openPairs.size === 0) unhook();
    throw err;
  }
}

/** A free TCP port on 127.0.0.1 (bound and released: another process could take it before the receiver does). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function createUserspaceLink(spec: LinkSpec, port: number | undefined, fallbackReason?: string): Promise<Link> {
  const receiverPort = port ?? (await freePort());
  const shaped = Number.isFinite(spec.rateBitsPerSec);
  const { proxy, port: proxyPort } = await ProxyHandle.start({
    listenHost: '127.0.0.1',
    listenPort: 0,
    targetHost: '127.0.0.1',
    targetPort: receiverPort,
    latencyMs: spec.latencyMs,
    rateBitsPerSec: shaped ? spec.rateBitsPerSec : null,
    burstBytes: shaped ? burstBytes(spec.rateBitsPerSec) : 0,
    bufferBytes: proxyBufferBytes(spec),
  });
  return new EmulatedLink('userspace', { ...spec }, { host: '127.0.0.1', port: receiverPort }, { host: '127.0.0.1', port: proxyPort }, [], proxy, null, fallbackReason);
}

/**
 * Sets up an emulated link. With `prefer: 'kernel'` (the default) it tries a namespace + veth +
 * tbf link and, if that cannot be made (not root, no iproute2, EPERM), a userspace one, whose
 * `fallbackReason` says why; with `strict` it throws {@link LinkUnavailableError} instead.
 */
export async function createLink(spec: LinkSpec, opts: CreateLinkOptions = {}): Promise<Link> {
  checkSpec(spec);
  checkPort(opts.port);
  const prefer = opts.prefer ?? 'kernel';
  if (prefer === 'userspace') return createUserspaceLink(spec, opts.port);
  try {
    return await createKernelLink(spec, opts.port ?? NETNS_DEFAULT_PORT);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    if (opts.strict) throw new LinkUnavailableError(`kernel link unavailable: ${reason}`);
    return createUserspaceLink(spec, opts.port, reason);
  }
}

/** Removes namespaces and veths left by processes that died without cleaning up; returns the namespaces removed. */
export function sweepStaleLinks(): string[] {
  return sweepStale();
}
