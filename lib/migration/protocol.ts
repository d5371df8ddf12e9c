/**
 * The pre-copy migration protocol: message types, their binary layouts, the framing on
 * one byte stream (a net.Socket, or a tls.TLSSocket in its place), and the whole-memory
 * checksum of COMMIT. Everything a peer sends is checked against a limit before anything
 * is allocated for it. See docs/MIGRATION.md for the message table and the sequence.
 *
 * Framing: [u32 body length][u8 type][body], little-endian like the pagepress format.
 * This framing and the first 8 bytes of HELLO / HELLO_ACK (magic, version) never change
 * between protocol versions, so a peer of another version is always told "version".
 */
import type { Duplex } from 'node:stream';
import { addon } from '../native';
import { ErrorCode, ErrorCodes, PagepressError } from '../errors';
import { MAX_GUEST_PAGES } from './guest';

/** Magic at the start of HELLO and HELLO_ACK: "PPMG". */
export const PROTOCOL_MAGIC = Buffer.from('PPMG', 'latin1');
/** Protocol version this code speaks. */
export const PROTOCOL_VERSION = 1;
/** Bytes of a message header: u32 body length + u8 type. */
export const MESSAGE_HEADER_BYTES = 5;
/** Hard cap on one message body (a BATCH of 4096 incompressible 64 KiB pages stays under it). */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
/** Pages per COMMIT checksum chunk. */
export const CHECKSUM_CHUNK_PAGES = 1024;
/** Most iterations a receiver accepts (the sender's own cap is 10000). */
export const MAX_ITERATIONS = 100_000;
/** Longest ERROR/ABORT reason kept (UTF-8 bytes); longer reasons are cut. */
export const MAX_REASON_BYTES = 4096;
/** Longest HELLO / HELLO_ACK `meta` JSON (UTF-8 bytes). */
export const MAX_META_BYTES = 32 * 1024;

/** Message type bytes. */
export const MessageType = {
  HELLO: 1,
  HELLO_ACK: 2,
  ERROR: 3,
  ITERATION_BEGIN: 4,
  BATCH: 5,
  ITERATION_END: 6,
  PAUSED: 7,
  COMMIT: 8,
  COMMIT_ACK: 9,
  GO: 10,
  RESUMED: 11,
  ABORT: 12,
  ITERATION_ACK: 13,
} as const;

/** Name of a message type. */
export type MessageName = keyof typeof MessageType;

const NAMES: Record<number, MessageName> = Object.fromEntries(Object.entries(MessageType).map(([k, v]) => [v, k as MessageName]));

/** Name of type byte `t`, or `type N` for an unknown one. */
export function messageName(t: number): string {
  return NAMES[t] ?? `type ${t}`;
}

// Largest body of each type: checked on the 5-byte header, before the body is buffered.
const FIXED_LIMITS: Record<number, number> = {
  [MessageType.HELLO]: 64 * 1024,
  [MessageType.HELLO_ACK]: 64 * 1024,
  [MessageType.ERROR]: 8 + 255 + MAX_REASON_BYTES,
  [MessageType.ITERATION_BEGIN]: 12,
  [MessageType.BATCH]: MAX_MESSAGE_BYTES,
  [MessageType.ITERATION_END]: 16,
  [MessageType.PAUSED]: 4,
  [MessageType.COMMIT]: 16 + 4 * Math.ceil(MAX_GUEST_PAGES / CHECKSUM_CHUNK_PAGES),
  [MessageType.COMMIT_ACK]: 12 + 4 * CHECKSUM_CHUNK_PAGES,
  [MessageType.GO]: 0,
  [MessageType.RESUMED]: 16,
  [MessageType.ABORT]: 8 + 255 + MAX_REASON_BYTES,
  [MessageType.ITERATION_ACK]: 4,
};

/** HELLO: the sender introduces the guest and the encoder settings. */
export interface Hello {
  version: number;
  pageSize: number;
  pageCount: number;
  batchPages: number;
  cacheSlots: number;
  /** Codec name as given to the encoder (frames carry their own codec id). */
  codec: string;
  level: number;
  /** The encoder's pagepress stream header: the decoder is configured from it. */
  streamHeader: Buffer;
  /** Free-form description for reports (guest, policy, link); JSON, at most MAX_META_BYTES. */
  meta: Record<string, unknown>;
}

/** One message, by type. */
export type Message =
  | ({ type: 'HELLO' } & Hello)
  | { type: 'HELLO_ACK'; version: number; meta: Record<string, unknown> }
  | { type: 'ERROR' | 'ABORT'; code: string; reason: string }
  | { type: 'ITERATION_BEGIN'; iteration: number; dirtyCount: number; final: boolean }
  | { type: 'BATCH'; iteration: number; pfns: Uint32Array; frame: Buffer; /** Received: the whole message's bytes. */ bytes?: number }
  | { type: 'ITERATION_END'; iteration: number; pages: number; bytes: number }
  | { type: 'PAUSED'; iteration: number }
  | { type: 'ITERATION_ACK'; iteration: number }
  | { type: 'COMMIT'; pageCount: number; chunkPages: number; checksum: number; chunks: Uint32Array }
  | { type: 'COMMIT_ACK'; ok: boolean; firstPfn: number; pageCrcs: Uint32Array }
  | { type: 'GO' }
  | { type: 'RESUMED'; verifyMs: number; resumeMs: number };

