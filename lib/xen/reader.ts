/**
 * An incremental, validating reader of Xen save/migration streams (docs/XEN.md): libvirt's
 * save-file header (`virsh save`, libxl driver), the xl save-file header, the libxl stream ("LibxlFmt") and the libxc stream (migration v2,
 * versions 2 and 3), including Remus/COLO checkpointed streams.
 *
 * The reader splits its input, byte for byte and in order, into verbatim bytes (headers,
 * every record but PAGE_DATA, and each PAGE_DATA's header and pfn array) and page contents,
 * and checks every rule Xen's restore code enforces, so a stream it accepts is one Xen
 * would read (as far as the stream alone can tell). It buffers record headers, pfn arrays
 * and non-page record bodies (each at most REC_LENGTH_MAX, checked before allocating), and
 * never page contents.
 */
import { ErrorCode, ErrorCodes, PagepressError } from '../errors';
import {
  CheckpointState,
  DHDR_BYTES,
  DomainType,
  EmulatorId,
  IHDR_BYTES,
  IHDR_ID,
  IHDR_MARKER,
  IHDR_OPT_BIG_ENDIAN,
  isKnownPageType,
  LIBXC_VERSION_MAX,
  LIBXC_VERSION_MIN,
  libxcRecordName,
  LibxcRec,
  LIBXL_HEADER_BYTES,
  LIBXL_IDENT,
  LIBXL_OPT_BIG_ENDIAN,
  LIBXL_OPT_LEGACY,
  LIBXL_VERSION,
  libxlRecordName,
  LibxlRec,
  pageTypeHasData,
  pageTypeName,
  REC_HEADER_BYTES,
  REC_LENGTH_MAX,
  REC_TYPE_OPTIONAL,
  VCPU_CONTEXT_32,
  VCPU_CONTEXT_64,
  VCPU_EXTENDED_MAX,
  VCPU_XSAVE_MIN,
  XEN_PAGE_SHIFT,
  XEN_PAGE_SIZE,
  XL_BYTEORDER,
  XL_HEADER_BYTES,
  XL_MAGIC,
  XL_MANDATORY_FLAG_ALL,
  XL_MANDATORY_FLAG_STREAMV2,
  XL_OPTDATA_MAX,
  LIBVIRT_HEADER_BYTES,
  LIBVIRT_MAGIC,
  LIBVIRT_VERSION_MAX,
  LIBVIRT_XML_MAX,
} from './constants';

/** A layer of the nested Xen formats. */
export type XenLayer = 'libvirt' | 'xl' | 'libxl' | 'libxc';
/** The layer a stream starts with ('auto' = detect from the first 8 bytes). */
export type XenFormat = 'auto' | 'libvirt' | 'xl' | 'libxl' | 'libxc';

/** Page entries of one PAGE_DATA record (or of a whole stream). */
export interface XenPageCounts {
  /** pfn entries. */
  count: number;
  /** Entries followed by 4 KiB of contents. */
  dataPages: number;
  /** Entries by page-type name (NOTAB, L1TAB ... XTAB). */
  types: Record<string, number>;
}

/** One header or record. */
export interface XenRecordInfo {
  layer: XenLayer;
  /** Record type; -1 for headers. */
  type: number;
  /** Record name (END, PAGE_DATA ...), or "header", "image header", "domain header". */
  name: string;
  /** Stream offset of the record header (or header). */
  offset: number;
  /** Body length from the record header (padding excluded); for headers, their length. */
  bodyLength: number;
  /** PAGE_DATA only. */
  pages?: XenPageCounts;
}

/** What the reader reports, synchronously, while it reads. */
export interface XenReaderHandlers {
  /**
   * Bytes that travel verbatim: headers, all non-PAGE_DATA records (with padding), and for
   * PAGE_DATA its 8-byte record header + count + reserved + pfn array. `bytes` is only valid
   * during the call (it may be a view of the caller's chunk or of the reader's buffer).
   */
  verbatim(bytes: Uint8Array): void;
  /**
   * A PAGE_DATA record's page contents begin. pfns[i] = guest pfn (bits 51..0 of the pfn
   * word) of the i-th entry that carries 4 KiB of data, in stream order. Called right after
   * the verbatim() call that delivered the record header and pfn array, and only when at
   * least one entry carries data.
   */
  pageRecord(pfns: Float64Array, info: XenRecordInfo): void;
  /**
   * Page content bytes of the current PAGE_DATA, in order, split anywhere (not necessarily
   * on page boundaries); they total pfns.length * 4096. Valid only during the call.
   */
  pageBytes(bytes: Uint8Array): void;
  /**
   * The input just reached a point where the writer waits for its peer: after libxc END,
   * libxl END, libxc CHECKPOINT, libxl CHECKPOINT_END, libxl CHECKPOINT_STATE (reason = the
   * record name), and at the end of every push() that delivered bytes of a legacy or
   * trailing region (reason "legacy" / "trailing"). The filter flushes here.
   */
  flushPoint(reason: string): void;
  /** Optional: every completed header/record (PAGE_DATA once its pages are through). */
  record?(info: XenRecordInfo): void;
}

/** Options of {@link XenReader}. */
export interface XenReaderOptions {
  /** The layer the input starts with; default 'auto' (xl magic prefix, "LibxlFmt", 8 x 0xFF; anything else is legacy). */
  format?: XenFormat;
  /** The stream is COLO: one libxl CHECKPOINT_STATE follows every CHECKPOINT_END. */
  colo?: boolean;
  /** A legacy (Xen <= 4.5, v1) stream: refuse it (default) or pass it through verbatim. */
  legacy?: 'refuse' | 'pass';
}

/** What end() returns. */
export interface XenSummary {
  /** Detected format. */
  format: XenFormat | 'legacy' | null;
  /** Layers seen, outermost first. */
  layers: XenLayer[];
  /** Guest type from the libxc domain header. */
  guest: 'hvm' | 'pv' | null;
  /** libxc stream version (2 or 3). */
  libxcVersion: number | null;
  /** Xen version from the domain header ("4.17"), or "converted v1" for convert-legacy-stream output. */
  xen: string | null;
  /** Headers and records by "layer name" (e.g. "libxc PAGE_DATA": 330). */
  records: Record<string, number>;
  /** PAGE_DATA totals. */
  pages: XenPageCounts & { records: number };
  /** libxc CHECKPOINT records. */
  checkpoints: number;
  /** libxl CHECKPOINT_END records. */
  checkpointEnds: number;
  /** Bytes after the last END (e.g. xl migrate's 44-byte "go" message). */
  trailingBytes: number;
  /** Bytes of a legacy stream passed through. */
  legacyBytes: number;
  /** All bytes read. */
  bytes: number;
  /** How the input ended: after the END it needs, at a checkpoint (failover), or inside a passed-through legacy stream. */
  ending: 'END' | 'failover' | 'legacy';
}

/** Where a XenStreamError happened. */
export interface XenErrorContext {
  /** Stream offset of the offending field (or where the input ended). */
  offset: number;
  layer: XenLayer | null;
  /** Record type; -1 for headers; null when unknown. */
  recordType: number | null;
  recordName: string | null;
  /** Stream offset of the record (or header) holding the field. */
  recordOffset: number | null;
}

