/**
 * Batch worker: runs on a worker thread, does all bulk work of a stream.
 * encode: native classify+serialize into a scratch image -> codec -> frame in the slot output.
 * decode: body CRC -> codec -> native validate+reconstruct into the slot output.
 * With a page cache, the cache-touching step of batch `seq` waits for its turn (an
 * Atomics counter shared by all workers), so cache state is the same as in a serial run;
 * the codec step, the expensive one, still runs in parallel.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { addon, ImageInfo, STATS_LENGTH } from '../native';
import { codecById, none } from '../codec/registry';
import { FRAME_HEADER_BYTES, FrameType, IMAGE_HEADER_BYTES, imageBound } from '../format/constants';
import { decodeFrameBody, NewFrame, pfnSection, writeFrame } from '../format/body';
import * as longRange from '../codec/long-range';
import { ErrorCodes, PagepressError } from '../errors';
import { slotIn, slotInOffset, slotOut, slotOutOffset } from './slab';
import { DecodeJob, EncodeJob, Job, JobResult, WorkerInit } from './protocol';

// Set by the first message (or workerData): a pool may start its threads before it knows
// the stream's geometry, so thread start-up overlaps the caller's own start-up.
let init: WorkerInit;
let scratch: Uint8Array;
let cache: Uint8Array | null;
let turn: Int32Array | null;
let writeLock: Int32Array | null;
const stats = new Uint32Array(STATS_LENGTH);

function setup(data: WorkerInit): void {
  init = data;
  longRange.reset(); // a new stream
  scratch = new Uint8Array(imageBound(init.batchPages, init.pageSize));
  cache = init.cache ? new Uint8Array(init.cache) : null;
  turn = init.turn ? new Int32Array(init.turn) : null;
  writeLock = init.writer ? new Int32Array(init.writer, 0, 2) : null;
}
if (workerData) setup(workerData as WorkerInit);

// Bulk work yields to the event loop: with as many workers as cores, an equal-priority
// main thread waits for a time slice (measured: event-loop p99 above 20 ms). Linux lets a
// thread renice itself by its tid; elsewhere this is skipped.
try {
  const tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
  if (tid > 0) os.setPriority(tid, Math.min(19, os.getPriority(tid) + 5));
} catch {
  // not Linux, or not permitted: run at the process priority
}

/**
 * Runs `fn` when it is batch `seq`'s turn on `t` (an Int32 pair [seq, aborted] shared by
 * all workers of a stream), then passes the turn on. Batches are handed out in order and
 * each worker runs its queue in order, so the holder of the lowest seq is always running.
 */
function inTurn<T>(seq: number, fn: () => T, t: Int32Array | null = turn): T {
  if (!t) return fn();
  for (;;) {
    const current = Atomics.load(t, 0);
    if (current === seq) break;
    if (Atomics.load(t, 1) !== 0) throw new PagepressError('stream aborted', ErrorCodes.WORKER);
    Atomics.wait(t, 0, current, 1000);
  }
  try {
    return fn();
  } finally {
    Atomics.store(t, 0, seq + 1);
    Atomics.notify(t, 0);
  }
}

/**
 * Writes `ranges` of `buf` at `base` + range start, in full (positional, this thread),
 * holding the stream's write lock. The kernel serializes writes to one file anyway (its
 * inode lock), but a thread waiting there spins on the CPU the other workers decode on
 * (measured: about 40 ms of CPU per 500 MB decoded to tmpfs at -T2); one waiting here sleeps.
 */
function writeRanges(fd: number, buf: Uint8Array, ranges: number[], base: number): void {
  const lock = writeLock!;
  while (Atomics.compareExchange(lock, 0, 0, 1) !== 0) {
    if (Atomics.load(lock, 1) !== 0) throw new PagepressError('stream aborted', ErrorCodes.WORKER);
    Atomics.wait(lock, 0, 1, 1000);
  }
  try {
    for (let k = 0; k < ranges.length; k += 2) {
      let at = ranges[k];
      while (at < ranges[k + 1]) at += fs.writeSync(fd, buf, at, ranges[k + 1] - at, base + at);
    }
  } finally {
    Atomics.store(lock, 0, 0);
    Atomics.notify(lock, 0, 1);
  }
}

