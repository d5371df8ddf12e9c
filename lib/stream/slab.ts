/**
 * The shared slab: a fixed window of slots in one SharedArrayBuffer, each with an input
 * region and an output region. Workers read and write slots in place, so the bytes of a
 * batch never pass through the main thread's JS heap. The window is the memory bound of
 * a stream: slots x (inCapacity + outCapacity + 8 KiB) bytes, allocated once.
 */

/** Geometry of a slab, sent to every worker. */
export interface SlabLayout {
  slots: number;
  inCapacity: number;
  outCapacity: number;
}

/** A slab: the buffer and its geometry. */
export interface Slab extends SlabLayout {
  buffer: SharedArrayBuffer;
}

/**
 * Bytes reserved before each output region: a decoder decompresses an image to
 * (output - image header length), so the pages land in place (native in-place decode).
 */
export const OUT_PREFIX = 4096;
/** Bytes reserved before each input region: an encoder builds the image around the pages there. */
export const IN_PREFIX = 4096;

/** Allocates a slab. Untouched pages of a SharedArrayBuffer cost no RSS. */
export function createSlab(layout: SlabLayout): Slab {
  const align = (n: number) => Math.ceil(n / 4096) * 4096; // page-aligned regions: cheap memcpy, no false sharing
  const inCapacity = align(layout.inCapacity);
  const outCapacity = align(layout.outCapacity);
  return { slots: layout.slots, inCapacity, outCapacity, buffer: new SharedArrayBuffer(layout.slots * slotStride(inCapacity, outCapacity)) };
}

function slotStride(inCapacity: number, outCapacity: number): number {
  return IN_PREFIX + inCapacity + OUT_PREFIX + outCapacity;
}

/** Byte offset of slot `i`'s input region in the slab. */
export function slotInOffset(slab: Slab, i: number): number {
  return i * slotStride(slab.inCapacity, slab.outCapacity) + IN_PREFIX;
}

/** Byte offset of slot `i`'s output region in the slab. */
export function slotOutOffset(slab: Slab, i: number): number {
  return slotInOffset(slab, i) + slab.inCapacity + OUT_PREFIX;
}

/** The input region of slot `i` (first `length` bytes, default all). */
export function slotIn(slab: Slab, i: number, length = slab.inCapacity): Uint8Array {
  return new Uint8Array(slab.buffer, slotInOffset(slab, i), length);
}

/** The output region of slot `i` (first `length` bytes, default all). */
export function slotOut(slab: Slab, i: number, length = slab.outCapacity): Uint8Array {
  return new Uint8Array(slab.buffer, slotOutOffset(slab, i), length);
}
