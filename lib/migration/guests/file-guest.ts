/**
 * A guest that never runs: a memory image file (a save file's pages, a corpus snapshot).
 * Pages are read on demand with positional reads, so a 2 GiB image costs no process memory
 * beyond the caller's buffers (the kernel's page cache holds it); `preload` reads it into
 * memory first, for measurements that must not include disk reads.
 */
import * as fs from 'node:fs';
import { ErrorCodes, PagepressError } from '../../errors';
import { allocateGuest, checkReadPages, checkReadRange, copyPages, fillFromFile, GUEST_PAGE_SIZE, GuestMemory, MAX_GUEST_PAGES } from '../guest';

/** Options of {@link FileGuest.open}. */
export interface FileGuestOptions {
  /** Read the whole image into a SharedArrayBuffer at open (RSS = image size). */
  preload?: boolean;
}

/** A static memory image: dirty once (the first takeDirty), then never. */
export class FileGuest implements GuestMemory {
  readonly pageSize = GUEST_PAGE_SIZE;
  readonly pageCount: number;
  private fd: number;
  private memory: Uint8Array | null;
  private first = true;
  private readonly preload: boolean;

  private constructor(
    readonly file: string,
    fd: number,
    pageCount: number,
    memory: Uint8Array | null,
  ) {
    this.fd = fd;
    this.pageCount = pageCount;
    this.memory = memory;
    this.preload = memory !== null;
  }

  /** Opens image `file` (its size must be a nonzero multiple of 4096). */
  static async open(file: string, options: FileGuestOptions = {}): Promise<FileGuest> {
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch (err) {
      throw new PagepressError(`cannot open guest image ${file}: ${(err as Error).message}`, ErrorCodes.ARG);
    }
    try {
      const size = fs.fstatSync(fd).size;
      if (size === 0 || size % GUEST_PAGE_SIZE !== 0) {
        throw new PagepressError(`guest image ${file} is ${size} bytes, not a nonzero multiple of ${GUEST_PAGE_SIZE}`, ErrorCodes.FORMAT, { offset: size - (size % GUEST_PAGE_SIZE) });
      }
      const pages = size / GUEST_PAGE_SIZE;
      if (pages > MAX_GUEST_PAGES) throw new PagepressError(`guest image ${file} has ${pages} pages, more than ${MAX_GUEST_PAGES}`, ErrorCodes.LIMIT);
      let memory: Uint8Array | null = null;
      if (options.preload) {
        memory = new Uint8Array(allocateGuest(pages));
        fillFromFile(memory, file);
        fs.closeSync(fd);
        fd = -1;
      }
      return new FileGuest(file, fd, pages, memory);
    } catch (err) {
      if (fd >= 0) fs.closeSync(fd);
      throw err;
    }
  }

  readPages(pfns: ArrayLike<number>, out: Uint8Array): void {
    checkReadPages(this, pfns, out);
    if (this.memory) return copyPages(this.memory, this.pageSize, pfns, out);
    // One read per run of consecutive pfns (a first pass reads long runs).
    let i = 0;
    while (i < pfns.length) {
      const first = pfns[i];
      let j = i + 1;
      while (j < pfns.length && pfns[j] === first + (j - i)) j++;
      this.readAt(out, i * this.pageSize, (j - i) * this.pageSize, first * this.pageSize);
      i = j;
    }
  }

  readRange(first: number, count: number, out: Uint8Array): void {
    checkReadRange(this, first, count, out);
    if (this.memory) return out.set(this.memory.subarray(first * this.pageSize, (first + count) * this.pageSize));
    this.readAt(out, 0, count * this.pageSize, first * this.pageSize);
  }

  private readAt(out: Uint8Array, at: number, length: number, position: number): void {
    if (this.fd < 0) throw new PagepressError('guest image is closed', ErrorCodes.ARG);
    const end = at + length;
    while (at < end) {
      const n = fs.readSync(this.fd, out, at, Math.min(end - at, 1 << 30), position);
      if (n <= 0) throw new PagepressError(`guest image ${this.file} ended at byte ${position} (it shrank after open)`, ErrorCodes.TRUNCATED, { offset: position });
      at += n;
      position += n;
    }
  }

  /** Every page the first time, then nothing: the image never changes. */
  takeDirty(): Uint32Array {
    if (!this.first) return new Uint32Array(0);
    this.first = false;
    const all = new Uint32Array(this.pageCount);
    for (let i = 0; i < all.length; i++) all[i] = i;
    return all;
  }

  /** Nothing writes: resolves at once. */
  async pause(): Promise<void> {}

  /** Nothing writes: resolves at once. */
  async resume(): Promise<void> {}

  async close(): Promise<void> {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
    this.memory = null;
  }

  describe(): Record<string, unknown> {
    return { kind: 'file', source: this.file, pages: this.pageCount, bytes: this.pageCount * this.pageSize, preload: this.preload };
  }
}
