/**
 * The sending end of a pre-copy live migration: sends every page, then the pages the guest
 * dirtied meanwhile, round after round, until the stop policy says stop; pauses the guest,
 * sends the rest, proves with a checksum of the paused memory that the receiver holds the
 * same bytes, and hands the guest over. Any failure before the hand-over resumes the
 * source guest. Protocol and sequence: docs/MIGRATION.md.
 */
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import { setImmediate as yieldLoop } from 'node:timers/promises';
import { ErrorCodes, PagepressError } from '../errors';
import { addon } from '../native';
import { BatchEncoder } from '../stream/batch';
import { randomStreamId } from '../format/frame';
import { resolveEncoderOptions } from '../stream/options';
import { defaultThreads } from '../stream/threads';
import { CodecChoice, DEFAULT_CODEC } from '../codec/registry';
import type { GuestMemory } from './guest';
import { defaultCacheSlots } from './defaults';
import { checkPlainTcp } from './loopback';
import { createPolicy, MeasuredRates, PolicyDecision, PolicyName, StopPolicy } from './policy';
import { CHECKSUM_CHUNK_PAGES, chunkChecksums, memoryChecksum, MessageChannel, MigrationError, pageChecksums, PROTOCOL_VERSION } from './protocol';
import { IterationReport, kindsDiff, kindsFromArray, MigrationReport } from './metrics';

/** Progress of a migration, given to `onProgress` after every batch and at each step. */
export interface MigrationProgress {
  phase: 'precopy' | 'final copy' | 'commit' | 'done';
  iteration: number;
  /** Pages of this iteration sent so far, and still to send. */
  pagesSent: number;
  pagesLeft: number;
  /** Pages sent over all iterations. */
  totalPagesSent: number;
  /** Protocol bytes sent so far. */
  bytesSent: number;
  /** Since the start, in ms. */
  elapsedMs: number;
}

/** Options of {@link migrate}. */
export interface MigrateOptions {
  /** Where the receiver listens (unless `socket` is given). */
  host?: string;
  port?: number;
  /** A connected socket to use instead (e.g. a tls.TLSSocket after secureConnect). */
  socket?: Duplex;
  /**
   * With host/port: allow plain TCP to a host that is not loopback (default false: such a
   * migration is refused with PP_ERR_ARG before any connection or encoder exists; use TLS
   * instead, see {@link checkPlainTcp}). No effect with a socket.
   */
  insecure?: boolean;
  /** Connect timeout in ms (default 10000). */
  connectTimeoutMs?: number;
  /** Stop policy (default 'adaptive'). */
  policy?: PolicyName | StopPolicy;
  /** Encoder settings; both ends use the same (sent in HELLO). Codec default 'zstd'. */
  codec?: CodecChoice;
  level?: number;
  /** Encoder worker threads (default: available parallelism). */
  threads?: number;
  /** Page-cache slots (default min(guest pages, 16384): 64 MiB): re-sent pages become UNCHANGED/DELTA. */
  cacheSlots?: number;
  /** Pages per batch (default 1024, as Xen). */
  batchPages?: number;
  /**
   * Long-range matching (docs/FORMAT.md 2.9): every batch a block of one zstd stream with a
   * 2^longWindowLog window, so pages that repeat content sent earlier in the migration, at
   * any pfn or iteration, cost a few bytes; 0 (default) = off. The receiver then holds the window too.
   */
  longWindowLog?: number;
  /** Batches in flight (default 2 x threads + 2); memory is window x batch size x 2. */
  window?: number;
  /** adaptive policy: downtime to aim for, ms (default 300). */
  downtimeTargetMs?: number;
  /** Cap on live iterations (default: the policy's). */
  maxIterations?: number;
  /** Fail when nothing moves for this long, ms (default 30000; 0 = never). */
  idleTimeoutMs?: number;
  /** Called after every batch and at every step. */
  onProgress?: (p: MigrationProgress) => void;
  /** Description of the link, copied into the report. */
  link?: string;
  /** Extra fields for HELLO's meta (the receiver's report shows them). */
  meta?: Record<string, unknown>;
  /**
   * What COMMIT's checksum is taken over: 'paused' (default) re-reads the whole guest once it
   * is paused, so a page the dirty log missed is caught too, at a cost in downtime (about
   * 0.3 ms per MiB of guest here, overlapped with the final copy); 'sent' takes each page's
   * CRC as it is read for sending, so COMMIT proves the receiver holds exactly what was
   * sent (transport, codec, receiver) and trusts the dirty log for the rest, at no cost in
   * downtime.
   */
  verify?: 'paused' | 'sent';
  /** Cancels the migration (as a failure: the source guest is resumed if it was paused). */
  signal?: AbortSignal;
  /** Protocol version to announce (tests of version mismatch only). */
  protocolVersion?: number;
}