const NO_STATS = [0, 0, 0, 0, 0];

/** Where the job's frame goes in the stream (the header fields not about the body). */
function placeOf(job: EncodeJob, type: NewFrame['type'], pages: number): NewFrame {
  return { type, pages, outLength: job.length, seq: job.seq, outOffset: job.outOffset, seed: init.frameSeed, longWindowLog: init.stream.longWindowLog ?? 0 };
}

/** A VERBATIM frame: the codec over the slot's bytes as they are. */
function encodeVerbatim(job: EncodeJob): Omit<JobResult, 'id' | 'busyMs'> {
  const src = slotIn(init.slab, job.slot, job.length);
  const frame = writeFrame(slotOut(init.slab, job.slot), src, codecById(job.codec), job.level, placeOf(job, FrameType.VERBATIM, 0), { dense: false });
  return { length: frame.length, codec: frame.codec, rawLength: job.length, stats: NO_STATS, digest: frame.digest };
}

function encode(job: EncodeJob): Omit<JobResult, 'id' | 'busyMs'> {
  if (job.verbatim) return encodeVerbatim(job);
  const out = slotOut(init.slab, job.slot);
  const codec = codecById(job.codec);
  const args = { pfns: job.pfns, pfnBase: job.pfnBase, pageSize: init.pageSize, cache, stats };
  let image: Uint8Array;
  if (codec === none) {
    // The image is serialized straight into the frame body: one copy, no codec.
    const body = out.subarray(FRAME_HEADER_BYTES);
    const length = inTurn(job.turn, () => addon.encodeBatchSync({ ...args, pages: slotIn(init.slab, job.slot, job.length), out: body }));
    image = body.subarray(0, length);
  } else {
    if (cache) addon.cachePrefault({ cache, pfns: job.pfns, pfnBase: job.pfnBase, count: Math.ceil(job.length / init.pageSize), pageSize: init.pageSize });
    // In place: the image is built around the pages where they were read, the header in
    // the slot's prefix and the sections after them, so the pages are not copied (with a
    // cache, only the literal pages behind a shorter one move down).
    const at = slotInOffset(init.slab, job.slot);
    const area = new Uint8Array(init.slab.buffer, at - IMAGE_HEADER_BYTES, IMAGE_HEADER_BYTES + init.slab.inCapacity);
    const length = inTurn(job.turn, () => addon.encodeBatchSync({ ...args, pages: area.subarray(IMAGE_HEADER_BYTES, IMAGE_HEADER_BYTES + job.length), out: area, inPlace: true }));
    image = area.subarray(0, length);
  }
  const pageCount = Math.ceil(job.length / init.pageSize);
  const frame = writeFrame(out, image, codec, job.level, placeOf(job, FrameType.BATCH, pageCount), { dense: codec !== none && imageIsDense(image) });
  return { length: frame.length, codec: frame.codec, rawLength: image.length, stats: Array.from(stats), digest: frame.digest };
}

/** True when an image (header already written by the native encoder) has the dense layout. */
function imageIsDense(image: Uint8Array): boolean {
  return addon.imageInfo(image).dense;
}

/** Offset of the kind section in a validated image header (docs/FORMAT.md 1.2). */
function kindSection(info: ImageInfo): number {
  return pfnSection(info) + (info.pfnRun ? 8 : 8 * info.pageCount);
}

/**
 * Before a decode's cache turn: has the kernel back the cache slots of the image's pages
 * (the pfn section, read as is: the image is validated inside the turn, and a bad pfn
 * only touches some slot of our own cache).
 */
function prefaultFor(image: Uint8Array, info: ImageInfo): void {
  const at = pfnSection(info);
  const n = info.pageCount;
  if (at + (info.pfnRun ? 8 : 8 * n) > image.length) return;
  const view = new DataView(image.buffer, image.byteOffset + at);
  if (info.pfnRun) {
    addon.cachePrefault({ cache: cache!, pfns: null, pfnBase: Math.min(Number(view.getBigUint64(0, true)), 2 ** 52 - 1), count: n, pageSize: init.pageSize });
    return;
  }
  const pfns = new Float64Array(n);
  for (let i = 0; i < n; i++) pfns[i] = Number(view.getBigUint64(8 * i, true));
  addon.cachePrefault({ cache: cache!, pfns, pfnBase: 0, count: n, pageSize: init.pageSize });
}

