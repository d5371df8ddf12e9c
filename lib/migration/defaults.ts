/** Engine defaults shared by the sender and the predictor (no heavy imports here). */

/**
 * Default page-cache slots for a guest: 16384 (64 MiB per side, QEMU's default XBZRLE cache
 * size), or every page of a smaller guest. A fixed size keeps the engine's memory bounded
 * whatever the guest's size (docs/MIGRATION.md, "Memory"); a guest whose re-sent working
 * set is larger gains from a larger --cache-slots.
 */
export function defaultCacheSlots(pageCount: number): number {
  return Math.min(pageCount, 16384);
}