/**
 * Migrates `guest` to the receiver at `host:port` (or over `socket`). Resolves with the
 * report once the receiver has resumed the guest; the source guest is then left paused.
 * @throws MigrationError (code says what, `phase` when, `remote` whether the receiver
 *   reported it, `sourceState` the source guest's state: 'running' after any failure
 *   before the receiver verified the memory)
 * @throws PagepressError PP_ERR_ARG for a bad option, and for plain TCP to a non-loopback
 *   host without `insecure` (before connecting)
 */
export async function migrate(guest: GuestMemory, options: MigrateOptions): Promise<MigrationReport> {
  const o = resolve(guest, options);
  const t0 = performance.now();
  let socket: Duplex;
  try {
    socket = options.socket ?? (await connect(o.host, o.port, o.connectTimeoutMs));
  } catch (err) {
    const e = err instanceof MigrationError ? err : new MigrationError(String((err as Error).message), ErrorCodes.ABORTED, 'connect');
    e.sourceState = 'running';
    throw e;
  }
  const ch = new MessageChannel(socket, { side: 'sender', idleTimeoutMs: o.idleTimeoutMs, version: o.protocolVersion });
  const state = { paused: false, handedOver: false };
  const cancel = (): void => void ch.fail(new MigrationError('migration cancelled by the caller', ErrorCodes.ABORTED, ch.phase));
  if (options.signal?.aborted) cancel();
  options.signal?.addEventListener('abort', cancel, { once: true });
  let encoder: BatchEncoder | null = null;
  try {
    // A random stream id per migration: a frame of another migration fails its header CRC at the receiver.
    encoder = new BatchEncoder({
      codec: o.codec,
      level: o.level,
      threads: o.threads,
      pageSize: guest.pageSize,
      batchPages: o.batchPages,
      cacheSlots: o.cacheSlots,
      window: o.window,
      streamId: randomStreamId(),
      longWindowLog: o.longWindowLog,
    });
    return await new SenderRun(guest, ch, encoder, o, t0, state).run();
  } catch (err) {
    const e = ch.fail(err);
    if (state.handedOver) {
      // The receiver verified the memory and may be running the guest: resuming the source
      // could leave two copies running. Leave it paused and say so.
      e.sourceState = 'paused';
      e.message += '; the receiver had verified the memory, so the source guest stays paused: check whether the destination runs before resuming it';
    } else if (state.paused) {
      try {
        await guest.resume();
        e.sourceState = 'running';
      } catch (re) {
        e.sourceState = 'paused';
        e.message += `; resuming the source guest failed too: ${(re as Error).message}`;
      }
    } else {
      e.sourceState = 'running';
    }
    await ch.whenClosed();
    throw e;
  } finally {
    options.signal?.removeEventListener('abort', cancel);
    await encoder?.close();
  }
}

interface Resolved {
  host: string;
  port: number;
  connectTimeoutMs: number;
  policy: StopPolicy;
  codec: CodecChoice;
  level: number;
  threads: number;
  cacheSlots: number;
  batchPages: number;
  longWindowLog: number;
  window: number;
  maxIterations: number;
  idleTimeoutMs: number;
  onProgress?: (p: MigrationProgress) => void;
  link?: string;
  meta: Record<string, unknown>;
  verify: 'paused' | 'sent';
  protocolVersion: number;
}

function intIn(name: string, v: number | undefined, min: number, max: number, fallback: number): number {
  if (v === undefined) return fallback;
  if (!Number.isInteger(v) || v < min || v > max) throw new PagepressError(`options.${name} must be an integer in ${min}..${max}, got ${v}`, ErrorCodes.ARG);
  return v;
}

