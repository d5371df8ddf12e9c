import { Codec } from './codec';
import { addon } from '../native';

/** Raw deflate through the zlib inside Node's own binary (native/deflate.cc). */
export const deflate: Codec = {
  id: 1,
  name: 'deflate',
  levels: { min: 0, max: 9, default: 1 },
  bound: (rawLength) => addon.deflateBound(rawLength),
  compress: (src, dst, level) => addon.deflateSync(src, dst, level),
  decompress(src, dst) {
    addon.inflateSync(src, dst);
  },
};