/** A Xen stream breaks a rule (or ended early); `offset` is the offending field's stream offset. */
export class XenStreamError extends PagepressError {
  readonly layer: XenLayer | null;
  readonly recordType: number | null;
  readonly recordName: string | null;
  readonly recordOffset: number | null;

  constructor(message: string, code: ErrorCode, context: XenErrorContext) {
    super(message, code, { offset: context.offset, record: context.recordName ?? undefined });
    this.name = 'XenStreamError';
    this.layer = context.layer;
    this.recordType = context.recordType;
    this.recordName = context.recordName;
    this.recordOffset = context.recordOffset;
  }
}

// Reader stages: each but PAGES and RAW fills `acc` up to `want` bytes, then runs.
const DETECT = 0;
const XL_HEADER = 1;
const XL_OPTDATA = 2;
const LIBXL_HEADER = 3;
const IHDR = 4;
const DHDR = 5;
const REC_HEADER = 6;
const REC_BODY = 7;
const PAGE_HEAD = 8;
const PAGE_PFNS = 9;
const PAGES = 10;
const RAW = 11;
const LIBVIRT_HEADER = 12;
const LIBVIRT_XML = 13;

/** Where the libxl layer is: before LIBXC_CONTEXT, inside libxc, after libxc END, inside a checkpoint's libxl part, awaiting COLO's CHECKPOINT_STATE. */
type LibxlPhase = 'start' | 'libxc' | 'after' | 'checkpoint' | 'state';

const SMALL_BUFFER = 64 * 1024;
const LEGACY_HINT = "convert it with convert-legacy-stream from Xen's tools (usr/lib/xen-4.17/bin/convert-legacy-stream -i IN -o OUT -w 64 -g hvm|pv -f libxl), or pass it through with --legacy pass";

function hex(n: number, digits = 8): string {
  return `0x${n.toString(16).padStart(digits, '0')}`;
}

/** Reads a Xen stream pushed in chunks; see the module comment. */
export class XenReader {
  private readonly h: XenReaderHandlers;
  private readonly format: XenFormat;
  private readonly colo: boolean;
  private readonly legacyMode: 'refuse' | 'pass';

  private consumed = 0;
  private failed: XenStreamError | null = null;
  private stage = DETECT;
  private acc: Buffer = Buffer.allocUnsafe(SMALL_BUFFER);
  private accLen = 0;
  private want = 8;
  private unitOffset = 0;

  private outer: XenLayer | null = null;
  private detectedFormat: XenFormat | 'legacy' | null = null;
  private layer: XenLayer | null = null;
  private rawKind: 'trailing' | 'legacy' = 'trailing';
  private rawThisPush = false;

  // The record being read.
  private recType = 0;
  private recLength = 0;
  private recName = '';
  private pageInfo: XenRecordInfo | null = null;
  private pageRemaining = 0;
  private lastUnit = '';

  // libxl state.
  private libxlPhase: LibxlPhase = 'start';
  private libxcContextSeen = false;

  // libxc state.
  private version = 0;
  private guest: 'hvm' | 'pv' | null = null;
  private xen: string | null = null;
  private staticDataEnd = false;
  private pvInfo = false;
  private pvWidth = 8;
  private p2mFrames = false;

  // Summary.
  private readonly layers: XenLayer[] = [];
  private readonly records: Record<string, number> = {};
  private readonly pageTotals = { records: 0, count: 0, dataPages: 0, types: {} as Record<string, number> };
  private checkpoints = 0;
  private checkpointEnds = 0;
  private trailingBytes = 0;
  private legacyBytes = 0;
  private ending: XenSummary['ending'] | null = null;

  constructor(handlers: XenReaderHandlers, options: XenReaderOptions = {}) {
    const format = options.format ?? 'auto';
    if (!['auto', 'libvirt', 'xl', 'libxl', 'libxc'].includes(format)) {
      throw new PagepressError(`options.format must be auto, libvirt, xl, libxl or libxc, got ${String(format)}`, ErrorCodes.ARG);
    }
    const legacy = options.legacy ?? 'refuse';
    if (legacy !== 'refuse' && legacy !== 'pass') {
      throw new PagepressError(`options.legacy must be refuse or pass, got ${String(legacy)}`, ErrorCodes.ARG);
    }
    this.h = handlers;
    this.format = format;
    this.colo = options.colo === true;
    this.legacyMode = legacy;
  }

  /** Bytes consumed so far. */
  get offset(): number {
    return this.consumed;
  }

  /** Detected format after the first 8 bytes (null before). */
  get detected(): XenFormat | 'legacy' | null {
    return this.detectedFormat;
  }

  /** Feeds the next chunk; calls the handlers synchronously; throws XenStreamError on the first violation. */
  push(chunk: Uint8Array): void {
    if (this.failed) throw this.failed;
    try {
      this.pushChunk(chunk);
    } catch (err) {
      if (err instanceof XenStreamError) this.failed = err;
      throw err;
    }
  }

  /** Page-content bytes of the current PAGE_DATA record not yet consumed (0 outside page contents). */
  get pageBytesDue(): number {
    return !this.failed && this.stage === PAGES ? this.pageRemaining : 0;
  }

  /**
   * The caller consumed the next `n` page-content bytes itself (it read them straight to
   * where they go, see lib/xen/filter.ts): the reader advances as if they had been pushed,
   * without calling pageBytes(). `n` may not exceed {@link pageBytesDue}.
   */
  skipPageBytes(n: number): void {
    if (this.failed) throw this.failed;
    if (!Number.isInteger(n) || n < 0 || n > this.pageBytesDue) {
      throw new PagepressError(`skipPageBytes(${n}) with ${this.pageBytesDue} page bytes due`, ErrorCodes.ARG);
    }
    this.consumed += n;
    this.pageRemaining -= n;
    if (this.pageRemaining === 0) this.endPageRecord();
  }

  private pushChunk(chunk: Uint8Array): void {
    const len = chunk.length;
    let pos = 0;
    this.rawThisPush = false;
    for (;;) {
      if (this.stage === PAGES) {
        if (pos >= len) break;
        const n = Math.min(this.pageRemaining, len - pos);
        this.h.pageBytes(chunk.subarray(pos, pos + n));
        pos += n;
        this.consumed += n;
        this.pageRemaining -= n;
        if (this.pageRemaining === 0) this.endPageRecord();
      } else if (this.stage === RAW) {
        if (pos >= len) break;
        const n = len - pos;
        this.h.verbatim(chunk.subarray(pos));
        pos = len;
        this.consumed += n;
        if (this.rawKind === 'legacy') this.legacyBytes += n;
        else this.trailingBytes += n;
        this.rawThisPush = true;
      } else if (this.accLen === this.want) {
        this.advance(); // also handles units that need no more input (empty bodies)
      } else {
        if (pos >= len) break;
        const n = Math.min(this.want - this.accLen, len - pos);
        this.acc.set(chunk.subarray(pos, pos + n), this.accLen);
        this.accLen += n;
        pos += n;
        this.consumed += n;
      }
    }
    if (this.rawThisPush) this.h.flushPoint(this.rawKind);
  }

