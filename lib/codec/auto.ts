/**
 * `auto`: picks the codec per batch, MECOM-style (Jin et al., CLUSTER 2009), from two
 * signals the stream measures as it runs:
 *  - the page mix and entropy of recent batches: when zstd shrinks the image by less than
 *    10 %, the data is high-entropy, so use lz4; when lz4 shrinks it by less than 3 %,
 *    store it (`none`). zstd is re-probed every 16 batches, so a change of content is seen;
 *  - CPU against the output: when the sink drains frames faster than the workers make
 *    them (the sink is never the one holding slots), the codec is the bottleneck, and a
 *    cheaper codec ships more pages per second; when the sink backs up (a slow link), the
 *    stronger codec ships more pages per second. So lz4 while CPU-bound, zstd while link-bound.
 * Batches whose pages were all settled by classification (zero, duplicate, unchanged)
 * carry only their metadata, and any codec is cheap on those.
 */
import { lz4, none, zstd } from './registry';

/** What the stream tells the controller after each batch. */
export interface AutoObservation {
  codec: number;
  rawLength: number;
  bodyLength: number;
  /** True when the output side (not the workers) held most slots at that moment. */
  outputBound: boolean;
}

/** The per-stream state of the `auto` codec. */
export class AutoCodec {
  private zstdRatio = 4;
  private lz4Ratio = 2;
  private outputBoundScore = 0.5;
  private batches = 0;

  /** Codec id and level for the next batch. */
  choose(level: number | undefined): { codec: number; level: number } {
    this.batches++;
    const probe = this.batches % 16 === 0;
    if (probe || (this.zstdRatio >= 1.1 && this.outputBoundScore >= 0.5)) return { codec: zstd.id, level: level ?? 1 };
    if (this.lz4Ratio < 1.03) return { codec: none.id, level: 0 };
    return { codec: lz4.id, level: 1 };
  }

  /** Feeds back the result of one batch. */
  observe(o: AutoObservation): void {
    const ratio = o.rawLength / Math.max(1, o.bodyLength);
    if (o.codec === zstd.id) this.zstdRatio = 0.7 * this.zstdRatio + 0.3 * ratio;
    if (o.codec === lz4.id) this.lz4Ratio = 0.7 * this.lz4Ratio + 0.3 * ratio;
    this.outputBoundScore = 0.7 * this.outputBoundScore + 0.3 * (o.outputBound ? 1 : 0);
  }
}
