/**
 * Zero-heavy image: an idle-guest-like memory image, mostly zero pages in runs of mixed
 * lengths (freed and never-touched guest RAM), the rest copied from a real corpus made by
 * snapshot.ts, in runs (so neighbouring pages stay neighbours, as in page cache and heaps).
 *
 *   node dist/bench/corpus/zero-heavy.js --from CORPUS --out FILE --size-mib N
 *        [--zero-fraction 0.85] [--seed S]
 *
 * Deterministic for a given corpus, size, fraction and seed. Run lengths (in pages) are
 * log-normal: zero runs with a wide spread (single pages up to tens of MiB), data runs
 * shorter. Zero pages of the source corpus are skipped when copying, so the zero fraction
 * of the output is exactly the requested one (up to rounding). Writes FILE.json too.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const PAGE = 4096;

export interface ZeroHeavyOptions {
  from: string;
  out: string;
  sizeMib: number;
  zeroFraction?: number;
  seed?: string;
}

export interface ZeroHeavySidecar {
  tool: 'pagepress bench/corpus/zero-heavy';
  createdAt: string;
  file: string;
  source: string;
  seed: string;
  pageSize: number;
  pages: number;
  mib: number;
  zeroPages: number;
  zeroFraction: number;
  dataPages: number;
  zeroRuns: number;
  dataRuns: number;
  /** Histogram of zero-run lengths: bucket "<=N pages" -> [runs, pages]. */
  zeroRunHistogram: Record<string, [number, number]>;
  dataRunHistogram: Record<string, [number, number]>;
  seconds: number;
}

// ---------------------------------------------------------------------------------------
// Deterministic PRNG: sfc32 seeded from a string hash (cyrb128).

function cyrb128(str: string): [number, number, number, number] {
  let h1 = 1779033703,
    h2 = 3144134277,
    h3 = 1013904242,
    h4 = 2773480762;
  for (let i = 0; i < str.length; i++) {
    const k = str.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  return [(h1 ^ h2 ^ h3 ^ h4) >>> 0, (h2 ^ h1) >>> 0, (h3 ^ h1) >>> 0, (h4 ^ h1) >>> 0];
}

export function makeRng(seed: string): () => number {
  let [a, b, c, d] = cyrb128(seed);
  const next = (): number => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 16; i++) next();
  return next;
}

function normal(rng: () => number): number {
  const u = 1 - rng();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}

function logNormal(rng: () => number, median: number, sigma: number, max: number): number {
  return Math.max(1, Math.min(max, Math.round(median * Math.exp(sigma * normal(rng)))));
}

/** `count` run lengths, shaped by a log-normal, scaled to sum to exactly `total` (each >= 1). */
function runsSummingTo(rng: () => number, count: number, total: number, median: number, sigma: number): number[] {
  if (count <= 0) return [];
  if (total < count) count = total;
  const raw = Array.from({ length: count }, () => median * Math.exp(sigma * normal(rng)));
  const sum = raw.reduce((a, b) => a + b, 0);
  const runs = raw.map((r) => Math.max(1, Math.floor((r / sum) * total)));
  let diff = total - runs.reduce((a, b) => a + b, 0);
  // Hand out the rounding remainder (or take back the excess) a page at a time, at random.
  while (diff !== 0) {
    const i = Math.floor(rng() * count);
    if (diff > 0) {
      runs[i]++;
      diff--;
    } else if (runs[i] > 1) {
      runs[i]--;
      diff++;
    }
  }
  return runs;
}

function histogram(runs: number[]): Record<string, [number, number]> {
  const h: Record<string, [number, number]> = {};
  for (const r of runs) {
    let b = 1;
    while (b < r) b *= 4;
    const k = `<=${b}`;
    const e = h[k] ?? (h[k] = [0, 0]);
    e[0]++;
    e[1] += r;
  }
  return Object.fromEntries(Object.entries(h).sort((x, y) => Number(x[0].slice(2)) - Number(y[0].slice(2))));
}

function isZero(buf: Buffer, off: number): boolean {
  for (let i = off; i < off + PAGE; i += 8) if (buf.readBigUInt64LE(i) !== 0n) return false;
  return true;
}

/** Page indexes of the non-zero pages of a corpus file. */
function nonZeroPages(file: string): Uint32Array {
  const fd = fs.openSync(file, 'r');
  const pages = Math.floor(fs.fstatSync(fd).size / PAGE);
  const idx = new Uint32Array(pages);
  let n = 0;
  const buf = Buffer.alloc(1024 * PAGE);
  try {
    for (let p = 0; p < pages;) {
      const want = Math.min(1024, pages - p);
      const got = Math.floor(fs.readSync(fd, buf, 0, want * PAGE, p * PAGE) / PAGE);
      if (got === 0) break;
      for (let k = 0; k < got; k++) if (!isZero(buf, k * PAGE)) idx[n++] = p + k;
      p += got;
    }
  } finally {
    fs.closeSync(fd);
  }
  return idx.slice(0, n);
}

