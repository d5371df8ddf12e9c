/**
 * A Xen live-migration stream for the Xen benchmark (bench/xen.bench.ts): an HVM guest
 * saved by `xl` (xl header, libxl v2, libxc v3), whose pages come from the real-memory
 * corpus, followed by three further pre-copy passes that each re-send 15 % of the pages
 * with small changes, as the guest dirtied them between passes.
 *
 *   node dist/bench/corpus/xen-stream.js CORPUS OUT [--mib N] [--passes N] [--fraction F]
 *
 * Guest pfn p holds corpus page (p mod corpus pages): a 1 GiB guest from the 480 MiB
 * corpus repeats it about twice, 480 MiB apart (far beyond any codec's window and never
 * at the same pfn, so neither zstd nor pagepress's cache can exploit the repetition).
 * Each pass picks its pages independently (seeded); a picked page gets 1-6 edits of 1-64
 * random bytes on top of the edits of earlier passes, i.e. a few bytes to a few hundred.
 * The VGA hole (pfns 0xA0-0xBF) is sent as XTAB, as Xen's saver does.
 */
import * as fs from 'node:fs';
import { generateXenStream } from '../../lib/xen/generate';

const PAGE = 4096;

/** Deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What the stream holds. */
export interface XenStreamMeta {
  guestPages: number;
  passes: number;
  fraction: number;
  resentPages: number[];
  bytes: number;
  corpus: string;
}

/** Writes the stream to `out`; returns what it holds. */
export function buildXenStream(corpus: string, out: string, opts: { mib: number; passes?: number; fraction?: number }): XenStreamMeta {
  const source = fs.readFileSync(corpus);
  const corpusPages = Math.floor(source.length / PAGE);
  const guestPages = Math.floor((opts.mib * 1024 * 1024) / PAGE);
  const passes = opts.passes ?? 3;
  const fraction = opts.fraction ?? 0.15;
  const hole = (p: number) => p >= 0xa0 && p <= 0xbf;
  const iterations: Array<{ pfns: number[] }> = [];
  for (let it = 1; it <= passes; it++) {
    const r = rng(0x5eed + it);
    const pfns: number[] = [];
    for (let p = 0; p < guestPages; p++) if (r() < fraction && !hole(p)) pfns.push(p);
    iterations.push({ pfns });
  }
  const picked = iterations.map((it) => new Set(it.pfns));
  const fd = fs.openSync(out, 'w');
  let bytes = 0;
  try {
    generateXenStream(
      {
        guest: 'hvm',
        version: 3,
        layer: 'xl',
        pages: guestPages,
        holes: Array.from({ length: 0x20 }, (_, i) => 0xa0 + i),
        iterations,
        page(pfn, iteration, page) {
          const c = pfn % corpusPages;
          page.set(source.subarray(c * PAGE, (c + 1) * PAGE));
          for (let it = 1; it <= iteration; it++) {
            if (!picked[it - 1].has(pfn)) continue;
            const r = rng(pfn * 7919 + it);
            const edits = 1 + Math.floor(r() * 6);
            for (let e = 0; e < edits; e++) {
              const len = 1 + Math.floor(r() * 64);
              const at = Math.floor(r() * (PAGE - len));
              for (let k = 0; k < len; k++) page[at + k] = Math.floor(r() * 256);
            }
          }
        },
      },
      (chunk) => {
        let at = 0;
        while (at < chunk.length) at += fs.writeSync(fd, chunk, at, chunk.length - at);
        bytes += chunk.length;
      },
    );
  } finally {
    fs.closeSync(fd);
  }
  return { guestPages, passes, fraction, resentPages: iterations.map((i) => i.pfns.length), bytes, corpus };
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const [corpus, out] = args.filter((a, i) => !a.startsWith('--') && !(args[i - 1] ?? '').startsWith('--'));
  const opt = (name: string, fallback: number) => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) : fallback;
  };
  if (!corpus || !out) {
    process.stderr.write('usage: node dist/bench/corpus/xen-stream.js CORPUS OUT [--mib N] [--passes N] [--fraction F]\n');
    process.exit(2);
  }
  const meta = buildXenStream(corpus, out, { mib: opt('--mib', 1024), passes: opt('--passes', 3), fraction: opt('--fraction', 0.15) });
  process.stdout.write(`${JSON.stringify({ ...meta, resentPages: meta.resentPages })}\n`);
}
