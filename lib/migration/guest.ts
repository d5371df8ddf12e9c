/**
 * Guest memory as the pre-copy migration sender sees it: pages to read and a dirty log to
 * fetch-and-clear, like Xen's saver sees a domain through the log-dirty bitmap. The kinds
 * (lib/migration/guests/): a static image file, a simulated guest whose worker thread
 * writes at a target rate, and a replayed dirty-page trace. docs/MIGRATION-GUESTS.md.
 */
import * as fs from 'node:fs';
import { constants as bufferConstants } from 'node:buffer';
import { ErrorCodes, PagepressError } from '../errors';

/** Page size of every guest (x86 small pages, as Xen migrates them). */
export const GUEST_PAGE_SIZE = 4096;

/** pagepress's own cap on a guest (pages): 64 GiB. Far above what a test machine can fill. */
const GUEST_PAGES_CAP = 2 ** 24;

/**
 * Largest guest accepted (pages): GUEST_PAGES_CAP, or what one typed array can hold on this
 * Node (each end keeps the guest in one: 4 GiB on Node 20, whose V8 caps a typed array at
 * 2^32 bytes; far more from Node 22 on).
 */
export const MAX_GUEST_PAGES = Math.min(GUEST_PAGES_CAP, Math.floor(bufferConstants.MAX_LENGTH / GUEST_PAGE_SIZE));

/** MAX_GUEST_PAGES in GiB, for messages. */
export const MAX_GUEST_GIB = (MAX_GUEST_PAGES * GUEST_PAGE_SIZE) / 2 ** 30;

/** "Node <version>" when this Node's typed arrays, not pagepress, set MAX_GUEST_PAGES; else null. */
export const GUEST_LIMIT_NODE = MAX_GUEST_PAGES < GUEST_PAGES_CAP ? `Node ${process.versions.node}` : null;

/** The memory of a guest being migrated: what the sender reads and re-reads. */
export interface GuestMemory {
  /** Bytes per page (4096). */
  readonly pageSize: number;
  /** Pages in the guest; pfns are 0..pageCount-1. */
  readonly pageCount: number;
  /**
   * Copies pages `pfns` (in order) into `out` (at least pfns.length * pageSize bytes). Safe
   * while the guest runs: a page may be caught mid-write, and the dirty log then reports it again.
   */
  readPages(pfns: ArrayLike<number>, out: Uint8Array): void;
  /** Copies `count` consecutive pages from `first` into `out`. */
  readRange(first: number, count: number, out: Uint8Array): void;
  /**
   * Fetch-and-clear of the dirty log since the last call (first call: every page is dirty,
   * like Xen's first pass). Returns the dirty pfns ascending.
   */
  takeDirty(): Uint32Array;
  /** Stops all writes; resolves once the writer has stopped (no write happens after it resolves). */
  pause(): Promise<void>;
  /** Lets writes go on. */
  resume(): Promise<void>;
  /** Frees the worker thread / file handles. Safe to call more than once. */
  close(): Promise<void>;
  /** What it is, for reports: `{ kind: 'sim'|'trace'|'file', workload?, dirtyRate?, source?, ... }`. */
  describe(): Record<string, unknown>;
}

/**
 * A dirty bitmap in shared memory: one bit per page in Int32 words. Writers set bits with
 * Atomics.or after their write; take() swaps each word with 0 (Atomics.exchange), so a bit
 * set between the read and the clear of a word cannot be lost.
 */
export class DirtyLog {
  /** The shared words (bit `pfn & 31` of word `pfn >>> 5`). */
  readonly words: Int32Array;
  private scratch: Int32Array | null = null;

  /** Bytes of shared memory a log of `pageCount` pages needs. */
  static bytesFor(pageCount: number): number {
    return Math.ceil(pageCount / 32) * 4;
  }

  /** A log over `shared` (a new buffer when omitted); `allDirty` marks every page dirty first. */
  constructor(
    readonly pageCount: number,
    shared?: SharedArrayBuffer,
    allDirty = false,
  ) {
    this.words = new Int32Array(shared ?? new SharedArrayBuffer(DirtyLog.bytesFor(pageCount)), 0, Math.ceil(pageCount / 32));
    if (allDirty) this.markAll();
  }

  /** Marks `pfn` dirty (call after the write, so a read after take() sees it or it is reported again). */
  mark(pfn: number): void {
    Atomics.or(this.words, pfn >>> 5, 1 << (pfn & 31));
  }

