/**
 * Page statistics of corpus files: pages, zero pages, duplicate pages (same content as an
 * earlier page of the file).
 *
 *   node dist/bench/corpus/stats.js FILE [FILE...] [--json]
 */
import * as fs from 'node:fs';
import * as crypto from 'node:crypto';

const PAGE = 4096;

export interface PageStats {
  file: string;
  pages: number;
  zeroPages: number;
  zeroFraction: number;
  /** Non-zero pages whose content equals an earlier non-zero page. */
  duplicateNonZeroPages: number;
  duplicateNonZeroFraction: number;
  /** (pages - distinct contents) / pages; counts every zero page but the first as a duplicate. */
  duplicateFraction: number;
}

export function pageStats(file: string): PageStats {
  const fd = fs.openSync(file, 'r');
  const pages = Math.floor(fs.fstatSync(fd).size / PAGE);
  const buf = Buffer.alloc(1024 * PAGE);
  const zero = Buffer.alloc(PAGE);
  const seen = new Set<string>();
  let zeroPages = 0;
  let dup = 0;
  try {
    for (let p = 0; p < pages; ) {
      const got = Math.floor(fs.readSync(fd, buf, 0, Math.min(1024, pages - p) * PAGE, p * PAGE) / PAGE);
      if (got === 0) break;
      for (let k = 0; k < got; k++) {
        const page = buf.subarray(k * PAGE, (k + 1) * PAGE);
        if (page.equals(zero)) { zeroPages++; continue; }
        const h = crypto.createHash('sha1').update(page).digest('base64');
        if (seen.has(h)) dup++;
        else seen.add(h);
      }
      p += got;
    }
  } finally {
    fs.closeSync(fd);
  }
  const f = (n: number): number => (pages ? +(n / pages).toFixed(5) : 0);
  const distinct = seen.size + (zeroPages > 0 ? 1 : 0);
  return {
    file, pages, zeroPages, zeroFraction: f(zeroPages), duplicateNonZeroPages: dup,
    duplicateNonZeroFraction: f(dup), duplicateFraction: f(pages - distinct),
  };
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
    if (json) process.stdout.write(JSON.stringify(s) + '\n');
    else {
      process.stdout.write(`${file}: ${s.pages} pages (${(s.pages * PAGE / 1048576).toFixed(1)} MiB), ` +
        `zero ${s.zeroPages} (${(s.zeroFraction * 100).toFixed(2)}%), duplicate non-zero ${s.duplicateNonZeroPages} ` +
        `(${(s.duplicateNonZeroFraction * 100).toFixed(2)}%), all duplicates ${(s.duplicateFraction * 100).toFixed(2)}%\n`);
    }
  }
}
