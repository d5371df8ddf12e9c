/**
 * Whole-input encode and decode between file descriptors: the command line's fast path.
 * A regular-file input is read in batch-sized blocks straight into slots; any other
 * input (pipe, socket, terminal) goes through the Transform stream, which flushes
 * whenever the input pauses.
 */
import * as fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Transform, Writable } from 'node:stream';
import { EncodeEngine, EncodeTotals } from './encode-engine';
import { DecodeEngine, DecoderLimits, DecodeTotals } from './decode-engine';
import { DecoderOptions, EncoderOptions } from './options';
import { growPipe, OrderedWriter, readSome, Sniffed, sparseStart } from './fd-io';
import { Encoder } from './encoder';
import { EndTotals } from '../format/frame';

/** Reads up to `length` bytes at `position`, looping over short reads; resolves with the count. */
async function readFull(fd: number, buf: Uint8Array, position: number, length: number): Promise<number> {
  let filled = 0;
  while (filled < length) {
    const n = await readSome(fd, buf, filled, length - filled, position + filled);
    if (n === 0) break;
    filled += n;
  }
  return filled;
}

/** Called with running totals, at most every `progressMs`. */
export type ProgressCallback = (totals: { rawBytes: number; streamBytes: number }) => void;

function isRegularFile(fd: number): boolean {
  try {
    return fs.fstatSync(fd).isFile();
  } catch {
    return false;
  }
}

function sinkFor(writer: OrderedWriter): Writable {
  return new Writable({
    highWaterMark: 4 * 1024 * 1024,
    write(chunk: Buffer, _enc, cb) {
      writer.write(chunk);
      writer.flush().then(() => cb(), cb);
    },
    final(cb) {
      writer.flush().then(() => cb(), cb);
    },
  });
}

/** A Transform encoder whose totals can be watched (Encoder, XenEncoder). */
export interface EncodingTransform extends Transform {
  readonly totals: EncodeTotals;
}

/**
 * Feeds what `start` read (if given), then everything readable from `fd`, into `encoder`
 * and ends it; `signal` stops the reading (an AbortError). Reads go
 * into two reused 4 MiB buffers (the next read runs while the encoder takes the current
 * block); a buffer is reused only after the encoder's write callback, by which time it has
 * copied the bytes into its slots. Fresh buffers per chunk would cost a page fault per 4 KiB.
 */
export async function feed(fd: number, encoder: Writable, start?: Sniffed, signal?: AbortSignal): Promise<void> {
  const write = (chunk: Uint8Array) => new Promise<void>((resolve, reject) => encoder.write(chunk, (err) => (err ? reject(err) : resolve())));
  const regular = isRegularFile(fd);
  if (start) {
    // What sniff() read, then the read it left running (into the same buffer, after it).
    if (start.bytes.length > 0) await write(start.bytes);
    const n = start.pending ? await start.pending : -1;
    if (n === 0) return void (await new Promise<void>((resolve) => encoder.end(resolve)));
    if (n > 0) await write(start.buf.subarray(start.at, start.at + n));
    if (start.bytes.length === 0 && n === -1) return void (await new Promise<void>((resolve) => encoder.end(resolve)));
  }
  // An encoder that takes direct reads (XenEncoder) gets page contents straight into its slots.
  if (isDirect(encoder)) await readDirect(fd, encoder, write, regular, { before: () => encoder.waitForRoom(), signal });
  else await readBlocks(fd, regular, write, signal);
  await new Promise<void>((resolve) => encoder.end(resolve));
}

/**
 * Reads `fd` to EOF in 4 MiB blocks into two reused buffers, the next read running while
 * `onBlock` takes the current block (the buffer is reused once `onBlock` resolves).
 */
