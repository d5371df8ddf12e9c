/**
 * The receiving end of a pre-copy live migration: accepts one migration, rebuilds the
 * guest's memory in one buffer (allocated only after HELLO passed the limits), decodes
 * BATCH frames strictly in order, checks the sender's checksum of the paused memory at
 * COMMIT, and "resumes" the guest on GO. Any failure before that discards the partial
 * guest. Protocol and sequence: docs/MIGRATION.md.
 */
import { constants as bufferConstants } from 'node:buffer';
import * as net from 'node:net';
import * as os from 'node:os';
import type { Duplex } from 'node:stream';
import { addon } from '../native';
import { ErrorCodes, PagepressError } from '../errors';
import { BatchDecoder } from '../stream/batch';
import { defaultThreads } from '../stream/threads';
import { FRAME_HEADER_BYTES, FrameType, STREAM_VERSION, StreamFlags } from '../format/constants';
import { decodeFrameHeader, decodeStreamHeader, maxBodyLength, StreamHeader } from '../format/frame';
import { MAX_GUEST_PAGES } from './guest';
import { checkPlainTcp } from './loopback';
import { kindsFromArray, ReceiverReport } from './metrics';
import { CHECKSUM_CHUNK_PAGES, chunkChecksums, Hello, MAX_ITERATIONS, memoryChecksum, Message, MessageChannel, MessageOf, MessageType, MigrationError, PROTOCOL_VERSION } from './protocol';

/** How long a connected sender has to complete HELLO, ms (ReceiveOptions.handshakeTimeoutMs). */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

/** A received guest: its memory (pageCount x pageSize bytes, pfn p at p x pageSize), now "running". */
export interface ReceivedGuest {
  memory: Buffer;
  pageSize: number;
  pageCount: number;
  state: 'running';
  report: ReceiverReport;
}

/** Progress of a receive, given to `onProgress` at each message that moves it on. */
export interface ReceiveProgress {
  phase: 'precopy' | 'final copy' | 'commit' | 'resume';
  iteration: number;
  /** Pages of this iteration received so far, and announced for it. */
  pagesReceived: number;
  dirtyCount: number;
  bytesReceived: number;
  elapsedMs: number;
}

/** Test hooks: fault injection for the fault tests (not for production use). */
export interface ReceiverHooks {
  /** Awaited before each message is handled (a never-settling promise stalls the receiver). */
  onMessage?: (m: Message) => void | Promise<void>;
  /** Flips the first byte of this pfn's page every time it is written, as a faulty decoder would: COMMIT must catch it. */
  corruptPfn?: number;
}

/** Options of {@link receive}. */
export interface ReceiveOptions {
  /** Decoder worker threads (default: available parallelism). */
  threads?: number;
  /** Batches decoding at once (default 2 x threads + 2). */
  window?: number;
  /** Fail when nothing moves for this long, ms (default 30000; 0 = never). */
  idleTimeoutMs?: number;
  /**
   * Fail when the sender's HELLO is not complete this long after the connection (default
   * 10000; 0 = only the idle timeout): a peer trickling bytes cannot hold the one connection.
   */
  handshakeTimeoutMs?: number;
  /** Largest guest accepted, bytes (default: the machine's memory, at most the largest Buffer). */
  maxGuestBytes?: number;
  /** Largest page cache accepted, bytes (default 2 GiB). */
  maxCacheBytes?: number;
  /** With host/port: called once the server listens (port 0 = the port chosen). */
  onListening?: (address: { host: string; port: number }) => void;
  /** With host/port: give up when no sender connects in this long, ms (default 0 = wait). */
  acceptTimeoutMs?: number;
  /**
   * With host/port: allow plain TCP on an address that is not loopback (default false: such
   * a receive is refused with PP_ERR_ARG before anything listens; use TLS instead, see
   * {@link checkPlainTcp}). No effect with a socket.
   */
  insecure?: boolean;
  onProgress?: (p: ReceiveProgress) => void;
  /**
   * Starts the guest from `memory` on GO (a real agent loads it into a VM here); RESUMED
   * is sent once it resolves. Default: nothing (the memory is the result).
   */
  resume?: (memory: Buffer, report: { pageSize: number; pageCount: number }) => void | Promise<void>;
  /** Fault injection for tests. */
  hooks?: ReceiverHooks;
  /** Cancels the receive (a failure: the partial guest is discarded). */
  signal?: AbortSignal;
  /** Protocol version to accept (tests of version mismatch only). */
  protocolVersion?: number;
}