/** Byte ranges [start, end) of the decoded batch that are not ZERO pages, merged. */
function dataRangesOf(kinds: Uint8Array, info: ImageInfo): number[] {
  const P = init.pageSize;
  const ranges: number[] = [];
  for (let i = 0; i < info.pageCount; i++) {
    if (kinds[i] === 0 && (i + 1) * P <= info.byteLength) continue; // a short zero tail is written
    const start = i * P;
    const end = Math.min(info.byteLength, start + P);
    const last = ranges.length;
    if (last && ranges[last - 1] === start) ranges[last - 1] = end;
    else ranges.push(start, end);
  }
  return ranges;
}

/** A decoded batch, plus the byte ranges to write when the worker writes it itself. */
type Decoded = Omit<JobResult, 'id' | 'busyMs'> & { dataRanges: number[] };

function decode(job: DecodeJob): Decoded {
  const outAt = slotOutOffset(init.slab, job.slot);
  const holes = job.writeFd >= 0;
  let dataRanges: number[] | null = null;
  const pfns = job.wantPfns ? new Float64Array(job.header.pages) : null;
  const d = decodeFrameBody({
    stream: init.stream,
    header: job.header,
    body: slotIn(init.slab, job.slot, job.header.bodyLength),
    out: new Uint8Array(init.slab.buffer, outAt, init.slab.outCapacity),
    inPlaceArea: job.header.type === FrameType.BATCH ? new Uint8Array(init.slab.buffer, outAt - IMAGE_HEADER_BYTES, IMAGE_HEADER_BYTES + init.slab.outCapacity) : null,
    scratch,
    cache,
    stats,
    firstPfn: job.firstPfn,
    pfns,
    zeroPagesAsHoles: holes,
    inTurn: (fn) => inTurn(job.turn, fn),
    beforeDecode: (image, info) => {
      // A worker writing a file leaves zero pages as holes. Read the kinds before decoding:
      // an in-place decode overwrites them.
      if (holes) {
        const ks = kindSection(info);
        const kinds = ks + info.pageCount <= image.length ? image.subarray(ks, ks + info.pageCount) : new Uint8Array(info.pageCount).fill(1);
        dataRanges = dataRangesOf(kinds, info);
      }
      if (cache) prefaultFor(image, info);
    },
  });
  const verbatim = job.header.type === FrameType.VERBATIM;
  return {
    length: d.length,
    codec: d.codec,
    rawLength: job.header.rawLength,
    stats: verbatim ? NO_STATS : Array.from(stats),
    pfns: pfns ?? undefined,
    dataRanges: dataRanges ?? [0, d.length],
    digest: d.digest,
  };
}

/**
 * decode(), then, for a decoder writing a regular file, the batch written from here at
 * job.writeAt while it is still in this core's cache (no waiting for the batches before
 * it: version 2 frames say where they go, and the parser checked that against the frames
 * before). The reply carries the data ranges a main-thread write needs (version 1).
 */
function decodeAndWrite(job: DecodeJob): Omit<JobResult, 'id' | 'busyMs'> {
  const { dataRanges, ...result } = decode(job);
  if (job.writeFd < 0) return result;
  if (job.writeAt >= 0) writeRanges(job.writeFd, slotOut(init.slab, job.slot), dataRanges, job.writeAt);
  return { ...result, dataRanges };
}

parentPort!.on('message', (job: Job | { kind: 'setup'; init: WorkerInit }) => {
  if (job.kind === 'setup') return setup(job.init);
  const start = performance.now();
  let reply: JobResult;
  try {
    const r = job.kind === 'encode' ? encode(job) : decodeAndWrite(job);
    reply = { id: job.id, ...r, busyMs: performance.now() - start };
  } catch (err) {
    const e = err as PagepressError;
    reply = {
      id: job.id,
      length: 0,
      codec: 0,
      rawLength: 0,
      stats: [],
      digest: 0,
      busyMs: performance.now() - start,
      error: { message: e.message, code: e.code, offset: e.offset, page: e.page, record: e.record },
    };
  }
  parentPort!.postMessage(reply);
});