async function readBlocks(fd: number, regular: boolean, onBlock: (block: Buffer) => Promise<void>, signal?: AbortSignal): Promise<void> {
  const bufs = [Buffer.allocUnsafeSlow(4 * 1024 * 1024), Buffer.allocUnsafeSlow(4 * 1024 * 1024)];
  let which = 0;
  let position = 0;
  let pending = readSome(fd, bufs[0], 0, bufs[0].length, regular ? position : null, signal);
  try {
    for (;;) {
      const n = await pending;
      if (n === 0) break;
      position += n;
      const current = bufs[which];
      which ^= 1;
      pending = readSome(fd, bufs[which], 0, bufs[which].length, regular ? position : null, signal);
      await onBlock(current.subarray(0, n));
    }
  } catch (err) {
    pending.catch(() => {}); // the read ahead may fail once the caller closes the input
    throw err;
  }
}

/** A consumer that can take bytes read straight into its slots (XenEncoder, DecodeEngine). */
interface DirectReads {
  /** Where the next read may go, or null: then the bytes go through `write`. */
  directTarget(): Uint8Array | null;
  directRead(n: number): void;
}

/** An encoder that takes direct reads, and says when it has room for more. */
type DirectEncoder = DirectReads & Writable & { waitForRoom(): Promise<void> };

function isDirect(x: unknown): x is DirectEncoder {
  return typeof (x as DirectReads).directTarget === 'function';
}

/**
 * Reads `fd` to EOF into `sink`: straight into its slots where directTarget() says, the
 * bytes around them (headers, records, pfn lists) through `write` in blocks of at most
 * 64 KiB, so that little is read the indirect way. `before` runs ahead of each read
 * (room to wait for), `after` after it (a check that throws to stop). No read-ahead: where
 * the next read goes depends on what the sink made of the previous one.
 */
async function readDirect(
  fd: number,
  sink: DirectReads,
  write: (chunk: Uint8Array) => Promise<void>,
  regular: boolean,
  hooks: { before?: () => Promise<void>; after?: () => void; signal?: AbortSignal } = {},
): Promise<void> {
  // One block buffer: `write` resolves only once the sink is done with the block.
  const block = Buffer.allocUnsafeSlow(64 * 1024);
  let position = 0;
  for (;;) {
    await hooks.before?.();
    const target = sink.directTarget();
    const buf = target ?? block;
    const n = await readSome(fd, buf, 0, buf.length, regular ? position : null, hooks.signal);
    if (n === 0) break;
    position += n;
    if (target) sink.directRead(n);
    else await write(buf.subarray(0, n));
    hooks.after?.();
  }
}

/**
 * Runs `inFd` (after `prefix`) through a Transform encoder to `outFd`: the path for pipes,
 * sockets and Xen streams. The encoder flushes whenever its input pauses.
 */
export async function encodeThrough(encoder: EncodingTransform, inFd: number, outFd: number, onProgress?: ProgressCallback, start?: Sniffed): Promise<EncodeTotals> {
  growPipe(inFd);
  growPipe(outFd);
  let failure = null as Error | null; // set from callbacks: keep the declared type (no narrowing to null)
  const writer = new OrderedWriter(outFd, (err) => (failure ??= err), sparseStart(outFd));
  const timer = onProgress ? setInterval(() => onProgress(encoder.totals), 200) : null;
  try {
    // The output side settles with the encoder's first error; feeding stops at the same error.
    const out = pipeline(encoder, sinkFor(writer));
    await Promise.all([
      feed(inFd, encoder, start).catch((err) => {
        encoder.destroy(err);
        throw err;
      }),
      out,
    ]);
  } finally {
    if (timer) clearInterval(timer);
  }
  if (failure) throw failure;
  return encoder.totals;
}

/**
 * Encodes everything readable from `inFd` into a pagepress stream on `outFd`.
 * @returns the encoder's totals
 * @throws PagepressError or a system error (EPIPE, EIO ...)
 */
