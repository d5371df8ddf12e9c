import { Codec } from './codec';
import { ErrorCodes, PagepressError } from '../errors';

/** Stores bytes as they are: the right choice when the link outruns the CPU (xapi #4797). */
export const none: Codec = {
  id: 0,
  name: 'none',
  levels: { min: 0, max: 0, default: 0 },
  bound: (rawLength) => rawLength,
  compress(src, dst) {
    dst.set(src);
    return src.length;
  },
  decompress(src, dst) {
    if (src.length !== dst.length) {
      throw new PagepressError(`stored body is ${src.length} bytes, frame header says ${dst.length}`, ErrorCodes.CODEC);
    }
    dst.set(src);
  },
};