/** The message of type `T`. */
export type MessageOf<T extends MessageName> = Extract<Message, { type: T }>;

/** Where a migration was when it failed. */
export type MigrationPhase = 'connect' | 'handshake' | 'precopy' | 'final copy' | 'commit' | 'resume' | 'done';

/**
 * A failed migration. `code` says what (ErrorCodes; a peer's code is passed on), `remote`
 * whether the peer reported it, `phase` when it happened.
 */
export class MigrationError extends PagepressError {
  readonly phase: MigrationPhase;
  readonly remote: boolean;
  /** Sender only: the source guest's state after the failure. */
  sourceState?: 'running' | 'paused';

  constructor(message: string, code: ErrorCode, phase: MigrationPhase, remote = false, record?: string) {
    super(message, code, { record });
    this.name = 'MigrationError';
    this.phase = phase;
    this.remote = remote;
  }
}

/** `err` as a MigrationError of `phase` (kept as is when it already is one). */
export function asMigrationError(err: unknown, phase: MigrationPhase): MigrationError {
  if (err instanceof MigrationError) return err;
  const e = err as { message?: string; code?: string; record?: string };
  const code = typeof e?.code === 'string' && isKnownCode(e.code) ? (e.code as ErrorCode) : ErrorCodes.ABORTED;
  const m = new MigrationError(String(e?.message ?? err), code, phase, false, e?.record);
  if (err instanceof Error && err.stack) m.stack = err.stack;
  return m;
}

function isKnownCode(code: string): boolean {
  return (Object.values(ErrorCodes) as string[]).includes(code);
}

function protocolError(message: string, code: ErrorCode = ErrorCodes.FORMAT, record?: string): PagepressError {
  return new PagepressError(message, code, { record });
}

// ---------------------------------------------------------------------------
// Encoding

function header(type: number, bodyLength: number): Buffer {
  const h = Buffer.allocUnsafe(MESSAGE_HEADER_BYTES);
  h.writeUInt32LE(bodyLength, 0);
  h.writeUInt8(type, 4);
  return h;
}

function utf8Capped(text: string, max: number): Buffer {
  const b = Buffer.from(text, 'utf8');
  if (b.length <= max) return b;
  // Cut on a character boundary.
  let end = max;
  while (end > 0 && (b[end] & 0xc0) === 0x80) end--;
  return b.subarray(0, end);
}

function metaBytes(meta: Record<string, unknown>): Buffer {
  const b = Buffer.from(JSON.stringify(meta ?? {}), 'utf8');
  if (b.length > MAX_META_BYTES) throw new PagepressError(`meta is ${b.length} bytes of JSON, at most ${MAX_META_BYTES} allowed`, ErrorCodes.LIMIT);
  return b;
}

/**
 * Encodes `m` as the buffers to write, header first. A BATCH's frame is passed through
 * without a copy.
 */
