/**
 * Named write patterns of a simulated guest. Each write touches exactly one page (so the
 * dirty rate in page writes/s is the write rate); which page and how many bytes change
 * is drawn from a seeded PRNG, so a seed fixes the write sequence (timing does not).
 * Runs on the workload worker thread, over the guest's shared memory.
 */
import { guestRng } from '../guest';

/** The workload names a simulated guest accepts. */
export type WorkloadName = 'idle' | 'pagecache' | 'hotset' | 'inplace' | 'webserver';

/** Documentation of a workload, for --help, reports and docs/MIGRATION-GUESTS.md. */
export interface WorkloadInfo {
  /** What kind of guest activity it stands for. */
  models: string;
  /** Which pages receive the writes. */
  pages: string;
  /** How many bytes one write stores. */
  bytesPerWrite: string;
  /** Page writes per second when no dirtyRate is given. */
  defaultRate: number;
}

/** Every workload, with what it models and its default rate. */
export const WORKLOADS: Readonly<Record<WorkloadName, WorkloadInfo>> = {
  idle: {
    models: 'an idle OS: the timer tick updates a clock page and a few per-CPU/timer-wheel pages; now and then a daemon wakes',
    pages: '1 clock page + 15 timer pages in the lowest 1/16 of memory (50% / 40% of writes), 10% anywhere',
    bytesPerWrite: '8 (clock), 16-64 (timers, daemons)',
    defaultRate: 10,
  },
  pagecache: {
    models: 'a file cache filling: a sequential read of files into free memory',
    pages: 'the upper half of memory, sequentially from a cursor; 1 write in 256 jumps to a random place (next file); wraps around',
    bytesPerWrite: '4096 (whole page: contents of another guest page plus a unique 16-byte header)',
    defaultRate: 5000,
  },
  hotset: {
    models: 'a write-heavy application: heaps and stacks that are rewritten over and over (the writable working set)',
    pages: '90% of writes to a hot set of 10% of the pages (16-page clusters spread over memory), 10% uniformly anywhere',
    bytesPerWrite: '64-4096, log-uniform (mean ~970): a run at a random 8-aligned offset',
    defaultRate: 20000,
  },
  inplace: {
    models: 'small in-place updates: counters, reference counts, struct fields (databases, caches, kernel statistics)',
    pages: '25% of the pages (64-page clusters), heavily skewed: cluster k of n is picked with probability ~ (k/n)^(-2/3)',
    bytesPerWrite: '4 (60%: a 32-bit counter increment) or 16-256 (40%: a struct rewrite)',
    defaultRate: 10000,
  },
  webserver: {
    models: 'a web server: request counters and session structs, log and static-file page cache, buffers freed and reallocated',
    pages: '70% small updates in a hot 5% (16-page clusters); 15% streaming the upper 40% (page cache); 8% zeroing and 7% refilling pages of a heap region (20%-60%)',
    bytesPerWrite: '4 or 32-512 (hot updates), 4096 (page cache, refills, zeroed pages)',
    defaultRate: 8000,
  },
};

/** The workload names, in documentation order. */
export const WORKLOAD_NAMES = Object.keys(WORKLOADS) as WorkloadName[];

/** True when `name` is a workload name. */
export function isWorkloadName(name: string): name is WorkloadName {
  return Object.prototype.hasOwnProperty.call(WORKLOADS, name);
}

/** Performs a workload's writes, one page each. */
export interface GuestWriter {
  /** Performs the next write; returns the pfn it wrote (mark it dirty after this returns). */
  next(): number;
  /** Bytes stored by the last write. */
  bytes: number;
}

/** Write primitives over guest memory; all but zero() change at least one byte of their page. */
class Ops {
  readonly words: Int32Array;
  readonly pages: number;
  private serial = 0;

