/**
 * The userspace half of an emulated link: a TCP proxy that holds every chunk for the link's
 * one-way latency in each direction and, on the userspace path, also shapes it with a token
 * bucket. It runs in its own worker thread so that a busy event loop in the sender (the
 * process that usually owns the link) cannot add delay or jitter to the link.
 *
 * Per direction of a connection (a "lane") the chunks wait in one FIFO: each is stamped on
 * arrival with its release time (token-bucket departure, if shaped, plus the latency) and is
 * written to the other socket at that time. Backpressure: when a lane holds `bufferBytes`,
 * its source socket is paused (TCP flow control then stops the peer) until the lane is down
 * to half; while the destination socket reports a full buffer nothing more is released.
 * Memory per connection is therefore at most 2 x (bufferBytes + 64 KiB, one socket read).
 */
import * as net from 'node:net';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { framedCost, TokenBucket } from './token-bucket';

/** What the proxy worker is told at start. */
export interface ProxyConfig {
  /** Marks workerData as ours, so a stray import in another worker does nothing. */
  kind: 'pp-link-proxy';
  listenHost: string;
  /** 0 = any free port; the chosen port is posted back. */
  listenPort: number;
  targetHost: string;
  targetPort: number;
  /** Added one-way delay, each direction. */
  latencyMs: number;
  /** Token-bucket rate per direction, or null when the kernel shapes (or nothing does). */
  rateBitsPerSec: number | null;
  /** Token-bucket depth in bytes (ignored without a rate). */
  burstBytes: number;
  /** Bytes one lane may hold before its source is paused. */
  bufferBytes: number;
}

/** Counters the worker reports; bytes are TCP payload delivered to the far side. */
export interface ProxyStats {
  forwardBytes: number;
  reverseBytes: number;
  /** Connections accepted so far. */
  connections: number;
  /** The most bytes any one lane has held at once. */
  peakBufferedBytes: number;
}

/** Messages from the main thread to the worker. */
export type ProxyRequest = { op: 'stats'; id: number } | { op: 'close' };
/** Messages from the worker to the main thread. */
export type ProxyReply = { op: 'listening'; port: number } | { op: 'stats'; id: number; stats: ProxyStats } | { op: 'error'; message: string } | { op: 'closed'; stats: ProxyStats };

/** Chunks due within this much of now are released together (timer granularity is coarser anyway). */
const RELEASE_SLACK_MS = 0.02;
/** A wait this long or longer starts with a timer (1 ms resolution, fires up to ~1 ms early or a little late). */
const TIMER_MIN_MS = 3;
/** What the timer leaves to the precise sleeps. */
const TIMER_MARGIN_MS = 2;
/** Longest precise sleep in one go: between slices the event loop polls the sockets once. */
const SLEEP_SLICE_MS = 0.25;
/** Atomics.wait oversleeps by 50-150 us (timer slack): the last stretch before a deadline is spun instead. */
const SPIN_MS = 0.15;

const sleepCell = new Int32Array(new SharedArrayBuffer(4));
/** Sleeps `ms` (fractional) without spinning: Atomics.wait times out with microsecond precision. */
function sleepPrecise(ms: number): void {
  if (ms > 0) Atomics.wait(sleepCell, 0, 0, ms);
}

function nowMs(): number {
  return performance.now();
}

/** Wakes the lanes when their head chunk is due: ms timers for long waits, short precise sleeps near the deadline. */
class Ticker {
  readonly lanes = new Set<Lane>();
  private wakeAt = Infinity;
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;

  /** Makes sure the ticker runs no later than `due`. */
  schedule(due: number): void {
    if (due < this.wakeAt) this.arm(due);
  }

  stop(): void {
    this.disarm();
    this.lanes.clear();
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
    this.wakeAt = Infinity;
  }