export function encodeMessage(m: Message): Buffer[] {
  let body: Buffer;
  switch (m.type) {
    case 'HELLO': {
      const codec = Buffer.from(m.codec, 'latin1');
      const meta = metaBytes(m.meta);
      if (codec.length > 255 || m.streamHeader.length > 255) throw new PagepressError('HELLO: codec name or stream header too long', ErrorCodes.ARG);
      body = Buffer.alloc(33 + codec.length + 1 + m.streamHeader.length + 4 + meta.length);
      PROTOCOL_MAGIC.copy(body, 0);
      body.writeUInt16LE(m.version, 4);
      body.writeUInt16LE(0, 6); // flags
      body.writeUInt32LE(m.pageSize, 8);
      body.writeUInt32LE(m.pageCount, 12);
      body.writeUInt32LE(m.batchPages, 16);
      body.writeUInt32LE(m.cacheSlots, 20);
      body.writeInt32LE(m.level, 24);
      body.writeUInt32LE(0, 28); // reserved
      // codec: u8 length + latin1; stream header: u8 length + bytes; meta: u32 length + JSON
      body.writeUInt8(codec.length, 32);
      let at = 33;
      codec.copy(body, at);
      at += codec.length;
      body.writeUInt8(m.streamHeader.length, at);
      at += 1;
      m.streamHeader.copy(body, at);
      at += m.streamHeader.length;
      body.writeUInt32LE(meta.length, at);
      meta.copy(body, at + 4);
      body = body.subarray(0, at + 4 + meta.length);
      break;
    }
    case 'HELLO_ACK': {
      const meta = metaBytes(m.meta);
      body = Buffer.alloc(12 + meta.length);
      PROTOCOL_MAGIC.copy(body, 0);
      body.writeUInt16LE(m.version, 4);
      body.writeUInt16LE(0, 6);
      body.writeUInt32LE(meta.length, 8);
      meta.copy(body, 12);
      break;
    }
    case 'ERROR':
    case 'ABORT': {
      const code = utf8Capped(m.code, 255);
      const reason = utf8Capped(m.reason, MAX_REASON_BYTES);
      body = Buffer.alloc(1 + code.length + 2 + reason.length);
      body.writeUInt8(code.length, 0);
      code.copy(body, 1);
      body.writeUInt16LE(reason.length, 1 + code.length);
      reason.copy(body, 3 + code.length);
      break;
    }
    case 'ITERATION_BEGIN':
      body = Buffer.alloc(12);
      body.writeUInt32LE(m.iteration, 0);
      body.writeUInt32LE(m.dirtyCount, 4);
      body.writeUInt32LE(m.final ? 1 : 0, 8);
      break;
    case 'BATCH': {
      const runs = encodePfnRuns(m.pfns);
      const head = Buffer.alloc(MESSAGE_HEADER_BYTES + 12 + runs.length);
      const bodyLength = 12 + runs.length + m.frame.length;
      head.writeUInt32LE(bodyLength, 0);
      head.writeUInt8(MessageType.BATCH, 4);
      head.writeUInt32LE(m.iteration, 5);
      head.writeUInt32LE(m.pfns.length, 9);
      head.writeUInt32LE(runs.length, 13);
      runs.copy(head, 17);
      return [head, m.frame];
    }
    case 'ITERATION_END':
      body = Buffer.alloc(16);
      body.writeUInt32LE(m.iteration, 0);
      body.writeUInt32LE(m.pages, 4);
      body.writeBigUInt64LE(BigInt(m.bytes), 8);
      break;
    case 'PAUSED':
    case 'ITERATION_ACK':
      body = Buffer.alloc(4);
      body.writeUInt32LE(m.iteration, 0);
      break;
    case 'COMMIT':
      body = Buffer.alloc(16 + 4 * m.chunks.length);
      body.writeUInt32LE(m.pageCount, 0);
      body.writeUInt32LE(m.chunkPages, 4);
      body.writeUInt32LE(m.checksum >>> 0, 8);
      body.writeUInt32LE(m.chunks.length, 12);
      writeU32s(body, 16, m.chunks);
      break;
    case 'COMMIT_ACK':
      body = Buffer.alloc(12 + 4 * m.pageCrcs.length);
      body.writeUInt32LE(m.ok ? 1 : 0, 0);
      body.writeUInt32LE(m.firstPfn, 4);
      body.writeUInt32LE(m.pageCrcs.length, 8);
      writeU32s(body, 12, m.pageCrcs);
      break;
    case 'GO':
      body = Buffer.alloc(0);
      break;
    case 'RESUMED':
      body = Buffer.alloc(16);
      body.writeDoubleLE(m.verifyMs, 0);
      body.writeDoubleLE(m.resumeMs, 8);
      break;
  }
  return [header(MessageType[m.type], body.length), body];
}

function writeU32s(b: Buffer, at: number, values: Uint32Array): void {
  for (let i = 0; i < values.length; i++) b.writeUInt32LE(values[i] >>> 0, at + 4 * i);
}

function readU32s(b: Buffer, at: number, n: number): Uint32Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = b.readUInt32LE(at + 4 * i);
  return out;
}

// ---------------------------------------------------------------------------
// pfn runs: a batch's pfns as (gap, run length - 1) ULEB128 pairs.

function pushUleb(out: number[], v: number): void {
  do {
    let byte = v & 0x7f;
    v = Math.floor(v / 128);
    if (v > 0) byte |= 0x80;
    out.push(byte);
  } while (v > 0);
}

/**
 * Encodes strictly ascending pfns as runs: for each run of consecutive pfns, ULEB128 of its
 * distance from the end of the previous run (from 0 for the first), then ULEB128 of its
 * length - 1. A pass over the whole guest costs a few bytes per batch.
 */
export function encodePfnRuns(pfns: ArrayLike<number>): Buffer {
  const out: number[] = [];
  let end = 0;
  let i = 0;
  while (i < pfns.length) {
    const first = pfns[i];
    if (first < end) throw new PagepressError(`pfns must be strictly ascending: ${first} after ${end - 1}`, ErrorCodes.ARG);
    let j = i + 1;
    while (j < pfns.length && pfns[j] === first + (j - i)) j++;
    pushUleb(out, first - end);
    pushUleb(out, j - i - 1);
    end = first + (j - i);
    i = j;
  }
  return Buffer.from(out);
}

/**
 * Decodes `count` pfns from runs, each below `pageCount`.
 * @throws PagepressError PP_ERR_FORMAT for a bad varint, a pfn out of range, a wrong count or bytes left over
 */