  constructor(
    readonly mem: Uint8Array,
    readonly pageSize: number,
    readonly r: () => number,
  ) {
    this.words = new Int32Array(mem.buffer, mem.byteOffset, mem.byteLength >>> 2);
    this.pages = Math.floor(mem.byteLength / pageSize);
  }

  int(n: number): number {
    return Math.floor(this.r() * n);
  }

  /** `count` cluster starts of `size` pages in [lo, hi) (the whole guest when that is too small). */
  clusters(count: number, size: number, lo: number, hi: number): { starts: Uint32Array; size: number } {
    if (hi - lo < size) [lo, hi] = [0, this.pages];
    size = Math.min(size, hi - lo);
    const starts = new Uint32Array(Math.max(1, count));
    for (let i = 0; i < starts.length; i++) starts[i] = lo + this.int(hi - lo - size + 1);
    return { starts, size };
  }

  /** [lo, hi) as page numbers from fractions of the guest, never empty. */
  region(from: number, to: number): [number, number] {
    const lo = Math.floor(this.pages * from);
    const hi = Math.floor(this.pages * to);
    return hi > lo ? [lo, hi] : [0, this.pages];
  }

  /** Whole page: contents of a random other page, then a header unique to this write. */
  wholePage(pfn: number, tag: number): number {
    const S = this.pageSize;
    const src = this.int(this.pages) * S;
    this.mem.copyWithin(pfn * S, src, src + S);
    const w = (pfn * S) >>> 2;
    this.words[w] = tag;
    this.words[w + 1] = ++this.serial;
    this.words[w + 2] = pfn;
    this.words[w + 3] = 0x50504147;
    return S;
  }

  /** `len` bytes at `off`: data from elsewhere in memory, the first byte a bumped version. */
  update(pfn: number, off: number, len: number): number {
    const dst = pfn * this.pageSize + off;
    const old = this.mem[dst];
    const src = this.int(this.mem.byteLength - len + 1) & ~7;
    this.mem.copyWithin(dst, src, src + len);
    this.mem[dst] = (old + 1) & 0xff;
    return len;
  }

  /** A 32-bit counter increment at `off` (4-aligned). */
  counter(pfn: number, off: number, by = 1): number {
    this.words[(pfn * this.pageSize + off) >>> 2] += by;
    return 4;
  }

  /** The page filled with zeros (freed memory): dirty even when it was already zero, as on real hardware. */
  zero(pfn: number): number {
    const at = pfn * this.pageSize;
    this.mem.fill(0, at, at + this.pageSize);
    return this.pageSize;
  }
}

/**
 * The write of a replayed trace entry: `bytes` changed bytes in page `pfn`. Below half a page,
 * a run of exactly `bytes` bytes at a random offset is XORed with nonzero values; from half a
 * page up, the page is rewritten whole (another page's contents plus a unique header), like a
 * page-cache fill; 0 writes nothing (a write that stored the same bytes). Returns bytes stored.
 */
export function createTraceWriter(mem: Uint8Array, pageSize: number, seed: number): (pfn: number, bytes: number) => number {
  const ops = new Ops(mem, pageSize, guestRng(seed ^ 0x7f4a7c15));
  return (pfn, bytes) => {
    if (bytes <= 0) return 0;
    if (bytes >= pageSize / 2) return ops.wholePage(pfn, 0x54524345);
    const at = pfn * pageSize + ops.int(pageSize - bytes + 1);
    for (let i = 0; i < bytes; i++) mem[at + i] ^= 1 + ops.int(255);
    return bytes;
  };
}

