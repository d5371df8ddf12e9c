/** The --json summary line (stderr) of compress and decompress. */
import { END_BODY_BYTES, FRAME_HEADER_BYTES } from '../format/constants';

/** Bytes of the END frame, which the engines' streamBytes totals do not include. */
export const END_FRAME_BYTES = FRAME_HEADER_BYTES + END_BODY_BYTES;

/** Page kinds by name, from a totals `kinds` array indexed by PageKind. */
export function kindsByName(kinds: readonly number[]): { zero: number; literal: number; dup: number; unchanged: number; delta: number } {
  return { zero: kinds[0] ?? 0, literal: kinds[1] ?? 0, dup: kinds[2] ?? 0, unchanged: kinds[3] ?? 0, delta: kinds[4] ?? 0 };
}

/** Fields of the summary. */
export interface SummaryInput {
  command: 'compress' | 'decompress';
  /** compress: the input format it used (raw or xen). */
  format?: string;
  input: string;
  output: string;
  inputBytes: number;
  outputBytes: number;
  /** Uncompressed bytes (the side MB/s is measured on). */
  rawBytes: number;
  /** Compressed bytes, END frame included. */
  streamBytes: number;
  seconds: number;
  frames: number;
  pages: number;
  kinds: readonly number[];
  /** BATCH frames per codec; null when not known (the decoder does not count them). */
  codecs: Record<string, number> | null;
}

/** Writes the one-line JSON summary on stderr. */
export function printSummary(s: SummaryInput): void {
  const line = {
    command: s.command,
    ...(s.format ? { format: s.format } : {}),
    input: s.input,
    output: s.output,
    inputBytes: s.inputBytes,
    outputBytes: s.outputBytes,
    ratio: s.streamBytes > 0 ? Number((s.rawBytes / s.streamBytes).toFixed(4)) : 0,
    seconds: Number(s.seconds.toFixed(4)),
    mbPerSecond: Number((s.rawBytes / 1e6 / Math.max(s.seconds, 1e-6)).toFixed(2)),
    frames: s.frames,
    pages: s.pages,
    kinds: kindsByName(s.kinds),
    codecs: s.codecs,
  };
  process.stderr.write(`${JSON.stringify(line)}\n`);
}
