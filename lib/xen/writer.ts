/**
 * A low-level writer of Xen save/migration streams (docs/XEN.md), for tests and benchmarks.
 * It checks nothing: it writes what it is told (so tests can build malformed vectors), and
 * hands every piece to a callback, so a stream of any size can go to a file descriptor
 * without being held in memory.
 */
import {
  DHDR_BYTES,
  IHDR_BYTES,
  IHDR_ID,
  IHDR_MARKER,
  LIBVIRT_HEADER_BYTES,
  LIBVIRT_MAGIC,
  LIBXL_HEADER_BYTES,
  LIBXL_IDENT,
  LIBXL_VERSION,
  LibxcRec,
  pageTypeHasData,
  REC_HEADER_BYTES,
  XEN_PAGE_SHIFT,
  XEN_PAGE_SIZE,
  XL_BYTEORDER,
  XL_HEADER_BYTES,
  XL_MAGIC,
  XL_MANDATORY_FLAG_JSON,
  XL_MANDATORY_FLAG_STREAMV2,
} from './constants';

/** Receives the stream piece by piece. A chunk may be reused once the callback returns: copy it to keep it. */
export type XenEmit = (chunk: Buffer) => void;

/** One PAGE_DATA entry: guest pfn (< 2^52) and page-type nibble (PageType). */
export interface PageEntry {
  pfn: number;
  type: number;
}

/** Options of {@link XenWriter.xlHeader}. */
export interface XlHeaderOptions {
  /** Default JSON | STREAMv2 (what Xen >= 4.6 writes). */
  mandatoryFlags?: number;
  optionalFlags?: number;
  /** Byte-order word, written little-endian (default 0x01020304). */
  byteorder?: number;
}

const ZERO8 = Buffer.alloc(8);

function toBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** Writes headers and records; tracks the stream offset and pads records to 8 bytes relative to the libxc stream start. */
export class XenWriter {
  /** Bytes written so far. */
  offset = 0;
  private libxcStart = 0;
  private libxlStart = 0;

  constructor(private readonly emit: XenEmit) {}

  /** Any bytes (trailing data, hand-made fields). */
  raw(bytes: Uint8Array): this {
    if (bytes.length > 0) {
      this.emit(toBuffer(bytes));
      this.offset += bytes.length;
    }
    return this;
  }

  /**
   * The xl save-file header with `config` (usually libxl's JSON domain config) as optional
   * data: u32 config_len, then the config and its terminating NUL.
   */
  xlHeader(config: string, opts: XlHeaderOptions = {}): this {
    const text = Buffer.from(`${config}\0`, 'utf8');
    const b = Buffer.alloc(XL_HEADER_BYTES + 4 + text.length);
    XL_MAGIC.copy(b, 0);
    b.writeUInt32LE(opts.byteorder ?? XL_BYTEORDER, 32);
    b.writeUInt32LE((opts.mandatoryFlags ?? XL_MANDATORY_FLAG_JSON | XL_MANDATORY_FLAG_STREAMV2) >>> 0, 36);
    b.writeUInt32LE((opts.optionalFlags ?? 0) >>> 0, 40);
    b.writeUInt32LE(4 + text.length, 44);
    b.writeUInt32LE(text.length, 48);
    text.copy(b, 52);
    return this.raw(b);
  }

  /**
   * libvirt's save-file header (`virsh save` on the libxl driver): magic, u32 version (2: a
   * libxl v2 stream follows), u32 xmlLen (the XML with its NUL), 40 zero bytes, the XML.
   */
  libvirtHeader(xml: string, version = 2, xmlLen?: number): this {
    const text = Buffer.from(`${xml}\0`, 'utf8');
    const b = Buffer.alloc(LIBVIRT_HEADER_BYTES + text.length);
    LIBVIRT_MAGIC.copy(b, 0);
    b.writeUInt32LE(version >>> 0, 16);
    b.writeInt32LE(xmlLen ?? text.length, 20);
    text.copy(b, LIBVIRT_HEADER_BYTES);
    return this.raw(b);
  }