  /** Marks every page dirty. */
  markAll(): void {
    const full = this.pageCount >>> 5;
    for (let i = 0; i < full; i++) Atomics.store(this.words, i, -1);
    const rest = this.pageCount & 31;
    if (rest) Atomics.or(this.words, full, (1 << rest) - 1);
  }

  /** Dirty pages now, without clearing. */
  count(): number {
    let n = 0;
    for (let i = 0; i < this.words.length; i++) n += popcount(Atomics.load(this.words, i));
    return n;
  }

  /** Fetch-and-clear: the dirty pfns ascending. */
  take(): Uint32Array {
    // Words are swapped into a private copy first (pageCount/8 bytes), so the result can be
    // allocated at its exact size without a per-page scratch array.
    const words = this.words;
    const snap = (this.scratch ??= new Int32Array(words.length));
    let n = 0;
    for (let i = 0; i < words.length; i++) {
      const w = Atomics.load(words, i) === 0 ? 0 : Atomics.exchange(words, i, 0);
      snap[i] = w;
      n += popcount(w);
    }
    const out = new Uint32Array(n);
    let k = 0;
    for (let i = 0; i < snap.length && k < n; i++) {
      let w = snap[i];
      while (w !== 0) {
        out[k++] = i * 32 + (31 - Math.clz32(w & -w));
        w &= w - 1;
      }
    }
    return out;
  }
}