function resolve(guest: GuestMemory, o: MigrateOptions): Resolved {
  if (typeof o !== 'object' || o === null) throw new PagepressError('migrate options must be an object', ErrorCodes.ARG);
  if (!o.socket && (typeof o.host !== 'string' || o.host === '' || !Number.isInteger(o.port) || o.port! < 1 || o.port! > 65535)) {
    throw new PagepressError(`migrate needs host and port (1..65535) or a socket, got ${String(o.host)}:${String(o.port)}`, ErrorCodes.ARG);
  }
  if (!o.socket) checkPlainTcp('migrate', o.host!, o.port!, o.insecure);
  const threads = intIn('threads', o.threads, 1, 64, defaultThreads());
  // Validates codec and level now (PP_ERR_ARG), and gives the level the codec will use.
  const { level } = resolveEncoderOptions({ codec: o.codec, level: o.level, threads, pageSize: guest.pageSize });
  return {
    host: o.host ?? '',
    port: o.port ?? 0,
    connectTimeoutMs: intIn('connectTimeoutMs', o.connectTimeoutMs, 1, 3_600_000, 10_000),
    policy: createPolicy(o.policy ?? 'adaptive', { downtimeTargetMs: o.downtimeTargetMs, maxIterations: o.maxIterations }),
    codec: o.codec ?? DEFAULT_CODEC,
    level,
    threads,
    cacheSlots: intIn('cacheSlots', o.cacheSlots, 0, 1 << 22, defaultCacheSlots(guest.pageCount)),
    batchPages: intIn('batchPages', o.batchPages, 1, 4096, 1024),
    longWindowLog: o.longWindowLog ?? 0,
    window: intIn('window', o.window, 2, 256, 2 * threads + 2),
    // Also a hard cap for custom policies.
    maxIterations: intIn('maxIterations', o.maxIterations, 1, 10_000, 10_000),
    idleTimeoutMs: intIn('idleTimeoutMs', o.idleTimeoutMs, 0, 86_400_000, 30_000),
    onProgress: o.onProgress,
    link: o.link,
    meta: o.meta ?? {},
    verify: verifyMode(o.verify),
    protocolVersion: intIn('protocolVersion', o.protocolVersion, 0, 65535, PROTOCOL_VERSION),
  };
}

function verifyMode(v: unknown): 'paused' | 'sent' {
  if (v === undefined) return 'paused';
  if (v === 'paused' || v === 'sent') return v;
  throw new PagepressError(`options.verify must be 'paused' or 'sent', got ${String(v)}`, ErrorCodes.ARG);
}

/** Connects with a timeout; errors are MigrationErrors of phase 'connect'. */
function connect(host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolvePromise, reject) => {
    const s = net.connect({ host, port });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new MigrationError(`cannot connect to ${host}:${port}: no answer in ${timeoutMs} ms`, ErrorCodes.TIMEOUT, 'connect', false, 'connection'));
    }, timeoutMs);
    const onError = (err: Error): void => {
      clearTimeout(timer);
      reject(new MigrationError(`cannot connect to ${host}:${port}: ${err.message}`, ErrorCodes.ABORTED, 'connect', false, 'connection'));
    };
    s.once('error', onError);
    s.once('connect', () => {
      clearTimeout(timer);
      s.removeListener('error', onError);
      resolvePromise(s);
    });
  });
}

/** Merges two ascending pfn lists into one without repeats. */
export function unionPfns(a: Uint32Array, b: Uint32Array): Uint32Array {
  const out = new Uint32Array(a.length + b.length);
  let i = 0;
  let j = 0;
  let n = 0;
  while (i < a.length || j < b.length) {
    let v: number;
    if (j >= b.length || (i < a.length && a[i] < b[j])) v = a[i++];
    else if (i >= a.length || b[j] < a[i]) v = b[j++];
    else {
      v = a[i++];
      j++;
    }
    out[n++] = v;
  }
  return out.subarray(0, n);
}

interface InFlight {
  promise: Promise<Buffer>;
  pfns: Uint32Array;
  started: number;
  done: number;
}

/** One migration's state on the sending side. */
class SenderRun {
  private totalPagesSent = 0;
  private batchBytesTotal = 0;
  private sendMsTotal = 0;
  private measured: MeasuredRates = { wireBytesPerPage: 0, linkBytesPerSec: 0, encodePagesPerSec: 0, batchCodecMs: 0, checksumMs: 0 };
  /** CRC32C of every page: as sent (verify 'sent'), or of the paused memory (verify 'paused'). */
  private readonly crcs: Uint32Array;
  private checksumScratch: Buffer | null = null;
  private readonly iterations: IterationReport[] = [];
  private phase: 'precopy' | 'final copy' | 'commit' | 'done' = 'precopy';
  /** Time waiting for the receiver to acknowledge live iterations (the guest runs meanwhile). */
  private drainMs = 0;