  /**
   * Input ended. Throws XenStreamError (PP_ERR_TRUNCATED) if it ended inside a header or
   * record, or before the END the stream needs (a checkpointed stream may end right after a
   * complete CHECKPOINT_END, or the CHECKPOINT_STATE that follows it: a failover point).
   */
  end(): XenSummary {
    if (this.failed) throw this.failed;
    try {
      this.checkEnd();
    } catch (err) {
      if (err instanceof XenStreamError) this.failed = err;
      throw err;
    }
    return {
      format: this.detectedFormat,
      layers: [...this.layers],
      guest: this.guest,
      libxcVersion: this.version || null,
      xen: this.xen,
      records: { ...this.records },
      pages: { ...this.pageTotals, types: { ...this.pageTotals.types } },
      checkpoints: this.checkpoints,
      checkpointEnds: this.checkpointEnds,
      trailingBytes: this.trailingBytes,
      legacyBytes: this.legacyBytes,
      bytes: this.consumed,
      ending: this.ending ?? 'END',
    };
  }

  private checkEnd(): void {
    const at = this.consumed;
    if (this.stage === RAW) return;
    if (this.stage === PAGES) {
      const info = this.pageInfo!;
      this.truncated(`input ended at offset ${at}, inside the page contents (${this.pageRemaining} bytes missing)`, 'libxc', info.type, info.name, info.offset);
    }
    if (this.stage === DETECT) {
      if (this.accLen === 0) this.truncated('empty input: no Xen stream header', null, null, null, 0);
      this.truncated(`input ended after ${this.accLen} bytes, before the 8 bytes that identify the stream`, null, null, null, 0);
    }
    if (this.stage === REC_HEADER && this.accLen === 0) {
      if (this.lastUnit === 'libxl CHECKPOINT_END' || this.lastUnit === 'libxl CHECKPOINT_STATE' || (this.outer === 'libxc' && this.lastUnit === 'libxc CHECKPOINT')) {
        this.ending = 'failover';
        return;
      }
      const needs = this.layer === 'libxc' ? 'libxc END' : 'libxl END';
      this.truncated(`input ended at offset ${at}, after ${this.lastUnit || 'the headers'} and before the ${needs} the stream needs`, this.layer, null, null, at);
    }
    const unit = this.unitDescription();
    const got = at - this.unitOffset;
    const size = unit.what === 'record' ? `${REC_HEADER_BYTES + Math.ceil(this.recLength / 8) * 8}-byte record` : `${this.want}-byte ${unit.what}`;
    this.truncated(`input ended at offset ${at}, ${got} bytes into this ${size}`, unit.layer, unit.type, unit.name, this.unitOffset);
  }

  private unitDescription(): { what: string; layer: XenLayer | null; type: number | null; name: string | null } {
    switch (this.stage) {
      case LIBVIRT_HEADER:
      case LIBVIRT_XML:
        return { what: 'header', layer: 'libvirt', type: -1, name: 'header' };
      case XL_HEADER:
      case XL_OPTDATA:
        return { what: 'header', layer: 'xl', type: -1, name: 'header' };
      case LIBXL_HEADER:
        return { what: 'header', layer: 'libxl', type: -1, name: 'header' };
      case IHDR:
        return { what: 'header', layer: 'libxc', type: -1, name: 'image header' };
      case DHDR:
        return { what: 'header', layer: 'libxc', type: -1, name: 'domain header' };
      case REC_HEADER:
        return { what: 'record header', layer: this.layer, type: null, name: 'record header' };
      default:
        return { what: 'record', layer: this.layer, type: this.recType, name: this.recName };
    }
  }

  private truncated(detail: string, layer: XenLayer | null, type: number | null, name: string | null, recordOffset: number | null): never {
    const where = name !== null ? `${layer ? `${layer} ` : ''}${name} at offset ${recordOffset}: ` : '';
    throw new XenStreamError(`${where}${detail}`, ErrorCodes.TRUNCATED, { offset: this.consumed, layer, recordType: type, recordName: name, recordOffset });
  }

  /** Throws a violation in the unit being read; `field` is the offending field's offset within the unit. */
  private fail(code: ErrorCode, detail: string, field: number, unit?: { layer: XenLayer; type: number; name: string }): never {
    const u = unit ?? { layer: this.layer!, type: this.recType, name: this.recName };
    throw new XenStreamError(`${u.layer} ${u.name} at offset ${this.unitOffset}: ${detail}`, code, {
      offset: this.unitOffset + field,
      layer: u.layer,
      recordType: u.type,
      recordName: u.name,
      recordOffset: this.unitOffset,
    });
  }

  // ---------------------------------------------------------------- stage dispatch

  private beginUnit(stage: number, want: number): void {
    if (this.acc.length > 4 * SMALL_BUFFER) this.acc = Buffer.allocUnsafe(SMALL_BUFFER); // drop a one-off big buffer
    this.stage = stage;
    this.accLen = 0;
    this.want = want;
    this.unitOffset = this.consumed;
    this.ensure(want);
  }

  /** Extends the current unit to `want` bytes in all. */
  private grow(want: number): void {
    this.want = want;
    this.ensure(want);
  }

  private ensure(n: number): void {
    if (this.acc.length >= n) return;
    const next = Buffer.allocUnsafe(Math.max(n, Math.min(2 * this.acc.length, REC_LENGTH_MAX + 64)));
    this.acc.copy(next, 0, 0, this.accLen);
    this.acc = next;
  }

  private advance(): void {
    switch (this.stage) {
      case DETECT:
        return this.detect();
      case LIBVIRT_HEADER:
        return this.libvirtHeader();
      case LIBVIRT_XML:
        return this.libvirtXml();
      case XL_HEADER:
        return this.xlHeader();
      case XL_OPTDATA:
        return this.xlOptData();
      case LIBXL_HEADER:
        return this.libxlHeader();
      case IHDR:
        return this.imageHeader();
      case DHDR:
        return this.domainHeader();
      case REC_HEADER:
        return this.layer === 'libxl' ? this.libxlRecordHeader() : this.libxcRecordHeader();
      case REC_BODY:
        return this.layer === 'libxl' ? this.libxlRecordBody() : this.libxcRecordBody();
      case PAGE_HEAD:
        return this.pageHead();
      case PAGE_PFNS:
        return this.pagePfns();
    }
  }

  private emitUnit(info: XenRecordInfo): void {
    this.h.verbatim(this.acc.subarray(0, this.accLen));
    this.count(info);
  }

  private count(info: XenRecordInfo): void {
    const key = `${info.layer} ${info.name}`;
    this.records[key] = (this.records[key] ?? 0) + 1;
    this.lastUnit = key;
    this.h.record?.(info);
  }

  private enterLayer(layer: XenLayer): void {
    this.layer = layer;
    if (!this.layers.includes(layer)) this.layers.push(layer);
  }

  private startRaw(kind: 'trailing' | 'legacy'): void {
    this.stage = RAW;
    this.rawKind = kind;
    this.ending = kind === 'legacy' ? 'legacy' : 'END';
    this.accLen = 0;
    this.want = 0;
  }