export function decodePfnRuns(runs: Uint8Array, count: number, pageCount: number): Uint32Array {
  const out = new Uint32Array(count);
  let at = 0;
  let n = 0;
  let end = 0;
  const uleb = (): number => {
    let v = 0;
    let scale = 1;
    for (let k = 0; k < 5; k++) {
      if (at >= runs.length) throw protocolError(`pfn runs end inside a number at byte ${at}`, ErrorCodes.FORMAT, 'BATCH pfns');
      const byte = runs[at++];
      v += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) return v;
      scale *= 128;
    }
    throw protocolError(`pfn runs: number longer than 5 bytes at byte ${at - 5}`, ErrorCodes.FORMAT, 'BATCH pfns');
  };
  while (at < runs.length) {
    const first = end + uleb();
    const length = uleb() + 1;
    if (n + length > count) throw protocolError(`pfn runs hold more than the ${count} pages the BATCH announces`, ErrorCodes.FORMAT, 'BATCH pfns');
    if (first + length > pageCount) throw protocolError(`pfn run ${first}..${first + length - 1} is outside the guest (0..${pageCount - 1})`, ErrorCodes.FORMAT, 'BATCH pfns');
    for (let k = 0; k < length; k++) out[n++] = first + k;
    end = first + length;
  }
  if (n !== count) throw protocolError(`pfn runs hold ${n} pages, the BATCH announces ${count}`, ErrorCodes.FORMAT, 'BATCH pfns');
  return out;
}

// ---------------------------------------------------------------------------
// Decoding

function expectLength(name: string, body: Buffer, n: number): void {
  if (body.length !== n) throw protocolError(`${name} body is ${body.length} bytes, expected ${n}`, ErrorCodes.FORMAT, name);
}

function need(name: string, body: Buffer, n: number, what: string): void {
  if (body.length < n) throw protocolError(`${name} ends inside ${what} (${body.length} bytes)`, ErrorCodes.FORMAT, name);
}

function parseMeta(name: string, bytes: Buffer): Record<string, unknown> {
  try {
    const v = JSON.parse(bytes.toString('utf8')) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch (err) {
    throw protocolError(`${name} meta is not a JSON object: ${(err as Error).message}`, ErrorCodes.FORMAT, name);
  }
}

/**
 * Checks the magic and version at the start of HELLO / HELLO_ACK, before anything else of
 * the body is read (a peer of another version may lay the rest out differently).
 */
function checkMagicVersion(name: string, body: Buffer, supported: number): number {
  need(name, body, 8, 'the magic and version');
  if (!body.subarray(0, 4).equals(PROTOCOL_MAGIC)) {
    throw protocolError(`${name}: bad magic 0x${body.subarray(0, 4).toString('hex')} (expected "PPMG"): not a pagepress migration peer`, ErrorCodes.MAGIC, name);
  }
  const version = body.readUInt16LE(4);
  if (version !== supported) {
    throw protocolError(`${name}: peer speaks migration protocol version ${version}, this side speaks version ${supported}`, ErrorCodes.VERSION, name);
  }
  return version;
}

/**
 * Decodes one message body of type byte `type`. `version` is the protocol version this side
 * accepts in HELLO / HELLO_ACK.
 * @throws PagepressError PP_ERR_FORMAT (bad layout), PP_ERR_MAGIC, PP_ERR_VERSION
 */
export function decodeMessage(type: number, body: Buffer, version = PROTOCOL_VERSION): Message {
  const name = messageName(type);
  switch (type) {
    case MessageType.HELLO: {
      const v = checkMagicVersion(name, body, version);
      need(name, body, 34, 'its fixed fields');
      const codecLength = body.readUInt8(32);
      let at = 33;
      need(name, body, at + codecLength + 1, 'the codec name');
      const codec = body.toString('latin1', at, at + codecLength);
      at += codecLength;
      const headerLength = body.readUInt8(at);
      at += 1;
      need(name, body, at + headerLength + 4, 'the stream header');
      const streamHeader = Buffer.from(body.subarray(at, at + headerLength));
      at += headerLength;
      const metaLength = body.readUInt32LE(at);
      at += 4;
      if (metaLength > MAX_META_BYTES) throw protocolError(`${name} meta of ${metaLength} bytes exceeds ${MAX_META_BYTES}`, ErrorCodes.LIMIT, name);
      expectLength(name, body, at + metaLength);
      return {
        type: 'HELLO',
        version: v,
        pageSize: body.readUInt32LE(8),
        pageCount: body.readUInt32LE(12),
        batchPages: body.readUInt32LE(16),
        cacheSlots: body.readUInt32LE(20),
        level: body.readInt32LE(24),
        codec,
        streamHeader,
        meta: parseMeta(name, body.subarray(at)),
      };
    }
    case MessageType.HELLO_ACK: {
      const v = checkMagicVersion(name, body, version);
      need(name, body, 12, 'its fixed fields');
      const metaLength = body.readUInt32LE(8);
      if (metaLength > MAX_META_BYTES) throw protocolError(`${name} meta of ${metaLength} bytes exceeds ${MAX_META_BYTES}`, ErrorCodes.LIMIT, name);
      expectLength(name, body, 12 + metaLength);
      return { type: 'HELLO_ACK', version: v, meta: parseMeta(name, body.subarray(12)) };
    }
    case MessageType.ERROR:
    case MessageType.ABORT: {
      need(name, body, 1, 'the code');
      const codeLength = body.readUInt8(0);
      need(name, body, 3 + codeLength, 'the code');
      const reasonLength = body.readUInt16LE(1 + codeLength);
      expectLength(name, body, 3 + codeLength + reasonLength);
      return {
        type: type === MessageType.ERROR ? 'ERROR' : 'ABORT',
        code: body.toString('utf8', 1, 1 + codeLength),
        reason: body.toString('utf8', 3 + codeLength),
      };
    }
    case MessageType.ITERATION_BEGIN: {
      expectLength(name, body, 12);
      const flags = body.readUInt32LE(8);
      if (flags > 1) throw protocolError(`${name}: unknown flags 0x${flags.toString(16)}`, ErrorCodes.FORMAT, name);
      return { type: 'ITERATION_BEGIN', iteration: body.readUInt32LE(0), dirtyCount: body.readUInt32LE(4), final: flags === 1 };
    }
    case MessageType.BATCH: {
      // pfns are decoded by the receiver, which knows the guest size (decodeBatchBody).
      throw protocolError('BATCH bodies are decoded with decodeBatchBody', ErrorCodes.ARG, name);
    }
    case MessageType.ITERATION_END: {
      expectLength(name, body, 16);
      const bytes = body.readBigUInt64LE(8);
      if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) throw protocolError(`${name}: byte count ${bytes} out of range`, ErrorCodes.FORMAT, name);
      return { type: 'ITERATION_END', iteration: body.readUInt32LE(0), pages: body.readUInt32LE(4), bytes: Number(bytes) };
    }
    case MessageType.PAUSED:
      expectLength(name, body, 4);
      return { type: 'PAUSED', iteration: body.readUInt32LE(0) };
    case MessageType.ITERATION_ACK:
      expectLength(name, body, 4);
      return { type: 'ITERATION_ACK', iteration: body.readUInt32LE(0) };
    case MessageType.COMMIT: {
      need(name, body, 16, 'its fixed fields');
      const n = body.readUInt32LE(12);
      expectLength(name, body, 16 + 4 * n);
      return { type: 'COMMIT', pageCount: body.readUInt32LE(0), chunkPages: body.readUInt32LE(4), checksum: body.readUInt32LE(8), chunks: readU32s(body, 16, n) };
    }
    case MessageType.COMMIT_ACK: {
      need(name, body, 12, 'its fixed fields');
      const ok = body.readUInt32LE(0);
      if (ok > 1) throw protocolError(`${name}: status ${ok} is neither 0 (mismatch) nor 1 (ok)`, ErrorCodes.FORMAT, name);
      const n = body.readUInt32LE(8);
      expectLength(name, body, 12 + 4 * n);
      return { type: 'COMMIT_ACK', ok: ok === 1, firstPfn: body.readUInt32LE(4), pageCrcs: readU32s(body, 12, n) };
    }
    case MessageType.GO:
      expectLength(name, body, 0);
      return { type: 'GO' };
    case MessageType.RESUMED:
      expectLength(name, body, 16);
      return { type: 'RESUMED', verifyMs: body.readDoubleLE(0), resumeMs: body.readDoubleLE(8) };
    default:
      throw protocolError(`unknown message type ${type}`, ErrorCodes.FORMAT);
  }
}