  constructor(
    private readonly guest: GuestMemory,
    private readonly ch: MessageChannel,
    private readonly encoder: BatchEncoder,
    private readonly o: Resolved,
    private readonly t0: number,
    private readonly state: { paused: boolean; handedOver: boolean },
  ) {
    // The `auto` codec picks the stronger codec while the link, not the encoder, holds us up.
    encoder.setOutputProbe(() => ch.backedUp);
    // Pages never sent are zero on the receiver: start every entry at the zero page's CRC.
    this.crcs = new Uint32Array(guest.pageCount).fill(addon.crc32c(Buffer.alloc(guest.pageSize)));
  }

  async run(): Promise<MigrationReport> {
    const { guest, ch, o } = this;
    ch.phase = 'handshake';
    await ch.send({
      type: 'HELLO',
      version: o.protocolVersion,
      pageSize: guest.pageSize,
      pageCount: guest.pageCount,
      batchPages: o.batchPages,
      cacheSlots: o.cacheSlots,
      codec: o.codec,
      level: o.level,
      streamHeader: this.encoder.streamHeader,
      meta: { ...o.meta, guest: guest.describe(), policy: o.policy.describe(), link: o.link },
    });
    await ch.expect('HELLO_ACK');

    // Live iterations.
    ch.phase = 'precopy';
    if (o.verify === 'paused') this.measured.checksumMs = this.calibrateChecksum();
    let pfns = guest.takeDirty();
    const history: number[] = [];
    let iteration = 0;
    let decision: PolicyDecision;
    let dirty: Uint32Array;
    for (;;) {
      const it = await this.sendIteration(iteration, pfns, false);
      // The dirty set is taken once the receiver has this iteration in memory: what is still
      // on the link (a socket buffer, a shaper's queue) or in its decoder is not delivered
      // yet, so the guest dirties pages meanwhile, and a set taken earlier would let the
      // policy stop on a count that grows before the pause (and drain the backlog inside
      // the downtime).
      const drainStart = performance.now();
      await this.awaitAck(iteration);
      this.drainMs += performance.now() - drainStart;
      dirty = guest.takeDirty();
      history.push(dirty.length);
      decision = o.policy.decide({
        iteration,
        dirtyCount: dirty.length,
        sentThisIteration: it.pages,
        totalSent: this.totalPagesSent,
        pageCount: guest.pageCount,
        batchPages: o.batchPages,
        dirtyHistory: history,
        measured: { ...this.measured },
        verify: o.verify,
      });
      if (!decision.stop && iteration + 1 >= o.maxIterations) decision = { stop: true, reason: `${iteration + 1} live iterations (maxIterations)` };
      it.dirtyAfter = dirty.length;
      it.decision = decision;
      if (decision.stop) break;
      pfns = dirty;
      iteration++;
    }

    // Stop and copy: pause, send what is dirty, checksum the paused memory meanwhile.
    ch.phase = 'final copy';
    this.phase = 'final copy';
    if (ch.failure) throw ch.failure; // do not pause for a migration that already failed
    const pauseStart = performance.now();
    // Counted as paused from the call on: a pause that fails half-way is undone too.
    this.state.paused = true;
    await guest.pause();
    ch.touch();
    const pausedAt = performance.now();
    const finalPfns = unionPfns(dirty, guest.takeDirty());
    await ch.send({ type: 'PAUSED', iteration: iteration + 1 });
    const crcs = this.crcs;
    const checksum = o.verify === 'paused' ? this.checksumGuest(crcs) : Promise.resolve();
    checksum.catch(() => undefined);
    const finalIt = await this.sendIteration(iteration + 1, finalPfns, true);
    const finalSentAt = performance.now();
    await checksum;
    const chunks = chunkChecksums(crcs);

    ch.phase = 'commit';
    this.phase = 'commit';
    this.progress(finalIt.iteration, finalPfns.length, 0);
    await ch.send({ type: 'COMMIT', pageCount: guest.pageCount, chunkPages: CHECKSUM_CHUNK_PAGES, checksum: memoryChecksum(chunks), chunks });
    const commitSentAt = performance.now();
    const ack = await ch.expect('COMMIT_ACK');
    const ackAt = performance.now();
    if (!ack.ok) throw this.mismatch(ack.firstPfn, ack.pageCrcs, crcs);

    // The receiver holds a verified copy: from here on the source must not be resumed.
    this.state.handedOver = true;
    ch.phase = 'resume';
    await ch.send({ type: 'GO' });
    const goAt = performance.now();
    const resumed = await ch.expect('RESUMED');
    const end = performance.now();
    ch.phase = 'done';
    this.phase = 'done';
    await ch.close();
    this.progress(finalIt.iteration, finalPfns.length, 0);

    const totals = this.encoder.totals;
    const pagesSent = this.iterations.reduce((s, it) => s + it.pages, 0);
    return {
      outcome: 'migrated',
      sourceState: 'paused',
      protocolVersion: o.protocolVersion,
      verify: o.verify,
      policy: o.policy.describe(),
      stopReason: decision.reason,
      codec: o.codec,
      level: o.level,
      threads: o.threads,
      batchPages: o.batchPages,
      cacheSlots: o.cacheSlots,
      link: o.link,
      guest: guest.describe(),
      pageSize: guest.pageSize,
      pageCount: guest.pageCount,
      totalMs: end - this.t0,
      downtimeMs: end - pauseStart,
      downtime: {
        pauseMs: pausedAt - pauseStart,
        finalCopyMs: finalSentAt - pausedAt,
        checksumMs: commitSentAt - finalSentAt,
        commitMs: ackAt - commitSentAt,
        resumeMs: end - goAt,
      },
      drainBeforePauseMs: this.drainMs,
      liveIterations: iteration + 1,
      iterations: this.iterations,
      pagesSent,
      kinds: kindsFromArray(totals.kinds),
      codecs: { ...totals.codecs },
      bytes: { sent: ch.bytesSent, received: ch.bytesReceived, batches: this.batchBytesTotal, raw: pagesSent * guest.pageSize },
      ratio: this.batchBytesTotal > 0 ? (pagesSent * guest.pageSize) / this.batchBytesTotal : 0,
      measured: this.measured,
      receiver: { verifyMs: resumed.verifyMs, resumeMs: resumed.resumeMs },
    };
  }