  // ---------------------------------------------------------------- detection and headers

  private detect(): void {
    const head = this.acc.subarray(0, 8);
    let found: XenLayer | 'legacy';
    if (head.equals(LIBVIRT_MAGIC.subarray(0, 8))) found = 'libvirt';
    else if (head.equals(XL_MAGIC.subarray(0, 8))) found = 'xl';
    else if (head.equals(LIBXL_IDENT)) found = 'libxl';
    else if (head.equals(IHDR_MARKER)) found = 'libxc';
    else found = 'legacy';
    if (this.format !== 'auto' && found !== this.format) {
      const expected = {
        libvirt: 'the libvirt save-file magic "libvirt-xml"',
        xl: 'the xl save-file magic "Xen saved domain, xl format"',
        libxl: 'the libxl ident "LibxlFmt"',
        libxc: 'the libxc image marker (8 x 0xFF)',
      }[this.format];
      const layer = this.format;
      const name = layer === 'libxc' ? 'image header' : 'header';
      throw new XenStreamError(
        `${layer} ${name} at offset 0: expected ${expected}, found ${head.toString('hex')}${found === 'legacy' ? ' (a legacy or non-Xen stream)' : ` (a ${found} stream)`}`,
        ErrorCodes.MAGIC,
        {
          offset: 0,
          layer,
          recordType: -1,
          recordName: name,
          recordOffset: 0,
        },
      );
    }
    this.detectedFormat = found;
    if (found === 'legacy') {
      if (this.legacyMode === 'refuse') {
        throw new XenStreamError(
          `stream at offset 0: no xl, libxl or libxc signature (first bytes ${head.toString('hex')}): a legacy (Xen <= 4.5) stream, or not a Xen stream: ${LEGACY_HINT}`,
          ErrorCodes.VERSION,
          {
            offset: 0,
            layer: null,
            recordType: null,
            recordName: null,
            recordOffset: 0,
          },
        );
      }
      this.h.verbatim(this.acc.subarray(0, 8));
      this.legacyBytes += 8;
      this.rawThisPush = true;
      this.startRaw('legacy');
      return;
    }
    this.outer = found;
    this.enterLayer(found);
    // The 8 bytes already read are the start of the header: keep them and read the rest.
    const first = { libvirt: [LIBVIRT_HEADER, LIBVIRT_HEADER_BYTES], xl: [XL_HEADER, XL_HEADER_BYTES], libxl: [LIBXL_HEADER, LIBXL_HEADER_BYTES], libxc: [IHDR, IHDR_BYTES] }[found];
    this.stage = first[0];
    this.grow(first[1]);
  }

  /**
   * libvirt's save file (`virsh save` on the libxl driver): the 64-byte header, checked as
   * libxlDomainSaveImageOpen does (magic, version <= 2, xmlLen > 0), then the domain XML.
   */
  private libvirtHeader(): void {
    const b = this.acc;
    const unit = { layer: 'libvirt' as const, type: -1, name: 'header' };
    for (let i = 0; i < LIBVIRT_MAGIC.length; i++) {
      if (b[i] !== LIBVIRT_MAGIC[i])
        this.fail(ErrorCodes.MAGIC, `byte ${i} of the magic is ${hex(b[i], 2)}, expected ${hex(LIBVIRT_MAGIC[i], 2)} ("libvirt-xml\\n \\0 \\r"; libvirt: "image magic is incorrect")`, i, unit);
    }
    const version = b.readUInt32LE(16);
    // libvirt refuses > 2 and passes the version on as libxl's stream_version (1 = legacy); it writes 1 or 2.
    if (version < 1 || version > LIBVIRT_VERSION_MAX) this.fail(ErrorCodes.VERSION, `version ${version} is not supported (libvirt writes 1 or 2 and reads up to ${LIBVIRT_VERSION_MAX})`, 16, unit);
    const xmlLen = b.readInt32LE(20);
    if (xmlLen <= 0) this.fail(ErrorCodes.XEN, `XML length ${xmlLen} (libvirt: "invalid XML length")`, 20, unit);
    if (xmlLen > LIBVIRT_XML_MAX) this.fail(ErrorCodes.LIMIT, `XML length ${xmlLen} exceeds the ${LIBVIRT_XML_MAX}-byte limit`, 20, unit);
    this.stage = LIBVIRT_XML;
    this.grow(LIBVIRT_HEADER_BYTES + xmlLen);
  }

  private libvirtXml(): void {
    const version = this.acc.readUInt32LE(16);
    const total = LIBVIRT_HEADER_BYTES + this.acc.readInt32LE(20);
    // Version 2: a libxl v2 ("LibxlFmt") stream follows; 1: a legacy (Xen <= 4.5) stream.
    if (version === 1 && this.legacyMode === 'refuse') {
      this.fail(
        ErrorCodes.VERSION,
        `version ${version} means a legacy (Xen <= 4.5) stream follows at offset ${this.unitOffset + total}: strip this ${total}-byte libvirt header and ${LEGACY_HINT}`,
        16,
        { layer: 'libvirt', type: -1, name: 'header' },
      );
    }
    this.emitUnit({ layer: 'libvirt', type: -1, name: 'header', offset: this.unitOffset, bodyLength: total });
    if (version === 2) {
      this.enterLayer('libxl');
      this.beginUnit(LIBXL_HEADER, LIBXL_HEADER_BYTES);
    } else {
      this.detectedFormat = 'legacy';
      this.startRaw('legacy');
    }
  }

  private xlHeader(): void {
    const b = this.acc;
    const unit = { layer: 'xl' as const, type: -1, name: 'header' };
    for (let i = 0; i < XL_MAGIC.length; i++) {
      if (b[i] !== XL_MAGIC[i]) this.fail(ErrorCodes.MAGIC, `byte ${i} of the magic is ${hex(b[i], 2)}, expected ${hex(XL_MAGIC[i], 2)} ("Xen saved domain, xl format\\n \\0 \\r")`, i, unit);
    }
    if (b.readUInt32LE(32) !== XL_BYTEORDER) {
      this.fail(ErrorCodes.XEN, `byte-order word is ${b.subarray(32, 36).toString('hex')}, expected 04030201 (xl on x86 refuses: "File has wrong byte order")`, 32, unit);
    }
    const mflags = b.readUInt32LE(36);
    const bad = mflags & ~XL_MANDATORY_FLAG_ALL;
    if (bad) this.fail(ErrorCodes.XEN, `unknown mandatory flags ${hex(bad >>> 0)} (xl refuses the file: "need newer xl")`, 36, unit);
    const optlen = b.readUInt32LE(44);
    if (optlen > XL_OPTDATA_MAX) this.fail(ErrorCodes.LIMIT, `optional data length ${optlen} exceeds the ${XL_OPTDATA_MAX}-byte limit`, 44, unit);
    this.stage = XL_OPTDATA;
    this.grow(XL_HEADER_BYTES + optlen);
  }

