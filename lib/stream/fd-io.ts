/**
 * File-descriptor I/O for the command line: large reads straight into slots and writes
 * straight from slots, so the main thread never copies page data. Reads and writes run on
 * the libuv pool; EAGAIN (a non-blocking pipe that is full or empty) is retried.
 */
import * as fs from 'node:fs';
import { addon } from '../native';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Reads up to `length` bytes into `buf` at `offset`; resolves with the count (0 at EOF).
 * On a non-blocking fd with nothing to read (EAGAIN) it polls: every millisecond for the
 * first 100 tries, then every 4 ms, so a paused input costs little CPU and its next bytes
 * wait at most 4 ms. `signal` ends the polling (rejects with an AbortError).
 */
export async function readSome(fd: number, buf: Uint8Array, offset: number, length: number, position: number | null, signal?: AbortSignal): Promise<number> {
  for (let tries = 0; ; tries++) {
    signal?.throwIfAborted();
    try {
      return await new Promise<number>((resolve, reject) => fs.read(fd, buf, offset, length, position, (err, n) => (err ? reject(err) : resolve(n))));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      await sleep(tries < 100 ? 1 : 4);
    }
  }
}

/**
 * The start of a non-seekable input, read to recognise its format: what was read, and a
 * read that may still be running (into `buf` at `at`) when the input paused first.
 */
export interface Sniffed {
  bytes: Buffer;
  pending: Promise<number> | null;
  buf: Buffer;
  at: number;
}

/**
 * Reads until `n` bytes have arrived, EOF, or the input pauses for `pauseMs` after its
 * first bytes. The last case matters for request/response traffic: a 5-byte message is
 * never held back waiting for 3 more bytes; the read goes on in the background
 * (`pending`) and the caller decides on what it has.
 */
export async function sniff(fd: number, n: number, pauseMs: number, signal?: AbortSignal): Promise<Sniffed> {
  const buf = Buffer.allocUnsafeSlow(Math.max(n, 64 * 1024));
  let filled = 0;
  while (filled < n) {
    const read = readSome(fd, buf, filled, buf.length - filled, null, signal);
    const got = filled === 0 ? await read : await Promise.race([read, sleep(pauseMs).then(() => -1)]);
    if (got === -1) return { bytes: buf.subarray(0, filled), pending: read, buf, at: filled };
    if (got === 0) break;
    filled += got;
  }
  return { bytes: buf.subarray(0, filled), pending: null, buf, at: filled };
}

/** The first `n` bytes of a regular file (fewer if it is shorter), read at position 0: nothing is consumed. */
export async function readHeadAt(fd: number, n: number): Promise<Buffer> {
  const head = Buffer.alloc(n);
  let filled = 0;
  while (filled < n) {
    const got = await readSome(fd, head, filled, n - filled, filled);
    if (got === 0) break;
    filled += got;
  }
  return head.subarray(0, filled);
}

/**
 * Gives a pipe a 1 MiB buffer (both of its ends share it): with the default 64 KiB, each
 * side pays a read or write call and a wake-up per 16 pages. Linux only (F_SETPIPE_SZ,
 * within /proc/sys/fs/pipe-max-size); anything else, or a failure, leaves the fd as it is.
 */
export function growPipe(fd: number): void {
  try {
    if (fs.fstatSync(fd).isFIFO()) addon.pipeSize(fd, 1024 * 1024);
  } catch {
    // not a pipe we may resize: it keeps its size
  }
}

/** Writes all of `buf`. */
export async function writeAll(fd: number, buf: Uint8Array): Promise<void> {
  let at = 0;
  while (at < buf.length) {
    try {
      at += await new Promise<number>((resolve, reject) => fs.write(fd, buf, at, buf.length - at, null, (err, n) => (err ? reject(err) : resolve(n))));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      await sleep(1);
    }
  }
}

/** Writes `buf` at `position` (positional write, the file offset is not used). */
export async function writeAt(fd: number, buf: Uint8Array, position: number): Promise<void> {
  let at = 0;
  while (at < buf.length) {
    at += await new Promise<number>((resolve, reject) => fs.write(fd, buf, at, buf.length - at, position + at, (err, n) => (err ? reject(err) : resolve(n))));
  }
}

/**
 * Where sparse output may start on `fd`, or null when it may not: the fd must be a
 * regular file, not in append mode, with nothing after its current offset (so a hole
 * reads back as zeros). Linux only (reads /proc/self/fdinfo); null elsewhere.
 */
export function sparseStart(fd: number): number | null {
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) return null;
    const info = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
    const pos = Number(/^pos:\s*(\d+)/m.exec(info)?.[1]);
    const flags = parseInt(/^flags:\s*([0-7]+)/m.exec(info)?.[1] ?? 'x', 8);
    const O_APPEND = 0o2000;
    if (!Number.isFinite(pos) || Number.isNaN(flags) || flags & O_APPEND || st.size > pos) return null;
    return pos;
  } catch {
    return null;
  }
}

/**
 * Writes buffers in the order given, each released after it is written.
 * Stream mode (pipes, sockets, terminals): one write at a time, in order.
 * Positional mode (a regular file, see sparseStart): each buffer's place in the file is
 * known when it is queued, so several writes run at once on the libuv pool; flush() sets
 * the final length.
 */
export class OrderedWriter {
  private tail: Promise<void> = Promise.resolve();
  private readonly inFlight = new Set<Promise<void>>();
  private error: Error | null = null;
  /** Bytes queued so far (written or being written). */
  queued = 0;

  constructor(
    private readonly fd: number,
    private readonly onError: (err: Error) => void,
    private readonly base: number | null = null,
  ) {}

  /** Queues `buf`; `release` runs once it is written (or the writer has failed). */
  write(buf: Uint8Array, release: () => void = () => {}): void {
    if (this.base === null) {
      this.tail = this.tail.then(async () => {
        if (!this.error) await writeAll(this.fd, buf).catch((err) => this.setError(err));
        release();
      });
      return;
    }
    const at = this.base + this.queued;
    this.queued += buf.length;
    const job = (async () => {
      try {
        await writeAt(this.fd, buf, at);
      } catch (err) {
        this.setError(err as Error);
      }
      release();
    })();
    this.inFlight.add(job);
    void job.then(() => this.inFlight.delete(job));
  }

  private setError(err: Error): void {
    if (this.error) return;
    this.error = err;
    this.onError(err);
  }

  /** Resolves when everything queued is written; rejects with the first write error. */
  async flush(): Promise<void> {
    await this.tail;
    await Promise.all(this.inFlight);
    if (this.base !== null && !this.error) {
      // The file ends where the last buffer does.
      await new Promise<void>((resolve, reject) => fs.ftruncate(this.fd, this.base! + this.queued, (err) => (err ? reject(err) : resolve())));
    }
    if (this.error) throw this.error;
  }
}
