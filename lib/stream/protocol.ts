/** Messages between the main thread (pool.ts) and a batch worker (worker.ts). */
import { Slab } from './slab';
import type { FrameHeader, StreamHeader } from '../format/frame';

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
  /** The stream header (a decoder checks every image against it). */
  stream: StreamHeader;
  /** frameSeed() of the stream: the seed of every frame header CRC an encoder writes. */
  frameSeed: number;
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
  /** Frames before this one in the stream (its header's seq). */
  seq: number;
  /** Decoded bytes before this frame (its header's outOffset). */
  outOffset: number;
}

/** Check, decompress and reconstruct the BATCH frame body in a slot's input into its output. */
export interface DecodeJob {
  kind: 'decode';
  id: number;
  slot: number;
  /** The frame's header: validated, and in its place in the stream. */
  header: FrameHeader;
  /** Order among the frames that use the page cache (its turn), or -1. */
  turn: number;
  /** Version 1 byte streams: the pfn the batch must start at; else -1. */
  firstPfn: number;
  /** Also return the pfns (batch API). */
  wantPfns: boolean;
  /**
   * With WorkerInit.writer: the regular file the worker writes the batch to itself, zero
   * pages left as holes; else -1.
   */
  writeFd: number;
  /**
   * Where in writeFd the batch goes (version 2: its header's outOffset, already checked
   * against the frames before it); -1: the worker does not write, the main thread does
   * (version 1, whose frames do not say where they go).
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
  /** The frame's digest (lib/format/frame.ts streamDigest). */
  digest: number;
  /** Worker busy time in ms. */
  busyMs: number;
  error?: { message: string; code?: string; offset?: number; page?: number; record?: string };
}