  private xlOptData(): void {
    const b = this.acc;
    const unit = { layer: 'xl' as const, type: -1, name: 'header' };
    const mflags = b.readUInt32LE(36);
    const optlen = b.readUInt32LE(44);
    if (optlen > 0) {
      if (optlen < 4) this.fail(ErrorCodes.XEN, `optional data of ${optlen} bytes cannot hold the u32 config length (xl: "Savefile truncated")`, 48, unit);
      const configLen = b.readUInt32LE(48);
      if (configLen > optlen - 4) this.fail(ErrorCodes.XEN, `config length ${configLen} does not fit in the ${optlen - 4} bytes of optional data after it (xl: "Savefile truncated")`, 48, unit);
    }
    const total = XL_HEADER_BYTES + optlen;
    if (!(mflags & XL_MANDATORY_FLAG_STREAMV2) && this.legacyMode === 'refuse') {
      this.fail(
        ErrorCodes.VERSION,
        `mandatory flags ${hex(mflags)} lack STREAMv2, so a legacy (Xen <= 4.5) stream follows at offset ${this.unitOffset + total}: strip this ${total}-byte xl header and ${LEGACY_HINT}`,
        36,
        unit,
      );
    }
    this.emitUnit({ layer: 'xl', type: -1, name: 'header', offset: this.unitOffset, bodyLength: total });
    if (mflags & XL_MANDATORY_FLAG_STREAMV2) {
      this.enterLayer('libxl');
      this.beginUnit(LIBXL_HEADER, LIBXL_HEADER_BYTES);
    } else {
      this.detectedFormat = 'legacy';
      this.startRaw('legacy');
    }
  }

  private libxlHeader(): void {
    const b = this.acc;
    const unit = { layer: 'libxl' as const, type: -1, name: 'header' };
    if (!b.subarray(0, 8).equals(LIBXL_IDENT)) this.fail(ErrorCodes.MAGIC, `ident is ${b.subarray(0, 8).toString('hex')}, expected "LibxlFmt"`, 0, unit);
    const version = b.readUInt32BE(8);
    if (version !== LIBXL_VERSION) this.fail(ErrorCodes.VERSION, `version ${version} is not supported (libxl reads version ${LIBXL_VERSION} only)`, 8, unit);
    const options = b.readUInt32BE(12);
    if (options & LIBXL_OPT_BIG_ENDIAN) this.fail(ErrorCodes.XEN, 'options bit 0 (big-endian) is set: libxl refuses it ("Unable to handle big endian streams")', 12, unit);
    const reserved = options & ~(LIBXL_OPT_BIG_ENDIAN | LIBXL_OPT_LEGACY);
    if (reserved) this.fail(ErrorCodes.XEN, `reserved option bits ${hex(reserved >>> 0)} are set`, 12, unit);
    this.layer = 'libxl';
    this.emitUnit({ layer: 'libxl', type: -1, name: 'header', offset: this.unitOffset, bodyLength: LIBXL_HEADER_BYTES });
    this.libxlPhase = 'start';
    this.beginUnit(REC_HEADER, REC_HEADER_BYTES);
  }

  private imageHeader(): void {
    const b = this.acc;
    const unit = { layer: 'libxc' as const, type: -1, name: 'image header' };
    if (!b.subarray(0, 8).equals(IHDR_MARKER)) this.fail(ErrorCodes.MAGIC, `marker is ${b.subarray(0, 8).toString('hex')}, expected ffffffffffffffff (a legacy stream has a 0 bit here)`, 0, unit);
    const id = b.readUInt32BE(8);
    if (id !== IHDR_ID) this.fail(ErrorCodes.MAGIC, `id is ${hex(id)}, expected ${hex(IHDR_ID)} ("XENF")`, 8, unit);
    const version = b.readUInt32BE(12);
    if (version < LIBXC_VERSION_MIN || version > LIBXC_VERSION_MAX)
      this.fail(ErrorCodes.VERSION, `version ${version} is not supported (restore reads ${LIBXC_VERSION_MIN}..${LIBXC_VERSION_MAX})`, 12, unit);
    const options = b.readUInt16BE(16);
    if (options & IHDR_OPT_BIG_ENDIAN) this.fail(ErrorCodes.XEN, 'options bit 0 (big-endian) is set: restore refuses it ("Unable to handle big endian streams")', 16, unit);
    if (options & ~IHDR_OPT_BIG_ENDIAN) this.fail(ErrorCodes.XEN, `reserved option bits ${hex(options & ~IHDR_OPT_BIG_ENDIAN, 4)} are set`, 16, unit);
    if (b.readUInt16BE(18) !== 0) this.fail(ErrorCodes.XEN, `reserved field at offset 18 is ${hex(b.readUInt16BE(18), 4)}, expected 0`, 18, unit);
    if (b.readUInt32BE(20) !== 0) this.fail(ErrorCodes.XEN, `reserved field at offset 20 is ${hex(b.readUInt32BE(20))}, expected 0`, 20, unit);
    this.layer = 'libxc';
    this.version = version;
    this.emitUnit({ layer: 'libxc', type: -1, name: 'image header', offset: this.unitOffset, bodyLength: IHDR_BYTES });
    this.beginUnit(DHDR, DHDR_BYTES);
  }

  private domainHeader(): void {
    const b = this.acc;
    const unit = { layer: 'libxc' as const, type: -1, name: 'domain header' };
    const type = b.readUInt32LE(0);
    if (type !== DomainType.X86_PV && type !== DomainType.X86_HVM) this.fail(ErrorCodes.XEN, `domain type ${type} is not x86 PV (1) or x86 HVM (2)`, 0, unit);
    const shift = b.readUInt16LE(4);
    if (shift !== XEN_PAGE_SHIFT) this.fail(ErrorCodes.XEN, `page shift ${shift} is not ${XEN_PAGE_SHIFT} (4 KiB pages)`, 4, unit);
    if (b.readUInt16LE(6) !== 0) this.fail(ErrorCodes.XEN, `reserved field is ${hex(b.readUInt16LE(6), 4)}, expected 0`, 6, unit);
    const major = b.readUInt32LE(8);
    const minor = b.readUInt32LE(12);
    this.guest = type === DomainType.X86_HVM ? 'hvm' : 'pv';
    this.xen = major === 0 ? `converted v${minor}` : `${major}.${minor}`;
    this.staticDataEnd = false;
    this.pvInfo = false;
    this.p2mFrames = false;
    this.emitUnit({ layer: 'libxc', type: -1, name: 'domain header', offset: this.unitOffset, bodyLength: DHDR_BYTES });
    this.beginUnit(REC_HEADER, REC_HEADER_BYTES);
  }

  // ---------------------------------------------------------------- records, common

  /** Reads the record header into recType/recLength/recName and checks the body cap. */
  private readRecordHeader(name: (type: number) => string): void {
    this.recType = this.acc.readUInt32LE(0);
    this.recLength = this.acc.readUInt32LE(4);
    this.recName = name(this.recType);
    if (this.recLength > REC_LENGTH_MAX) {
      this.fail(ErrorCodes.LIMIT, `body length ${this.recLength} exceeds REC_LENGTH_MAX (${REC_LENGTH_MAX})`, 4);
    }
  }