  /** Waits for the receiver's ITERATION_ACK of live iteration `iteration`. */
  private async awaitAck(iteration: number): Promise<void> {
    const ack = await this.ch.expect('ITERATION_ACK');
    if (ack.iteration !== iteration) throw this.ch.fail(this.ch.unexpected(ack, `ITERATION_ACK for iteration ${iteration}`));
  }

  /** Sends one iteration: ITERATION_BEGIN, the pages in batches (pipelined), ITERATION_END. */
  private async sendIteration(iteration: number, pfns: Uint32Array, final: boolean): Promise<IterationReport> {
    const { ch, o, guest, encoder } = this;
    const P = guest.pageSize;
    const B = o.batchPages;
    const started = performance.now();
    const kinds0 = encoder.totals.kinds.slice();
    await ch.send({ type: 'ITERATION_BEGIN', iteration, dirtyCount: pfns.length, final });
    let wire = 0;
    let batches = 0;
    let sent = 0;
    let latency = 0;
    const queue: InFlight[] = [];
    const flushOne = async (): Promise<void> => {
      const q = queue.shift()!;
      const frame = await q.promise;
      latency += q.done - q.started;
      const before = ch.bytesSent;
      await ch.send({ type: 'BATCH', iteration, pfns: q.pfns, frame });
      wire += ch.bytesSent - before;
      batches++;
      sent += q.pfns.length;
      this.totalPagesSent += q.pfns.length;
      this.progress(iteration, sent, pfns.length - sent);
    };
    try {
      for (let at = 0; at < pfns.length; at += B) {
        if (ch.failure) throw ch.failure;
        if (queue.length >= o.window) await flushOne();
        const sub = pfns.subarray(at, Math.min(pfns.length, at + B));
        // The pages go straight from the guest into the encoder's shared input slot.
        const promise = encoder.encodeWith(
          sub.length,
          (dst) => {
            guest.readPages(sub, dst);
            if (o.verify === 'sent') for (let i = 0; i < sub.length; i++) this.crcs[sub[i]] = addon.crc32c(dst.subarray(i * P, (i + 1) * P));
          },
          sub,
        );
        const q: InFlight = { promise, pfns: sub, started: performance.now(), done: 0 };
        // Record when the frame is ready (not when we get round to it); also marks the promise handled.
        q.promise.then(
          () => (q.done = performance.now()),
          () => undefined,
        );
        queue.push(q);
      }
      while (queue.length) await flushOne();
    } finally {
      // On failure, frames still in the encoder are dropped; their promises are handled above.
      queue.length = 0;
    }
    await ch.send({ type: 'ITERATION_END', iteration, pages: pfns.length, bytes: wire });
    const ms = performance.now() - started;
    this.batchBytesTotal += wire;
    this.sendMsTotal += ms;
    if (pfns.length > 0) {
      const batchCodecMs = batches > 0 ? latency / batches : 0;
      this.measured = {
        ...this.measured,
        wireBytesPerPage: wire / pfns.length,
        linkBytesPerSec: this.sendMsTotal > 0 ? (this.batchBytesTotal * 1000) / this.sendMsTotal : 0,
        encodePagesPerSec: latency > 0 ? (pfns.length * 1000) / latency : 0,
        batchCodecMs,
      };
    }
    const it: IterationReport = {
      iteration,
      final,
      pages: pfns.length,
      batches,
      wireBytes: wire,
      rawBytes: pfns.length * P,
      ms,
      kinds: kindsDiff(encoder.totals.kinds, kinds0),
    };
    this.iterations.push(it);
    return it;
  }

