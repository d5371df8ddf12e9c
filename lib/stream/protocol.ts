/** Messages between the main thread (pool.ts) and a batch worker (worker.ts). */
import { Slab } from './slab';

/** Data every worker starts with. */
export interface WorkerInit {
  slab: Slab;
  pageSize: number;
  batchPages: number;
  /** Page cache shared by all workers of a stream (SharedArrayBuffer), or null. */
  cache: SharedArrayBuffer | null;
  /** Int32 [seq whose turn it is, aborted]: turn-taking for the cache. */
  turn: SharedArrayBuffer | null;
  /**
   * Decoders writing a regular file (WRITER_BYTES): Int32 [write lock (0 free, 1 held),
   * aborted]. Each worker writes its batch itself, positionally, one writer at a time.
   */
  writer?: SharedArrayBuffer | null;
}

/** Size of WorkerInit.writer. */
export const WRITER_BYTES = 8;

/** Classify, serialize and compress the pages in a slot's input; write one BATCH frame to its output. */
export interface EncodeJob {
  kind: 'encode';
  id: number;
  slot: number;
  /** Bytes of page data in the slot input. */
  length: number;
  /** pfn of the first page when `pfns` is null. */
  pfnBase: number;
  pfns: Float64Array | null;
  /** Wire codec id to use (after `auto` chose), and its level. */
  codec: number;
  level: number;
  /** Order among the frames that use the page cache (its turn), or -1. */
  turn: number;
  /** A VERBATIM frame: compress the bytes as they are (Xen streams). */
  verbatim: boolean;
}

/** Check, decompress and reconstruct the BATCH frame body in a slot's input into its output. */
export interface DecodeJob {
  kind: 'decode';
  id: number;
  slot: number;
  codec: number;
  bodyLength: number;
  rawLength: number;
  bodyCrc: number;
  /** Expected page count (from the frame header). */
  pages: number;
  /** Order among the frames that use the page cache (its turn), or -1. */
  turn: number;
  /** A VERBATIM frame: the body decodes to bytes, not to an image. */
  verbatim: boolean;
  /** Also return the pfns (batch API). */
  wantPfns: boolean;
  /**
   * With WorkerInit.writer: the regular file the worker writes the batch to itself, zero
   * pages left as holes; else -1.
   */
  writeFd: number;
  /**
   * Where in writeFd the batch goes, assuming every frame before it decoded to its full
   * length (decode-engine.ts explains why that is checked afterwards); -1: the worker
   * does not write, the main thread does.
   */
  writeAt: number;
}

/** Any job. */
export type Job = EncodeJob | DecodeJob;
/** A job before the pool numbers it. */
export type NewJob = Omit<EncodeJob, 'id'> | Omit<DecodeJob, 'id'>;

/** A finished job. `stats` follows lib/native.ts Stat. */
export interface JobResult {
  id: number;
  /** Encode: frame length in the slot output. Decode: decoded bytes in the slot output. */
  length: number;
  /** Wire codec actually used (encode may fall back to none when compression does not shrink). */
  codec: number;
  /** Image length before the codec. */
  rawLength: number;
  stats: number[];
  pfns?: Float64Array;
  /** Decoders writing a file: the byte ranges of the batch that are not ZERO pages. */
  dataRanges?: number[];
  /** Worker busy time in ms. */
  busyMs: number;
  error?: { message: string; code?: string; offset?: number; page?: number; record?: string };
}