/**
 * Decodes a BATCH body for a guest of `pageCount` pages and batches of at most `batchPages`.
 * The frame is checked by the caller (its header against the stream header, its body by
 * the decoder).
 */
export function decodeBatchBody(body: Buffer, pageCount: number, batchPages: number): MessageOf<'BATCH'> {
  need('BATCH', body, 12, 'its fixed fields');
  const iteration = body.readUInt32LE(0);
  const count = body.readUInt32LE(4);
  const runsLength = body.readUInt32LE(8);
  if (count < 1 || count > batchPages) throw protocolError(`BATCH of ${count} pages: must hold 1..${batchPages} (HELLO's batchPages)`, ErrorCodes.LIMIT, 'BATCH');
  need('BATCH', body, 12 + runsLength, 'its pfn runs');
  const pfns = decodePfnRuns(body.subarray(12, 12 + runsLength), count, pageCount);
  return { type: 'BATCH', iteration, pfns, frame: body.subarray(12 + runsLength), bytes: MESSAGE_HEADER_BYTES + body.length };
}

// ---------------------------------------------------------------------------
// The whole-memory checksum of COMMIT

/**
 * CRC32C of each page of `pages` (whole pages back to back) into `out` from index `at`.
 */
export function pageChecksums(pages: Uint8Array, pageSize: number, out: Uint32Array, at = 0): void {
  const n = Math.floor(pages.length / pageSize);
  for (let i = 0; i < n; i++) out[at + i] = addon.crc32c(pages.subarray(i * pageSize, (i + 1) * pageSize));
}

/**
 * The checksum of one chunk: CRC32C over the little-endian u32 CRC32Cs of its pages.
 * Defined over page CRCs so that either side can keep them per page as pages change.
 */
export function chunkChecksum(pageCrcs: Uint32Array): number {
  return addon.crc32c(u32le(pageCrcs));
}

const BIG_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 0;

