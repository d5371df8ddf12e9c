import { Codec } from './codec';
import { ErrorCodes, PagepressError } from '../errors';

/** Stores bytes as they are: the right choice when the link outruns the CPU (xapi #4797). */
export const none: Codec<'none'> = {
  id: 0,
  name: 'none',
  description: 'stored as is',
  // Not profiled: a page plus its header, deltas as zstd's uncompressed (an estimate).
  estimate: { firstBytesPerPage: 4104, resentHitBytesPerPage: 1200, resentMissBytesPerPage: 4104, encodePagesPerSec: 400000, decodePagesPerSec: 400000 },
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