  private arm(due: number): void {
    this.disarm();
    this.wakeAt = due;
    const wait = due - nowMs();
    // Node timers fire up to ~1 ms off either way, so stop short and finish with precise sleeps.
    if (wait >= TIMER_MIN_MS) this.timer = setTimeout(() => this.run(), wait - TIMER_MARGIN_MS);
    else this.immediate = setImmediate(() => this.fine());
  }

  /** Near the deadline: sleep in short slices (the loop polls sockets between them), spin the last ~0.15 ms. */
  private fine(): void {
    this.immediate = null;
    const wait = this.wakeAt - nowMs();
    if (wait > SPIN_MS) {
      sleepPrecise(Math.min(wait - SPIN_MS, SLEEP_SLICE_MS));
      this.immediate = setImmediate(() => this.fine());
      return;
    }
    while (this.wakeAt - nowMs() > RELEASE_SLACK_MS) {
      // spin: at most SPIN_MS plus the oversleep of the last slice
    }
    this.run();
  }

  /** Releases every due chunk, then arms for the earliest head left. */
  run(): void {
    this.disarm();
    let next = Infinity;
    for (const lane of this.lanes) {
      lane.release(nowMs());
      next = Math.min(next, lane.nextDue());
    }
    if (next !== Infinity) this.arm(next);
  }
}

/** One direction of one proxied connection. */
class Lane {
  private chunks: Buffer[] = [];
  private dues: number[] = [];
  private head = 0;
  private queued = 0;
  private lastDue = 0;
  private blocked = false;
  private srcPaused = false;
  private srcEnded = false;
  private finished = false;

  constructor(
    private readonly src: net.Socket,
    private readonly dst: net.Socket,
    private readonly config: ProxyConfig,
    private readonly bucket: TokenBucket | null,
    private readonly ticker: Ticker,
    private readonly onDelivered: (bytes: number) => void,
    private readonly onQueued: (bytes: number) => void,
  ) {
    ticker.lanes.add(this);
    src.on('data', (chunk: Buffer) => this.push(chunk));
    src.on('end', () => {
      this.srcEnded = true;
      this.release(nowMs());
    });
  }

  private push(chunk: Buffer): void {
    const now = nowMs();
    const leaves = this.bucket ? this.bucket.depart(now, framedCost(chunk.length)) : now;
    // FIFO: a small chunk may get its tokens before a big one booked earlier, but never overtakes it.
    const due = Math.max(leaves + this.config.latencyMs, this.lastDue);
    this.lastDue = due;
    this.chunks.push(chunk);
    this.dues.push(due);
    this.queued += chunk.length;
    this.onQueued(this.queued);
    if (this.queued >= this.config.bufferBytes && !this.srcPaused) {
      this.srcPaused = true;
      this.src.pause();
    }
    if (this.head === this.chunks.length - 1 && !this.blocked) this.ticker.schedule(due);
  }

  /** Due time of the chunk at the head, or Infinity when there is none or the destination is full. */
  nextDue(): number {
    return this.blocked || this.head >= this.chunks.length ? Infinity : this.dues[this.head];
  }

  /** Writes every chunk due by `now`, as long as the destination takes them. */
  release(now: number): void {
    while (!this.blocked && this.head < this.chunks.length && this.dues[this.head] <= now + RELEASE_SLACK_MS) {
      const chunk = this.chunks[this.head];
      this.head++;
      this.queued -= chunk.length;
      this.onDelivered(chunk.length);
      if (!this.dst.write(chunk)) {
        this.blocked = true;
        this.dst.once('drain', () => {
          this.blocked = false;
          this.ticker.schedule(this.nextDue() === Infinity ? nowMs() : this.nextDue());
        });
      }
    }
    if (this.head > 1024 && this.head * 2 > this.chunks.length) {
      // Drop the released prefix now and then instead of shifting on every chunk.
      this.chunks = this.chunks.slice(this.head);
      this.dues = this.dues.slice(this.head);
      this.head = 0;
    }
    if (this.srcPaused && this.queued <= this.config.bufferBytes / 2) {
      this.srcPaused = false;
      this.src.resume();
    }
    if (this.srcEnded && !this.finished && this.head >= this.chunks.length) {
      this.finished = true;
      this.ticker.lanes.delete(this);
      this.dst.end();
    }
  }

