/**
 * The two ends of xl's migration channel (docs/XEN.md 4.3), as small programs for the
 * `xen ssh` tests. Run as `node xl-peers.js ROLE ...`:
 *
 *   receiver --report FILE [--save FILE] [--fail-after-stream N] [--die-after-bytes N] [ARGS...]
 *     Stands for `xl migrate-receive` (ARGS, e.g. `-t migrate-receive -e`, are only
 *     recorded). Writes the banner, reads the xl header and libxl stream from stdin and
 *     finds its end (libxl END) with the Xen reader, without waiting for EOF; sends
 *     "domain received", reads "domain is yours", sends the unpause result and status 0,
 *     then expects EOF. Every byte read from stdin is hashed (and with --save written to
 *     FILE); the JSON report goes to --report FILE. Exit 0, or 5 on a protocol or stream
 *     error. --fail-after-stream N: exit N after the stream instead of acknowledging it (a
 *     failed restore). --die-after-bytes N: SIGKILL itself once N bytes have arrived.
 *
 *   sender --rune RUNE --pages N [--seed S] [--save-sent FILE] [--step-ms MS] [--stream-ms MS] [--pid-file FILE]
 *     Stands for `xl migrate`: runs `sh -c RUNE` with pipes on its stdin and stdout (as xl
 *     does), reads the banner, writes an xl header + libxl stream of an N-page HVM guest
 *     (generateXenStream; contents from the test corpus, plus two short pre-copy passes),
 *     waits for "domain received", sends the go message, reads the result and its status
 *     byte, closes the forward pipe and waits for EOF and exit. Each step has its own
 *     timer, so a deadlock fails naming the step. Prints one JSON report on stdout; exit 0
 *     when every step passed. The rune runs in its own process group, whose id goes to
 *     --pid-file (so a test can kill everything if the sender itself is stuck).
 *
 * The receiver uses blocking reads and writes: it is a process of its own, and the
 * protocol is strictly request/response.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { Readable, Writable } from 'node:stream';
import { LibxlRec, XL_HEADER_BYTES, XL_MIGRATE_GO } from '../../lib/xen/constants';
import { generateXenStream } from '../../lib/xen/generate';
import { XenReader } from '../../lib/xen/reader';
import { memoryLike } from '../helpers';

/** R1: receiver → sender, 54 bytes, no NUL. */
export const BANNER = Buffer.from('xl migration receiver ready, send binary domain data.\n', 'latin1');
/** R2: receiver → sender once the stream is restored, 34 bytes with the NUL. */
export const RECEIVED = Buffer.from('domain received, ready to unpause\0', 'latin1');
/** F3: sender → receiver, 44 bytes with the NUL. */
export const GO = XL_MIGRATE_GO;
/** R3: receiver → sender, 39 bytes with the NUL, then one status byte. */
export const RESULT = Buffer.from('my copy unpause results are as follows\0', 'latin1');

if (BANNER.length !== 54 || RECEIVED.length !== 34 || GO.length !== 44 || RESULT.length !== 39) {
  throw new Error('xl-peers: a handshake message has the wrong length');
}

/** What the receiver writes to --report. */
export interface ReceiverReport {
  ok: boolean;
  error?: string;
  /** The words after the receiver's own options (xl's `-t migrate-receive -e`). */
  args: string[];
  /** Every byte read from stdin: count and sha256. */
  bytes: number;
  sha256: string;
  /** Bytes of the Xen stream (xl header up to libxl END). */
  streamBytes: number;
  pageRecords: number;
  dataPages: number;
  /** Milliseconds from start to each step. */
  steps: Record<string, number>;
}

/** What the sender prints. */
export interface SenderReport {
  ok: boolean;
  /** The step that failed, and why. */
  failedStep?: string;
  error?: string;
  /** Each passed step and how long it took, ms. */
  steps: Array<{ name: string; ms: number }>;
  /** Everything written to the forward pipe. */
  sent: { bytes: number; sha256: string; pageRecords: number; dataPages: number };
  /** Everything read from the reverse pipe, and whether it was exactly the expected handshake. */
  reverse: { bytes: number; sha256: string; exact: boolean };
  /** Spawn to exit of the rune, ms. */
  wallMs: number;
  /** Banner read to "domain received" read: the stream transfer, ms. */
  transferMs: number;
  exit: { code: number | null; signal: string | null };
  /** The rune had to be killed after a failed step. */
  killed: boolean;
}

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const value = args[i + 1];
  args.splice(i, 2);
  return value;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Blocking read; retries EAGAIN (a non-blocking pipe). 0 at EOF. */
function readSync(fd: number, buf: Buffer, offset: number, length: number): number {
  for (;;) {
    try {
      return fs.readSync(fd, buf, offset, length, null);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      Atomics.wait(sleeper, 0, 0, 1);
    }
  }
}

