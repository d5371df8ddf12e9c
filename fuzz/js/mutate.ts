/**
 * Mutations of untrusted inputs: byte-level ones (bit flips, boundary u32s, insertions,
 * deletions, truncation) and structure-aware ones that keep checksums valid, as a hostile
 * sender would: whole pagepress frames swapped, dropped, repeated or taken from another
 * stream, header fields changed with their CRC recomputed. Frames are read and written
 * with lib/format/frame.ts, so the mutator follows the format as it changes.
 */
import { addon } from '../../lib/native';
import { decodeFrameHeader, decodeStreamHeader, encodeStreamHeader, FrameHeader, frameHeaderBytes, frameSeed, StreamHeader, streamHeaderLength, writeFrameHeader } from '../../lib/format/frame';
import { FrameType } from '../../lib/format/constants';
import { Choices } from './harness';

/** A mutated input and what was done to it (printed with a finding). */
export interface Mutated {
  bytes: Buffer;
  description: string;
  /**
   * Content was forged and every CRC over it recomputed (a body changed, a frame of another
   * stream re-sealed at its own place): nothing but the END digest can tell, so the decoder
   * must fail by END, but may have handed on the forged frame's bytes before.
   */
  forged?: boolean;
}

const BOUNDARY_U32 = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 4095, 4096, 4097, 65536, 1 << 20, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

/** One byte-level mutation of `s`. */
export function mutateBytes(s: Buffer, c: Choices): Mutated {
  if (s.length === 0) return { bytes: Buffer.from([c.below(256)]), description: 'empty input replaced by one byte' };
  const at = c.below(s.length);
  switch (c.below(7)) {
    case 0: {
      const b = Buffer.from(s);
      const bits = c.int(1, 4);
      for (let i = 0; i < bits; i++) b[(at + i * 977) % b.length] ^= 1 << c.below(8);
      return { bytes: b, description: `${bits} bit(s) flipped from byte ${at}` };
    }
    case 1: {
      const b = Buffer.from(s);
      const v = c.pick(BOUNDARY_U32);
      if (at + 4 <= b.length) b.writeUInt32LE(v, at);
      else b[at] ^= 0xff;
      return { bytes: b, description: `u32 0x${v.toString(16)} written at byte ${at}` };
    }
    case 2: {
      const n = c.int(1, 16);
      const b = Buffer.from(s);
      for (let i = 0; i < n && at + i < b.length; i++) b[at + i] = c.below(256);
      return { bytes: b, description: `${n} random bytes written at byte ${at}` };
    }
    case 3: {
      const n = c.int(1, 64);
      return { bytes: Buffer.concat([s.subarray(0, at), s.subarray(at + n)]), description: `${n} bytes deleted at byte ${at}` };
    }
    case 4: {
      const n = c.int(1, 64);
      return { bytes: Buffer.concat([s.subarray(0, at + n), s.subarray(at)]), description: `${n} bytes repeated at byte ${at}` };
    }
    case 5: {
      const ins = Buffer.from(Array.from({ length: c.int(1, 8) }, () => c.below(256)));
      return { bytes: Buffer.concat([s.subarray(0, at), ins, s.subarray(at)]), description: `${ins.length} bytes inserted at byte ${at}` };
    }
    default:
      return { bytes: s.subarray(0, at), description: `truncated to ${at} bytes` };
  }
}

/** A frame of a parsed stream: its header fields and its bytes (header and body). */
export interface Frame {
  header: FrameHeader;
  bytes: Buffer;
}

/** A pagepress stream split into its header and frames (END included, last). */
export interface SplitStream {
  header: Buffer;
  /** The parsed stream header (its `crc` seeds the frame header CRCs). */
  stream: StreamHeader;
  frames: Frame[];
}