/** Set bits of a 32-bit word. */
export function popcount(w: number): number {
  w -= (w >>> 1) & 0x55555555;
  w = (w & 0x33333333) + ((w >>> 2) & 0x33333333);
  return Math.imul((w + (w >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
}

/** Throws PP_ERR_ARG unless `pfns` are valid pfns and `out` holds them all. */
export function checkReadPages(guest: { pageCount: number; pageSize: number }, pfns: ArrayLike<number>, out: Uint8Array): void {
  if (out.byteLength < pfns.length * guest.pageSize) {
    throw new PagepressError(`readPages: out holds ${out.byteLength} bytes, ${pfns.length} pages need ${pfns.length * guest.pageSize}`, ErrorCodes.ARG);
  }
  for (let i = 0; i < pfns.length; i++) {
    const pfn = pfns[i];
    if (!Number.isInteger(pfn) || pfn < 0 || pfn >= guest.pageCount) {
      throw new PagepressError(`readPages: pfn ${pfn} (index ${i}) is outside the guest (0..${guest.pageCount - 1})`, ErrorCodes.ARG, { page: i });
    }
  }
}

/** Throws PP_ERR_ARG unless [first, first+count) is inside the guest and `out` holds it. */
export function checkReadRange(guest: { pageCount: number; pageSize: number }, first: number, count: number, out: Uint8Array): void {
  if (!Number.isInteger(first) || !Number.isInteger(count) || first < 0 || count < 0 || first + count > guest.pageCount) {
    throw new PagepressError(`readRange: pages ${first}..${first + count - 1} are outside the guest (0..${guest.pageCount - 1})`, ErrorCodes.ARG);
  }
  if (out.byteLength < count * guest.pageSize) {
    throw new PagepressError(`readRange: out holds ${out.byteLength} bytes, ${count} pages need ${count * guest.pageSize}`, ErrorCodes.ARG);
  }
}

/** Copies pages `pfns` of `mem` into `out`, one copy per run of consecutive pfns. */
export function copyPages(mem: Uint8Array, pageSize: number, pfns: ArrayLike<number>, out: Uint8Array): void {
  let i = 0;
  while (i < pfns.length) {
    const first = pfns[i];
    let j = i + 1;
    while (j < pfns.length && pfns[j] === first + (j - i)) j++;
    out.set(mem.subarray(first * pageSize, (first + j - i) * pageSize), i * pageSize);
    i = j;
  }
}

/** Throws PP_ERR_ARG unless `pages` is a usable guest size. */
export function checkPageCount(pages: number, what = 'pages'): void {
  if (!Number.isInteger(pages) || pages < 1 || pages > MAX_GUEST_PAGES) {
    throw new PagepressError(
      `${what} must be an integer in 1..${MAX_GUEST_PAGES} (${MAX_GUEST_GIB} GiB${GUEST_LIMIT_NODE ? `, the largest typed array of ${GUEST_LIMIT_NODE}` : ''}), got ${pages}`,
      ErrorCodes.ARG,
    );
  }
}

/** A SharedArrayBuffer for `pages` pages; PP_ERR_LIMIT when the allocation fails. */
export function allocateGuest(pages: number, pageSize = GUEST_PAGE_SIZE): SharedArrayBuffer {
  try {
    return new SharedArrayBuffer(pages * pageSize);
  } catch (err) {
    throw new PagepressError(`cannot allocate ${pages * pageSize} bytes of guest memory: ${(err as Error).message}`, ErrorCodes.LIMIT);
  }
}

/** Deterministic PRNG (sfc32 seeded from one 32-bit seed): floats in [0, 1). */
export function guestRng(seed: number): () => number {
  let a = 0x9e3779b9;
  let b = 0x243f6a88;
  let c = 0xb7e15162;
  let d = seed >>> 0;
  const next = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 12; i++) next(); // mix the seed in
  return next;
}

const WORDS = [
  'page',
  'frame',
  'xen',
  'migrate',
  'dirty',
  'batch',
  'guest',
  'memory',
  '{"id":',
  '0x7fff',
  'GET /index.html HTTP/1.1',
  'Content-Length:',
  'return',
  'function',
  '\n',
  '  ',
  'user_id',
  'NULL',
  '0',
  '1',
];

/**
 * Fills `mem` (whole pages) with memory-like content: zero pages, text pages, random pages,
 * pages repeating an earlier one and sparse pointer-and-counter pages, roughly in the
 * proportions of a running system's memory. Deterministic for `seed`. About 1.5 s per GiB.
 */
export function fillMemoryLike(mem: Uint8Array, seed: number, pageSize = GUEST_PAGE_SIZE): void {
  const r = guestRng(seed);
  const pages = Math.floor(mem.byteLength / pageSize);
  // Text pages are cut from one pool of words, so generation stays cheap at any size.
  const pool = Buffer.alloc(65536 + pageSize);
  for (let at = 0; at < pool.length;) at += pool.write(WORDS[Math.floor(r() * WORDS.length)] + ' ', at);
  const words = new Int32Array(mem.buffer, mem.byteOffset, (pages * pageSize) >>> 2);
  const perPage = pageSize >>> 2;
  let x = (seed ^ 0x5bd1e995) | 1;
  for (let p = 0; p < pages; p++) {
    const at = p * pageSize;
    const kind = r();
    if (kind < 0.2) {
      mem.fill(0, at, at + pageSize); // zero (free) page
    } else if (kind < 0.3 && p > 0) {
      const src = Math.floor(r() * p) * pageSize;
      mem.copyWithin(at, src, src + pageSize);
    } else if (kind < 0.55) {
      const from = Math.floor(r() * 65536);
      mem.set(pool.subarray(from, from + pageSize), at);
    } else if (kind < 0.7) {
      for (let k = at >>> 2, end = k + perPage; k < end; k++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        words[k] = x;
      }
    } else {
      mem.fill(0, at, at + pageSize);
      // 64-bit slots: user-space pointers (0x00007fxx_xxxxxxxx) and small integers.
      for (let k = at >>> 2, end = k + perPage; k < end; k += 2) {
        const u = r();
        if (u < 0.12) {
          words[k] = (r() * 0x100000000) & ~7;
          words[k + 1] = 0x7f00 + Math.floor(r() * 0x100);
        } else if (u < 0.2) {
          words[k] = Math.floor(r() * 1000);
        }
      }
    }
  }
}

/**
 * Fills `mem` with the whole pages of memory image `file`, repeated from its start until
 * `mem` is full (a partial last page of the file is ignored). Reads straight into `mem`.
 */
export function fillFromFile(mem: Uint8Array, file: string, pageSize = GUEST_PAGE_SIZE): void {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    throw new PagepressError(`cannot open source ${file}: ${(err as Error).message}`, ErrorCodes.ARG);
  }
  try {
    const usable = Math.floor(fs.fstatSync(fd).size / pageSize) * pageSize;
    if (usable === 0) throw new PagepressError(`source ${file} holds no whole ${pageSize}-byte page`, ErrorCodes.FORMAT, { offset: 0 });
    let at = 0;
    let pos = 0;
    while (at < mem.byteLength) {
      const want = Math.min(mem.byteLength - at, usable - pos, 1 << 26);
      const n = fs.readSync(fd, mem, at, want, pos);
      if (n <= 0) throw new PagepressError(`source ${file} ended at byte ${pos}, its size said ${usable}`, ErrorCodes.TRUNCATED, { offset: pos });
      at += n;
      pos += n;
      if (pos >= usable) pos = 0;
    }
  } finally {
    fs.closeSync(fd);
  }
}
