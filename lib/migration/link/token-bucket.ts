/**
 * Token bucket of the userspace link, written as a virtual clock (GCRA): instead of adding
 * tokens on a timer, it remembers when the bucket will be full again, so the departure time
 * of every chunk is known the moment it arrives and no refill timer runs.
 */

/** Payload bytes of one full-sized TCP segment on a 1500-byte-MTU link (timestamps on). */
export const SEGMENT_PAYLOAD = 1448;
/** Bytes the same segment takes on the link as tbf counts them: payload + TCP 32 + IP 20 + Ethernet 14. */
export const SEGMENT_FRAME = 1514;

/**
 * Bytes a link should charge for `payload` bytes of TCP payload: what tbf on a 1500-MTU veth
 * charges, so the userspace and kernel paths give the same goodput (95.6 % of the rate).
 */
export function framedCost(payload: number): number {
  return (payload * SEGMENT_FRAME) / SEGMENT_PAYLOAD;
}

/**
 * Burst allowance for a rate: 1 ms worth of bytes, and at least 64 KiB (one socket read)
 * so a chunk never waits for more tokens than the bucket can hold.
 */
export function burstBytes(rateBitsPerSec: number): number {
  return Math.max(64 * 1024, Math.ceil(rateBitsPerSec / 8 / 1000));
}

/** A token bucket of `rateBitsPerSec` with `burst` bytes of depth; times are in milliseconds. */
export class TokenBucket {
  private readonly bytesPerMs: number;
  /** Time at which the bucket is full again ("theoretical arrival time"); 0 = full now. */
  private tat = 0;

  constructor(
    rateBitsPerSec: number,
    readonly burst: number = burstBytes(rateBitsPerSec),
  ) {
    this.bytesPerMs = rateBitsPerSec / 8 / 1000;
  }

  /**
   * Books a chunk costing `cost` bytes offered at time `now` and returns when it leaves:
   * the first instant at which the bucket holds `cost` tokens, counting the chunks booked before.
   */
  depart(now: number, cost: number): number {
    // The bucket lacks (tat - t) * rate tokens at time t; the chunk may leave once that debt plus its
    // cost fits. A chunk dearer than the whole bucket waits for a full bucket and leaves it in debt.
    const t = Math.max(now, this.tat - Math.max(0, this.burst - cost) / this.bytesPerMs);
    this.tat = Math.max(this.tat, t) + cost / this.bytesPerMs;
    return t;
  }
}