/** The bytes of `v` as little-endian u32s (a view on little-endian hosts, a copy elsewhere). */
function u32le(v: Uint32Array): Uint8Array {
  if (!BIG_ENDIAN) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  const b = Buffer.allocUnsafe(v.byteLength);
  writeU32s(b, 0, v);
  return b;
}

/** Chunk checksums of a whole page-CRC table (CHECKSUM_CHUNK_PAGES pages per chunk). */
export function chunkChecksums(pageCrcs: Uint32Array, chunkPages = CHECKSUM_CHUNK_PAGES): Uint32Array {
  const n = Math.ceil(pageCrcs.length / chunkPages);
  const out = new Uint32Array(n);
  for (let k = 0; k < n; k++) out[k] = chunkChecksum(pageCrcs.subarray(k * chunkPages, (k + 1) * chunkPages));
  return out;
}

/** The whole-memory checksum: CRC32C over the chunk checksums. */
export function memoryChecksum(chunks: Uint32Array): number {
  return addon.crc32c(u32le(chunks));
}

// ---------------------------------------------------------------------------
// The channel: framing and failure handling on one socket

/** Options of a {@link MessageChannel}. */
export interface ChannelOptions {
  /** Which end this is (error messages name the other one). */
  side: 'sender' | 'receiver';
  /** No bytes in or out (and no local progress) for this long fails the channel; 0 = never. */
  idleTimeoutMs: number;
  /** Protocol version accepted in HELLO / HELLO_ACK. */
  version?: number;
  /** Queued incoming bytes above which the socket stops reading (backpressure). Default 16 MiB. */
  highWaterBytes?: number;
  /** How long a closing channel waits for the peer to close before destroying the socket. Default 2000 ms. */
  closeGraceMs?: number;
}

interface Pending {
  resolve: (m: Message) => void;
  reject: (e: Error) => void;
}

/**
 * Messages over one byte stream. Sends with backpressure; receives in order with a bounded
 * queue (the socket pauses above the high-water mark). A peer's ERROR/ABORT, a closed or
 * failed connection, a malformed message or the idle timeout fail the channel: every
 * pending and later send/next rejects with that one error.
 */
export class MessageChannel {
  /** Protocol bytes written / read, headers included. */
  bytesSent = 0;
  bytesReceived = 0;
  /** What the migration is doing now, for error messages. */
  phase: MigrationPhase = 'handshake';
  /** The first failure, or null. */
  failure: MigrationError | null = null;
  /** Rejects with the first failure (never resolves). */
  readonly failed: Promise<never>;
  private rejectFailed!: (e: MigrationError) => void;
  private readonly peer: string;
  private readonly idleTimeoutMs: number;
  private readonly version: number;
  private readonly highWater: number;
  private readonly graceMs: number;
  private readonly limits = new Map<number, number>(Object.entries(FIXED_LIMITS).map(([k, v]) => [Number(k), v]));
  // Raw messages: decoded when taken, so a BATCH is decoded with the geometry of the HELLO before it.
  private readonly queue: Array<{ type: number; body: Buffer; at: number }> = [];
  private queuedBytes = 0;
  private geometry: { pageCount: number; batchPages: number } | null = null;
  // Set when the peer closed cleanly: messages queued before its FIN stay readable.
  private drainable = false;
  private readonly waiting: Pending[] = [];
  private readonly drainWaiters: Array<() => void> = [];
  // Incoming bytes not yet parsed.
  private chunks: Buffer[] = [];
  private buffered = 0;
  private head: { type: number; length: number } | null = null;
  private offset = 0;
  private lastActivity = performance.now();
  private idleTimer: NodeJS.Timeout | null = null;
  private closing = false;
  private readonly closed: Promise<void>;

  constructor(
    private readonly socket: Duplex,
    options: ChannelOptions,
  ) {
    this.peer = options.side === 'sender' ? 'receiver' : 'sender';
    this.idleTimeoutMs = options.idleTimeoutMs;
    this.version = options.version ?? PROTOCOL_VERSION;
    this.highWater = options.highWaterBytes ?? 16 * 1024 * 1024;
    this.graceMs = options.closeGraceMs ?? 2000;
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    this.failed = new Promise<never>((_resolve, reject) => (this.rejectFailed = reject));
    this.failed.catch(() => undefined);
    (socket as { setNoDelay?: (v: boolean) => void }).setNoDelay?.(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onGone(null));
    socket.on('close', () => this.onGone(null));
    socket.on('error', (err: Error) => this.onGone(err));
    socket.on('drain', () => this.wakeDrain());
    this.armIdle();
  }

  /** Lowers (or raises, up to MAX_MESSAGE_BYTES) the largest accepted body of a message type. */
  setLimit(type: number, maxBody: number): void {
    this.limits.set(type, Math.min(maxBody, MAX_MESSAGE_BYTES));
  }

  /** Guest geometry from HELLO: BATCH messages are decoded (and their pfns checked) with it. */
  setGeometry(pageCount: number, batchPages: number): void {
    this.geometry = { pageCount, batchPages };
  }

  /** True while the socket's write buffer is over its high-water mark: the link is the bottleneck. */
  get backedUp(): boolean {
    return this.socket.writableNeedDrain;
  }

