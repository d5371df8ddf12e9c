/**
 * Page statistics of corpus files: pages, zero pages, duplicate pages (same content as an
 * earlier page), and where each duplicate's earlier copy is: inside the same 1024-page batch
 * (what per-batch dedup sees) or only in an earlier batch (what only stream-wide dedup sees).
 * Raw files are read as consecutive 4 KiB pages in batches of 1024; Xen streams (detected by
 * their signature) as the pages of their PAGE_DATA records, one record = one batch.
 *
 *   node dist/bench/corpus/stats.js FILE [FILE...] [--json]
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { detectXen } from '../../lib/xen/detect';
import { XenReader } from '../../lib/xen/reader';

const PAGE = 4096;
/** Pages per batch of a raw file (pagepress's default batch). */
export const BATCH_PAGES = 1024;

/** What {@link pageStats} reports. */
export interface PageStats {
  file: string;
  /** 'raw' (consecutive pages) or 'xen' (pages of a Xen stream's PAGE_DATA records). */
  kind: 'raw' | 'xen';
  pages: number;
  /** Batches: 1024-page runs of a raw file, PAGE_DATA records of a Xen stream. */
  batches: number;
  zeroPages: number;
  zeroFraction: number;
  /** Non-zero pages whose content equals an earlier non-zero page. */
  duplicateNonZeroPages: number;
  duplicateNonZeroFraction: number;
  /** Of those, the ones with an earlier copy in the same batch. */
  duplicateSameBatch: number;
  /** Of those, the ones whose earlier copies are all in earlier batches. */
  duplicateEarlierBatch: number;
  /** duplicateSameBatch / duplicateNonZeroPages. */
  duplicateSameBatchFraction: number;
  /** (pages - distinct contents) / pages; counts every zero page but the first as a duplicate. */
  duplicateFraction: number;
}

const ZERO = Buffer.alloc(PAGE);

/** Counts zero and duplicate pages fed in stream order, batch by batch. */
export class PageCounter {
  pages = 0;
  batches = 0;
  zeroPages = 0;
  dup = 0;
  dupSameBatch = 0;
  /** Content hash -> last batch it was seen in. */
  private readonly lastBatch = new Map<string, number>();

  /** Starts a new batch. */
  nextBatch(): void {
    this.batches++;
  }

  /** Counts one 4096-byte page of the current batch. */
  add(page: Uint8Array): void {
    this.pages++;
    if (Buffer.from(page.buffer, page.byteOffset, page.byteLength).equals(ZERO)) {
      this.zeroPages++;
      return;
    }
    const h = crypto.createHash('sha1').update(page).digest('base64');
    const batch = this.batches;
    const last = this.lastBatch.get(h);
    if (last !== undefined) {
      this.dup++;
      if (last === batch) this.dupSameBatch++;
    }
    this.lastBatch.set(h, batch);
  }

  /** The totals as {@link PageStats}. */
  result(file: string, kind: 'raw' | 'xen'): PageStats {
    const f = (n: number, d = this.pages): number => (d ? +(n / d).toFixed(5) : 0);
    const distinct = this.lastBatch.size + (this.zeroPages > 0 ? 1 : 0);
    return {
      file,
      kind,
      pages: this.pages,
      batches: this.batches,
      zeroPages: this.zeroPages,
      zeroFraction: f(this.zeroPages),
      duplicateNonZeroPages: this.dup,
      duplicateNonZeroFraction: f(this.dup),
      duplicateSameBatch: this.dupSameBatch,
      duplicateEarlierBatch: this.dup - this.dupSameBatch,
      duplicateSameBatchFraction: f(this.dupSameBatch, this.dup),
      duplicateFraction: f(this.pages - distinct),
    };
  }
}

function rawStats(file: string, fd: number): PageStats {
  const pages = Math.floor(fs.fstatSync(fd).size / PAGE);
  const buf = Buffer.alloc(BATCH_PAGES * PAGE);
  const c = new PageCounter();
  for (let p = 0; p < pages;) {
    const got = Math.floor(fs.readSync(fd, buf, 0, Math.min(BATCH_PAGES, pages - p) * PAGE, p * PAGE) / PAGE);
    if (got === 0) break;
    c.nextBatch();
    for (let k = 0; k < got; k++) c.add(buf.subarray(k * PAGE, (k + 1) * PAGE));
    p += got;
  }
  return c.result(file, 'raw');
}

function xenStats(file: string, fd: number): PageStats {
  const c = new PageCounter();
  const page = Buffer.alloc(PAGE);
  let fill = 0;
  const reader = new XenReader({
    verbatim() {
      /* headers and records: not pages */
    },
    pageRecord() {
      c.nextBatch();
    },
    pageBytes(bytes) {
      let at = 0;
      while (at < bytes.length) {
        const n = Math.min(PAGE - fill, bytes.length - at);
        page.set(bytes.subarray(at, at + n), fill);
        fill += n;
        at += n;
        if (fill === PAGE) {
          c.add(page);
          fill = 0;
        }
      }
    },
    flushPoint() {
      /* not needed here */
    },
  });
  const buf = Buffer.alloc(8 * 1024 * 1024);
  for (;;) {
    const n = fs.readSync(fd, buf, 0, buf.length, null);
    if (n === 0) break;
    reader.push(buf.subarray(0, n));
  }
  reader.end();
  return c.result(file, 'xen');
}

/** Page statistics of a raw page file or a Xen stream. */
export function pageStats(file: string): PageStats {
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(8);
    const n = fs.readSync(fd, head, 0, 8, 0);
    return n === 8 && detectXen(head) !== null ? xenStats(file, fd) : rawStats(file, fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** One line of text for a {@link PageStats}. */
export function formatStats(s: PageStats): string {
  const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
  return (
    `${s.file}: ${s.kind}, ${s.pages} pages (${((s.pages * PAGE) / 1048576).toFixed(1)} MiB) in ${s.batches} batches, ` +
    `zero ${s.zeroPages} (${pct(s.zeroFraction)}), duplicate non-zero ${s.duplicateNonZeroPages} ` +
    `(${pct(s.duplicateNonZeroFraction)}; same batch ${s.duplicateSameBatch} = ${pct(s.duplicateSameBatchFraction)} of them, ` +
    `earlier batches ${s.duplicateEarlierBatch}), all duplicates ${pct(s.duplicateFraction)}`
  );
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  const files = args.filter((a) => a !== '--json');
  if (files.length === 0) {
    process.stderr.write('usage: node dist/bench/corpus/stats.js FILE [FILE...] [--json]\n');
    process.exit(2);
  }
  for (const file of files) {
    const s = pageStats(file);
    process.stdout.write(`${json ? JSON.stringify(s) : formatStats(s)}\n`);
  }
}