/** Splits a valid stream into frames, with the format's own parsers. */
export function splitStream(s: Buffer): SplitStream {
  const hl = streamHeaderLength(s);
  const stream = decodeStreamHeader(s.subarray(0, hl));
  const fh = frameHeaderBytes(stream);
  const frames: Frame[] = [];
  let at = hl;
  while (at < s.length) {
    const header = decodeFrameHeader(s.subarray(at, at + fh), stream, at, frames.length);
    const end = at + fh + header.bodyLength;
    frames.push({ header, bytes: s.subarray(at, end) });
    at = end;
  }
  return { header: s.subarray(0, hl), stream, frames };
}

/** The body of a frame (its bytes after the header of `stream`'s version). */
export function frameBody(f: Frame, stream: StreamHeader): Buffer {
  return f.bytes.subarray(frameHeaderBytes(stream));
}

function join(header: Buffer, frames: Frame[]): Buffer {
  return Buffer.concat([header, ...frames.map((f) => f.bytes)]);
}

/** The frame with its header rewritten from `h`, its CRC recomputed for `stream` (as a hostile sender can). */
function withHeader(f: Frame, h: FrameHeader, stream: StreamHeader): Frame {
  const b = Buffer.from(f.bytes);
  writeFrameHeader(b, 0, h, frameSeed(stream));
  return { header: h, bytes: b };
}

/** Numeric fields of a header object, whatever the format version calls them. */
function numericFields(h: object): string[] {
  return Object.entries(h)
    .filter(([, v]) => typeof v === 'number')
    .map(([k]) => k);
}

/**
 * One structure-aware mutation of a valid stream, every CRC kept valid. `foreign` is
 * another valid stream of the same shape, to splice frames from.
 */
export function mutateFrames(s: Buffer, foreign: Buffer, c: Choices): Mutated {
  const { header, stream, frames } = splitStream(s);
  const data = frames.filter((f) => f.header.type !== FrameType.END);
  const idx = (f: Frame) => frames.indexOf(f);
  const op = c.below(7);
  if (op === 0 && data.length >= 2) {
    const a = c.below(data.length);
    let b = c.below(data.length - 1);
    if (b >= a) b++;
    const out = frames.slice();
    [out[idx(data[a])], out[idx(data[b])]] = [out[idx(data[b])], out[idx(data[a])]];
    return { bytes: join(header, out), description: `data frames ${idx(data[a])} and ${idx(data[b])} swapped` };
  }
  if (op === 1 && data.length >= 1) {
    const i = idx(c.pick(data));
    return {
      bytes: join(
        header,
        frames.filter((_, k) => k !== i),
      ),
      description: `frame ${i} dropped`,
    };
  }
  if (op === 2 && data.length >= 1) {
    const i = idx(c.pick(data));
    const out = frames.slice();
    out.splice(i + (c.chance(0.5) ? 1 : 0), 0, frames[i]);
    return { bytes: join(header, out), description: `frame ${i} repeated` };
  }
  if (op === 3) {
    const other = splitStream(foreign).frames.filter((f) => f.header.type !== FrameType.END);
    if (other.length && data.length) {
      const j = c.below(other.length);
      const i = idx(c.pick(data));
      const out = frames.slice();
      const replace = c.chance(0.5);
      // Re-sealed with this stream's header CRC, as a hostile sender would.
      out.splice(i, replace ? 1 : 0, withHeader(other[j], other[j].header, stream));
      return { bytes: join(header, out), description: `frame ${j} of another stream ${replace ? 'in place of' : 'inserted before'} frame ${i}, CRC re-sealed`, forged: true };
    }
  }
  if (op === 4) {
    // A stream header field changed, its CRC recomputed (e.g. a forged page size), and every
    // frame header re-sealed with the new CRC where that seeds theirs.
    const sh = stream as unknown as Record<string, number>;
    const field = c.pick(numericFields(sh).filter((k) => k !== 'version' && k !== 'crc'));
    const value = c.chance(0.5) ? c.pick([512, 1024, 4096, 8192, 65536, 1, 0, 4096 * 2]) : (sh[field] ^ (1 << c.below(16))) >>> 0;
    try {
      const forged = { ...stream, [field]: value };
      const h = encodeStreamHeader(forged);
      return {
        bytes: join(
          h,
          frames.map((f) => withHeader(f, f.header, forged)),
        ),
        description: `stream header ${field} ${sh[field]} -> ${value}, CRCs recomputed`,
      };
    } catch {
      /* value does not fit the field: fall through */
    }
  }
  if (op === 5 && frames.length) {
    // A frame header field changed, its CRC recomputed.
    const i = c.below(frames.length);
    const h = frames[i].header as unknown as Record<string, number>;
    const field = c.pick(numericFields(h).filter((k) => k !== 'bodyCrc'));
    const value = c.chance(0.5) ? c.pick(BOUNDARY_U32) : (h[field] ^ (1 << c.below(8))) >>> 0;
    try {
      const out = frames.slice();
      out[i] = withHeader(frames[i], { ...(h as object), [field]: value } as never, stream);
      return { bytes: join(header, out), description: `frame ${i} header ${field} ${h[field]} -> ${value}, CRC recomputed` };
    } catch {
      /* value does not fit the field */
    }
  }
  if (op === 6 && frames.length) {
    // A body byte changed, the body CRC recomputed (the image's own checks must catch it).
    const i = c.below(frames.length);
    const f = frames[i];
    const hb = frameHeaderBytes(stream);
    const body = Buffer.from(f.bytes.subarray(hb));
    if (body.length) {
      const at = c.below(body.length);
      body[at] ^= 1 << c.below(8);
      const g = withHeader({ header: f.header, bytes: Buffer.concat([f.bytes.subarray(0, hb), body]) }, { ...f.header, bodyCrc: addon.crc32c(body) }, stream);
      const out = frames.slice();
      out[i] = g;
      return { bytes: join(header, out), description: `frame ${i} body byte ${at} flipped, body CRC recomputed`, forged: true };
    }
  }
  return mutateBytes(s, c);
}