  /** Marks local progress (work that is not socket I/O), so the idle timer does not fire. */
  touch(): void {
    this.lastActivity = performance.now();
  }

  /**
   * Writes `m`; resolves once the socket took it (after 'drain' when its buffer is full).
   * @throws MigrationError the channel's failure
   */
  async send(m: Message): Promise<void> {
    this.throwIfFailed();
    const parts = encodeMessage(m);
    let ok = true;
    for (const p of parts) {
      this.bytesSent += p.length;
      ok = this.socket.write(p, (err) => {
        if (!err) this.touch();
      });
    }
    this.touch();
    if (!ok) await this.waitDrain();
    this.throwIfFailed(); // again: the socket may have failed while we waited
  }

  // A method, not an inline check: TypeScript keeps `this.failure` narrowed to null across
  // the await above, so an inline second check would type as throwing `never`.
  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }

  /**
   * The next message. A peer's ERROR or ABORT rejects (as a remote MigrationError), like
   * any other failure. `timeoutMs` (optional) bounds the wait with a TIMEOUT failure.
   */
  next(timeoutMs = 0): Promise<Message> {
    if (this.failure && !this.drainable) return Promise.reject(this.failure);
    const q = this.queue.shift();
    if (q) {
      this.queuedBytes -= q.body.length;
      if (!this.failure && this.queuedBytes < this.highWater / 2 && this.socket.isPaused()) this.socket.resume();
      try {
        return Promise.resolve(this.decode(q.type, q.body, q.at));
      } catch (err) {
        return Promise.reject(this.fail(err));
      }
    }
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<Message>((resolve, reject) => {
      const p: Pending = { resolve, reject };
      this.waiting.push(p);
      if (timeoutMs > 0) {
        const t = setTimeout(() => {
          this.fail(new MigrationError(`no message from the ${this.peer} for ${timeoutMs} ms during ${this.phase}`, ErrorCodes.TIMEOUT, this.phase));
        }, timeoutMs);
        const done = (): void => clearTimeout(t);
        p.resolve = (v) => (done(), resolve(v));
        p.reject = (e) => (done(), reject(e));
      }
    });
  }

  /** The next message, which must be of type `type`; anything else fails the channel. */
  async expect<T extends MessageName>(type: T, timeoutMs = 0): Promise<MessageOf<T>> {
    const m = await this.next(timeoutMs);
    if (m.type !== type) throw this.fail(this.unexpected(m, type));
    return m as MessageOf<T>;
  }

  /** A FORMAT failure for message `m` arriving where `wanted` was expected. */
  unexpected(m: Message, wanted: string): MigrationError {
    return new MigrationError(`protocol error: ${m.type} from the ${this.peer} during ${this.phase}, expected ${wanted}`, ErrorCodes.FORMAT, this.phase, false, m.type);
  }

  /**
   * Fails the channel with a local error: tells the peer (ABORT, or ERROR during the
   * handshake) unless the error came from the peer or the connection, then closes.
   * Returns the channel's failure (the first one wins).
   */
  fail(err: unknown): MigrationError {
    if (this.failure) {
      this.drainable = false;
      return this.failure;
    }
    const e = asMigrationError(err, this.phase);
    this.failure = e;
    const tellPeer = !e.remote && !this.socket.destroyed && this.socket.writable && e.record !== 'connection';
    if (tellPeer) {
      for (const p of encodeMessage({ type: this.phase === 'handshake' ? 'ERROR' : 'ABORT', code: e.code, reason: e.message })) this.socket.write(p);
    }
    this.shutdown();
    this.rejectAll(e);
    this.rejectFailed(e);
    return e;
  }

  /** Normal end: closes our side and waits (a bounded time) for the peer to close. */
  async close(): Promise<void> {
    this.closing = true;
    this.shutdown();
    await this.closed;
  }

  /** Destroys the socket now (after a failure, or on shutdown of a process). */
  destroy(): void {
    this.closing = true;
    this.clearIdle();
    this.socket.destroy();
  }

  /** Resolves once the socket has closed. */
  whenClosed(): Promise<void> {
    return this.closed;
  }

  private shutdown(): void {
    this.clearIdle();
    // End our side, keep reading (and dropping) what the peer still sends, so the kernel
    // does not answer unread data with a reset that could discard our ABORT; destroy
    // after the grace period whatever happens.
    if (this.socket.isPaused()) this.socket.resume();
    if (!this.socket.destroyed) this.socket.end();
    const t = setTimeout(() => this.socket.destroy(), this.graceMs);
    t.unref();
    void this.closed.then(() => clearTimeout(t));
  }

  private rejectAll(e: MigrationError): void {
    for (const p of this.waiting.splice(0)) p.reject(e);
    this.wakeDrain();
    if (!this.drainable) this.queue.length = 0;
    this.chunks = [];
    this.buffered = 0;
  }

  private waitDrain(): Promise<void> {
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private wakeDrain(): void {
    this.touch();
    for (const w of this.drainWaiters.splice(0)) w();
  }

  private onGone(err: Error | null): void {
    // After the last message ('done') the peer may close first: that is the normal end.
    if (this.failure || this.closing || this.phase === 'done') {
      this.wakeDrain();
      return;
    }
    const why = err ? `connection to the ${this.peer} failed during ${this.phase}: ${err.message}` : `connection closed by the ${this.peer} during ${this.phase}`;
    const e = new MigrationError(why, ErrorCodes.ABORTED, this.phase, false, 'connection');
    // A clean close after the peer's last message: what it sent before stays readable.
    this.drainable = err === null && this.queue.length > 0;
    this.fail(e);
  }

  private armIdle(): void {
    if (this.idleTimeoutMs <= 0) return;
    const check = (): void => {
      this.idleTimer = null;
      if (this.failure || this.closing) return;
      const idle = performance.now() - this.lastActivity;
      if (idle >= this.idleTimeoutMs) {
        this.fail(
          new MigrationError(
            `idle timeout: no progress for ${Math.round(idle)} ms (limit ${this.idleTimeoutMs} ms) during ${this.phase}, the ${this.peer} is stalled or gone`,
            ErrorCodes.TIMEOUT,
            this.phase,
          ),
        );
        return;
      }
      this.idleTimer = setTimeout(check, this.idleTimeoutMs - idle + 1);
    };
    this.idleTimer = setTimeout(check, this.idleTimeoutMs);
  }

  private clearIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  private onData(chunk: Buffer): void {
    if (this.failure || this.closing) return; // draining after a failure
    this.touch();
    this.bytesReceived += chunk.length;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    try {
      this.parse();
    } catch (err) {
      this.fail(err);
    }
  }

  private take(n: number): Buffer {
    // Joins exactly n bytes off the front of the chunk list.
    const first = this.chunks[0];
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let at = 0;
      while (at < n) {
        const c = this.chunks[0];
        const k = Math.min(c.length, n - at);
        c.copy(out, at, 0, k);
        at += k;
        if (k === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(k);
      }
    }
    this.buffered -= n;
    return out;
  }

  private parse(): void {
    for (;;) {
      if (!this.head) {
        if (this.buffered < MESSAGE_HEADER_BYTES) return;
        const h = this.take(MESSAGE_HEADER_BYTES);
        const length = h.readUInt32LE(0);
        const type = h.readUInt8(4);
        const limit = this.limits.get(type);
        if (limit === undefined) {
          throw new MigrationError(
            `protocol error: unknown message type ${type} from the ${this.peer} at byte ${this.offset} of the connection`,
            ErrorCodes.FORMAT,
            this.phase,
            false,
            'message header',
          );
        }
        if (length > limit) {
          throw new MigrationError(
            `protocol error: ${messageName(type)} message of ${length} bytes from the ${this.peer} at byte ${this.offset} exceeds the limit of ${limit}`,
            ErrorCodes.LIMIT,
            this.phase,
            false,
            'message header',
          );
        }
        this.head = { type, length };
      }
      const { type, length } = this.head;
      if (this.buffered < length) return;
      const body = length === 0 ? Buffer.alloc(0) : this.take(length);
      const at = this.offset;
      this.offset += MESSAGE_HEADER_BYTES + length;
      this.head = null;
      this.deliver(type, body, at);
      if (this.failure) return;
    }
  }

  /** Decodes a message body; a malformed one is a MigrationError saying where. */
  private decode(type: number, body: Buffer, at: number): Message {
    try {
      if (type === MessageType.BATCH) {
        if (!this.geometry) throw protocolError('BATCH before the guest geometry is known (no HELLO yet)');
        return decodeBatchBody(body, this.geometry.pageCount, this.geometry.batchPages);
      }
      return decodeMessage(type, body, this.version);
    } catch (err) {
      const e = err as PagepressError;
      throw new MigrationError(`protocol error in ${messageName(type)} from the ${this.peer} at byte ${at}: ${e.message}`, e.code ?? ErrorCodes.FORMAT, this.phase, false, messageName(type));
    }
  }

  private deliver(type: number, body: Buffer, at: number): void {
    // A peer's ERROR/ABORT fails the channel at once, ahead of anything queued.
    if (type === MessageType.ERROR || type === MessageType.ABORT) {
      const m = this.decode(type, body, at) as MessageOf<'ERROR' | 'ABORT'>;
      const code = isKnownCode(m.code) ? (m.code as ErrorCode) : ErrorCodes.ABORTED;
      const verb = m.type === 'ERROR' ? 'refused the migration' : 'aborted';
      this.fail(new MigrationError(`${this.peer} ${verb}: ${m.reason}`, code, this.phase, true, m.type));
      return;
    }
    const w = this.waiting.shift();
    if (w) {
      // The consumer is waiting: it has handled everything before, so decode now.
      let m: Message;
      try {
        m = this.decode(type, body, at);
      } catch (err) {
        w.reject(this.fail(err));
        return;
      }
      w.resolve(m);
      return;
    }
    this.queue.push({ type, body, at });
    this.queuedBytes += body.length;
    if (this.queuedBytes >= this.highWater && !this.socket.isPaused()) this.socket.pause();
  }
}
