/**
 * File-descriptor I/O for the command line: large reads straight into slots and writes
 * straight from slots, so the main thread never copies page data. Reads and writes run on
 * the libuv pool; EAGAIN (a non-blocking pipe that is full or empty) is retried.
 */
import * as fs from 'node:fs';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Reads up to `length` bytes into `buf` at `offset`; resolves with the count (0 at EOF). */
export async function readSome(fd: number, buf: Uint8Array, offset: number, length: number, position: number | null): Promise<number> {
  for (;;) {
    try {
      return await new Promise<number>((resolve, reject) =>
        fs.read(fd, buf, offset, length, position, (err, n) => (err ? reject(err) : resolve(n))),
      );
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      await sleep(1);
    }
  }
}

/** Writes all of `buf`. */
export async function writeAll(fd: number, buf: Uint8Array): Promise<void> {
  let at = 0;
  while (at < buf.length) {
    try {
      at += await new Promise<number>((resolve, reject) =>
        fs.write(fd, buf, at, buf.length - at, null, (err, n) => (err ? reject(err) : resolve(n))),
      );
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      await sleep(1);
    }
  }
}

/** Writes buffers in the order given, one at a time, each released after it is written. */
export class OrderedWriter {
  private tail: Promise<void> = Promise.resolve();
  private error: Error | null = null;
  /** Bytes written so far. */
  written = 0;

  constructor(private readonly fd: number, private readonly onError: (err: Error) => void) {}

  /** Queues `buf`; `release` runs once it is written (or the writer has failed). */
  write(buf: Uint8Array, release: () => void = () => {}): void {
    this.tail = this.tail.then(async () => {
      if (this.error) return release();
      try {
        await writeAll(this.fd, buf);
        this.written += buf.length;
      } catch (err) {
        this.error = err as Error;
        this.onError(this.error);
      }
      release();
    });
  }

  /** Resolves when everything queued is written; rejects with the first write error. */
  async flush(): Promise<void> {
    await this.tail;
    if (this.error) throw this.error;
  }
}
