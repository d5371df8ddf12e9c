// Tests of the native addon (native/*.cc) against lib/native.ts and docs/FORMAT.md 1.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { addon, PageKind, Stat, STATS_LENGTH } from '../lib/native';
import { PagepressError } from '../lib/errors';
import { randomBytes, rngU32 } from './helpers';

const H = 80; // header length for the version-1 layout strings (32 + 41, rounded up to 8)
const align4 = (n: number) => (n + 3) & ~3;
const align8 = (n: number) => (n + 7) & ~7;
/** Section offsets of an image (FORMAT.md 1.2): payload first, then pfn, kind, ref. */
function sec(image: Uint8Array) {
  const { pageCount: n, pfnRun, payloadLength: D, headerLength } = addon.imageInfo(image);
  const pfn = headerLength + align8(D);
  const kind = pfn + (pfnRun ? 8 : 8 * n);
  const ref = kind + align4(n);
  return { payload: headerLength, pfn, kind, ref, end: ref + 4 * n };
}

/** CRC32C in plain JS (table-driven), the reference for the addon's hardware paths. */
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();
function crc32cRef(b: Uint8Array, seed = 0): number {
  let c = ~seed >>> 0;
  for (let i = 0; i < b.length; i++) c = (c >>> 8) ^ CRC_TABLE[(c ^ b[i]) & 0xff];
  return ~c >>> 0;
}

interface EncOpts {
  pfns?: Float64Array | null;
  pfnBase?: number;
  cache?: Uint8Array | null;
}

function encode(pages: Uint8Array, P: number, o: EncOpts = {}) {
  const n = Math.ceil(pages.byteLength / P);
  const out = new Uint8Array(addon.imageBound(n, P));
  const stats = new Uint32Array(STATS_LENGTH);
  const len = addon.encodeBatchSync({ pages, pfns: o.pfns ?? null, pfnBase: o.pfnBase ?? 0, pageSize: P, out, cache: o.cache ?? null, stats });
  assert.equal(stats[Stat.LENGTH], len);
  return { image: out.slice(0, len), stats };
}

function decode(image: Uint8Array, o: { cache?: Uint8Array | null; outLen?: number } = {}) {
  const info = addon.imageInfo(image);
  const out = new Uint8Array(o.outLen ?? info.byteLength);
  const pfns = new Float64Array(info.pageCount);
  const stats = new Uint32Array(STATS_LENGTH);
  const len = addon.decodeBatchSync({ image, out, pfns, cache: o.cache ?? null, stats });
  return { out: out.subarray(0, len), pfns, stats, info };
}

function newCache(slots: number, P: number): Uint8Array {
  const c = new Uint8Array(addon.cacheBytes(slots, P));
  addon.cacheInit(c, P);
  return c;
}

function kinds(image: Uint8Array): number[] {
  const n = addon.imageInfo(image).pageCount;
  return Array.from(image.subarray(sec(image).kind, sec(image).kind + n));
}

