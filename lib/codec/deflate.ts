import { Codec } from './codec';
import { addon } from '../native';

/** Raw deflate through the zlib inside Node's own binary (native/deflate.cc). */
export const deflate: Codec<'deflate'> = {
  id: 1,
  name: 'deflate',
  description: 'raw deflate via zlib',
  // Medians of `npm run predict-eval` of 2026-11-26 (lib/predict/relocation.ts says how).
  estimate: { firstBytesPerPage: 1052, resentHitBytesPerPage: 435, resentMissBytesPerPage: 1254, encodePagesPerSec: 40243, resentEncodePagesPerSec: 32808, decodePagesPerSec: 178049 },
  levels: { min: 0, max: 9, default: 1 },
  bound: (rawLength) => addon.deflateBound(rawLength),
  compress: (src, dst, level) => addon.deflateSync(src, dst, level),
  decompress(src, dst) {
    addon.inflateSync(src, dst);
  },
};