  private readBody(): void {
    const padded = Math.ceil(this.recLength / 8) * 8;
    this.stage = REC_BODY;
    this.grow(REC_HEADER_BYTES + padded);
  }

  /** Checks padding bytes are zero; returns the body. */
  private body(): Buffer {
    const end = REC_HEADER_BYTES + this.recLength;
    for (let i = end; i < this.accLen; i++) {
      if (this.acc[i] !== 0) this.fail(ErrorCodes.XEN, `padding byte at offset ${this.unitOffset + i} is ${hex(this.acc[i], 2)}, expected 0`, i);
    }
    return this.acc.subarray(REC_HEADER_BYTES, end);
  }

  private recordInfo(): XenRecordInfo {
    return { layer: this.layer!, type: this.recType, name: this.recName, offset: this.unitOffset, bodyLength: this.recLength };
  }

  private lengthIs(expected: number, what = ''): void {
    if (this.recLength !== expected) this.fail(ErrorCodes.XEN, `body length ${this.recLength}, expected ${expected}${what}`, 4);
  }

  // ---------------------------------------------------------------- libxl records

  private libxlRecordHeader(): void {
    this.readRecordHeader(libxlRecordName);
    const t = this.recType;
    const L = this.recLength;
    if (this.libxlPhase === 'state' && t !== LibxlRec.CHECKPOINT_STATE) {
      this.fail(ErrorCodes.XEN, 'COLO stream: a CHECKPOINT_STATE record must follow CHECKPOINT_END', 0);
    }
    switch (t) {
      case LibxlRec.END:
        if (this.libxlPhase === 'checkpoint') this.fail(ErrorCodes.XEN, 'END inside a checkpoint (before its CHECKPOINT_END)', 0);
        if (!this.libxcContextSeen) this.fail(ErrorCodes.XEN, 'END before any LIBXC_CONTEXT: the stream holds no domain', 0);
        this.lengthIs(0);
        break;
      case LibxlRec.LIBXC_CONTEXT:
        if (this.libxcContextSeen) this.fail(ErrorCodes.XEN, 'a second LIBXC_CONTEXT (libxl reads one libxc stream)', 0);
        this.lengthIs(0);
        break;
      case LibxlRec.EMULATOR_XENSTORE_DATA:
      case LibxlRec.EMULATOR_CONTEXT:
        if (this.guest === 'pv') this.fail(ErrorCodes.XEN, 'emulator record in a PV stream (libxl: "Received ... emulator record when none was expected")', 0);
        if (L < 8) this.fail(ErrorCodes.XEN, `body length ${L} cannot hold the 8-byte emulator header`, 4);
        break;
      case LibxlRec.CHECKPOINT_END:
        if (this.libxlPhase !== 'checkpoint') this.fail(ErrorCodes.XEN, 'CHECKPOINT_END outside a checkpoint (no libxc CHECKPOINT before it)', 0);
        this.lengthIs(0);
        break;
      case LibxlRec.CHECKPOINT_STATE:
        if (!this.colo) this.fail(ErrorCodes.XEN, 'CHECKPOINT_STATE in a stream not read as COLO (use --colo for a COLO stream)', 0);
        if (this.libxlPhase !== 'state') this.fail(ErrorCodes.XEN, 'CHECKPOINT_STATE not right after a CHECKPOINT_END', 0);
        this.lengthIs(4);
        break;
      default:
        this.fail(ErrorCodes.XEN, `unknown libxl record type ${hex(t)} (libxl refuses every record type it does not know, optional or not)`, 0);
    }
    this.readBody();
  }

  private libxlRecordBody(): void {
    const body = this.body();
    const t = this.recType;
    if (t === LibxlRec.EMULATOR_XENSTORE_DATA || t === LibxlRec.EMULATOR_CONTEXT) {
      const id = body.readUInt32LE(0);
      if (id !== EmulatorId.UNKNOWN && id !== EmulatorId.QEMU_TRADITIONAL && id !== EmulatorId.QEMU_UPSTREAM) {
        this.fail(ErrorCodes.XEN, `unknown emulator id ${id} (0 unknown, 1 qemu-traditional, 2 qemu-upstream)`, 8);
      }
      if (t === LibxlRec.EMULATOR_XENSTORE_DATA) this.checkXenstoreData(body);
    } else if (t === LibxlRec.CHECKPOINT_STATE) {
      const id = body.readUInt32LE(0);
      if (id > CheckpointState.SVM_RESUMED) this.fail(ErrorCodes.XEN, `unknown checkpoint state ${id} (0..3)`, 8);
    }
    this.emitUnit(this.recordInfo());
    switch (t) {
      case LibxlRec.LIBXC_CONTEXT:
        this.libxcContextSeen = true;
        this.libxlPhase = 'libxc';
        this.enterLayer('libxc');
        this.beginUnit(IHDR, IHDR_BYTES);
        return;
      case LibxlRec.END:
        this.h.flushPoint('END');
        this.startRaw('trailing');
        return;
      case LibxlRec.CHECKPOINT_END:
        this.checkpointEnds++;
        this.h.flushPoint('CHECKPOINT_END');
        if (this.colo) {
          this.libxlPhase = 'state';
          break;
        }
        this.libxlPhase = 'libxc';
        this.layer = 'libxc';
        break;
      case LibxlRec.CHECKPOINT_STATE:
        this.h.flushPoint('CHECKPOINT_STATE');
        this.libxlPhase = 'libxc';
        this.layer = 'libxc';
        break;
    }
    this.beginUnit(REC_HEADER, REC_HEADER_BYTES);
  }

  /** NUL-terminated key/value pairs, keys non-empty and relative (libxl__restore_emulator_xenstore_data). */
  private checkXenstoreData(body: Buffer): void {
    let i = 8;
    while (i < body.length) {
      const keyAt = i;
      const keyEnd = body.indexOf(0, i);
      if (keyEnd < 0) this.fail(ErrorCodes.XEN, `xenstore key at offset ${this.unitOffset + 8 + keyAt} is not NUL-terminated`, 8 + keyAt);
      if (keyEnd === keyAt) this.fail(ErrorCodes.XEN, `empty xenstore key at offset ${this.unitOffset + 8 + keyAt}`, 8 + keyAt);
      if (body[keyAt] === 0x2f) this.fail(ErrorCodes.XEN, `xenstore key at offset ${this.unitOffset + 8 + keyAt} is absolute (starts with "/")`, 8 + keyAt);
      const valAt = keyEnd + 1;
      const valEnd = valAt < body.length ? body.indexOf(0, valAt) : -1;
      if (valEnd < 0)
        this.fail(ErrorCodes.XEN, `value of xenstore key "${body.toString('latin1', keyAt, keyEnd)}" at offset ${this.unitOffset + 8 + valAt} is missing or not NUL-terminated`, 8 + valAt);
      i = valEnd + 1;
    }
  }

  // ---------------------------------------------------------------- libxc records

  private wrongGuest(): never {
    const what = this.guest === 'hvm' ? 'PV record in an HVM stream' : 'HVM record in a PV stream';
    return this.fail(ErrorCodes.XEN, `${what} (restore: "Mandatory record not handled")`, 0);
  }

