/** Valid inputs the JS harnesses mutate, built by the real encoders from a seed. */
import { CodecChoice, createEncoder } from '../../lib';
import { createXenEncoder } from '../../lib/xen/filter';
import { generateXenStream } from '../../lib/xen/generate';
import { collect } from '../../lib/xen/writer';
import { memoryLike, through } from '../../test/helpers';
import { Choices } from './harness';

/** Shape of one generated stream. */
export interface StreamShape {
  kind: 'raw' | 'xen';
  codec: CodecChoice;
  pageSize: number;
  batchPages: number;
  /** Page cache of the encoder (Xen only: raw pfns never repeat). */
  cacheSlots: number;
  /** Long-range window log (docs/FORMAT.md 2.9), 0 = off; zstd and auto only. */
  longWindowLog: number;
}

/** Picks a stream shape. */
export function pickShape(c: Choices): StreamShape {
  const kind = c.chance(0.3) ? 'xen' : 'raw';
  const codec = c.pick<CodecChoice>(['zstd', 'lz4', 'deflate', 'none', 'auto']);
  return {
    kind,
    codec,
    longWindowLog: (codec === 'zstd' || codec === 'auto') && c.chance(0.4) ? 20 : 0,
    pageSize: kind === 'xen' ? 4096 : c.pick([512, 4096]),
    batchPages: c.pick([1, 3, 8]),
    cacheSlots: kind === 'xen' ? c.pick([0, 64]) : 0,
  };
}

/** A small Xen stream (libxl layer, HVM, two passes, `pages` >= 4) whose pages depend on `seed`. */
export function xenOriginal(seed: number, pages: number): Buffer {
  const fill = memoryLike(pages * 2, seed, 4096);
  return collect((emit) =>
    generateXenStream(
      {
        guest: 'hvm',
        version: 3,
        layer: 'libxl',
        pages,
        holes: [],
        xenstore: [],
        iterations: [{ pfns: Array.from({ length: Math.ceil(pages / 2) }, (_, i) => i * 2) }],
        page: (pfn, iteration, out) => {
          out.set(fill.subarray((pfn + iteration * pages) * 4096, (pfn + iteration * pages + 1) * 4096));
          if (iteration) out[pfn % 4096] ^= 1; // a small change: a DELTA against the cache
        },
      },
      emit,
    ),
  );
}

/** The original bytes for `shape` from `seed`. */
export function original(shape: StreamShape, c: Choices, seed: number): Buffer {
  if (shape.kind === 'xen') return xenOriginal(seed, c.int(4, 12));
  return memoryLike(c.int(1, 24), seed, shape.pageSize, c.chance(0.5) ? c.below(shape.pageSize) : 0);
}

/** Encodes `input` as a pagepress stream of `shape`. */
export function encode(shape: StreamShape, input: Buffer): Promise<Buffer> {
  const o = { codec: shape.codec, pageSize: shape.pageSize, batchPages: shape.batchPages, threads: 1, longWindowLog: shape.longWindowLog };
  return through(input, shape.kind === 'xen' ? createXenEncoder({ ...o, cacheSlots: shape.cacheSlots }) : createEncoder(o));
}