/**
 * One mutation of a Xen stream: byte-level, or record-level (8-byte aligned records of
 * u32 type, u32 length, body padded to 8, found by walking from `start`): a record
 * dropped, repeated, swapped with the next, or its length set to a boundary value.
 */
export function mutateXen(s: Buffer, c: Choices): Mutated {
  if (c.chance(0.5)) return mutateBytes(s, c);
  const recs = xenRecords(s);
  if (recs.length < 2) return mutateBytes(s, c);
  const k = c.below(recs.length - 1);
  const [a, b] = recs[k];
  const [, e] = recs[k + 1];
  switch (c.below(4)) {
    case 0:
      return { bytes: Buffer.concat([s.subarray(0, a), s.subarray(b)]), description: `record at ${a} dropped` };
    case 1:
      return { bytes: Buffer.concat([s.subarray(0, b), s.subarray(a, b), s.subarray(b)]), description: `record at ${a} repeated` };
    case 2:
      return { bytes: Buffer.concat([s.subarray(0, a), s.subarray(b, e), s.subarray(a, b), s.subarray(e)]), description: `records at ${a} and ${b} swapped` };
    default: {
      const out = Buffer.from(s);
      const v = c.pick(BOUNDARY_U32);
      out.writeUInt32LE(v, a + 4);
      return { bytes: out, description: `record at ${a}: length set to 0x${v.toString(16)}` };
    }
  }
}

/** [start, end) of the libxc/libxl records after the first libxc header (8 x 0xFF marker). */
function xenRecords(s: Buffer): Array<[number, number]> {
  const marker = s.indexOf(Buffer.alloc(8, 0xff));
  if (marker < 0) return [];
  // Image header (24) and domain header (16), then records.
  let at = marker + 24 + 16;
  const out: Array<[number, number]> = [];
  while (at + 8 <= s.length) {
    const len = s.readUInt32LE(at + 4);
    const end = at + 8 + Math.ceil(len / 8) * 8;
    if (end > s.length) break;
    out.push([at, end]);
    if (s.readUInt32LE(at) === 0) break; // libxc END
    at = end;
  }
  return out;
}
