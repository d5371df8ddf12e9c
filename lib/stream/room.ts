/**
 * Backpressure from a Transform's readable side. The encoders push frames when workers
 * finish, after `_transform` has called back, so Node's own check (which holds the write
 * callback only when `_transform` itself pushed past the high-water mark) never fires and
 * a slow consumer would let frames pile up without bound. The encoders therefore wait for
 * room before taking more input: `_read` (the consumer wants data) wakes them.
 */
import { Transform } from 'node:stream';

/** Waiters for room in a Transform's readable buffer. */
export class ReadableRoom {
  private readonly waiters: Array<() => void> = [];

  constructor(private readonly stream: Transform) {}

  /** Resolves once the readable buffer is below its high-water mark (at once if it is). */
  async wait(): Promise<void> {
    const s = this.stream;
    while (!s.destroyed && s.readableLength >= s.readableHighWaterMark) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /**
   * True when the consumer is the bottleneck: the readable buffer is at least half full.
   * (A consumer that keeps up takes each frame as it is pushed, so the buffer stays near empty.)
   */
  backedUp(): boolean {
    return this.stream.readableLength * 2 >= this.stream.readableHighWaterMark;
  }

  /** Call from `_read` (and `_destroy`): wakes the waiters, which check again. */
  wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}