/** Blocking write of all of `buf`; retries EAGAIN. */
function writeSync(fd: number, buf: Buffer): void {
  let at = 0;
  while (at < buf.length) {
    try {
      at += fs.writeSync(fd, buf, at, buf.length - at);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      Atomics.wait(sleeper, 0, 0, 1);
    }
  }
}

function receiver(args: string[]): void {
  const reportFile = option(args, '--report');
  if (!reportFile) throw new Error('receiver: --report FILE is required');
  const saveFile = option(args, '--save');
  const failAfterStream = option(args, '--fail-after-stream');
  const dieAfter = Number(option(args, '--die-after-bytes') ?? Infinity);
  const t0 = Date.now();
  const report: ReceiverReport = { ok: false, args, bytes: 0, sha256: '', streamBytes: 0, pageRecords: 0, dataPages: 0, steps: {} };
  const hash = createHash('sha256');
  const save = saveFile ? fs.openSync(saveFile, 'w') : null;
  const buf = Buffer.allocUnsafe(1024 * 1024);
  /** Reads at most `max` bytes from stdin, accounting for every byte. */
  const read = (max: number): Buffer => {
    const n = readSync(0, buf, 0, Math.min(max, buf.length));
    const chunk = buf.subarray(0, n);
    hash.update(chunk);
    if (save !== null) fs.writeSync(save, chunk);
    report.bytes += n;
    if (report.bytes >= dieAfter) process.kill(process.pid, 'SIGKILL');
    return chunk;
  };
  const finish = (code: number, error?: string) => {
    report.sha256 = hash.digest('hex');
    if (error) report.error = error;
    report.ok = code === 0;
    if (save !== null) fs.closeSync(save);
    fs.writeFileSync(`${reportFile}.tmp`, JSON.stringify(report));
    fs.renameSync(`${reportFile}.tmp`, reportFile);
    if (error) process.stderr.write(`xl-peers receiver: ${error}\n`);
    process.exitCode = code;
  };
  const step = (name: string) => (report.steps[name] = Date.now() - t0);

  try {
    writeSync(1, BANNER);
    step('R1 banner sent');
    let ended = false;
    const reader = new XenReader(
      {
        verbatim() {},
        pageRecord() {},
        pageBytes() {},
        flushPoint() {},
        record(info) {
          if (info.layer === 'libxl' && info.type === LibxlRec.END) ended = true;
          if (info.layer === 'libxc' && info.name === 'PAGE_DATA') {
            report.pageRecords++;
            report.dataPages += info.pages?.dataPages ?? 0;
          }
        },
      },
      { format: 'xl' },
    );
    while (!ended) {
      const chunk = read(buf.length);
      if (chunk.length === 0) return finish(5, `stdin ended after ${report.bytes} bytes, before the libxl END record`);
      reader.push(chunk);
    }
    report.streamBytes = reader.offset;
    if (reader.offset !== report.bytes) {
      return finish(5, `${report.bytes - reader.offset} bytes arrived after libxl END before "domain received" was sent`);
    }
    step('F2 stream received');
    if (failAfterStream !== undefined) return finish(Number(failAfterStream), `simulated restore failure, exit ${failAfterStream}`);
    writeSync(1, RECEIVED);
    step('R2 sent');
    const parts: Buffer[] = [];
    let got = 0;
    while (got < GO.length) {
      const chunk = read(GO.length - got);
      if (chunk.length === 0) return finish(5, `stdin ended after ${got} bytes of the ${GO.length}-byte go message`);
      parts.push(Buffer.from(chunk));
      got += chunk.length;
    }
    if (!Buffer.concat(parts).equals(GO)) return finish(5, `the go message differs: ${JSON.stringify(Buffer.concat(parts).toString('latin1'))}`);
    step('F3 go received');
    writeSync(1, Buffer.concat([RESULT, Buffer.from([0])]));
    step('R3 sent');
    const extra = read(buf.length).length;
    if (extra !== 0) return finish(5, `${extra} unexpected bytes after the go message`);
    step('EOF');
    finish(0);
  } catch (err) {
    finish(5, (err as Error).message);
  }
}

/** The reverse pipe, read in order: exact byte counts, then EOF. */
class ReverseReader {
  private buffered = Buffer.alloc(0);
  private ended = false;
  private waiter: (() => void) | null = null;
  readonly all: Buffer[] = [];
  total = 0;

  constructor(stream: Readable) {
    stream.on('data', (b: Buffer) => {
      this.all.push(b);
      this.total += b.length;
      this.buffered = Buffer.concat([this.buffered, b]);
      this.waiter?.();
    });
    stream.on('end', () => {
      this.ended = true;
      this.waiter?.();
    });
    stream.on('error', () => {
      this.ended = true;
      this.waiter?.();
    });
  }