export async function encodeFd(inFd: number, outFd: number, options: EncoderOptions = {}, onProgress?: ProgressCallback, start?: Sniffed): Promise<EncodeTotals> {
  if (start || !isRegularFile(inFd)) return encodeThrough(new Encoder(options), inFd, outFd, onProgress, start);
  growPipe(outFd);
  let failure = null as Error | null; // set from callbacks: keep the declared type (no narrowing to null)
  const writer = new OrderedWriter(outFd, (err) => (failure ??= err), sparseStart(outFd));
  const engine = new EncodeEngine(
    options,
    (frame, release) => writer.write(frame, release),
    (err) => (failure ??= err),
  );
  const timer = onProgress ? setInterval(() => onProgress(engine.totals), 200) : null;
  try {
    writer.write(engine.streamHeader);
    // Reads of successive batches overlap (each into its own slot, at its own file
    // position, on the libuv pool); batches are submitted strictly in file order.
    const batch = engine.batchBytes;
    let position = 0;
    let eof = false;
    let chain: Promise<boolean> = Promise.resolve(true); // false once a short read was seen
    const steps: Promise<boolean>[] = [];
    while (!eof) {
      if (failure) throw failure;
      const slot = await engine.acquire();
      const at = position;
      position += batch;
      const read = readFull(inFd, engine.input(slot), at, batch);
      chain = chain.then(async (more) => {
        const filled = await read;
        if (!more || filled === 0) {
          engine.cancel(slot);
          return false;
        }
        engine.submit(slot, filled);
        return filled === batch;
      });
      steps.push(chain);
      // At most two reads ahead of the submissions: enough to overlap disk and workers.
      if (steps.length >= 2 && !(await steps.shift()!)) eof = true;
    }
    await chain;
    await engine.drained();
    writer.write(engine.endFrame());
    await writer.flush();
    if (failure) throw failure;
    return engine.totals;
  } finally {
    if (timer) clearInterval(timer);
    await engine.close();
  }
}

/** Result of decodeFd. */
export interface DecodeResult {
  totals: DecodeTotals;
  end: EndTotals;
}

/** Options of decodeFd. */
export interface DecodeFdOptions extends DecoderOptions, DecoderLimits {
  /** false: write every byte, in order, even to a regular file (no holes). */
  sparse?: boolean;
}

/**
 * Decodes a pagepress stream from `inFd` to `outFd`. On bad input it rejects with a
 * PagepressError carrying the stream offset, after writing every good frame before it.
 * When `outFd` is a regular file, zero pages become holes (`sparse: false` turns this off).
 */
export async function decodeFd(inFd: number, outFd: number, options: DecodeFdOptions = {}, onProgress?: ProgressCallback): Promise<DecodeResult> {
  growPipe(inFd);
  growPipe(outFd);
  let failure = null as Error | null; // set from callbacks: keep the declared type (no narrowing to null)
  // A regular file: the workers write their batches themselves, positionally, while the
  // bytes are still in their cache, and leave zero pages as holes. Anything else (pipes,
  // sockets, terminals): the main thread writes in order.
  const base = options.sparse === false ? null : sparseStart(outFd);
  const writer = base === null ? new OrderedWriter(outFd, (err) => (failure ??= err)) : null;
  const engine = new DecodeEngine(
    base === null ? options : { ...options, writeFd: outFd, writeBase: base },
    writer ? (data, release) => writer.write(data, release) : (_data, release) => release(),
    (err) => (failure ??= err),
  );
  const setLength = (length: number) => new Promise<void>((resolve, reject) => fs.ftruncate(outFd, length, (err) => (err ? reject(err) : resolve())));
  const timer = onProgress ? setInterval(() => onProgress(engine.totals), 200) : null;
  try {
    // Frame bodies are read straight into their slots; the main thread copies only headers.
    await readDirect(inFd, engine, (chunk) => engine.write(chunk), isRegularFile(inFd), {
      after: () => {
        if (failure) throw failure;
      },
    });
    const end = await engine.finish();
    if (writer) await writer.flush();
    else await setLength(base! + engine.totals.rawBytes); // a trailing hole counts only once the length says so
    if (failure) throw failure;
    return { totals: engine.totals, end };
  } catch (err) {
    // The output ends exactly at the last good frame: let queued writes finish, or stop the
    // workers (no write after this) and cut the file back to the frames delivered.
    if (writer) await writer.flush().catch(() => {});
    else {
      await engine.close();
      await setLength(base! + engine.totals.rawBytes).catch(() => {});
    }
    throw failure ?? err;
  } finally {
    if (timer) clearInterval(timer);
    await engine.close();
  }
}