/** Where to receive: listen on host:port for one connection, or use a connected socket (e.g. TLS). */
export type ReceiveTarget = { host: string; port: number } | { socket: Duplex };

/**
 * Receives one migration. Resolves with the guest once it is verified and resumed.
 * @throws MigrationError (code says what, `phase` when, `remote` whether the sender
 *   reported it); the partial guest is discarded
 * @throws PagepressError PP_ERR_ARG for plain TCP on a non-loopback host without
 *   `insecure`, before anything listens
 */
export async function receive(target: ReceiveTarget, options: ReceiveOptions = {}): Promise<ReceivedGuest> {
  if (!('socket' in target)) checkPlainTcp('receive', target.host, target.port, options.insecure);
  const socket = 'socket' in target ? target.socket : await acceptOne(target.host, target.port, options);
  return receiveOn(socket, options);
}

/** Listens on host:port, accepts one connection and stops listening. */
function acceptOne(host: string, port: number, options: ReceiveOptions): Promise<net.Socket> {
  return new Promise((resolvePromise, reject) => {
    const server = net.createServer();
    let timer: NodeJS.Timeout | null = null;
    server.once('error', (err) => {
      if (timer) clearTimeout(timer);
      reject(new MigrationError(`cannot listen on ${host}:${port}: ${err.message}`, ErrorCodes.ABORTED, 'connect', false, 'connection'));
    });
    const onAbort = (): void => {
      if (timer) clearTimeout(timer);
      server.close();
      reject(new MigrationError('receive cancelled by the caller before a sender connected', ErrorCodes.ABORTED, 'connect'));
    };
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    server.once('connection', (socket) => {
      if (timer) clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      server.close();
      resolvePromise(socket);
    });
    server.listen(port, host, () => {
      const a = server.address() as net.AddressInfo;
      if (options.acceptTimeoutMs) {
        timer = setTimeout(() => {
          server.close();
          reject(new MigrationError(`no sender connected to ${host}:${a.port} in ${options.acceptTimeoutMs} ms`, ErrorCodes.TIMEOUT, 'connect'));
        }, options.acceptTimeoutMs);
      }
      options.onListening?.({ host: a.address, port: a.port });
    });
  });
}

/** Receives one migration on a connected socket. */
export async function receiveOn(socket: Duplex, options: ReceiveOptions = {}): Promise<ReceivedGuest> {
  const idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
  const ch = new MessageChannel(socket, { side: 'receiver', idleTimeoutMs, version: options.protocolVersion ?? PROTOCOL_VERSION });
  const run = new ReceiverRun(ch, options);
  const cancel = (): void => void ch.fail(new MigrationError('receive cancelled by the caller', ErrorCodes.ABORTED, ch.phase));
  if (options.signal?.aborted) cancel();
  options.signal?.addEventListener('abort', cancel, { once: true });
  try {
    return await run.run();
  } catch (err) {
    // A checksum mismatch is our verdict even when the sender's ABORT closed the channel first.
    const own = err instanceof MigrationError && err.code === ErrorCodes.CHECKSUM && err.record === 'COMMIT';
    const e = own ? (ch.fail(err), err) : ch.fail(err);
    await run.discard();
    await ch.whenClosed();
    throw e;
  } finally {
    options.signal?.removeEventListener('abort', cancel);
  }
}

interface IterationState {
  iteration: number;
  final: boolean;
  dirtyCount: number;
  pages: number;
  batches: number;
  wireBytes: number;
}