  private libxcRecordHeader(): void {
    this.readRecordHeader(libxcRecordName);
    const t = this.recType;
    const L = this.recLength;
    const pv = this.guest === 'pv';
    if (this.lastUnit === 'libxl CHECKPOINT_END' && t === LibxlRec.CHECKPOINT_STATE && L === 4) {
      // Type 5 is also a libxc type, but a 4-byte body right after CHECKPOINT_END is COLO's control record.
      this.fail(ErrorCodes.XEN, 'CHECKPOINT_STATE in a stream not read as COLO (use --colo for a COLO stream)', 0, { layer: 'libxl', type: t, name: 'CHECKPOINT_STATE' });
    }
    switch (t) {
      case LibxcRec.END:
        if (this.version >= 3 && !this.staticDataEnd) this.fail(ErrorCodes.XEN, 'v3 stream reached END without STATIC_DATA_END', 0);
        this.lengthIs(0);
        break;
      case LibxcRec.PAGE_DATA:
        if (pv && !this.p2mFrames) this.fail(ErrorCodes.XEN, 'PAGE_DATA before X86_PV_P2M_FRAMES in a PV stream', 0);
        if (this.version >= 3 && !this.staticDataEnd) this.fail(ErrorCodes.XEN, 'PAGE_DATA before STATIC_DATA_END in a v3 stream (restore: "No STATIC_DATA_END seen")', 0);
        if (L < 8) this.fail(ErrorCodes.XEN, `body length ${L} cannot hold count and reserved (8 bytes)`, 4);
        this.staticDataEnd = true; // v2: inferred at the first PAGE_DATA
        this.stage = PAGE_HEAD;
        this.grow(REC_HEADER_BYTES + 8);
        return;
      case LibxcRec.X86_PV_INFO:
        if (!pv) this.wrongGuest();
        if (this.pvInfo) this.fail(ErrorCodes.XEN, 'a second X86_PV_INFO', 0);
        this.lengthIs(8);
        break;
      case LibxcRec.X86_PV_P2M_FRAMES:
        if (!pv) this.wrongGuest();
        if (this.version >= 3 && !this.staticDataEnd) this.fail(ErrorCodes.XEN, 'X86_PV_P2M_FRAMES before STATIC_DATA_END in a v3 stream (restore: "No STATIC_DATA_END seen")', 0);
        if (!this.pvInfo) this.fail(ErrorCodes.XEN, 'X86_PV_P2M_FRAMES before X86_PV_INFO', 0);
        if (L < 8 || L % 8 !== 0) this.fail(ErrorCodes.XEN, `body length ${L} is not 8 + a multiple of 8`, 4);
        this.staticDataEnd = true; // v2: inferred at the first P2M_FRAMES
        break;
      case LibxcRec.X86_PV_VCPU_BASIC:
      case LibxcRec.X86_PV_VCPU_EXTENDED:
      case LibxcRec.X86_PV_VCPU_XSAVE:
      case LibxcRec.X86_PV_VCPU_MSRS: {
        if (!pv) this.wrongGuest();
        if (!this.pvInfo) this.fail(ErrorCodes.XEN, `${this.recName} before X86_PV_INFO`, 0);
        if (L < 8) this.fail(ErrorCodes.XEN, `body length ${L} cannot hold the 8-byte vcpu header`, 4);
        const blob = L - 8;
        if (blob === 0) break; // empty records from Xen 4.6-4.8 are tolerated (spec errata 1)
        if (t === LibxcRec.X86_PV_VCPU_BASIC) {
          const size = this.pvWidth === 8 ? VCPU_CONTEXT_64 : VCPU_CONTEXT_32;
          if (blob !== size) this.fail(ErrorCodes.XEN, `body length ${L}, expected ${8 + size} (vcpu header + ${this.pvWidth * 8}-bit vcpu_guest_context)`, 4);
        } else if (t === LibxcRec.X86_PV_VCPU_EXTENDED) {
          if (blob > VCPU_EXTENDED_MAX) this.fail(ErrorCodes.XEN, `body length ${L} exceeds ${8 + VCPU_EXTENDED_MAX}`, 4);
        } else if (t === LibxcRec.X86_PV_VCPU_XSAVE) {
          if (blob < VCPU_XSAVE_MIN) this.fail(ErrorCodes.XEN, `body length ${L} is below ${8 + VCPU_XSAVE_MIN}`, 4);
        } else if (blob % 16 !== 0) {
          this.fail(ErrorCodes.XEN, `MSR payload of ${blob} bytes is not a multiple of 16`, 4);
        }
        break;
      }
      case LibxcRec.SHARED_INFO:
        if (!pv) this.wrongGuest();
        if (!this.pvInfo) this.fail(ErrorCodes.XEN, 'SHARED_INFO before X86_PV_INFO', 0);
        this.lengthIs(XEN_PAGE_SIZE);
        break;
      case LibxcRec.X86_TSC_INFO:
        this.lengthIs(24);
        break;
      case LibxcRec.HVM_CONTEXT:
        if (pv) this.wrongGuest();
        if (L === 0) this.fail(ErrorCodes.XEN, 'empty HVM context', 4);
        break;
      case LibxcRec.HVM_PARAMS:
        if (pv) this.wrongGuest();
        if (L < 8 || (L - 8) % 16 !== 0) this.fail(ErrorCodes.XEN, `body length ${L} is not 8 + 16 x count`, 4);
        break;
      case LibxcRec.TOOLSTACK:
        this.fail(ErrorCodes.XEN, 'TOOLSTACK (a Xen 4.5-era record) is not handled by restore ("Mandatory record not handled")', 0);
        break;
      case LibxcRec.VERIFY:
      case LibxcRec.CHECKPOINT:
        this.lengthIs(0);
        break;
      case LibxcRec.CHECKPOINT_DIRTY_PFN_LIST:
        this.fail(ErrorCodes.XEN, 'CHECKPOINT_DIRTY_PFN_LIST belongs to the COLO back channel (secondary to primary), not to a forward stream', 0);
        break;
      case LibxcRec.STATIC_DATA_END:
        if (this.version < 3) this.fail(ErrorCodes.XEN, 'STATIC_DATA_END is a v3 record, in a v2 stream', 0);
        if (this.staticDataEnd) this.fail(ErrorCodes.XEN, 'a second STATIC_DATA_END (restore: "Multiple STATIC_DATA_END records found")', 0);
        this.lengthIs(0);
        break;
      case LibxcRec.X86_CPUID_POLICY:
      case LibxcRec.X86_MSR_POLICY: {
        if (this.version < 3) this.fail(ErrorCodes.XEN, `${this.recName} is a v3 record, in a v2 stream`, 0);
        const size = t === LibxcRec.X86_CPUID_POLICY ? 24 : 16;
        if (L === 0 || L % size !== 0) this.fail(ErrorCodes.XEN, `body length ${L} is not a non-zero multiple of ${size}`, 4);
        break;
      }
      default:
        if (!(t & REC_TYPE_OPTIONAL)) this.fail(ErrorCodes.XEN, `unknown mandatory record type ${hex(t >>> 0)} (restore: "Mandatory record not handled")`, 0);
      // unknown optional records: restore ignores them, and so do we
    }
    this.readBody();
  }