function expectError(fn: () => unknown, code: string, offset?: number): PagepressError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof PagepressError, `expected a PagepressError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (offset !== undefined) assert.equal(err.offset, offset, err.message);
    return err;
  }
  assert.fail(`expected ${code}`);
}

const u32 = (b: Uint8Array, off: number, v: number) => new DataView(b.buffer, b.byteOffset).setUint32(off, v, true);
const rd32 = (b: Uint8Array, off: number) => new DataView(b.buffer, b.byteOffset).getUint32(off, true);

describe('native addon', () => {
  describe('crc32c', () => {
    it('known answer and seed continuation', () => {
      const b = new TextEncoder().encode('123456789');
      assert.equal(addon.crc32c(b), 0xe3069283);
      assert.equal(addon.crc32c(b.subarray(4), addon.crc32c(b.subarray(0, 4))), 0xe3069283);
      assert.equal(addon.crc32c(new Uint8Array(0)), 0);
      const r = randomBytes(100003, 1);
      assert.equal(addon.crc32c(r.subarray(77), addon.crc32c(r.subarray(0, 77))), addon.crc32c(r));
    });

    it('matches a plain JS CRC32C at every length class and alignment (folding, crc32 and table paths)', () => {
      const r = randomBytes(140000, 3);
      const lengths = [0, 1, 7, 8, 15, 16, 31, 255, 256, 257, 511, 512, 513, 1000, 4095, 4096, 4097, 8192, 65536, 65613, 131072];
      for (const len of lengths) {
        for (const at of [0, 1, 5, 64]) {
          const b = r.subarray(at, at + len);
          assert.equal(addon.crc32c(b), crc32cRef(b), `length ${len} at ${at}`);
          assert.equal(addon.crc32c(b, 0x12345678), crc32cRef(b, 0x12345678), `length ${len} at ${at}, seeded`);
        }
      }
    });

    it('the SSE4.2 and table paths agree with the JS CRC32C too (PAGEPRESS_CRC caps the path)', () => {
      // A child process per path: the path is chosen once, when the addon first hashes.
      const blob = randomBytes(140000, 5);
      const slices = [
        [0, 0],
        [3, 1],
        [1, 255],
        [0, 256],
        [5, 4096],
        [64, 4097],
        [7, 65613],
        [0, 131072],
      ];
      const pageSizes = [512, 4096, 65536];
      const script = `
        const { addon } = require(${JSON.stringify(path.resolve(__dirname, '..', 'lib', 'native'))});
        const blob = require('fs').readFileSync(0);
        const crcs = ${JSON.stringify(slices)}.map(([at, len]) => addon.crc32c(blob.subarray(at, at + len)));
        const sums = ${JSON.stringify(pageSizes)}.map((P) => {
          const pages = blob.subarray(0, 16 * P > blob.length ? Math.floor(blob.length / P) * P : 16 * P);
          const out = new Uint8Array(addon.imageBound(pages.length / P, P));
          addon.encodeBatchSync({ pages, pfns: null, pfnBase: 0, pageSize: P, out, cache: null, stats: new Uint32Array(8) });
          return new DataView(out.buffer).getUint32(24, true);
        });
        process.stdout.write(JSON.stringify({ crcs, sums }));`;
      const expected = {
        crcs: slices.map(([at, len]) => crc32cRef(blob.subarray(at, at + len))),
        sums: pageSizes.map((P) => {
          const n = 16 * P > blob.length ? Math.floor(blob.length / P) : 16;
          const list = new Uint8Array(12 * n);
          const view = new DataView(list.buffer);
          for (let i = 0; i < n; i++) {
            view.setBigUint64(12 * i, BigInt(i), true);
            view.setUint32(12 * i + 8, crc32cRef(blob.subarray(i * P, (i + 1) * P)), true);
          }
          return crc32cRef(list);
        }),
      };
      for (const cap of ['sse4.2', 'table']) {
        const r = spawnSync(process.execPath, ['-e', script], { input: blob, env: { ...process.env, PAGEPRESS_CRC: cap }, encoding: 'utf8' });
        assert.equal(r.status, 0, r.stderr);
        assert.deepEqual(JSON.parse(r.stdout), expected, `PAGEPRESS_CRC=${cap}`);
      }
    });

    it('the image checksum matches FORMAT.md 1.4 computed in JS, for every page size', () => {
      // CRC32C over u64le(pfn) ‖ u32le(CRC32C(page)) for each page: checks the per-page path.
      for (const P of [512, 4096, 65536]) {
        const n = Math.min(48, (2 * 1024 * 1024) / P);
        const pages = randomBytes(n * P - 100, 40 + P);
        pages.fill(0, P, 2 * P); // a ZERO page (its CRC is a constant)
        const { image } = encode(pages, P, { pfnBase: 9 });
        const list = new Uint8Array(12 * n);
        const view = new DataView(list.buffer);
        for (let i = 0; i < n; i++) {
          view.setBigUint64(12 * i, BigInt(9 + i), true);
          view.setUint32(12 * i + 8, crc32cRef(pages.subarray(i * P, Math.min(pages.length, (i + 1) * P))), true);
        }
        assert.equal(new DataView(image.buffer, image.byteOffset).getUint32(24, true), crc32cRef(list), `page size ${P}`);
      }
    });
  });

  describe('round trips', () => {
    const P = 4096;
    it('every page kind without a cache: zero, literal, dup, short tail', () => {
      const pages = new Uint8Array(4 * P + 100);
      pages.set(randomBytes(P, 2), P); // 1 literal
      pages.set(pages.subarray(P, 2 * P), 3 * P); // 3 dup of 1
      pages.set(randomBytes(100, 3), 4 * P); // short literal tail
      const { image, stats } = encode(pages, P, { pfnBase: 1000 });
      assert.deepEqual(kinds(image), [PageKind.ZERO, PageKind.LITERAL, PageKind.ZERO, PageKind.DUP, PageKind.LITERAL]);
      assert.equal(rd32(image, sec(image).ref + 12), 1);
      assert.deepEqual(Array.from(stats.subarray(0, 6)), [2, 2, 1, 0, 0, P + 100]);
      const d = decode(image);
      assert.deepEqual(d.out, pages);
      assert.deepEqual(Array.from(d.pfns), [1000, 1001, 1002, 1003, 1004]);
      assert.equal(d.stats[Stat.LENGTH], pages.length);
      assert.equal(d.info.tailBytes, 100);
    });

    it('zero short tail, single page, 1024 pages', () => {
      const pages = new Uint8Array(P + 512);
      pages.set(randomBytes(P, 4));
      let { image } = encode(pages, P);
      assert.deepEqual(kinds(image), [PageKind.LITERAL, PageKind.ZERO]);
      assert.deepEqual(decode(image).out, pages);
      const one = randomBytes(512, 5);
      ({ image } = encode(one, 512, { pfnBase: 2 ** 52 - 1 }));
      assert.deepEqual(decode(image).out, one);
      assert.equal(decode(image).pfns[0], 2 ** 52 - 1);
      const big = randomBytes(1024 * P, 6);
      big.fill(0, 10 * P, 20 * P);
      big.copyWithin(30 * P, 40 * P, 41 * P);
      const pfns = new Float64Array(1024).map((_, i) => i * 7 + 3);
      const e = encode(big, P, { pfns });
      assert.equal(e.stats[Stat.ZERO], 10);
      assert.equal(e.stats[Stat.DUP], 1);
      const d = decode(e.image);
      assert.deepEqual(d.out, big);
      assert.deepEqual(d.pfns, pfns);
    });

    it('unchanged and delta pages against the cache; delta too large falls back to literal', () => {
      const encCache = newCache(64, P),
        decCache = newCache(64, P);
      const a = randomBytes(4 * P, 7);
      const e1 = encode(a, P, { cache: encCache });
      assert.deepEqual(kinds(e1.image), [1, 1, 1, 1]);
      assert.deepEqual(decode(e1.image, { cache: decCache }).out, a);
      const b = a.slice();
      b[P + 5] ^= 0xff; // page 1: small delta
      b[2 * P + P - 1] ^= 1; // page 2: last byte changed
      b.set(randomBytes(P, 8), 3 * P); // page 3: all new -> literal
      const e2 = encode(b, P, { cache: encCache });
      assert.deepEqual(kinds(e2.image), [PageKind.UNCHANGED, PageKind.DELTA, PageKind.DELTA, PageKind.LITERAL]);
      assert.ok(rd32(e2.image, sec(e2.image).ref + 4) < 8);
      assert.deepEqual(Array.from(e2.stats.subarray(0, 5)), [0, 1, 0, 1, 2]);
      const d2 = decode(e2.image, { cache: decCache });
      assert.deepEqual(d2.out, b);
      // A third batch against the updated caches, with scattered changes.
      const c = b.slice();
      for (let i = 0; i < P; i += 97) c[i] ^= 0x55;
      const e3 = encode(c, P, { cache: encCache });
      assert.equal(kinds(e3.image)[0], PageKind.DELTA);
      assert.deepEqual(decode(e3.image, { cache: decCache }).out, c);
    });

    it('delta round trips for random change patterns (runs, gaps, page edges)', () => {
      const P2 = 512,
        n = 8;
      const encCache = newCache(n, P2),
        decCache = newCache(n, P2);
      const next = rngU32(77);
      let pages = randomBytes(n * P2, 76);
      decode(encode(pages, P2, { cache: encCache }).image, { cache: decCache });
      const seen = new Set<number>();
      for (let round = 0; round < 300; round++) {
        pages = pages.slice();
        for (let p = 0; p < n; p++) {
          const runs = next() % 6;
          for (let r = 0; r < runs; r++) {
            const at = p * P2 + (next() % 3 === 0 ? (next() & 1 ? 0 : P2 - 1 - (next() % 9)) : next() % P2);
            const len = 1 + (next() % (next() & 1 ? 3 : 40));
            for (let k = at; k < Math.min(at + len, (p + 1) * P2); k++) pages[k] = next() & 255;
          }
        }
        const e = encode(pages, P2, { cache: encCache });
        kinds(e.image).forEach((k) => seen.add(k));
        assert.deepEqual(decode(e.image, { cache: decCache }).out, pages);
      }
      assert.ok(seen.has(PageKind.DELTA) && seen.has(PageKind.UNCHANGED));
    });

    it('cache slots shared by several pfns in one batch (same pfn twice, colliding slots)', () => {
      const encCache = newCache(3, 512),
        decCache = newCache(3, 512);
      const pfns = new Float64Array([0, 3, 0, 6, 3, 1]);
      for (let round = 0; round < 4; round++) {
        const pages = randomBytes(6 * 512, 10 + (round >> 1));
        if (round & 1) pages[100] ^= 1;
        const e = encode(pages, 512, { pfns, cache: encCache });
        assert.deepEqual(decode(e.image, { cache: decCache }).out, pages);
      }
    });

    it('decoding a cache page without the cache gives PP_ERR_CACHE_MISS', () => {
      const encCache = newCache(8, P);
      const a = randomBytes(2 * P, 9);
      encode(a, P, { cache: encCache });
      a[10] ^= 1;
      const { image } = encode(a, P, { cache: encCache });
      assert.deepEqual(kinds(image), [PageKind.DELTA, PageKind.UNCHANGED]);
      expectError(() => decode(image, { cache: newCache(8, P) }), 'PP_ERR_CACHE_MISS', sec(image).kind);
      expectError(() => decode(image), 'PP_ERR_CACHE_MISS', sec(image).kind);
    });

    it('SharedArrayBuffer-backed arrays with a non-zero byteOffset', () => {
      const P2 = 512,
        n = 5;
      const src = randomBytes(n * P2, 11);
      const pages = new Uint8Array(new SharedArrayBuffer(n * P2 + 3), 3, n * P2);
      pages.set(src);
      const bound = addon.imageBound(n, P2);
      const out = new Uint8Array(new SharedArrayBuffer(bound + 8), 8, bound);
      const stats = new Uint32Array(new SharedArrayBuffer(64), 8, STATS_LENGTH);
      const pfns = new Float64Array(new SharedArrayBuffer(8 * (n + 1)), 8, n).fill(5);
      pfns[1] = 6;
      const cache = new Uint8Array(new SharedArrayBuffer(addon.cacheBytes(4, P2) + 1), 1, addon.cacheBytes(4, P2));
      addon.cacheInit(cache, P2);
      const len = addon.encodeBatchSync({ pages, pfns, pfnBase: 0, pageSize: P2, out, cache, stats });
      assert.equal(stats[Stat.LENGTH], len);
      const image = out.subarray(0, len);
      const dst = new Uint8Array(new SharedArrayBuffer(n * P2 + 5), 5, n * P2);
      assert.equal(addon.decodeBatchSync({ image, out: dst, pfns: null, cache: newCache(4, P2), stats }), n * P2);
      assert.deepEqual(Uint8Array.from(dst), src);
      assert.equal(addon.crc32c(pages), addon.crc32c(src));
    });
  });

  describe('validation', () => {
    const P = 512;
    // 4 pages: ZERO, LITERAL, DUP(1), LITERAL
    function sample() {
      const pages = new Uint8Array(4 * P);
      pages.set(randomBytes(P, 20), P);
      pages.set(pages.subarray(P, 2 * P), 2 * P);
      pages.set(randomBytes(P, 21), 3 * P);
      const { image } = encode(pages, P);
      assert.deepEqual(kinds(image), [0, 1, 2, 1]);
      return image;
    }
    const mutate = (f: (b: Uint8Array) => void) => {
      const b = sample();
      f(b);
      return b;
    };

    it('each corrupted header field gives its code and offset', () => {
      const S = sec(sample());
      expectError(
        () =>
          decode(
            mutate((b) => {
              b[0] ^= 1;
            }),
          ),
        'PP_ERR_MAGIC',
        0,
      );
      expectError(
        () =>
          decode(
            mutate((b) => {
              b[4] = 2;
            }),
          ),
        'PP_ERR_VERSION',
        4,
      );
      expectError(
        () =>
          decode(
            mutate((b) => {
              b[5] = 1;
            }),
          ),
        'PP_ERR_FORMAT',
        5,
      );
      expectError(
        () =>
          decode(
            mutate((b) => {
              b[6] = 88;
            }),
          ),
        'PP_ERR_FORMAT',
        6,
      );
      expectError(() => decode(mutate((b) => u32(b, 8, 1000))), 'PP_ERR_FORMAT', 8);
      expectError(() => decode(mutate((b) => u32(b, 8, 256))), 'PP_ERR_LIMIT', 8);
      const e = expectError(() => decode(mutate((b) => u32(b, 12, 5000))), 'PP_ERR_LIMIT', 12);
      assert.match(e.message, /5000 at offset 12 exceeds the limit 4096/);
      expectError(() => decode(mutate((b) => u32(b, 12, 0))), 'PP_ERR_FORMAT', 12);
      expectError(() => decode(mutate((b) => u32(b, 16, 0))), 'PP_ERR_FORMAT', 16);
      expectError(() => decode(mutate((b) => u32(b, 16, P + 1))), 'PP_ERR_FORMAT', 16);
      expectError(() => decode(mutate((b) => u32(b, 20, rd32(b, 20) + 1))), 'PP_ERR_TRUNCATED'); // sections move: the image is too short
      expectError(() => decode(mutate((b) => u32(b, 20, rd32(b, 20) - 1))), 'PP_ERR_FORMAT', H + 2 * P - 1); // last payload byte is now padding
      expectError(
        () =>
          decode(
            mutate((b) => {
              b[33] = 'x'.charCodeAt(0);
            }),
          ),
        'PP_ERR_LAYOUT',
        32,
      );
      expectError(
        () =>
          decode(
            mutate((b) => {
              b[79] = 1;
            }),
          ),
        'PP_ERR_FORMAT',
        79,
      );
      expectError(
        () =>
          decode(
            mutate((b) => {
              b[S.kind + 1] = 9;
            }),
          ),
        'PP_ERR_FORMAT',
        S.kind + 1,
      );
      expectError(() => decode(mutate((b) => u32(b, S.ref + 8, 2))), 'PP_ERR_FORMAT', S.ref + 8);
      expectError(() => decode(mutate((b) => u32(b, S.ref + 4, 1))), 'PP_ERR_FORMAT', S.ref + 4);
      expectError(
        () =>
          decode(
            mutate((b) => {
              b[S.pfn + 6] = 0x10;
            }),
          ),
        'PP_ERR_FORMAT',
        S.pfn,
      );
      expectError(
        () =>
          decode(
            mutate((b) => {
              b[24] ^= 1;
            }),
          ),
        'PP_ERR_CHECKSUM',
        24,
      );
      expectError(
        () =>
          decode(
            mutate((b) => {
              b[S.payload + 7] ^= 1;
            }),
          ),
        'PP_ERR_CHECKSUM',
        24,
      );
    });

    it('DELTA length >= P and malformed delta payloads', () => {
      const cache = newCache(4, P);
      const a = randomBytes(P, 30);
      encode(a, P, { cache });
      a[3] ^= 1;
      const { image } = encode(a, P, { cache });
      assert.deepEqual(kinds(image), [PageKind.DELTA]);
      const bad = image.slice();
      const D1 = sec(image);
      u32(bad, D1.ref, P);
      expectError(() => decode(bad, { cache }), 'PP_ERR_FORMAT', D1.ref);
      // Payload is [zrun=3, nzrun=1, byte]; make nzrun 0, then make zrun run off the page.
      const dcache = () => {
        const c = newCache(4, P);
        decode(encode(randomBytes(P, 30), P, { cache: newCache(4, P) }).image, { cache: c });
        return c;
      };
      const z = image.slice();
      z[D1.payload + 1] = 0;
      expectError(() => decode(z, { cache: dcache() }), 'PP_ERR_DELTA', D1.payload);
      const far = image.slice();
      far[D1.payload] = 0x7f;
      far[D1.payload + 1] = 0x7f; // a 127-byte run, but 1 byte left
      expectError(() => decode(far, { cache: dcache() }), 'PP_ERR_DELTA', D1.payload + 2);
      const ul = image.slice();
      ul[D1.payload + 1] = 0x80; // nzrun ULEB128 continues past the delta's end
      expectError(() => decode(ul, { cache: dcache() }), 'PP_ERR_DELTA');
      assert.deepEqual(decode(image, { cache: dcache() }).out, a);
    });

    it('truncated at every length, or one byte too long', () => {
      const image = sample();
      for (let len = 0; len < image.length; len++) {
        const err = expectError(() => addon.decodeBatchSync({ image: image.subarray(0, len), out: new Uint8Array(4 * P), pfns: null, cache: null, stats: new Uint32Array(8) }), 'PP_ERR_TRUNCATED');
        assert.equal(err.offset, len);
      }
      const longer = new Uint8Array(image.length + 1);
      longer.set(image);
      expectError(() => decode(longer), 'PP_ERR_TRAILING', image.length);
    });

    it('random corruption never crashes', () => {
      const base = sample();
      const next = rngU32(99);
      for (let k = 0; k < 3000; k++) {
        const b = base.slice();
        const flips = 1 + (next() % 3);
        for (let f = 0; f < flips; f++) b[next() % b.length] = next() & 255;
        try {
          addon.decodeBatchSync({ image: b, out: new Uint8Array(4 * P), pfns: null, cache: newCache(2, P), stats: new Uint32Array(8) });
        } catch (err) {
          assert.ok(err instanceof PagepressError);
          assert.match(err.code, /^PP_ERR_/);
        }
      }
    });

    it('bad arguments give PP_ERR_ARG', () => {
      const image = sample();
      const stats = new Uint32Array(8);
      expectError(() => addon.decodeBatchSync({ image, out: new Uint8Array(4 * P - 1), pfns: null, cache: null, stats }), 'PP_ERR_ARG');
      expectError(() => addon.decodeBatchSync({ image, out: new Uint8Array(4 * P), pfns: new Float64Array(3), cache: null, stats }), 'PP_ERR_ARG');
      const pages = new Uint8Array(4 * P);
      expectError(() => addon.encodeBatchSync({ pages, pfns: null, pfnBase: 0, pageSize: P, out: new Uint8Array(addon.imageBound(4, P) - 1), cache: null, stats }), 'PP_ERR_ARG');
      expectError(() => addon.encodeBatchSync({ pages, pfns: null, pfnBase: 0, pageSize: 1000, out: new Uint8Array(1 << 16), cache: null, stats }), 'PP_ERR_ARG');
      expectError(() => addon.encodeBatchSync({ pages, pfns: new Float64Array([1, 2, 0.5, 3]), pfnBase: 0, pageSize: P, out: new Uint8Array(1 << 16), cache: null, stats }), 'PP_ERR_ARG');
      expectError(() => addon.encodeBatchSync({ pages: new Uint8Array(4097 * P), pfns: null, pfnBase: 0, pageSize: P, out: new Uint8Array(16), cache: null, stats }), 'PP_ERR_ARG');
      expectError(() => addon.encodeBatchSync({ pages, pfns: null, pfnBase: 0, pageSize: P, out: new Uint8Array(1 << 16), cache: newCache(2, 4096), stats }), 'PP_ERR_ARG');
      expectError(() => addon.encodeBatchSync({ pages, pfns: null, pfnBase: 0, pageSize: P, out: new Uint8Array(1 << 16), cache: new Uint8Array(100), stats }), 'PP_ERR_ARG');
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      expectError(() => addon.encodeBatchSync({ pages: [1, 2] as any, pfns: null, pfnBase: 0, pageSize: P, out: new Uint8Array(1 << 16), cache: null, stats }), 'PP_ERR_ARG');
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      expectError(() => addon.crc32c('abc' as any), 'PP_ERR_ARG');
      expectError(() => addon.imageBound(4097, P), 'PP_ERR_ARG');
      const shared = new Uint8Array(addon.imageBound(4, P) + 4 * P);
      expectError(() => addon.encodeBatchSync({ pages: shared.subarray(0, 4 * P), pfns: null, pfnBase: 0, pageSize: P, out: shared.subarray(100), cache: null, stats }), 'PP_ERR_ARG');
    });

    it('consecutive pfns use the run layout, others the array layout; both round-trip', () => {
      const pages = randomBytes(3 * P, 40);
      const run = encode(pages, P, { pfnBase: 7 }).image;
      const arr = encode(pages, P, { pfns: Float64Array.from([7, 9, 8]) }).image;
      assert.equal(addon.imageInfo(run).pfnRun, true);
      assert.equal(addon.imageInfo(arr).pfnRun, false);
      assert.equal(arr.length - run.length, 8 * 3 - 8);
      assert.equal(Buffer.from(run.subarray(32, 52)).toString(), 'payload:B|8 pfn:R(U)');
      assert.equal(Buffer.from(arr.subarray(32, 52)).toString(), 'payload:B|8 pfn:A(U)');
      assert.deepEqual(Array.from(decode(run).pfns), [7, 8, 9]);
      assert.deepEqual(Array.from(decode(arr).pfns), [7, 9, 8]);
      assert.deepEqual(decode(arr).out, pages);
      // A run whose last pfn would pass 2^52 is refused.
      const bad = run.slice();
      new DataView(bad.buffer).setBigUint64(sec(run).pfn, 2n ** 52n - 2n, true);
      expectError(() => decode(bad), 'PP_ERR_FORMAT', sec(run).pfn);
    });

    it('in-place decode (image decompressed to out - H) gives the same pages, with and without holes', () => {
      const next = rngU32(77);
      for (let round = 0; round < 40; round++) {
        const n = 1 + (next() % 64);
        const tail = next() % 3 === 0 ? 1 + (next() % (P - 1)) : 0;
        const pages = new Uint8Array((tail ? n - 1 : n) * P + tail);
        for (let i = 0; i < n; i++) {
          const len = Math.min(P, pages.length - i * P);
          const r = next() % 4;
          if (r === 0) continue; // zero
          if (r === 1 && i > 0)
            pages.copyWithin(i * P, (next() % i) * P, (next() % i) * P + len); // maybe dup
          else pages.set(randomBytes(len, next()), i * P);
        }
        const { image } = encode(pages, P);
        const buf = new Uint8Array(H + Math.max(pages.length, image.length));
        buf.set(image);
        const out = buf.subarray(H);
        const stats = new Uint32Array(STATS_LENGTH);
        assert.equal(addon.decodeBatchSync({ image: buf.subarray(0, image.length), out, pfns: null, cache: null, stats, inPlace: true }), pages.length);
        assert.deepEqual(out.subarray(0, pages.length), pages, `round ${round}`);
        // Holes: zero pages are not written, everything else is.
        buf.fill(0xee);
        buf.set(image);
        addon.decodeBatchSync({ image: buf.subarray(0, image.length), out, pfns: null, cache: null, stats, inPlace: true, zeroPagesAsHoles: true });
        const k = kinds(image);
        for (let i = 0; i < n; i++) {
          const len = Math.min(P, pages.length - i * P);
          if (k[i] === PageKind.ZERO && len === P) continue;
          assert.deepEqual(out.subarray(i * P, i * P + len), pages.subarray(i * P, i * P + len), `round ${round} page ${i}`);
        }
      }
    });

    it('in-place encode (and mayBeDense): dense when few pages can be left out, compact otherwise; both decode either way', () => {
      const next = rngU32(91);
      let dense = 0,
        compact = 0;
      for (let round = 0; round < 40; round++) {
        const n = 1 + (next() % 48);
        const tail = next() % 3 === 0 ? 1 + (next() % (P - 1)) : 0;
        const pages = new Uint8Array((tail ? n - 1 : n) * P + tail);
        const zeroShare = round % 2 ? 0.02 : 0.5;
        for (let i = 0; i < n; i++) {
          const len = Math.min(P, pages.length - i * P);
          if (next() / 2 ** 32 < zeroShare) continue;
          if (next() % 10 === 0 && i > 0 && len === P) pages.copyWithin(i * P, (i - 1) * P, i * P);
          else pages.set(randomBytes(len, next()), i * P);
        }
        const area = new Uint8Array(addon.imageBound(n, P));
        area.set(pages, H);
        const stats = new Uint32Array(STATS_LENGTH);
        const len = addon.encodeBatchSync({ pages: area.subarray(H, H + pages.length), pfns: null, pfnBase: 5, pageSize: P, out: area, cache: null, stats, inPlace: true });
        const image = area.slice(0, len);
        const info = addon.imageInfo(image);
        if (info.dense) dense++;
        else compact++;
        // Pages elsewhere with mayBeDense (SyncBatchCodec): the same image, byte for byte.
        const apart = new Uint8Array(addon.imageBound(n, P));
        const apartLen = addon.encodeBatchSync({ pages, pfns: null, pfnBase: 5, pageSize: P, out: apart, cache: null, stats: new Uint32Array(STATS_LENGTH), mayBeDense: true });
        assert.deepEqual(apart.subarray(0, apartLen), image, `round ${round}: mayBeDense differs from in place`);
        // The same pages encoded the ordinary way give the same kinds and checksum.
        const plain = encode(pages, P, { pfnBase: 5 }).image;
        assert.deepEqual(kinds(image), kinds(plain));
        assert.equal(rd32(image, 24), rd32(plain, 24));
        assert.deepEqual(decode(image).out, pages, `round ${round}`);
        const buf = new Uint8Array(H + Math.max(pages.length, image.length));
        buf.set(image);
        addon.decodeBatchSync({ image: buf.subarray(0, image.length), out: buf.subarray(H), pfns: null, cache: null, stats, inPlace: true });
        assert.deepEqual(buf.subarray(H, H + pages.length), pages, `round ${round} in place`);
      }
      assert.ok(dense > 5 && compact > 5, `dense ${dense}, compact ${compact}`);
    });

    it('in place with a page cache: the same image, byte for byte, as the ordinary encoder, over passes that re-send pages', () => {
      const P = 4096;
      let seed = 77;
      const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
      const cacheA = newCache(64, P);
      const cacheB = newCache(64, P);
      const memory = new Uint8Array(96 * P);
      for (let i = 0; i < 96; i++) if (i % 5) memory.set(randomBytes(P, 900 + i), i * P);
      let deltas = 0;
      for (let pass = 0; pass < 6; pass++) {
        const n = 1 + (next() % 48);
        const pfns = new Float64Array(n);
        const pages = new Uint8Array(n * P);
        for (let i = 0; i < n; i++) {
          const pfn = next() % 96;
          pfns[i] = pfn;
          // The guest dirties the page a little (a few runs of bytes), sometimes a lot, sometimes not at all.
          const page = memory.subarray(pfn * P, (pfn + 1) * P);
          const edits = next() % 4;
          for (let e = 0; e < edits; e++) {
            const at = next() % 4000;
            page.fill(next() & 255, at, at + 1 + (next() % (e === 2 ? 4000 : 64)));
          }
          pages.set(page, i * P);
        }
        const area = new Uint8Array(addon.imageBound(n, P));
        area.set(pages, H);
        const stats = new Uint32Array(STATS_LENGTH);
        const len = addon.encodeBatchSync({ pages: area.subarray(H, H + pages.length), pfns, pfnBase: 0, pageSize: P, out: area, cache: cacheA, stats, inPlace: true });
        deltas += stats[Stat.DELTA];
        const plain = new Uint8Array(addon.imageBound(n, P));
        const plainLen = addon.encodeBatchSync({ pages, pfns, pfnBase: 0, pageSize: P, out: plain, cache: cacheB, stats: new Uint32Array(STATS_LENGTH) });
        assert.deepEqual(area.subarray(0, len), plain.subarray(0, plainLen), `pass ${pass}`);
        assert.deepEqual(cacheA, cacheB, `pass ${pass}: caches differ`);
      }
      assert.ok(deltas > 0, 'no DELTA pages were exercised');
    });

    it('a dense image whose ZERO page holds data is refused; so is one with a cache', () => {
      const pages = new Uint8Array(16 * P);
      for (let i = 1; i < 16; i++) pages.set(randomBytes(P, 50 + i), i * P); // page 0 zero: dense (1 of 16)
      const area = new Uint8Array(addon.imageBound(16, P));
      area.set(pages, H);
      const len = addon.encodeBatchSync({ pages: area.subarray(H, H + pages.length), pfns: null, pfnBase: 0, pageSize: P, out: area, cache: null, stats: new Uint32Array(8), inPlace: true });
      const image = area.slice(0, len);
      assert.equal(addon.imageInfo(image).dense, true);
      const bad = image.slice();
      bad[H + 100] = 1; // inside page 0, which is ZERO
      expectError(() => decode(bad), 'PP_ERR_FORMAT', H);
      expectError(() => decode(image, { cache: newCache(4, P) }), 'PP_ERR_FORMAT', 32);
    });

    it('in-place decode refuses a misplaced image or a cache', () => {
      const { image } = encode(randomBytes(2 * P, 3), P);
      const buf = new Uint8Array(H + 8 + image.length);
      buf.set(image, 8);
      const stats = new Uint32Array(STATS_LENGTH);
      expectError(() => addon.decodeBatchSync({ image: buf.subarray(8, 8 + image.length), out: buf.subarray(H), pfns: null, cache: null, stats, inPlace: true }), 'PP_ERR_ARG');
      buf.set(image, 0);
      expectError(() => addon.decodeBatchSync({ image: buf.subarray(0, image.length), out: buf.subarray(H), pfns: null, cache: newCache(2, P), stats, inPlace: true }), 'PP_ERR_ARG');
      expectError(() => addon.decodeBatchSync({ image: buf.subarray(0, image.length), out: buf.subarray(H), pfns: null, cache: null, stats }), 'PP_ERR_ARG');
    });

    it('imageInfo reads the header only', () => {
      const image = sample();
      const info = addon.imageInfo(image.subarray(0, H));
      assert.deepEqual(info, {
        pageSize: P,
        pageCount: 4,
        tailBytes: P,
        payloadLength: 2 * P,
        checksum: rd32(image, 24),
        imageLength: image.length,
        byteLength: 4 * P,
        headerLength: H,
        pfnRun: true,
        dense: false,
      });
      expectError(() => addon.imageInfo(image.subarray(0, H - 1)), 'PP_ERR_TRUNCATED', H - 1);
    });
  });

  describe('async variants', () => {
    const encodeAsync = (args: Parameters<typeof addon.encodeBatchSync>[0]) => new Promise<number>((resolve, reject) => addon.encodeBatch(args, (err, n) => (err ? reject(err) : resolve(n))));
    const decodeAsync = (args: Parameters<typeof addon.decodeBatchSync>[0]) => new Promise<number>((resolve, reject) => addon.decodeBatch(args, (err, n) => (err ? reject(err) : resolve(n))));

    it('give the same results and errors as the sync ones', async () => {
      const P = 4096,
        n = 64;
      const pages = randomBytes(n * P, 40);
      pages.fill(0, 0, P);
      const out = new Uint8Array(addon.imageBound(n, P));
      const stats = new Uint32Array(8);
      const len = await encodeAsync({ pages, pfns: null, pfnBase: 9, pageSize: P, out, cache: null, stats });
      const sync = encode(pages, P, { pfnBase: 9 });
      assert.deepEqual(out.subarray(0, len), sync.image);
      assert.deepEqual(stats, sync.stats);
      const dst = new Uint8Array(n * P);
      assert.equal(await decodeAsync({ image: out.subarray(0, len), out: dst, pfns: null, cache: null, stats }), n * P);
      assert.deepEqual(dst, pages);
      const bad = out.slice(0, len);
      bad[24] ^= 1;
      await assert.rejects(
        decodeAsync({ image: bad, out: dst, pfns: null, cache: null, stats }),
        (err: PagepressError) => err instanceof PagepressError && err.code === 'PP_ERR_CHECKSUM' && err.offset === 24,
      );
      await assert.rejects(decodeAsync({ image: bad.subarray(0, 40), out: dst, pfns: null, cache: null, stats }), { code: 'PP_ERR_TRUNCATED' });
      await assert.rejects(encodeAsync({ pages, pfns: null, pfnBase: 0, pageSize: P, out: out.subarray(0, 10), cache: null, stats }), { code: 'PP_ERR_ARG' });
      // Many in flight at once.
      const all = await Promise.all(Array.from({ length: 8 }, () => decodeAsync({ image: out.subarray(0, len), out: new Uint8Array(n * P), pfns: null, cache: null, stats: new Uint32Array(8) })));
      assert.deepEqual(all, Array(8).fill(n * P));
    });
  });

  describe('deflate', () => {
    const deflateAsync = (src: Uint8Array, dst: Uint8Array, level: number) => new Promise<number>((resolve, reject) => addon.deflate(src, dst, level, (err, n) => (err ? reject(err) : resolve(n))));
    const inflateAsync = (src: Uint8Array, dst: Uint8Array) => new Promise<number>((resolve, reject) => addon.inflate(src, dst, (err, n) => (err ? reject(err) : resolve(n))));

    it('round trips at every level, also empty input; agrees with node:zlib', async () => {
      const zlib = await import('node:zlib');
      const src = new Uint8Array(200000);
      src.set(randomBytes(50000, 50), 1000);
      for (const level of [0, 1, 6, 9, 6]) {
        const dst = new Uint8Array(addon.deflateBound(src.length));
        const n = addon.deflateSync(src, dst, level);
        assert.deepEqual(new Uint8Array(zlib.inflateRawSync(dst.subarray(0, n))), src);
        const back = new Uint8Array(src.length);
        assert.equal(addon.inflateSync(dst.subarray(0, n), back), src.length);
        assert.deepEqual(back, src);
        const n2 = await deflateAsync(src, dst, level);
        assert.equal(n2, n);
        const back2 = new Uint8Array(src.length);
        assert.equal(await inflateAsync(dst.subarray(0, n2), back2), src.length);
        assert.deepEqual(back2, src);
      }
      const empty = new Uint8Array(addon.deflateBound(0));
      const e = addon.deflateSync(new Uint8Array(0), empty, 6);
      assert.equal(addon.inflateSync(empty.subarray(0, e), new Uint8Array(0)), 0);
    });

    it('truncated, too long, or corrupt deflate data gives PP_ERR_CODEC', async () => {
      const src = randomBytes(10000, 51);
      const dst = new Uint8Array(addon.deflateBound(src.length));
      const n = addon.deflateSync(src, dst, 6);
      const z = dst.subarray(0, n);
      for (const cut of [0, 1, n >> 1, n - 1]) expectError(() => addon.inflateSync(z.subarray(0, cut), new Uint8Array(src.length)), 'PP_ERR_CODEC');
      expectError(() => addon.inflateSync(z, new Uint8Array(src.length - 1)), 'PP_ERR_CODEC');
      expectError(() => addon.inflateSync(z, new Uint8Array(src.length + 1)), 'PP_ERR_CODEC');
      const extra = new Uint8Array(n + 3);
      extra.set(z);
      expectError(() => addon.inflateSync(extra, new Uint8Array(src.length)), 'PP_ERR_CODEC', n);
      expectError(() => addon.inflateSync(new Uint8Array([0xff, 0xff, 0xff]), new Uint8Array(10)), 'PP_ERR_CODEC');
      expectError(() => addon.deflateSync(src, new Uint8Array(10), 6), 'PP_ERR_ARG');
      expectError(() => addon.deflateSync(src, dst, 10), 'PP_ERR_ARG');
      await assert.rejects(inflateAsync(z.subarray(0, n - 1), new Uint8Array(src.length)), { code: 'PP_ERR_CODEC' });
    });
  });

  describe('worker_threads', () => {
    it('loads and works in two workers at once', async () => {
      const nativePath = path.join(__dirname, '..', 'lib', 'native.js');
      const code = `
        const { parentPort, workerData } = require('worker_threads');
        const { addon } = require(${JSON.stringify(nativePath)});
        const { PagepressError } = require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'errors.js'))});
        const P = 4096, n = 256;
        const pages = new Uint8Array(n * P);
        for (let i = 0; i < pages.length; i += 3) pages[i] = (i * 31 + workerData) & 255;
        const out = new Uint8Array(addon.imageBound(n, P));
        const stats = new Uint32Array(8);
        let ok = true;
        for (let k = 0; k < 20; k++) {
          const len = addon.encodeBatchSync({ pages, pfns: null, pfnBase: 0, pageSize: P, out, cache: null, stats });
          const dst = new Uint8Array(n * P);
          addon.decodeBatchSync({ image: out.subarray(0, len), out: dst, pfns: null, cache: null, stats });
          ok = ok && Buffer.compare(dst, pages) === 0;
        }
        let code = null, isClass = false;
        try { addon.imageInfo(new Uint8Array(40)); } catch (e) { code = e.code; isClass = e instanceof PagepressError; }
        addon.decodeBatch({ image: new Uint8Array(8), out: new Uint8Array(8), pfns: null, cache: null, stats }, (err) => {
          parentPort.postMessage({ ok, code, isClass, asyncCode: err && err.code, asyncClass: err instanceof PagepressError });
        });
      `;
      const run = (id: number) =>
        new Promise<unknown>((resolve, reject) => {
          const w = new Worker(code, { eval: true, workerData: id });
          w.once('message', (m) => {
            resolve(m);
            void w.terminate();
          });
          w.once('error', reject);
        });
      const results = await Promise.all([run(1), run(2)]);
      for (const r of results) assert.deepEqual(r, { ok: true, code: 'PP_ERR_MAGIC', isClass: true, asyncCode: 'PP_ERR_TRUNCATED', asyncClass: true });
      // The main thread's addon still works after the workers are gone.
      assert.equal(addon.crc32c(new TextEncoder().encode('123456789')), 0xe3069283);
    });
  });
});