/** One migration's state on the receiving side. */
class ReceiverRun {
  private readonly t0 = performance.now();
  private hello: Hello | null = null;
  private stream: StreamHeader | null = null;
  private memory: Buffer | null = null;
  private crcs: Uint32Array | null = null;
  private decoder: BatchDecoder | null = null;
  private readonly inflight: Promise<void>[] = [];
  private window = 0;
  private batchIndex = 0;
  private pagesReceived = 0;
  private phase: ReceiveProgress['phase'] = 'precopy';
  private readonly iterations: ReceiverReport['iterations'] = [];

  constructor(
    private readonly ch: MessageChannel,
    private readonly o: ReceiveOptions,
  ) {}

  async run(): Promise<ReceivedGuest> {
    const { ch } = this;
    ch.phase = 'handshake';
    const hello = await ch.expect('HELLO', this.o.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS);
    this.accept(hello);
    await ch.send({ type: 'HELLO_ACK', version: hello.version, meta: { host: os.hostname(), pid: process.pid } });

    ch.phase = 'precopy';
    let expected = 0;
    let it: IterationState | null = null;
    let paused = false;
    let pausedAt = 0;
    let finalDone = false;
    let commit: MessageOf<'COMMIT'> | null = null;
    while (!commit) {
      const m = await ch.next();
      // Raced with the channel, so a stalling hook cannot outlive a failure (the idle timeout).
      if (this.o.hooks?.onMessage) await Promise.race([this.o.hooks.onMessage(m), ch.failed]);
      switch (m.type) {
        case 'ITERATION_BEGIN':
          if (it || finalDone) throw ch.unexpected(m, it ? 'BATCH or ITERATION_END' : 'COMMIT');
          if (m.iteration !== expected) throw this.bad(`ITERATION_BEGIN of iteration ${m.iteration}, expected ${expected}`);
          if (m.iteration >= MAX_ITERATIONS) throw new MigrationError(`iteration ${m.iteration}: more than ${MAX_ITERATIONS} iterations`, ErrorCodes.LIMIT, ch.phase);
          if (m.final !== paused) throw this.bad(m.final ? `iteration ${m.iteration} marked final before PAUSED` : `iteration ${m.iteration} after PAUSED not marked final`);
          if (m.dirtyCount > this.hello!.pageCount) throw this.bad(`iteration ${m.iteration} announces ${m.dirtyCount} pages, the guest has ${this.hello!.pageCount}`);
          it = { iteration: m.iteration, final: m.final, dirtyCount: m.dirtyCount, pages: 0, batches: 0, wireBytes: 0 };
          break;
        case 'BATCH':
          if (!it) throw ch.unexpected(m, 'ITERATION_BEGIN');
          if (m.iteration !== it.iteration) throw this.bad(`BATCH of iteration ${m.iteration} inside iteration ${it.iteration}`);
          if (it.pages + m.pfns.length > it.dirtyCount) throw this.bad(`iteration ${it.iteration} announced ${it.dirtyCount} pages, BATCH ${this.batchIndex} brings it to ${it.pages + m.pfns.length}`);
          await this.submit(m, it);
          it.pages += m.pfns.length;
          it.batches++;
          it.wireBytes += m.bytes ?? 0;
          this.pagesReceived += m.pfns.length;
          this.progress(it);
          break;
        case 'ITERATION_END':
          if (!it) throw ch.unexpected(m, 'ITERATION_BEGIN');
          if (m.iteration !== it.iteration || m.pages !== it.pages || m.pages !== it.dirtyCount || m.bytes !== it.wireBytes) {
            throw this.bad(
              `ITERATION_END says iteration ${m.iteration}, ${m.pages} pages, ${m.bytes} bytes; received iteration ${it.iteration}: ${it.pages} of ${it.dirtyCount} announced pages, ${it.wireBytes} bytes`,
            );
          }
          this.iterations.push({ iteration: it.iteration, final: it.final, pages: it.pages, batches: it.batches, wireBytes: it.wireBytes });
          if (!it.final) this.ackWhenApplied(it.iteration);
          finalDone = it.final;
          it = null;
          expected++;
          break;
        case 'PAUSED':
          if (it || paused) throw ch.unexpected(m, it ? 'BATCH or ITERATION_END' : 'ITERATION_BEGIN');
          if (m.iteration !== expected) throw this.bad(`PAUSED announces final iteration ${m.iteration}, expected ${expected}`);
          paused = true;
          pausedAt = performance.now();
          ch.phase = 'final copy';
          this.phase = 'final copy';
          break;
        case 'COMMIT':
          if (!finalDone) throw ch.unexpected(m, it ? 'BATCH or ITERATION_END' : paused ? 'the final iteration' : 'ITERATION_BEGIN or PAUSED');
          commit = m;
          break;
        default:
          throw ch.unexpected(m, it ? 'BATCH or ITERATION_END' : 'ITERATION_BEGIN, PAUSED or COMMIT');
      }
    }

    ch.phase = 'commit';
    this.phase = 'commit';
    const verifyStart = performance.now();
    await this.drain();
    await this.verify(commit);
    const verifyMs = performance.now() - verifyStart;
    await ch.send({ type: 'COMMIT_ACK', ok: true, firstPfn: 0, pageCrcs: new Uint32Array(0) });

    // Resume only on GO: the sender then knows we hold the guest and will not resume its copy.
    ch.phase = 'resume';
    this.phase = 'resume';
    await ch.expect('GO');
    const resumeStart = performance.now();
    const hello2 = this.hello!;
    if (this.o.resume) await Promise.race([this.o.resume(this.memory!, { pageSize: hello2.pageSize, pageCount: hello2.pageCount }), ch.failed]);
    const resumeMs = performance.now() - resumeStart;
    await ch.send({ type: 'RESUMED', verifyMs, resumeMs });
    const end = performance.now();
    ch.phase = 'done';
    const totals = this.decoder!.totals;
    await this.decoder!.close();
    this.decoder = null;
    await ch.close();
    return {
      memory: this.memory!,
      pageSize: hello2.pageSize,
      pageCount: hello2.pageCount,
      state: 'running',
      report: {
        outcome: 'resumed',
        protocolVersion: hello2.version,
        codec: hello2.codec,
        level: hello2.level,
        batchPages: hello2.batchPages,
        cacheSlots: hello2.cacheSlots,
        pageSize: hello2.pageSize,
        pageCount: hello2.pageCount,
        meta: hello2.meta,
        totalMs: end - this.t0,
        pausedMs: end - pausedAt,
        verifyMs,
        iterations: this.iterations,
        pagesReceived: this.pagesReceived,
        kinds: kindsFromArray(totals.kinds),
        bytes: { sent: ch.bytesSent, received: ch.bytesReceived, batches: this.iterations.reduce((s, i) => s + i.wireBytes, 0) },
      },
    };
  }