export function buildZeroHeavy(o: ZeroHeavyOptions): ZeroHeavySidecar {
  const t0 = Date.now();
  const zf = o.zeroFraction ?? 0.85;
  const seed = o.seed ?? '1';
  if (!(zf >= 0 && zf < 1)) throw new Error('--zero-fraction must be in [0, 1)');
  if (!(o.sizeMib > 0)) throw new Error('--size-mib must be > 0');
  const rng = makeRng(`${seed}/${o.sizeMib}/${zf}`);
  const pages = Math.floor((o.sizeMib * 1048576) / PAGE);
  const zeroTotal = Math.round(pages * zf);
  const dataTotal = pages - zeroTotal;

  const src = nonZeroPages(o.from);
  if (dataTotal > 0 && src.length === 0) throw new Error(`${o.from} has no non-zero pages`);

  // Data runs: median 8 pages (32 KiB), up to 4096 pages; generated until the data total.
  const dataRuns: number[] = [];
  for (let left = dataTotal; left > 0;) {
    const r = Math.min(left, logNormal(rng, 8, 1.4, 4096));
    dataRuns.push(r);
    left -= r;
  }
  // As many zero runs as needed to separate the data runs (plus one at the end: the top of
  // guest RAM is typically free), heavy-tailed so there are both holes of a page or two
  // and free stretches of many MiB.
  const zeroRuns = runsSummingTo(rng, Math.max(dataRuns.length, zeroTotal > 0 ? 1 : 0), zeroTotal, 16, 2.2);

  const tmp = `${o.out}.tmp-${process.pid}`;
  const outFd = fs.openSync(tmp, 'w');
  const srcFd = fs.openSync(o.from, 'r');
  const zeros = Buffer.alloc(256 * PAGE);
  const buf = Buffer.alloc(4096 * PAGE);
  let written = 0;
  try {
    const writeZeros = (n: number): void => {
      while (n > 0) {
        const k = Math.min(n, 256);
        fs.writeSync(outFd, zeros, 0, k * PAGE);
        n -= k;
        written += k;
      }
    };
    const writeData = (n: number): void => {
      // n consecutive non-zero pages of the source, from a random start (wrapping).
      let j = Math.floor(rng() * src.length);
      let filled = 0;
      while (filled < n) {
        // Extend over source pages that are contiguous in the file: one read.
        let len = 1;
        while (filled + len < n && j + len < src.length && src[j + len] === src[j] + len) len++;
        const got = fs.readSync(srcFd, buf, filled * PAGE, len * PAGE, src[j] * PAGE);
        if (got !== len * PAGE) throw new Error(`short read from ${o.from}`);
        filled += len;
        j = (j + len) % src.length;
      }
      fs.writeSync(outFd, buf, 0, n * PAGE);
      written += n;
    };
    // Low memory starts with data (kernel image, early allocations), then alternates.
    for (let i = 0; i < Math.max(dataRuns.length, zeroRuns.length); i++) {
      if (i < dataRuns.length) writeData(dataRuns[i]);
      if (i < zeroRuns.length) writeZeros(zeroRuns[i]);
    }
  } finally {
    fs.closeSync(srcFd);
    fs.closeSync(outFd);
  }
  if (written !== pages) throw new Error(`internal: wrote ${written} pages, expected ${pages}`);
  fs.renameSync(tmp, o.out);

  const sidecar: ZeroHeavySidecar = {
    tool: 'pagepress bench/corpus/zero-heavy',
    createdAt: new Date().toISOString(),
    file: path.basename(o.out),
    source: path.basename(o.from),
    seed,
    pageSize: PAGE,
    pages,
    mib: +((pages * PAGE) / 1048576).toFixed(2),
    zeroPages: zeroTotal,
    zeroFraction: +(zeroTotal / pages).toFixed(5),
    dataPages: dataTotal,
    zeroRuns: zeroRuns.length,
    dataRuns: dataRuns.length,
    zeroRunHistogram: histogram(zeroRuns),
    dataRunHistogram: histogram(dataRuns),
    seconds: +((Date.now() - t0) / 1000).toFixed(1),
  };
  fs.writeFileSync(`${o.out}.json`, JSON.stringify(sidecar, null, 2) + '\n');
  return sidecar;
}

function usage(): never {
  process.stderr.write('usage: node dist/bench/corpus/zero-heavy.js --from CORPUS --out FILE --size-mib N ' + '[--zero-fraction 0.85] [--seed S]\n');
  process.exit(2);
}

if (require.main === module) {
  const a = process.argv.slice(2);
  const o: ZeroHeavyOptions = { from: '', out: '', sizeMib: 0 };
  for (let i = 0; i < a.length; i++) {
    const v = (): string => (i + 1 < a.length ? a[++i] : usage());
    switch (a[i]) {
      case '--from':
        o.from = v();
        break;
      case '--out':
        o.out = v();
        break;
      case '--size-mib':
        o.sizeMib = Number(v());
        break;
      case '--zero-fraction':
        o.zeroFraction = Number(v());
        break;
      case '--seed':
        o.seed = v();
        break;
      default:
        usage();
    }
  }
  if (!o.from || !o.out || !(o.sizeMib > 0)) usage();
  try {
    const s = buildZeroHeavy(o);
    process.stdout.write(
      `${o.out}: ${s.pages} pages (${s.mib} MiB), zero ${(s.zeroFraction * 100).toFixed(2)}% ` + `in ${s.zeroRuns} runs, data ${s.dataPages} pages in ${s.dataRuns} runs, ${s.seconds}s\n`,
    );
  } catch (e) {
    process.stderr.write(`zero-heavy: ${(e as Error).message}\n`);
    process.exit(1);
  }
}