  drop(): void {
    this.ticker.lanes.delete(this);
    this.chunks = [];
    this.dues = [];
    this.head = 0;
    this.queued = 0;
  }
}

/** The proxy: a listening server whose every connection is relayed to the target through two lanes. */
export class DelayProxy {
  private readonly server: net.Server;
  private readonly ticker = new Ticker();
  private readonly sockets = new Set<net.Socket>();
  private readonly totals: ProxyStats = { forwardBytes: 0, reverseBytes: 0, connections: 0, peakBufferedBytes: 0 };

  constructor(private readonly config: ProxyConfig) {
    this.server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => this.relay(client));
  }

  /** Starts listening; resolves with the port. */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.config.listenPort, this.config.listenHost, () => {
        this.server.off('error', reject);
        resolve((this.server.address() as net.AddressInfo).port);
      });
    });
  }

  stats(): ProxyStats {
    return { ...this.totals };
  }

  /** Stops accepting, cuts every connection, stops the timers. */
  close(): Promise<void> {
    this.ticker.stop();
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private relay(client: net.Socket): void {
    this.totals.connections++;
    const upstream = net.connect({ host: this.config.targetHost, port: this.config.targetPort, allowHalfOpen: true });
    // Nagle on the proxy's own sockets would hold small released chunks back for an ACK.
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    this.sockets.add(client);
    this.sockets.add(upstream);
    const bucket = (): TokenBucket | null => (this.config.rateBitsPerSec === null ? null : new TokenBucket(this.config.rateBitsPerSec, this.config.burstBytes));
    const peak = (queued: number): void => {
      if (queued > this.totals.peakBufferedBytes) this.totals.peakBufferedBytes = queued;
    };
    const forward = new Lane(client, upstream, this.config, bucket(), this.ticker, (n) => (this.totals.forwardBytes += n), peak);
    const reverse = new Lane(upstream, client, this.config, bucket(), this.ticker, (n) => (this.totals.reverseBytes += n), peak);
    let done = false;
    const teardown = (): void => {
      if (done) return;
      done = true;
      forward.drop();
      reverse.drop();
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    // An error (reset, refused) on either side cuts both, as a reset would cross a real link.
    client.on('error', teardown);
    upstream.on('error', teardown);
    let closed = 0;
    const onClose = (): void => {
      if (++closed === 2) teardown();
    };
    client.on('close', onClose);
    upstream.on('close', onClose);
    // Connection refused: reset the client instead of accepting data nobody will receive.
    upstream.once('connect', () => client.resume());
  }
}

/** Worker entry: start the proxy from workerData and serve stats/close requests. */
function workerMain(config: ProxyConfig): void {
  const port = parentPort!;
  const proxy = new DelayProxy(config);
  proxy.listen().then(
    (listenPort) => port.postMessage({ op: 'listening', port: listenPort } satisfies ProxyReply),
    (err: Error) => port.postMessage({ op: 'error', message: err.message } satisfies ProxyReply),
  );
  port.on('message', (msg: ProxyRequest) => {
    if (msg.op === 'stats') {
      port.postMessage({ op: 'stats', id: msg.id, stats: proxy.stats() } satisfies ProxyReply);
    } else if (msg.op === 'close') {
      void proxy.close().then(() => {
        port.postMessage({ op: 'closed', stats: proxy.stats() } satisfies ProxyReply);
        port.close();
      });
    }
  });
}

if (!isMainThread && (workerData as Partial<ProxyConfig> | null)?.kind === 'pp-link-proxy') workerMain(workerData as ProxyConfig);
