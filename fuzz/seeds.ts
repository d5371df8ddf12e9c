/**
 * Writes the committed seed corpus of the native harnesses (fuzz/corpus/<harness>/) from
 * the real encoder, so that every seed is a valid image or delta: `node dist/fuzz/seeds.js`.
 * Deterministic: rerunning it rewrites the same files.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { addon, STATS_LENGTH } from '../lib/native';
import { memoryLike, randomBytes } from '../test/helpers';

/** Where the corpus lives in the repository (dist/fuzz/.. -> fuzz/corpus). */
export const CORPUS_DIR = path.join(__dirname, '..', '..', 'fuzz', 'corpus');

/** Prime batch of the cache harness: same bytes as fuzz::PrimePages() in native/harness.h. */
export const PRIME = { pageSize: 4096, pages: 16, slots: 64 } as const;

/** The pages of the prime batch (pfn i = page i). */
export function primePages(): Buffer {
  const b = Buffer.alloc(PRIME.pages * PRIME.pageSize);
  for (let i = 0; i < PRIME.pages; i++) {
    if (i % 5 === 4) continue;
    for (let k = 0; k < PRIME.pageSize; k++) b[i * PRIME.pageSize + k] = (i * 131 + k * 7 + (k >> 6)) & 0xff;
  }
  return b;
}

function encode(pages: Uint8Array, pageSize: number, opts: { pfns?: Float64Array; cache?: Uint8Array; dense?: boolean } = {}): Buffer {
  const n = Math.ceil(pages.length / pageSize);
  const out = new Uint8Array(addon.imageBound(n, pageSize));
  const len = addon.encodeBatchSync({
    pages,
    pfns: opts.pfns ?? null,
    pfnBase: 0,
    pageSize,
    out,
    cache: opts.cache ?? null,
    stats: new Uint32Array(STATS_LENGTH),
    mayBeDense: opts.dense ?? false,
  });
  return Buffer.from(out.subarray(0, len));
}

/** Images without a cache: compact and dense, runs and pfn lists, short tails, page sizes. */
function plainImages(): Map<string, Buffer> {
  const m = new Map<string, Buffer>();
  m.set('compact-run-512', encode(memoryLike(6, 1, 512), 512));
  m.set('compact-tail-512', encode(memoryLike(5, 2, 512, 100), 512));
  const dense = Buffer.from(randomBytes(8 * 512 + 300, 3));
  dense.fill(0, 4 * 512, 5 * 512); // one zero page of nine: still dense (fewer than 1/8 left out)
  m.set('dense-512', encode(dense, 512, { dense: true }));
  m.set('pfn-list-512', encode(memoryLike(4, 4, 512), 512, { pfns: Float64Array.from([9, 3, 70000, 2 ** 40]) }));
  m.set('one-page-4096', encode(memoryLike(1, 5, 4096), 4096));
  m.set('zero-dup-1024', encode(Buffer.concat([Buffer.alloc(1024), Buffer.alloc(1024, 1), Buffer.alloc(1024, 1)]), 1024));
  return m;
}

/** Images encoded against a cache that has seen the prime batch: UNCHANGED and DELTA pages. */
function cachedImages(): Map<string, Buffer> {
  const fresh = (): Uint8Array => {
    const c = new Uint8Array(addon.cacheBytes(PRIME.slots, PRIME.pageSize));
    addon.cacheInit(c, PRIME.pageSize);
    encode(primePages(), PRIME.pageSize, { cache: c });
    return c;
  };
  const m = new Map<string, Buffer>();
  const P = PRIME.pageSize;
  const changed = primePages();
  for (let i = 0; i < PRIME.pages; i += 3) changed[i * P + 100 + i] ^= 0x5a; // DELTA pages
  changed.fill(0xee, 2 * P, 3 * P); // a LITERAL
  m.set('delta-unchanged', encode(changed, P, { cache: fresh() }));
  const some = primePages().subarray(3 * P, 7 * P);
  m.set('unchanged-list', encode(some, P, { cache: fresh(), pfns: Float64Array.from([3, 4, 5, 6]) }));
  const mixed = Buffer.concat([primePages().subarray(0, 2 * P), Buffer.alloc(P, 3), memoryLike(1, 9, P, 200)]);
  mixed[P + 7] ^= 1;
  m.set('mixed-tail', encode(mixed, P, { cache: fresh(), pfns: Float64Array.from([0, 1, 64, 80, 81]) }));
  return m;
}

/** Hand-written XBZRLE deltas (FORMAT.md 1.5): byte 0 picks the page length. */
function deltas(): Map<string, Buffer> {
  const uleb = (v: number): number[] => {
    const o: number[] = [];
    do {
      let b = v & 0x7f;
      v >>>= 7;
      if (v) b |= 0x80;
      o.push(b);
    } while (v);
    return o;
  };
  const pair = (z: number, bytes: number[]): number[] => [...uleb(z), ...uleb(bytes.length), ...bytes];
  const m = new Map<string, Buffer>();
  m.set('one-run', Buffer.from([0, ...pair(10, [1, 2, 3])]));
  m.set('two-runs-4096', Buffer.from([3, ...pair(0, [9]), ...pair(300, [4, 5, 6, 7, 8, 9, 10, 11])]));
  m.set('to-end-512', Buffer.from([0, ...pair(508, [1, 2, 3, 4])]));
  m.set('long-zrun-65536', Buffer.from([7, ...pair(65000, [0xff, 0xfe])]));
  return m;
}

/** harness name -> seeds (name -> bytes). */
export function corpus(): Map<string, Map<string, Buffer>> {
  const plain = plainImages();
  return new Map([
    ['image_header', plain],
    ['decode_batch', plain],
    ['decode_batch_cache', new Map([...cachedImages(), ['plain-4096', plain.get('one-page-4096')!]])],
    ['xbzrle', deltas()],
  ]);
}

if (require.main === module) {
  for (const [harness, seeds] of corpus()) {
    const dir = path.join(CORPUS_DIR, harness);
    fs.mkdirSync(dir, { recursive: true });
    for (const [name, bytes] of seeds) fs.writeFileSync(path.join(dir, name), bytes);
    console.log(`${harness}: ${seeds.size} seeds in fuzz/corpus/${harness}`);
  }
}