  /** Resolves with the next `n` bytes; rejects if the pipe ends first. */
  async exact(n: number): Promise<Buffer> {
    while (this.buffered.length < n) {
      if (this.ended) throw new Error(`the reverse pipe ended after ${this.buffered.length} of ${n} bytes (${this.total} in all)`);
      await new Promise<void>((resolve) => (this.waiter = resolve));
      this.waiter = null;
    }
    const out = this.buffered.subarray(0, n);
    this.buffered = this.buffered.subarray(n);
    return out;
  }

  /** Resolves at EOF with the number of bytes that came after the last exact() read. */
  async end(): Promise<number> {
    while (!this.ended) {
      await new Promise<void>((resolve) => (this.waiter = resolve));
      this.waiter = null;
    }
    return this.buffered.length;
  }
}

/** Writes `chunks` in order, respecting backpressure; rejects on a write error (EPIPE). */
async function writeChunks(stream: Writable, chunks: Buffer[], progress: { bytes: number }): Promise<void> {
  for (const chunk of chunks) {
    if (stream.destroyed) throw new Error('the forward pipe is closed');
    const ok = stream.write(chunk);
    progress.bytes += chunk.length;
    if (!ok) {
      await new Promise<void>((resolve, reject) => {
        const done = (err?: Error) => {
          stream.off('drain', onDrain);
          stream.off('error', onError);
          stream.off('close', onClose);
          if (err) reject(err);
          else resolve();
        };
        const onDrain = () => done();
        const onError = (err: Error) => done(new Error(`the forward pipe broke: ${err.message}`));
        const onClose = () => done(new Error('the forward pipe closed'));
        stream.on('drain', onDrain);
        stream.on('error', onError);
        stream.on('close', onClose);
      });
    }
  }
}

class StepTimeout extends Error {}

/** Guest contents: corpus pages (memoryLike) spread over the pfns, each stamped with its pfn and pass. */
function pageSource(seed: number): (pfn: number, iteration: number, out: Uint8Array) => void {
  const POOL = 8192;
  const pool = memoryLike(POOL, seed);
  const zero = new Uint8Array(POOL);
  for (let i = 0; i < POOL; i++) zero[i] = pool.subarray(i * 4096, (i + 1) * 4096).every((b) => b === 0) ? 1 : 0;
  return (pfn, iteration, out) => {
    const k = (pfn * 2654435761) % POOL;
    out.set(pool.subarray(k * 4096, (k + 1) * 4096));
    if (zero[k] && iteration === 0) return;
    // Distinct pages, as in a real guest; a later pass changes a few words (a dirtied page).
    const view = new DataView(out.buffer, out.byteOffset, 4096);
    view.setUint32(0, pfn, true);
    view.setUint32(8 + 64 * (iteration % 60), iteration * 0x9e3779b9, true);
  };
}