/** A writer for workload `name` over `mem` (whole pages of `pageSize`), seeded by `seed`. */
export function createWriter(name: WorkloadName, mem: Uint8Array, pageSize: number, seed: number): GuestWriter {
  const ops = new Ops(mem, pageSize, guestRng(seed ^ 0x3c6ef372));
  const S = pageSize;
  const P = ops.pages;
  const r = ops.r;
  const w: GuestWriter = { next: () => 0, bytes: 0 };
  switch (name) {
    case 'idle': {
      const [lo, hi] = ops.region(0, 1 / 16);
      const clock = lo + ops.int(hi - lo);
      const timers = Array.from({ length: 15 }, () => lo + ops.int(hi - lo));
      w.next = () => {
        const u = r();
        let pfn: number;
        if (u < 0.5) {
          pfn = clock;
          w.bytes = ops.counter(pfn, 0, 1_000_000) + ops.counter(pfn, 4); // ns clock + tick count
        } else {
          pfn = u < 0.9 ? timers[ops.int(timers.length)] : ops.int(P);
          const len = 16 + ops.int(49);
          w.bytes = ops.update(pfn, Math.min(ops.int(S / 64) * 64, S - len), len);
        }
        return pfn;
      };
      break;
    }
    case 'pagecache': {
      const [lo, hi] = ops.region(0.5, 1);
      let cursor = lo + ops.int(hi - lo);
      let file = 1;
      w.next = () => {
        if (r() < 1 / 256) {
          cursor = lo + ops.int(hi - lo);
          file++;
        }
        const pfn = cursor;
        cursor = cursor + 1 < hi ? cursor + 1 : lo;
        w.bytes = ops.wholePage(pfn, file);
        return pfn;
      };
      break;
    }
    case 'hotset': {
      const hot = ops.clusters(Math.ceil((0.1 * P) / 16), 16, 0, P);
      w.next = () => {
        const pfn = r() < 0.9 ? hot.starts[ops.int(hot.starts.length)] + ops.int(hot.size) : ops.int(P);
        const len = Math.min(S, Math.floor(2 ** (6 + 6 * r())));
        w.bytes = ops.update(pfn, ops.int(Math.floor((S - len) / 8) + 1) * 8, len);
        return pfn;
      };
      break;
    }
    case 'inplace': {
      const set = ops.clusters(Math.ceil((0.25 * P) / 64), 64, 0, P);
      w.next = () => {
        const u = r();
        const pfn = set.starts[Math.floor(set.starts.length * u * u * u)] + ops.int(set.size);
        const off = ops.int(S / 64) * 64;
        if (r() < 0.6) {
          w.bytes = ops.counter(pfn, off + ops.int(16) * 4);
        } else {
          const len = 16 * (1 + ops.int(16));
          w.bytes = ops.update(pfn, Math.min(off, S - len), len);
        }
        return pfn;
      };
      break;
    }
    case 'webserver': {
      const hot = ops.clusters(Math.ceil((0.05 * P) / 16), 16, 0, P);
      const [heapLo, heapHi] = ops.region(0.2, 0.6);
      const [cacheLo, cacheHi] = ops.region(0.6, 1);
      let cursor = cacheLo;
      let file = 1;
      w.next = () => {
        const u = r();
        let pfn: number;
        if (u < 0.7) {
          pfn = hot.starts[ops.int(hot.starts.length)] + ops.int(hot.size);
          if (r() < 0.5) {
            w.bytes = ops.counter(pfn, ops.int(S / 4) * 4);
          } else {
            const len = 32 * (1 + ops.int(16));
            w.bytes = ops.update(pfn, ops.int(Math.floor((S - len) / 8) + 1) * 8, len);
          }
        } else if (u < 0.85) {
          if (r() < 1 / 64) {
            cursor = cacheLo + ops.int(cacheHi - cacheLo);
            file++;
          }
          pfn = cursor;
          cursor = cursor + 1 < cacheHi ? cursor + 1 : cacheLo;
          w.bytes = ops.wholePage(pfn, file);
        } else if (u < 0.93) {
          pfn = heapLo + ops.int(heapHi - heapLo);
          w.bytes = ops.zero(pfn);
        } else {
          pfn = heapLo + ops.int(heapHi - heapLo);
          w.bytes = ops.wholePage(pfn, 0x48454150);
        }
        return pfn;
      };
      break;
    }
  }
  return w;
}