  /** Drops the partial guest and stops the decoder (after a failure). */
  async discard(): Promise<void> {
    this.memory = null;
    this.crcs = null;
    for (const p of this.inflight.splice(0)) p.catch(() => undefined);
    const d = this.decoder;
    this.decoder = null;
    await d?.close().catch(() => undefined);
  }

  private bad(what: string): MigrationError {
    return new MigrationError(`protocol error: ${what}`, ErrorCodes.FORMAT, this.ch.phase);
  }

  /** Validates HELLO against the limits, then allocates the guest and the decoder. */
  private accept(h: MessageOf<'HELLO'>): void {
    const limit = (msg: string): PagepressError => new PagepressError(`HELLO: ${msg}`, ErrorCodes.LIMIT, { record: 'HELLO' });
    let stream: StreamHeader;
    try {
      stream = decodeStreamHeader(h.streamHeader);
    } catch (err) {
      throw new PagepressError(`HELLO: bad stream header: ${(err as Error).message}`, (err as PagepressError).code ?? ErrorCodes.FORMAT, { record: 'HELLO' });
    }
    if (stream.version !== STREAM_VERSION) {
      throw new PagepressError(`HELLO: stream header of format version ${stream.version}; a migration uses version ${STREAM_VERSION}`, ErrorCodes.VERSION, { record: 'HELLO' });
    }
    if (stream.flags !== StreamFlags.RAW || stream.pageSize !== h.pageSize || stream.batchPages !== h.batchPages || stream.cacheSlots !== h.cacheSlots) {
      throw new PagepressError(
        `HELLO: stream header (flags ${stream.flags}, page size ${stream.pageSize}, batch ${stream.batchPages}, cache ${stream.cacheSlots}) disagrees with HELLO (page size ${h.pageSize}, batch ${h.batchPages}, cache ${h.cacheSlots})`,
        ErrorCodes.FORMAT,
        { record: 'HELLO' },
      );
    }
    if (h.pageCount < 1 || h.pageCount > MAX_GUEST_PAGES) throw limit(`guest of ${h.pageCount} pages is outside 1..${MAX_GUEST_PAGES}`);
    const bytes = h.pageCount * h.pageSize;
    const maxGuest = Math.min(this.o.maxGuestBytes ?? os.totalmem(), bufferConstants.MAX_LENGTH);
    if (bytes > maxGuest) throw limit(`guest of ${bytes} bytes exceeds this receiver's limit of ${maxGuest} bytes (maxGuestBytes)`);
    const cacheBytes = h.cacheSlots > 0 ? addon.cacheBytes(h.cacheSlots, h.pageSize) : 0;
    const maxCache = this.o.maxCacheBytes ?? 2 ** 31;
    if (cacheBytes > maxCache) throw limit(`page cache of ${cacheBytes} bytes exceeds this receiver's limit of ${maxCache} bytes (maxCacheBytes)`);
    try {
      this.memory = Buffer.alloc(bytes);
      this.crcs = new Uint32Array(h.pageCount);
    } catch (err) {
      throw limit(`cannot allocate ${bytes} bytes of guest memory: ${(err as Error).message}`);
    }
    const threads = this.o.threads ?? defaultThreads();
    this.window = this.o.window ?? 2 * threads + 2;
    // The sender's own stream header: its frames carry its stream id in their header CRCs.
    this.decoder = new BatchDecoder({ streamHeader: h.streamHeader, threads, window: this.window });
    this.hello = h;
    this.stream = stream;
    // BATCH bodies: 12 fixed bytes, at most 10 bytes of runs per page, one frame.
    this.ch.setGeometry(h.pageCount, h.batchPages);
    this.ch.setLimit(MessageType.BATCH, 12 + 10 * h.batchPages + FRAME_HEADER_BYTES + maxBodyLength(h.batchPages, h.pageSize));
  }

