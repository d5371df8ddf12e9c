/** Test data and plumbing shared by the suites. */
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { decodeFrameHeader, decodeStreamHeader, encodeStreamHeader, frameSeed, StreamHeader, streamHeaderLength, writeFrameHeader } from '../lib/format/frame';
import { FRAME_HEADER_BYTES } from '../lib/format/constants';

/** Deterministic PRNG (mulberry32): each call returns the next unsigned 32-bit integer. The one generator of the test suites. */
export function rngU32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** Deterministic PRNG: each call returns the next number in [0, 1). */
export function rng(seed: number): () => number {
  const next = rngU32(seed);
  return () => next() / 4294967296;
}

/** `len` deterministic pseudo-random bytes (a Uint8Array: its slice() copies, unlike Buffer's). */
export function randomBytes(len: number, seed: number): Uint8Array {
  const next = rngU32(seed);
  const words = new Uint32Array(Math.ceil(len / 4));
  for (let i = 0; i < words.length; i++) words[i] = next();
  return new Uint8Array(words.buffer, 0, len);
}

/**
 * Memory-like test pages: a mix of zero pages, text-like pages, random pages, repeated
 * pages and sparse pages, `count` pages of `pageSize`, plus `tail` extra bytes.
 */
export function memoryLike(count: number, seed = 1, pageSize = 4096, tail = 0): Buffer {
  const r = rng(seed);
  const buf = Buffer.alloc(count * pageSize + tail);
  const words = ['page', 'frame', 'xen', 'migrate', 'dirty', 'batch', 'guest', 'memory', '{"id":', '0x7fff'];
  for (let i = 0; i < count + (tail ? 1 : 0); i++) {
    const page = buf.subarray(i * pageSize, Math.min(buf.length, (i + 1) * pageSize));
    const kind = r();
    if (kind < 0.2) continue; // zero
    if (kind < 0.3 && i > 0) {
      const j = Math.floor(r() * i);
      buf.copy(page, 0, j * pageSize, j * pageSize + page.length); // repeated page
    } else if (kind < 0.55) {
      let at = 0;
      while (at < page.length) at += page.write(words[Math.floor(r() * words.length)] + ' ', at);
    } else if (kind < 0.7) {
      for (let k = 0; k < page.length; k++) page[k] = Math.floor(r() * 256);
    } else {
      for (let k = 0; k + 4 <= page.length; k += 8) if (r() < 0.2) page.writeUInt32LE(Math.floor(r() * 0xffffffff), k);
    }
  }
  return buf;
}

/** Runs `input` through `transform` and returns everything it emitted. */
export async function through(input: Buffer | Buffer[], transform: NodeJS.ReadWriteStream): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(Array.isArray(input) ? input : [input]),
    transform,
    new Writable({
      write(chunk: Buffer, _e, cb) {
        out.push(chunk);
        cb();
      },
    }),
  );
  return Buffer.concat(out);
}

/** Collects a stream's output until it errors or ends; returns both. */
export async function throughSettled(input: Buffer, transform: NodeJS.ReadWriteStream): Promise<{ out: Buffer; err: (Error & { code?: string; offset?: number }) | null }> {
  const out: Buffer[] = [];
  try {
    await pipeline(
      Readable.from([input]),
      transform,
      new Writable({
        write(chunk: Buffer, _e, cb) {
          out.push(chunk);
          cb();
        },
      }),
    );
    return { out: Buffer.concat(out), err: null };
  } catch (err) {
    return { out: Buffer.concat(out), err: err as Error };
  }
}

/**
 * A version 2 pagepress stream rewritten with stream id `id` (default 0n): the stream header
 * and every frame header CRC recomputed, nothing else touched. Streams are compared with it,
 * since each encoder picks a random id; the fuzzers use it to make frames of "another stream".
 */
export function withStreamId(stream: Uint8Array, id = 0n): Buffer {
  const out = Buffer.from(stream);
  const old = decodeStreamHeader(out);
  const next: StreamHeader = { ...old, streamId: id };
  encodeStreamHeader(next).copy(out, 0);
  let at = streamHeaderLength(out);
  let frame = 0;
  while (at + FRAME_HEADER_BYTES <= out.length) {
    const h = decodeFrameHeader(out.subarray(at, at + FRAME_HEADER_BYTES), old, at, frame++);
    writeFrameHeader(out, at, h, frameSeed(next));
    at += FRAME_HEADER_BYTES + h.bodyLength;
  }
  return out;
}
