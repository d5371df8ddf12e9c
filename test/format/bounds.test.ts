/**
 * The TypeScript copies of native sizes equal the addon's: imageBound and
 * IMAGE_HEADER_BYTES (lib/format/constants.ts) against addon.imageBound and the header
 * length of images the addon really encodes, for many page counts and every page size.
 */
import * as assert from 'node:assert/strict';
import { addon } from '../../lib/native';
import { IMAGE_HEADER_BYTES, MAX_BATCH_PAGES, MAX_PAGE_SIZE, MIN_PAGE_SIZE, imageBound } from '../../lib/format/constants';
import { randomBytes, rngU32 } from '../helpers';

const PAGE_SIZES: number[] = [];
for (let p = MIN_PAGE_SIZE; p <= MAX_PAGE_SIZE; p *= 2) PAGE_SIZES.push(p);

/** Page counts around every alignment the sections have (4 and 8), the defaults and the limits. */
function pageCounts(): number[] {
  const next = rngU32(15);
  const fixed = [1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 63, 64, 65, 255, 256, 257, 1023, 1024, 1025, MAX_BATCH_PAGES - 1, MAX_BATCH_PAGES];
  const random = Array.from({ length: 40 }, () => 1 + (next() % MAX_BATCH_PAGES));
  return [...new Set([...fixed, ...random])];
}

describe('format: TypeScript sizes against the addon', () => {
  it(`imageBound(n, P) equals addon.imageBound for ${PAGE_SIZES.length} page sizes x ~60 page counts`, () => {
    let checked = 0;
    for (const P of PAGE_SIZES) {
      for (const n of pageCounts()) {
        assert.equal(imageBound(n, P), addon.imageBound(n, P), `n=${n}, P=${P}`);
        checked++;
      }
    }
    assert.ok(checked > 400, `checked ${checked}`);
  });

  it('IMAGE_HEADER_BYTES equals the header length of encoded images (run and scattered pfns, dense and compact), which fit imageBound', () => {
    const next = rngU32(7);
    for (const P of PAGE_SIZES) {
      for (const n of [1, 3, 8, 33]) {
        const pages = randomBytes(n * P, n * P);
        // Half the pages zero, so the compact layout (payload pages only) is chosen.
        const sparse = new Uint8Array(pages);
        for (let i = 0; i < n; i += 2) sparse.fill(0, i * P, (i + 1) * P);
        const scattered = new Float64Array(n);
        for (let i = 0, pfn = 0; i < n; i++) scattered[i] = pfn += 1 + (next() % 1000);
        for (const [what, data, pfns] of [
          ['random, consecutive', pages, null],
          ['random, scattered', pages, scattered],
          ['half zero, scattered', sparse, scattered],
        ] as const) {
          const out = new Uint8Array(imageBound(n, P));
          const length = addon.encodeBatchSync({ pages: data, pfns, pfnBase: 5, pageSize: P, out, cache: null, stats: new Uint32Array(8), mayBeDense: true });
          assert.ok(length > 0 && length <= out.length, `${what}, n=${n}, P=${P}: image of ${length} bytes, bound ${out.length}`);
          const info = addon.imageInfo(out.subarray(0, length));
          assert.equal(info.headerLength, IMAGE_HEADER_BYTES, `${what}, n=${n}, P=${P}`);
          assert.equal(info.imageLength, length);
        }
      }
    }
  });
});