  /** The 16-byte "LibxlFmt" header (big-endian fields); marks the libxl stream start. */
  libxlHeader(options = 0, version = LIBXL_VERSION): this {
    this.libxlStart = this.offset;
    const b = Buffer.alloc(LIBXL_HEADER_BYTES);
    LIBXL_IDENT.copy(b, 0);
    b.writeUInt32BE(version >>> 0, 8);
    b.writeUInt32BE(options >>> 0, 12);
    return this.raw(b);
  }

  /** A libxl record: header, body, zero padding to a multiple of 8 from the libxl stream start. */
  libxlRecord(type: number, body: Uint8Array = Buffer.alloc(0)): this {
    return this.record(type, body, this.libxlStart);
  }

  /** The 24-byte libxc image header (big-endian fields); marks the libxc stream start. */
  libxcImageHeader(version: number, options = 0): this {
    this.libxcStart = this.offset;
    const b = Buffer.alloc(IHDR_BYTES);
    IHDR_MARKER.copy(b, 0);
    b.writeUInt32BE(IHDR_ID, 8);
    b.writeUInt32BE(version >>> 0, 12);
    b.writeUInt16BE(options & 0xffff, 16);
    return this.raw(b);
  }

  /** The 16-byte libxc domain header. */
  libxcDomainHeader(type: number, xenMajor: number, xenMinor: number, pageShift = XEN_PAGE_SHIFT): this {
    const b = Buffer.alloc(DHDR_BYTES);
    b.writeUInt32LE(type >>> 0, 0);
    b.writeUInt16LE(pageShift, 4);
    b.writeUInt32LE(xenMajor >>> 0, 8);
    b.writeUInt32LE(xenMinor >>> 0, 12);
    return this.raw(b);
  }

  /** A libxc record: header, body, zero padding to a multiple of 8 from the libxc stream start. */
  libxcRecord(type: number, body: Uint8Array = Buffer.alloc(0)): this {
    return this.record(type, body, this.libxcStart);
  }

  /**
   * A PAGE_DATA record: `entries` in order, then `pages` = 4 KiB for each entry whose type
   * carries data (NOTAB, L1..L4, pinned), in entry order. `pages` is passed on without a copy.
   */
  pageData(entries: PageEntry[], pages: Uint8Array): this {
    const count = entries.length;
    const head = Buffer.allocUnsafe(REC_HEADER_BYTES + 8 + 8 * count);
    let data = 0;
    for (let i = 0, at = 16; i < count; i++, at += 8) {
      const { pfn, type } = entries[i];
      head.writeUInt32LE(pfn % 0x100000000, at);
      head.writeUInt32LE(((type & 0xf) * 0x10000000 + Math.floor(pfn / 0x100000000)) >>> 0, at + 4);
      if (pageTypeHasData(type & 0xf)) data++;
    }
    if (pages.length !== data * XEN_PAGE_SIZE) throw new RangeError(`pageData: ${data} entries carry data, so pages must be ${data * XEN_PAGE_SIZE} bytes, got ${pages.length}`);
    head.writeUInt32LE(LibxcRec.PAGE_DATA, 0);
    head.writeUInt32LE(8 + 8 * count + pages.length, 4);
    head.writeUInt32LE(count, 8);
    head.writeUInt32LE(0, 12);
    this.raw(head);
    return this.raw(pages);
  }

  private record(type: number, body: Uint8Array, alignFrom: number): this {
    const head = Buffer.allocUnsafe(REC_HEADER_BYTES);
    head.writeUInt32LE(type >>> 0, 0);
    head.writeUInt32LE(body.length, 4);
    this.raw(head);
    this.raw(body);
    const pad = (8 - ((this.offset - alignFrom) % 8)) % 8;
    return this.raw(ZERO8.subarray(0, pad));
  }
}

/** Collects everything written into one Buffer (for small test streams). */
export function collect(write: (emit: XenEmit) => void): Buffer {
  const parts: Buffer[] = [];
  write((chunk) => parts.push(Buffer.from(chunk)));
  return Buffer.concat(parts);
}