async function sender(args: string[]): Promise<void> {
  const rune = option(args, '--rune');
  const pages = Number(option(args, '--pages') ?? 4096);
  const seed = Number(option(args, '--seed') ?? 1);
  const saveSent = option(args, '--save-sent');
  const stepMs = Number(option(args, '--step-ms') ?? 15000);
  const streamMs = Number(option(args, '--stream-ms') ?? 60000);
  const pidFile = option(args, '--pid-file');
  if (!rune) throw new Error('sender: --rune is required');

  // The guest, built before the clock starts: [F1 xl header + config][F2 libxl stream].
  // A first run only measures it, so the second writes into one buffer of the exact size.
  const dirty = (every: number) => Array.from({ length: Math.floor(pages / every) }, (_, i) => i * every + 3).filter((p) => p < pages);
  const guest = (page: (pfn: number, iteration: number, out: Uint8Array) => void) => ({
    guest: 'hvm' as const,
    version: 3 as const,
    layer: 'xl' as const,
    pages,
    page,
    holes: pages > 0xc0 ? Array.from({ length: 32 }, (_, i) => 0xa0 + i) : [],
    iterations: [{ pfns: dirty(37) }, { pfns: dirty(331) }],
  });
  const size = generateXenStream(
    guest(() => {}),
    () => {},
  ).bytes;
  const stream = Buffer.allocUnsafe(size);
  let filled = 0;
  const gen = generateXenStream(guest(pageSource(seed)), (c) => (filled += c.copy(stream, filled)));
  if (filled !== size) throw new Error(`generated ${filled} bytes, measured ${size}`);
  const f1Length = XL_HEADER_BYTES + stream.readUInt32LE(44);
  const f1 = [stream.subarray(0, f1Length)];
  const f2: Buffer[] = [];
  for (let at = f1Length; at < stream.length; at += 4 * 1024 * 1024) f2.push(stream.subarray(at, Math.min(stream.length, at + 4 * 1024 * 1024)));
  const sentHash = createHash('sha256').update(stream).update(GO).digest('hex');
  if (saveSent) fs.writeFileSync(saveSent, Buffer.concat([stream, GO]));
  const expectedReverse = Buffer.concat([BANNER, RECEIVED, RESULT, Buffer.from([0])]);

  const report: SenderReport = {
    ok: false,
    steps: [],
    sent: { bytes: stream.length + GO.length, sha256: sentHash, pageRecords: gen.pageRecords, dataPages: gen.dataPages },
    reverse: { bytes: 0, sha256: '', exact: false },
    wallMs: 0,
    transferMs: 0,
    exit: { code: null, signal: null },
    killed: false,
  };
  const started = Date.now();
  // Its own process group, so a hung rune can be killed with everything it started.
  const child: ChildProcess = spawn('/bin/sh', ['-c', rune], { stdio: ['pipe', 'pipe', 'inherit'], detached: true });
  if (pidFile) fs.writeFileSync(pidFile, String(child.pid));
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      report.exit = { code, signal };
      report.wallMs = Date.now() - started;
      resolve();
    }),
  );
  child.stdin!.on('error', () => {}); // reported by the write that meets it
  const reverse = new ReverseReader(child.stdout!);
  const forward = { bytes: 0 };
  const total = stream.length + GO.length;

  let last = started;
  const step = async <T>(name: string, ms: number, work: () => Promise<T>): Promise<T> => {
    let timer: NodeJS.Timeout | null = null;
    const hung = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StepTimeout(`step ${name} hung: not done within ${ms} ms (forward: ${forward.bytes} of ${total} bytes written; reverse: ${reverse.total} bytes read)`)), ms);
    });
    try {
      const value = await Promise.race([work(), hung]);
      const now = Date.now();
      report.steps.push({ name, ms: now - last });
      last = now;
      return value;
    } catch (err) {
      report.failedStep = name;
      throw err;
    } finally {
      clearTimeout(timer!);
    }
  };
  const expect = (what: string, got: Buffer, want: Buffer) => {
    if (!got.equals(want)) throw new Error(`${what}: expected ${JSON.stringify(want.toString('latin1'))}, got ${JSON.stringify(got.toString('latin1'))}`);
  };

  try {
    expect('banner', await step('R1 banner', stepMs, () => reverse.exact(BANNER.length)), BANNER);
    const transferStart = Date.now();
    await step('F1 xl header', stepMs, () => writeChunks(child.stdin!, f1, forward));
    await step('F2 libxl stream', streamMs, () => writeChunks(child.stdin!, f2, forward));
    expect('domain received', await step('R2 domain received', stepMs, () => reverse.exact(RECEIVED.length)), RECEIVED);
    report.transferMs = Date.now() - transferStart;
    await step('F3 go', stepMs, () => writeChunks(child.stdin!, [GO], forward));
    const result = await step('R3 unpause result', stepMs, () => reverse.exact(RESULT.length + 1));
    expect('unpause result', result.subarray(0, RESULT.length), RESULT);
    if (result[RESULT.length] !== 0) throw new Error(`unpause status ${result[RESULT.length]}, expected 0`);
    child.stdin!.end();
    const extra = await step('reverse EOF', stepMs, () => reverse.end());
    if (extra !== 0) throw new Error(`${extra} unexpected bytes on the reverse pipe after the unpause result`);
    await step('exit', stepMs, () => exited);
    report.ok = report.exit.code === 0;
    if (!report.ok) report.error = `the rune exited with ${report.exit.code ?? report.exit.signal}`;
  } catch (err) {
    report.error = (err as Error).message;
    // Close the forward pipe (as xl does on failure) and give the rune time to exit by itself.
    child.stdin!.destroy();
    let grace: NodeJS.Timeout | null = null;
    const gone = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => (grace = setTimeout(() => r(false), stepMs)))]);
    clearTimeout(grace!);
    if (!gone) {
      report.killed = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
      await exited;
    }
  }
  const reverseAll = Buffer.concat(reverse.all);
  report.reverse = { bytes: reverseAll.length, sha256: createHash('sha256').update(reverseAll).digest('hex'), exact: reverseAll.equals(expectedReverse) };
  process.stdout.write(`${JSON.stringify(report)}\n`);
  process.exitCode = report.ok ? 0 : 1;
}

if (require.main === module) {
  const [role, ...rest] = process.argv.slice(2);
  if (role === 'receiver') receiver(rest);
  else if (role === 'sender') {
    sender(rest).catch((err) => {
      process.stderr.write(`xl-peers sender: ${(err as Error).stack}\n`);
      process.exitCode = 2;
    });
  } else {
    process.stderr.write('usage: xl-peers.js receiver|sender ...\n');
    process.exitCode = 2;
  }
}