  /** Checks a BATCH's frame header and queues it for decoding (at most `window` at once). */
  private async submit(m: MessageOf<'BATCH'>, it: IterationState): Promise<void> {
    const index = this.batchIndex++;
    const where = `BATCH ${index} (iteration ${it.iteration}, pfns ${m.pfns[0]}..${m.pfns[m.pfns.length - 1]})`;
    const frame = m.frame;
    try {
      const h = decodeFrameHeader(frame, this.stream!, 0, index);
      if (h.type !== FrameType.BATCH) throw new PagepressError(`frame type ${h.type} is not BATCH`, ErrorCodes.FORMAT);
      if (h.pages !== m.pfns.length) throw new PagepressError(`frame holds ${h.pages} pages, the message's pfns ${m.pfns.length}`, ErrorCodes.FORMAT);
      if (frame.length !== FRAME_HEADER_BYTES + h.bodyLength) throw new PagepressError(`frame is ${frame.length} bytes, its header says ${FRAME_HEADER_BYTES + h.bodyLength}`, ErrorCodes.FORMAT);
    } catch (err) {
      const e = err as PagepressError;
      throw new MigrationError(`${where}: bad frame: ${e.message}`, e.code ?? ErrorCodes.FORMAT, this.ch.phase, false, 'BATCH');
    }
    while (this.inflight.length >= this.window) await this.inflight.shift();
    const pfns = m.pfns;
    const p = this.decoder!.decode(frame).then(
      ({ pages }) => this.apply(pfns, pages, where),
      (err: PagepressError) => {
        throw new MigrationError(`${where}: frame error: ${err.message}`, err.code ?? ErrorCodes.FORMAT, this.ch.phase, false, 'BATCH');
      },
    );
    // A failed decode fails the channel at once, even while we wait for the next message.
    p.catch((err) => this.ch.fail(err));
    this.inflight.push(p);
  }