  /** Predicted ms to checksum the whole guest at pause, from timing its first chunk now. */
  private calibrateChecksum(): number {
    const { guest } = this;
    const n = Math.min(CHECKSUM_CHUNK_PAGES, guest.pageCount);
    const scratch = (this.checksumScratch ??= Buffer.allocUnsafe(CHECKSUM_CHUNK_PAGES * guest.pageSize));
    const probe = new Uint32Array(n);
    // The fastest of a few runs: the first pays for faulting in the scratch buffer, and
    // threads starting up now (encoder, guest writer) can delay any one of them.
    let ms = Infinity;
    for (let k = 0; k < 5; k++) {
      const t = performance.now();
      guest.readRange(0, n, scratch);
      pageChecksums(scratch.subarray(0, n * guest.pageSize), guest.pageSize, probe, 0);
      ms = Math.min(ms, performance.now() - t);
    }
    return (ms * guest.pageCount) / n;
  }

  /** Page CRCs of the whole (paused) guest into `crcs`, a chunk at a time, yielding between chunks. */
  private async checksumGuest(crcs: Uint32Array): Promise<void> {
    const { guest, ch } = this;
    const C = CHECKSUM_CHUNK_PAGES;
    const scratch = (this.checksumScratch ??= Buffer.allocUnsafe(C * guest.pageSize));
    for (let first = 0; first < guest.pageCount; first += C) {
      const n = Math.min(C, guest.pageCount - first);
      guest.readRange(first, n, scratch);
      pageChecksums(scratch.subarray(0, n * guest.pageSize), guest.pageSize, crcs, first);
      ch.touch();
      await yieldLoop();
    }
  }

  /** The error for a COMMIT_ACK mismatch: finds the first differing pfn from the receiver's page CRCs. */
  private mismatch(firstPfn: number, theirs: Uint32Array, ours: Uint32Array): MigrationError {
    const C = CHECKSUM_CHUNK_PAGES;
    if (firstPfn % C !== 0 || firstPfn >= ours.length || theirs.length !== Math.min(C, ours.length - firstPfn)) {
      return new MigrationError(
        `receiver reported a memory checksum mismatch with a malformed COMMIT_ACK (first pfn ${firstPfn}, ${theirs.length} page checksums)`,
        ErrorCodes.FORMAT,
        'commit',
        false,
        'COMMIT_ACK',
      );
    }
    for (let i = 0; i < theirs.length; i++) {
      if (theirs[i] !== ours[firstPfn + i]) {
        return new MigrationError(
          `memory checksum mismatch at pfn ${firstPfn + i}: the receiver's copy differs from the paused source (page CRC32C 0x${theirs[i].toString(16)} vs 0x${ours[firstPfn + i].toString(16)})`,
          ErrorCodes.CHECKSUM,
          'commit',
          false,
          'COMMIT',
        );
      }
    }
    return new MigrationError(
      `memory checksum mismatch in pfns ${firstPfn}..${firstPfn + theirs.length - 1}, but every page checksum the receiver sent matches`,
      ErrorCodes.CHECKSUM,
      'commit',
      false,
      'COMMIT',
    );
  }

  private progress(iteration: number, pagesSent: number, pagesLeft: number): void {
    this.ch.touch();
    this.o.onProgress?.({
      phase: this.phase,
      iteration,
      pagesSent,
      pagesLeft,
      totalPagesSent: this.totalPagesSent,
      bytesSent: this.ch.bytesSent,
      elapsedMs: performance.now() - this.t0,
    });
  }
}