  private libxcRecordBody(): void {
    const body = this.body();
    const t = this.recType;
    switch (t) {
      case LibxcRec.X86_PV_INFO: {
        const width = body[0];
        const levels = body[1];
        if (width !== 4 && width !== 8) this.fail(ErrorCodes.XEN, `guest width ${width}, expected 4 or 8`, 8);
        if (levels !== (width === 8 ? 4 : 3)) this.fail(ErrorCodes.XEN, `${levels} page-table levels with guest width ${width} (valid: width 4 with 3 levels, 8 with 4)`, 9);
        for (let i = 2; i < 8; i++) if (body[i] !== 0) this.fail(ErrorCodes.XEN, 'reserved bytes are not zero', 8 + i);
        break;
      }
      case LibxcRec.X86_PV_P2M_FRAMES: {
        const start = body.readUInt32LE(0);
        const end = body.readUInt32LE(4);
        if (start > end) this.fail(ErrorCodes.XEN, `start pfn ${hex(start)} exceeds end pfn ${hex(end)}`, 8);
        const fpp = XEN_PAGE_SIZE / this.pvWidth;
        const frames = Math.floor(end / fpp) - Math.floor(start / fpp) + 1;
        if (this.recLength !== 8 + 8 * frames) this.fail(ErrorCodes.XEN, `pfns ${hex(start)}..${hex(end)} need ${frames} frames (body length ${8 + 8 * frames}), record says ${this.recLength}`, 4);
        break;
      }
      case LibxcRec.X86_PV_VCPU_BASIC:
      case LibxcRec.X86_PV_VCPU_EXTENDED:
      case LibxcRec.X86_PV_VCPU_XSAVE:
      case LibxcRec.X86_PV_VCPU_MSRS:
        if (body.readUInt32LE(4) !== 0) this.fail(ErrorCodes.XEN, 'reserved field of the vcpu header is not zero', 12);
        break;
      case LibxcRec.X86_TSC_INFO:
        if (body.readUInt32LE(20) !== 0) this.fail(ErrorCodes.XEN, 'reserved field is not zero', 28);
        break;
      case LibxcRec.HVM_PARAMS: {
        const count = body.readUInt32LE(0);
        if (body.readUInt32LE(4) !== 0) this.fail(ErrorCodes.XEN, 'reserved field is not zero', 12);
        if (this.recLength !== 8 + 16 * count) this.fail(ErrorCodes.XEN, `count ${count} needs body length ${8 + 16 * count}, record says ${this.recLength}`, 8);
        break;
      }
    }
    this.emitUnit(this.recordInfo());
    switch (t) {
      case LibxcRec.END:
        this.h.flushPoint('END');
        if (this.outer === 'libxc') {
          this.startRaw('trailing');
          return;
        }
        this.libxlPhase = 'after';
        this.layer = 'libxl';
        break;
      case LibxcRec.CHECKPOINT:
        this.checkpoints++;
        this.h.flushPoint('CHECKPOINT');
        if (this.outer !== 'libxc') {
          this.libxlPhase = 'checkpoint';
          this.layer = 'libxl';
        }
        break;
      case LibxcRec.STATIC_DATA_END:
        this.staticDataEnd = true;
        break;
      case LibxcRec.X86_PV_INFO:
        this.pvInfo = true;
        this.pvWidth = body[0];
        break;
      case LibxcRec.X86_PV_P2M_FRAMES:
        this.p2mFrames = true;
        break;
    }
    this.beginUnit(REC_HEADER, REC_HEADER_BYTES);
  }

  // ---------------------------------------------------------------- PAGE_DATA

  private pageHead(): void {
    const b = this.acc;
    const count = b.readUInt32LE(8);
    if (b.readUInt32LE(12) !== 0) this.fail(ErrorCodes.XEN, `reserved field is ${hex(b.readUInt32LE(12))}, expected 0`, 12);
    if (count === 0) this.fail(ErrorCodes.XEN, 'count 0 (a PAGE_DATA record holds at least 1 pfn)', 8);
    const pfnBytes = 8 * count;
    // Checked before the pfn array is buffered: the body must at least hold it.
    if (this.recLength < 8 + pfnBytes) this.fail(ErrorCodes.XEN, `count ${count} needs at least body length ${8 + pfnBytes} for its pfns, record says ${this.recLength}`, 8);
    this.stage = PAGE_PFNS;
    this.grow(16 + pfnBytes);
  }

  private pagePfns(): void {
    const b = this.acc;
    const count = b.readUInt32LE(8);
    const types: Record<string, number> = {};
    const typeCounts = new Array<number>(16).fill(0);
    let data = 0;
    for (let i = 0, at = 16; i < count; i++, at += 8) {
      const hi = b.readUInt32LE(at + 4);
      const type = hi >>> 28;
      if ((hi >>> 20) & 0xff) this.fail(ErrorCodes.XEN, `pfn[${i}] ${hex(hi >>> 0)}${hex(b.readUInt32LE(at)).slice(2)} has reserved bits 59..52 set`, at);
      if (!isKnownPageType(type)) this.fail(ErrorCodes.XEN, `pfn[${i}] has reserved page type ${type} (5..8 are not defined)`, at);
      typeCounts[type]++;
      if (pageTypeHasData(type)) data++;
    }
    const expected = 8 + 8 * count + XEN_PAGE_SIZE * data;
    if (this.recLength !== expected) {
      const what = data === count ? `count ${count}` : `count ${count} (${data} with data)`;
      this.fail(ErrorCodes.XEN, `${what} needs body length ${expected}, record says ${this.recLength}`, 4);
    }
    const pfns = new Float64Array(data);
    for (let i = 0, j = 0, at = 16; i < count; i++, at += 8) {
      const hi = b.readUInt32LE(at + 4);
      if (pageTypeHasData(hi >>> 28)) pfns[j++] = (hi & 0xfffff) * 0x100000000 + b.readUInt32LE(at);
    }
    for (let t = 0; t < 16; t++) {
      if (typeCounts[t] === 0) continue;
      const name = pageTypeName(t);
      types[name] = typeCounts[t];
      this.pageTotals.types[name] = (this.pageTotals.types[name] ?? 0) + typeCounts[t];
    }
    this.pageTotals.records++;
    this.pageTotals.count += count;
    this.pageTotals.dataPages += data;
    const info: XenRecordInfo = { ...this.recordInfo(), pages: { count, dataPages: data, types } };
    this.h.verbatim(b.subarray(0, this.accLen));
    this.pageInfo = info;
    if (data === 0) {
      this.endPageRecord();
      return;
    }
    this.h.pageRecord(pfns, info);
    this.stage = PAGES;
    this.pageRemaining = data * XEN_PAGE_SIZE;
  }

  private endPageRecord(): void {
    const info = this.pageInfo!;
    this.pageInfo = null;
    this.count(info);
    this.beginUnit(REC_HEADER, REC_HEADER_BYTES);
  }
}