  /** Writes decoded pages at their pfns and records each page's CRC32C as it now is in memory. */
  private apply(pfns: Uint32Array, pages: Buffer, where: string): void {
    const memory = this.memory;
    const crcs = this.crcs;
    if (!memory || !crcs) return; // discarded meanwhile
    const P = this.hello!.pageSize;
    if (pages.length !== pfns.length * P) {
      throw new MigrationError(`${where}: decoded ${pages.length} bytes for ${pfns.length} pages`, ErrorCodes.FORMAT, this.ch.phase, false, 'BATCH');
    }
    const corrupt = this.o.hooks?.corruptPfn;
    for (let i = 0; i < pfns.length; i++) {
      const pfn = pfns[i];
      const at = pfn * P;
      pages.copy(memory, at, i * P, (i + 1) * P);
      if (pfn === corrupt) memory[at] ^= 0xff;
      crcs[pfn] = addon.crc32c(memory.subarray(at, at + P));
    }
    this.ch.touch();
  }

  /**
   * Tells the sender once every batch of live iteration `iteration` is decoded and in
   * memory. The sender waits for this before pausing the guest, so the downtime holds
   * only the final copy, not a backlog of earlier iterations still on the link or in our
   * decoder. Reading goes on meanwhile.
   */
  private ackWhenApplied(iteration: number): void {
    Promise.all(this.inflight.slice())
      .then(() => this.ch.send({ type: 'ITERATION_ACK', iteration }))
      .catch(() => undefined); // a failed decode or send has failed the channel already
  }

  /** Waits until every submitted batch is decoded and written. */
  private async drain(): Promise<void> {
    while (this.inflight.length) await this.inflight.shift();
  }

  /** Compares COMMIT's checksums with this memory's; on a mismatch, answers with the page CRCs of the first bad chunk and fails. */
  private async verify(c: MessageOf<'COMMIT'>): Promise<void> {
    const { ch } = this;
    const hello = this.hello!;
    const C = CHECKSUM_CHUNK_PAGES;
    const chunkCount = Math.ceil(hello.pageCount / C);
    if (c.pageCount !== hello.pageCount || c.chunkPages !== C || c.chunks.length !== chunkCount || memoryChecksum(c.chunks) !== c.checksum) {
      throw this.bad(
        `COMMIT for ${c.pageCount} pages in ${c.chunks.length} chunks of ${c.chunkPages} (checksum 0x${c.checksum.toString(16)}); expected ${hello.pageCount} pages in ${chunkCount} chunks of ${C}, checksum over the chunks 0x${memoryChecksum(c.chunks).toString(16)}`,
      );
    }
    const crcs = this.crcs!;
    const ours = chunkChecksums(crcs, C);
    if (memoryChecksum(ours) === c.checksum) return;
    let k = 0;
    while (k < chunkCount && ours[k] === c.chunks[k]) k++;
    const first = k * C;
    const last = Math.min(hello.pageCount, first + C) - 1;
    await ch.send({ type: 'COMMIT_ACK', ok: false, firstPfn: first, pageCrcs: crcs.slice(first, last + 1) });
    // The sender names the exact pfn in its ABORT; wait briefly for it.
    let detail = '';
    try {
      const m = await ch.next(5000);
      detail = `; then the sender sent ${m.type}`;
    } catch (err) {
      const e = err as MigrationError;
      if (e.remote) detail = `; ${e.message}`;
    }
    throw new MigrationError(
      `memory checksum mismatch in pfns ${first}..${last} (chunk ${k}): the received memory differs from the sender's paused guest${detail}`,
      ErrorCodes.CHECKSUM,
      'commit',
      false,
      'COMMIT',
    );
  }

  private progress(it: IterationState): void {
    this.o.onProgress?.({
      phase: this.phase,
      iteration: it.iteration,
      pagesReceived: it.pages,
      dirtyCount: it.dirtyCount,
      bytesReceived: this.ch.bytesReceived,
      elapsedMs: performance.now() - this.t0,
    });
  }
}
