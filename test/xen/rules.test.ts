/**
 * One malformed vector per validation rule of XenReader (docs/XEN.md 1.1-1.6, 2.1-2.3,
 * 5.3), each refused with the expected code, layer, record name and byte offset of the
 * offending field; the records Xen tolerates are accepted; and the cases where Xen's
 * verify-stream-v2 is wrong (it accepts what restore refuses, or the reverse) are pinned
 * down against the verifier itself.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  DomainType,
  IHDR_OPT_BIG_ENDIAN,
  LibxcRec,
  LibxlRec,
  LIBXL_OPT_BIG_ENDIAN,
  LIBXL_OPT_LEGACY,
  PageType,
  REC_LENGTH_MAX,
  VCPU_CONTEXT_32,
  VCPU_CONTEXT_64,
  XL_MANDATORY_FLAG_JSON,
  XL_MANDATORY_FLAG_STREAMV2,
} from '../../lib/xen/constants';
import { XenLayer, XenReaderOptions, XenStreamError } from '../../lib/xen/reader';
import { XenWriter, XlHeaderOptions } from '../../lib/xen/writer';
import { build, readXen, requireVerifier, Verifier } from './verifier';

type Step = (w: XenWriter) => void;

// ---------------------------------------------------------------- steps

const IH =
  (version = 3, options = 0): Step =>
  (w) =>
    w.libxcImageHeader(version, options);
const DH =
  (type: number = DomainType.X86_HVM, shift = 12, major = 4, minor = 17): Step =>
  (w) =>
    w.libxcDomainHeader(type, major, minor, shift);
const X =
  (type: number, body: Buffer = Buffer.alloc(0)): Step =>
  (w) =>
    w.libxcRecord(type, body);
const L =
  (type: number, body: Buffer = Buffer.alloc(0)): Step =>
  (w) =>
    w.libxlRecord(type, body);
const LH =
  (options = 0, version = 2): Step =>
  (w) =>
    w.libxlHeader(options, version);
const XL =
  (opts: XlHeaderOptions = {}, config = '{"c_info":{"type":"hvm"}}'): Step =>
  (w) =>
    w.xlHeader(config, opts);
const LV =
  (version = 2, xmlLen?: number, xml = "<domain type='xen'><name>vm1</name></domain>"): Step =>
  (w) =>
    w.libvirtHeader(xml, version, xmlLen);
const RAW =
  (b: Buffer): Step =>
  (w) =>
    w.raw(b);
/** A record header with any declared length, then exactly `bytes` (no padding added). */
const HDR =
  (type: number, length: number, bytes: Buffer = Buffer.alloc(0)): Step =>
  (w) => {
    const h = Buffer.alloc(8);
    h.writeUInt32LE(type >>> 0, 0);
    h.writeUInt32LE(length >>> 0, 4);
    w.raw(Buffer.concat([h, bytes]));
  };
/** PAGE_DATA with zero-filled contents for each data-carrying entry. */
const PD =
  (...entries: Array<[number, number]>): Step =>
  (w) => {
    const data = entries.filter(([, t]) => t <= 4 || (t >= 9 && t <= 12)).length;
    w.pageData(
      entries.map(([pfn, type]) => ({ pfn, type })),
      Buffer.alloc(data * 4096, 0x11),
    );
  };

// ---------------------------------------------------------------- bodies

function u32(...v: number[]): Buffer {
  const b = Buffer.alloc(4 * v.length);
  v.forEach((x, i) => b.writeUInt32LE(x >>> 0, 4 * i));
  return b;
}
const cpuid = (n = 2) => Buffer.alloc(24 * n, 1);
const msr = (n = 1) => Buffer.alloc(16 * n);
const tsc = () => Buffer.concat([u32(0, 2994372), Buffer.alloc(8, 1), u32(1, 0)]);
const hvmContext = () => Buffer.concat([u32(0x00000001, 4), u32(0x54381286), Buffer.alloc(8)]); // HEADER(4 bytes) + END
const params = (count: number, entries = count) => Buffer.concat([u32(count, 0), Buffer.alloc(16 * entries, 2)]);
const pvInfo = (width = 8, levels = 4) => Buffer.from([width, levels, 0, 0, 0, 0, 0, 0]);
const p2m = (start: number, end: number, frames?: number) => {
  const n = frames ?? Math.floor(end / 512) - Math.floor(start / 512) + 1;
  return Buffer.concat([u32(start, end), Buffer.alloc(8 * n, 3)]);
};
const vcpu = (id: number, blob: number) => Buffer.concat([u32(id, 0), Buffer.alloc(blob, 4)]);
const xenstore = (text: string, id = 2) => Buffer.concat([u32(id, 0), Buffer.from(text, 'latin1')]);
const emuContext = (id = 2) => Buffer.concat([u32(id, 0), Buffer.from('QEVM\x00\x00\x00\x03', 'latin1'), Buffer.alloc(39, 5)]); // 55 bytes: 1 byte of padding

// ---------------------------------------------------------------- valid bases

/** A small valid HVM libxc stream; slots replace its parts. */
function hvm(o: { v?: 2 | 3; ih?: Step; dh?: Step; statics?: Step[]; pages?: Step[]; tail?: Step[]; end?: Step[] } = {}): Step[] {
  const v = o.v ?? 3;
  const statics = o.statics ?? (v === 3 ? [X(LibxcRec.X86_CPUID_POLICY, cpuid()), X(LibxcRec.X86_MSR_POLICY, msr()), X(LibxcRec.STATIC_DATA_END)] : []);
  return [
    o.ih ?? IH(v),
    o.dh ?? DH(DomainType.X86_HVM, 12, 4, v === 3 ? 17 : 13),
    ...statics,
    ...(o.pages ?? [PD([0, PageType.NOTAB], [1, PageType.NOTAB], [0xa0, PageType.XTAB])]),
    ...(o.tail ?? [X(LibxcRec.X86_TSC_INFO, tsc()), X(LibxcRec.HVM_CONTEXT, hvmContext()), X(LibxcRec.HVM_PARAMS, params(2))]),
    ...(o.end ?? [X(LibxcRec.END)]),
  ];
}

/** A small valid 64-bit PV libxc stream. */
function pv(o: { v?: 2 | 3; info?: Step[]; statics?: Step[]; p2m?: Step[]; pages?: Step[]; tail?: Step[]; vcpus?: Step[]; end?: Step[] } = {}): Step[] {
  const v = o.v ?? 3;
  return [
    IH(v),
    DH(DomainType.X86_PV, 12, 4, v === 3 ? 17 : 13),
    ...(o.info ?? [X(LibxcRec.X86_PV_INFO, pvInfo())]),
    ...(o.statics ?? (v === 3 ? [X(LibxcRec.X86_CPUID_POLICY, cpuid()), X(LibxcRec.X86_MSR_POLICY, msr()), X(LibxcRec.STATIC_DATA_END)] : [])),
    ...(o.p2m ?? [X(LibxcRec.X86_PV_P2M_FRAMES, p2m(0, 63))]),
    ...(o.pages ?? [PD([0, PageType.NOTAB], [1, PageType.L4TAB_PIN], [2, PageType.L1TAB], [3, PageType.XTAB])]),
    ...(o.tail ?? [X(LibxcRec.X86_TSC_INFO, tsc()), X(LibxcRec.SHARED_INFO, Buffer.alloc(4096, 6))]),
    ...(o.vcpus ?? [
      X(LibxcRec.X86_PV_VCPU_BASIC, vcpu(0, VCPU_CONTEXT_64)),
      X(LibxcRec.X86_PV_VCPU_EXTENDED, vcpu(0, 32)),
      X(LibxcRec.X86_PV_VCPU_XSAVE, vcpu(0, 16 + 576)),
      X(LibxcRec.X86_PV_VCPU_MSRS, vcpu(0, 32)),
    ]),
    ...(o.end ?? [X(LibxcRec.END)]),
  ];
}

/** Wraps libxc steps in a libxl stream. */
function libxl(libxc: Step[], o: { lh?: Step; before?: Step[]; after?: Step[]; end?: Step[] } = {}): Step[] {
  return [o.lh ?? LH(), ...(o.before ?? []), L(LibxlRec.LIBXC_CONTEXT), ...libxc, ...(o.after ?? [L(LibxlRec.EMULATOR_CONTEXT, emuContext())]), ...(o.end ?? [L(LibxlRec.END)])];
}

/** Wraps libxl steps in an xl save file (an odd config length, so the libxl stream starts unaligned). */
function xl(steps: Step[], opts: XlHeaderOptions = {}): Step[] {
  return [XL(opts), ...steps];
}

const pvLibxl = (libxc: Step[], o: { after?: Step[]; end?: Step[] } = {}) => libxl(libxc, { after: o.after ?? [], end: o.end });

function bytes(steps: Step[]): Buffer {
  return build((w) => steps.forEach((s) => s(w)));
}

function offsetOf(steps: Step[], step: Step): number {
  const i = steps.indexOf(step);
  assert.ok(i >= 0, 'the bad step is part of the stream');
  return bytes(steps.slice(0, i)).length;
}

// ---------------------------------------------------------------- cases

interface Case {
  name: string;
  steps: Step[];
  /** The step holding the offending field (null: the stream start). */
  bad: Step | null;
  /** Offset of the field within the bad step's bytes. */
  field: number;
  /** Byte edits after building: (stream, offset of the bad step). */
  edit?: (b: Buffer, at: number) => void;
  code: string;
  layer: XenLayer | null;
  record: string | null;
  message?: RegExp;
  opts?: XenReaderOptions;
}

const XEN = 'PP_ERR_XEN';
const cases: Case[] = [];
function refuse(name: string, steps: Step[], bad: Step | null, field: number, code: string, layer: XenLayer | null, record: string | null, more: Partial<Case> = {}): void {
  cases.push({ name, steps, bad, field, code, layer, record, ...more });
}

// Detection and libxc headers.
refuse(
  'unknown first 8 bytes: legacy (v1) or not Xen, refused with how to convert',
  [RAW(Buffer.from('\x00\x00\x01\x00\x00\x00\x00\x00rest of a legacy image', 'latin1'))],
  null,
  0,
  'PP_ERR_VERSION',
  null,
  null,
  { message: /convert-legacy-stream .*-i IN -o OUT -w 64 -g hvm\|pv -f libxl.*--legacy pass/ },
);
refuse('format libxc given, stream starts with LibxlFmt', libxl(hvm()), null, 0, 'PP_ERR_MAGIC', 'libxc', 'image header', { opts: { format: 'libxc' } });
{
  const s = IH();
  refuse('libxc image header: marker not 8 x 0xFF (format libxc)', hvm({ ih: s }), s, 0, 'PP_ERR_MAGIC', 'libxc', 'image header', { opts: { format: 'libxc' }, edit: (b, at) => (b[at + 5] = 0x7f) });
}
{
  const s = IH();
  refuse('libxc image header: id not "XENF"', hvm({ ih: s }), s, 8, 'PP_ERR_MAGIC', 'libxc', 'image header', { edit: (b, at) => (b[at + 11] = 0x47) });
}
{
  const s = IH(1);
  refuse('libxc image header: version 1', hvm({ ih: s }), s, 12, 'PP_ERR_VERSION', 'libxc', 'image header');
}
{
  const s = IH(4);
  refuse('libxc image header: version 4', hvm({ ih: s }), s, 12, 'PP_ERR_VERSION', 'libxc', 'image header');
}
{
  const s = IH(3, IHDR_OPT_BIG_ENDIAN);
  refuse('libxc image header: endianness bit (big-endian)', hvm({ ih: s }), s, 16, XEN, 'libxc', 'image header', { message: /big-endian/ });
}
{
  const s = IH(3, 0x0002);
  refuse('libxc image header: reserved option bit 1', hvm({ ih: s }), s, 16, XEN, 'libxc', 'image header');
}
{
  const s = IH(3, 0x8000);
  refuse('libxc image header: reserved option bit 15', hvm({ ih: s }), s, 16, XEN, 'libxc', 'image header');
}
{
  const s = IH();
  refuse('libxc image header: reserved u16 at 18', hvm({ ih: s }), s, 18, XEN, 'libxc', 'image header', { edit: (b, at) => (b[at + 19] = 1) });
}
{
  const s = IH();
  refuse('libxc image header: reserved u32 at 20', hvm({ ih: s }), s, 20, XEN, 'libxc', 'image header', { edit: (b, at) => (b[at + 20] = 1) });
}
{
  const s = DH(0);
  refuse('libxc domain header: type 0', hvm({ dh: s }), s, 0, XEN, 'libxc', 'domain header');
}
{
  const s = DH(3);
  refuse('libxc domain header: type 3 (not x86 PV/HVM)', hvm({ dh: s }), s, 0, XEN, 'libxc', 'domain header');
}
{
  const s = DH(2, 13);
  refuse('libxc domain header: page shift 13', hvm({ dh: s }), s, 4, XEN, 'libxc', 'domain header');
}
{
  const s = DH();
  refuse('libxc domain header: reserved u16', hvm({ dh: s }), s, 6, XEN, 'libxc', 'domain header', { edit: (b, at) => (b[at + 6] = 1) });
}

// libxc records: framing.
{
  const s = X(LibxcRec.END, Buffer.alloc(4));
  refuse('libxc END with a body', hvm({ end: [s] }), s, 4, XEN, 'libxc', 'END');
}
{
  const s = X(LibxcRec.HVM_CONTEXT, Buffer.from([1, 2, 3, 4, 5]));
  refuse('libxc record: non-zero padding', hvm({ tail: [s, X(LibxcRec.HVM_PARAMS, params(0))] }), s, 8 + 6, XEN, 'libxc', 'HVM_CONTEXT', {
    edit: (b, at) => (b[at + 8 + 6] = 9),
    message: /padding byte/,
  });
}
{
  const s = HDR(LibxcRec.HVM_CONTEXT, REC_LENGTH_MAX + 1);
  refuse('libxc record: body length above REC_LENGTH_MAX (refused at the header, before buffering)', [IH(), DH(), s], s, 4, 'PP_ERR_LIMIT', 'libxc', 'HVM_CONTEXT');
}
{
  const s = X(0x13);
  refuse('libxc record: unknown mandatory type 0x13', hvm({ end: [s, X(LibxcRec.END)] }), s, 0, XEN, 'libxc', 'UNKNOWN_0x00000013');
}
{
  const s = X(0x7fffffff, Buffer.alloc(8));
  refuse('libxc record: unknown mandatory type 0x7fffffff', hvm({ end: [s, X(LibxcRec.END)] }), s, 0, XEN, 'libxc', 'UNKNOWN_0x7fffffff');
}
{
  const s = X(LibxcRec.TOOLSTACK, Buffer.alloc(16));
  refuse('libxc TOOLSTACK (not handled by restore)', hvm({ end: [s, X(LibxcRec.END)] }), s, 0, XEN, 'libxc', 'TOOLSTACK');
}
{
  const s = X(LibxcRec.CHECKPOINT_DIRTY_PFN_LIST, Buffer.alloc(16));
  refuse('libxc CHECKPOINT_DIRTY_PFN_LIST in a forward stream', hvm({ end: [s, X(LibxcRec.END)] }), s, 0, XEN, 'libxc', 'CHECKPOINT_DIRTY_PFN_LIST', { message: /back channel/ });
}
{
  const s = X(LibxcRec.VERIFY, Buffer.alloc(8));
  refuse('libxc VERIFY with a body', hvm({ end: [s, X(LibxcRec.END)] }), s, 4, XEN, 'libxc', 'VERIFY');
}
{
  const s = X(LibxcRec.CHECKPOINT, Buffer.alloc(8));
  refuse('libxc CHECKPOINT with a body', libxl(hvm({ end: [s] })), s, 4, XEN, 'libxc', 'CHECKPOINT');
}

// Versions and STATIC_DATA_END.
{
  const s = X(LibxcRec.STATIC_DATA_END);
  refuse('v2 stream: STATIC_DATA_END (v3 only)', hvm({ v: 2, statics: [s] }), s, 0, XEN, 'libxc', 'STATIC_DATA_END');
}
{
  const s = X(LibxcRec.X86_CPUID_POLICY, cpuid());
  refuse('v2 stream: X86_CPUID_POLICY (v3 only)', hvm({ v: 2, statics: [s] }), s, 0, XEN, 'libxc', 'X86_CPUID_POLICY');
}
{
  const s = X(LibxcRec.X86_MSR_POLICY, msr());
  refuse('v2 stream: X86_MSR_POLICY (v3 only)', hvm({ v: 2, statics: [s] }), s, 0, XEN, 'libxc', 'X86_MSR_POLICY');
}
{
  const s = PD([0, 0]);
  refuse('v3 stream: PAGE_DATA without STATIC_DATA_END', hvm({ statics: [X(LibxcRec.X86_CPUID_POLICY, cpuid())], pages: [s] }), s, 0, XEN, 'libxc', 'PAGE_DATA', {
    message: /No STATIC_DATA_END seen/,
  });
}
{
  const s = X(LibxcRec.END);
  refuse('v3 stream: END without STATIC_DATA_END (no pages)', hvm({ statics: [], pages: [], end: [s] }), s, 0, XEN, 'libxc', 'END');
}
{
  const s = X(LibxcRec.STATIC_DATA_END);
  refuse('v3 stream: a second STATIC_DATA_END', hvm({ statics: [X(LibxcRec.STATIC_DATA_END), s] }), s, 0, XEN, 'libxc', 'STATIC_DATA_END');
}
{
  const s = X(LibxcRec.STATIC_DATA_END, Buffer.alloc(8));
  refuse('v3 stream: STATIC_DATA_END with a body', hvm({ statics: [s] }), s, 4, XEN, 'libxc', 'STATIC_DATA_END');
}
{
  const s = X(LibxcRec.X86_CPUID_POLICY, Buffer.alloc(25));
  refuse('X86_CPUID_POLICY: length not a multiple of 24', hvm({ statics: [s, X(LibxcRec.STATIC_DATA_END)] }), s, 4, XEN, 'libxc', 'X86_CPUID_POLICY');
}
{
  const s = X(LibxcRec.X86_CPUID_POLICY);
  refuse('X86_CPUID_POLICY: empty', hvm({ statics: [s, X(LibxcRec.STATIC_DATA_END)] }), s, 4, XEN, 'libxc', 'X86_CPUID_POLICY');
}
{
  const s = X(LibxcRec.X86_MSR_POLICY, Buffer.alloc(24));
  refuse('X86_MSR_POLICY: length not a multiple of 16', hvm({ statics: [s, X(LibxcRec.STATIC_DATA_END)] }), s, 4, XEN, 'libxc', 'X86_MSR_POLICY');
}

// Common and HVM records.
{
  const s = X(LibxcRec.X86_TSC_INFO, Buffer.alloc(16));
  refuse('X86_TSC_INFO: length 16 (exactly 24)', hvm({ tail: [s] }), s, 4, XEN, 'libxc', 'X86_TSC_INFO');
}
{
  const s = X(LibxcRec.X86_TSC_INFO, tsc());
  refuse('X86_TSC_INFO: reserved field', hvm({ tail: [s] }), s, 28, XEN, 'libxc', 'X86_TSC_INFO', { edit: (b, at) => (b[at + 28] = 1) });
}
{
  const s = X(LibxcRec.HVM_CONTEXT);
  refuse('HVM_CONTEXT: empty', hvm({ tail: [s] }), s, 4, XEN, 'libxc', 'HVM_CONTEXT');
}
{
  const s = X(LibxcRec.HVM_PARAMS, Buffer.alloc(4));
  refuse('HVM_PARAMS: shorter than its 8-byte header', hvm({ tail: [s] }), s, 4, XEN, 'libxc', 'HVM_PARAMS');
}
{
  const s = X(LibxcRec.HVM_PARAMS, Buffer.alloc(12));
  refuse('HVM_PARAMS: length not 8 + 16 x n', hvm({ tail: [s] }), s, 4, XEN, 'libxc', 'HVM_PARAMS');
}
{
  const s = X(LibxcRec.HVM_PARAMS, params(2, 1));
  refuse('HVM_PARAMS: count 2 with one entry', hvm({ tail: [s] }), s, 8, XEN, 'libxc', 'HVM_PARAMS', { message: /count 2 needs body length 40, record says 24/ });
}
{
  const s = X(LibxcRec.HVM_PARAMS, params(1));
  refuse('HVM_PARAMS: reserved field', hvm({ tail: [s] }), s, 12, XEN, 'libxc', 'HVM_PARAMS', { edit: (b, at) => (b[at + 12] = 1) });
}

// Records of the other guest type.
for (const [name, step] of [
  ['X86_PV_INFO', X(LibxcRec.X86_PV_INFO, pvInfo())],
  ['X86_PV_P2M_FRAMES', X(LibxcRec.X86_PV_P2M_FRAMES, p2m(0, 10))],
  ['X86_PV_VCPU_BASIC', X(LibxcRec.X86_PV_VCPU_BASIC, vcpu(0, VCPU_CONTEXT_64))],
  ['SHARED_INFO', X(LibxcRec.SHARED_INFO, Buffer.alloc(4096))],
] as const) {
  refuse(`HVM stream: PV record ${name}`, hvm({ end: [step, X(LibxcRec.END)] }), step, 0, XEN, 'libxc', name, { message: /PV record in an HVM stream/ });
}
for (const [name, step] of [
  ['HVM_CONTEXT', X(LibxcRec.HVM_CONTEXT, hvmContext())],
  ['HVM_PARAMS', X(LibxcRec.HVM_PARAMS, params(1))],
] as const) {
  refuse(`PV stream: HVM record ${name}`, pv({ end: [step, X(LibxcRec.END)] }), step, 0, XEN, 'libxc', name, { message: /HVM record in a PV stream/ });
}

// PAGE_DATA.
{
  const s = X(LibxcRec.PAGE_DATA, u32(0, 0));
  refuse('PAGE_DATA: count 0', hvm({ pages: [s] }), s, 8, XEN, 'libxc', 'PAGE_DATA');
}
{
  const s = X(LibxcRec.PAGE_DATA, u32(0));
  refuse('PAGE_DATA: body shorter than count + reserved', hvm({ pages: [s] }), s, 4, XEN, 'libxc', 'PAGE_DATA');
}
{
  const s = PD([0, 0]);
  refuse('PAGE_DATA: reserved field', hvm({ pages: [s] }), s, 12, XEN, 'libxc', 'PAGE_DATA', { edit: (b, at) => (b[at + 13] = 1) });
}
{
  const pfns = Buffer.concat([0, 1, 2, 3].map((p) => Buffer.from([p, 0, 0, 0, 0, 0, 0, 0])));
  const s = HDR(LibxcRec.PAGE_DATA, 16416, Buffer.concat([u32(4, 0), pfns, Buffer.alloc(16408 - 32)]));
  refuse('PAGE_DATA: count 4 with one page short (body length != 8 + 8C + 4096N)', hvm({ pages: [s], tail: [], end: [] }), s, 4, XEN, 'libxc', 'PAGE_DATA', {
    message: /^libxc PAGE_DATA at offset \d+: count 4 needs body length 16424, record says 16416$/,
  });
}
{
  const s = HDR(LibxcRec.PAGE_DATA, 16, u32(1000, 0, 0, 0));
  refuse('PAGE_DATA: count larger than the body can hold (checked before buffering pfns)', hvm({ pages: [s], tail: [], end: [] }), s, 8, XEN, 'libxc', 'PAGE_DATA');
}
{
  const s = PD([0, 0], [1, 0]);
  refuse('PAGE_DATA: reserved pfn bits 59..52', hvm({ pages: [s] }), s, 16 + 8, XEN, 'libxc', 'PAGE_DATA', { edit: (b, at) => (b[at + 16 + 8 + 6] |= 0x10), message: /pfn\[1\].*reserved bits/ });
}
for (const type of [5, 6, 7, 8]) {
  const s = PD([0, 0], [1, 0]);
  refuse(`PAGE_DATA: reserved page type ${type}`, hvm({ pages: [s] }), s, 16 + 8, XEN, 'libxc', 'PAGE_DATA', {
    edit: (b, at) => (b[at + 16 + 8 + 7] = type << 4),
    message: new RegExp(`reserved page type ${type}`),
  });
}
{
  const s = HDR(LibxcRec.PAGE_DATA, 16 + 4096, Buffer.concat([u32(1, 0, 0xa0, 0xf0000000), Buffer.alloc(4096)]));
  refuse('PAGE_DATA: XTAB entry followed by page contents', hvm({ pages: [s], tail: [], end: [] }), s, 4, XEN, 'libxc', 'PAGE_DATA', {
    message: /count 1 \(0 with data\) needs body length 16, record says 4112/,
  });
}
{
  const s = PD([0, 0]);
  refuse('PV stream: PAGE_DATA before X86_PV_P2M_FRAMES', pv({ p2m: [], pages: [s] }), s, 0, XEN, 'libxc', 'PAGE_DATA');
}

// PV records.
{
  const s = X(LibxcRec.X86_PV_INFO, Buffer.alloc(16));
  refuse('X86_PV_INFO: length 16 (exactly 8)', pv({ info: [s] }), s, 4, XEN, 'libxc', 'X86_PV_INFO');
}
{
  const s = X(LibxcRec.X86_PV_INFO, pvInfo(6, 4));
  refuse('X86_PV_INFO: guest width 6', pv({ info: [s] }), s, 8, XEN, 'libxc', 'X86_PV_INFO');
}
{
  const s = X(LibxcRec.X86_PV_INFO, pvInfo(4, 4));
  refuse('X86_PV_INFO: width 4 with 4 levels', pv({ info: [s] }), s, 9, XEN, 'libxc', 'X86_PV_INFO');
}
{
  const s = X(LibxcRec.X86_PV_INFO, pvInfo(8, 3));
  refuse('X86_PV_INFO: width 8 with 3 levels', pv({ info: [s] }), s, 9, XEN, 'libxc', 'X86_PV_INFO');
}
{
  const s = X(LibxcRec.X86_PV_INFO, pvInfo());
  refuse('X86_PV_INFO: reserved bytes', pv({ info: [s] }), s, 10, XEN, 'libxc', 'X86_PV_INFO', { edit: (b, at) => (b[at + 10] = 1) });
}
{
  const s = X(LibxcRec.X86_PV_INFO, pvInfo());
  refuse('X86_PV_INFO: twice', pv({ info: [X(LibxcRec.X86_PV_INFO, pvInfo()), s] }), s, 0, XEN, 'libxc', 'X86_PV_INFO');
}
{
  const s = X(LibxcRec.X86_PV_P2M_FRAMES, p2m(0, 63));
  refuse('X86_PV_P2M_FRAMES: before X86_PV_INFO', pv({ info: [], p2m: [s] }), s, 0, XEN, 'libxc', 'X86_PV_P2M_FRAMES');
}
{
  const s = X(LibxcRec.X86_PV_P2M_FRAMES, p2m(0, 63));
  refuse('X86_PV_P2M_FRAMES: before STATIC_DATA_END (v3)', pv({ statics: [X(LibxcRec.X86_CPUID_POLICY, cpuid())], p2m: [s] }), s, 0, XEN, 'libxc', 'X86_PV_P2M_FRAMES');
}
{
  const s = X(LibxcRec.X86_PV_P2M_FRAMES, p2m(64, 63, 1));
  refuse('X86_PV_P2M_FRAMES: start pfn above end pfn', pv({ p2m: [s] }), s, 8, XEN, 'libxc', 'X86_PV_P2M_FRAMES');
}
{
  const s = X(LibxcRec.X86_PV_P2M_FRAMES, p2m(0, 1000, 1));
  refuse('X86_PV_P2M_FRAMES: frame count disagrees with the pfn range', pv({ p2m: [s] }), s, 4, XEN, 'libxc', 'X86_PV_P2M_FRAMES');
}
{
  const s = X(LibxcRec.X86_PV_P2M_FRAMES, Buffer.alloc(4));
  refuse('X86_PV_P2M_FRAMES: shorter than 8', pv({ p2m: [s] }), s, 4, XEN, 'libxc', 'X86_PV_P2M_FRAMES');
}
{
  const s = X(LibxcRec.X86_PV_VCPU_BASIC, vcpu(0, VCPU_CONTEXT_64 - 8));
  refuse('X86_PV_VCPU_BASIC: blob not sizeof(vcpu_guest_context) (64-bit)', pv({ vcpus: [s] }), s, 4, XEN, 'libxc', 'X86_PV_VCPU_BASIC');
}
{
  const s = X(LibxcRec.X86_PV_VCPU_BASIC, vcpu(0, VCPU_CONTEXT_64));
  refuse(
    'X86_PV_VCPU_BASIC: 64-bit blob in a 32-bit guest',
    pv({ info: [X(LibxcRec.X86_PV_INFO, pvInfo(4, 3))], p2m: [X(LibxcRec.X86_PV_P2M_FRAMES, p2m(0, 63))], vcpus: [s] }),
    s,
    4,
    XEN,
    'libxc',
    'X86_PV_VCPU_BASIC',
    { message: /32-bit/ },
  );
}
{
  const s = X(LibxcRec.X86_PV_VCPU_EXTENDED, vcpu(0, 136));
  refuse('X86_PV_VCPU_EXTENDED: blob above 128 bytes', pv({ vcpus: [s] }), s, 4, XEN, 'libxc', 'X86_PV_VCPU_EXTENDED');
}
{
  const s = X(LibxcRec.X86_PV_VCPU_XSAVE, vcpu(0, 8));
  refuse('X86_PV_VCPU_XSAVE: blob below 16 bytes', pv({ vcpus: [s] }), s, 4, XEN, 'libxc', 'X86_PV_VCPU_XSAVE');
}
{
  const s = X(LibxcRec.X86_PV_VCPU_MSRS, vcpu(0, 24));
  refuse('X86_PV_VCPU_MSRS: payload not a multiple of 16', pv({ vcpus: [s] }), s, 4, XEN, 'libxc', 'X86_PV_VCPU_MSRS');
}
{
  const s = X(LibxcRec.X86_PV_VCPU_MSRS, Buffer.alloc(4));
  refuse('X86_PV_VCPU_MSRS: shorter than the vcpu header', pv({ vcpus: [s] }), s, 4, XEN, 'libxc', 'X86_PV_VCPU_MSRS');
}
{
  const s = X(LibxcRec.X86_PV_VCPU_EXTENDED, vcpu(0, 32));
  refuse('X86_PV_VCPU_*: reserved field of the vcpu header', pv({ vcpus: [s] }), s, 12, XEN, 'libxc', 'X86_PV_VCPU_EXTENDED', { edit: (b, at) => (b[at + 12] = 1) });
}
{
  const s = X(LibxcRec.X86_PV_VCPU_BASIC, vcpu(0, VCPU_CONTEXT_64));
  refuse('X86_PV_VCPU_BASIC: before X86_PV_INFO', pv({ info: [], p2m: [], pages: [], tail: [], vcpus: [s] }), s, 0, XEN, 'libxc', 'X86_PV_VCPU_BASIC');
}
{
  const s = X(LibxcRec.SHARED_INFO, Buffer.alloc(4095));
  refuse('SHARED_INFO: length 4095 (exactly 4096)', pv({ tail: [s] }), s, 4, XEN, 'libxc', 'SHARED_INFO');
}
{
  const s = X(LibxcRec.SHARED_INFO, Buffer.alloc(4096));
  refuse('SHARED_INFO: before X86_PV_INFO', pv({ info: [], p2m: [], pages: [], tail: [s], vcpus: [] }), s, 0, XEN, 'libxc', 'SHARED_INFO');
}
refuse('libxc stream: input ends before END', hvm({ end: [] }), null, -1, 'PP_ERR_TRUNCATED', 'libxc', null);

// libxl header and records.
refuse('format libxl given, stream is an xl file', xl(libxl(hvm())), null, 0, 'PP_ERR_MAGIC', 'libxl', 'header', { opts: { format: 'libxl' } });
{
  const s = LH();
  refuse('libxl header: ident not "LibxlFmt" (inside an xl file)', xl(libxl(hvm(), { lh: s })), s, 0, 'PP_ERR_MAGIC', 'libxl', 'header', { edit: (b, at) => (b[at + 7] = 0x75) });
}
{
  const s = LH(0, 1);
  refuse('libxl header: version 1', libxl(hvm(), { lh: s }), s, 8, 'PP_ERR_VERSION', 'libxl', 'header');
}
{
  const s = LH(0, 3);
  refuse('libxl header: version 3', libxl(hvm(), { lh: s }), s, 8, 'PP_ERR_VERSION', 'libxl', 'header');
}
{
  const s = LH(LIBXL_OPT_BIG_ENDIAN);
  refuse('libxl header: endianness bit (big-endian)', libxl(hvm(), { lh: s }), s, 12, XEN, 'libxl', 'header', { message: /big-endian/ });
}
{
  const s = LH(0x4);
  refuse('libxl header: reserved option bit 2', libxl(hvm(), { lh: s }), s, 12, XEN, 'libxl', 'header');
}
{
  const s = LH(0x10000);
  refuse('libxl header: reserved option bit 16', libxl(hvm(), { lh: s }), s, 12, XEN, 'libxl', 'header');
}
{
  const s = L(6);
  refuse('libxl record: unknown type 6', libxl(hvm(), { before: [s] }), s, 0, XEN, 'libxl', 'UNKNOWN_0x00000006');
}
{
  const s = L(0x80000000);
  refuse('libxl record: unknown type with bit 31 set (libxl has no optional records)', libxl(hvm(), { before: [s] }), s, 0, XEN, 'libxl', 'UNKNOWN_0x80000000');
}
{
  const s = HDR(LibxlRec.EMULATOR_CONTEXT, REC_LENGTH_MAX + 8);
  refuse('libxl record: body length above REC_LENGTH_MAX', [LH(), s], s, 4, 'PP_ERR_LIMIT', 'libxl', 'EMULATOR_CONTEXT');
}
{
  const s = L(LibxlRec.EMULATOR_CONTEXT, emuContext());
  refuse('libxl record: non-zero padding', libxl(hvm(), { after: [s] }), s, 8 + 55, XEN, 'libxl', 'EMULATOR_CONTEXT', { edit: (b, at) => (b[at + 8 + 55] = 1) });
}
{
  const s = L(LibxlRec.END);
  refuse('libxl END before LIBXC_CONTEXT', [LH(), s], s, 0, XEN, 'libxl', 'END');
}
{
  const s = L(LibxlRec.LIBXC_CONTEXT);
  refuse('libxl: a second LIBXC_CONTEXT', libxl(hvm(), { after: [s] }), s, 0, XEN, 'libxl', 'LIBXC_CONTEXT');
}
{
  const s = L(LibxlRec.LIBXC_CONTEXT, Buffer.alloc(8));
  refuse('libxl LIBXC_CONTEXT with a body', [LH(), s, ...hvm(), L(LibxlRec.END)], s, 4, XEN, 'libxl', 'LIBXC_CONTEXT');
}
{
  const s = L(LibxlRec.END, Buffer.alloc(8));
  refuse('libxl END with a body', libxl(hvm(), { end: [s] }), s, 4, XEN, 'libxl', 'END');
}
{
  const s = L(LibxlRec.EMULATOR_CONTEXT, emuContext());
  refuse('libxl EMULATOR_CONTEXT in a PV stream', pvLibxl(pv(), { after: [s] }), s, 0, XEN, 'libxl', 'EMULATOR_CONTEXT');
}
{
  const s = L(LibxlRec.EMULATOR_XENSTORE_DATA, xenstore('a\0b\0'));
  refuse('libxl EMULATOR_XENSTORE_DATA in a PV stream', pvLibxl(pv(), { after: [s] }), s, 0, XEN, 'libxl', 'EMULATOR_XENSTORE_DATA');
}
{
  const s = L(LibxlRec.EMULATOR_CONTEXT, Buffer.alloc(4));
  refuse('libxl EMULATOR_CONTEXT: shorter than the emulator header', libxl(hvm(), { after: [s] }), s, 4, XEN, 'libxl', 'EMULATOR_CONTEXT');
}
{
  const s = L(LibxlRec.EMULATOR_CONTEXT, emuContext(3));
  refuse('libxl EMULATOR_CONTEXT: unknown emulator id 3', libxl(hvm(), { after: [s] }), s, 8, XEN, 'libxl', 'EMULATOR_CONTEXT');
}
{
  const s = L(LibxlRec.EMULATOR_XENSTORE_DATA, xenstore('physmap/1/size\x00800000'));
  refuse('EMULATOR_XENSTORE_DATA: value not NUL-terminated', libxl(hvm(), { after: [s] }), s, 16 + 15, XEN, 'libxl', 'EMULATOR_XENSTORE_DATA');
}
{
  const s = L(LibxlRec.EMULATOR_XENSTORE_DATA, xenstore('physmap/1/size\0'));
  refuse('EMULATOR_XENSTORE_DATA: key without a value (odd number of strings)', libxl(hvm(), { after: [s] }), s, 16 + 15, XEN, 'libxl', 'EMULATOR_XENSTORE_DATA');
}
{
  const s = L(LibxlRec.EMULATOR_XENSTORE_DATA, xenstore('physmap'));
  refuse('EMULATOR_XENSTORE_DATA: key not NUL-terminated', libxl(hvm(), { after: [s] }), s, 16, XEN, 'libxl', 'EMULATOR_XENSTORE_DATA');
}
{
  const s = L(LibxlRec.EMULATOR_XENSTORE_DATA, xenstore('\0value\0'));
  refuse('EMULATOR_XENSTORE_DATA: empty key', libxl(hvm(), { after: [s] }), s, 16, XEN, 'libxl', 'EMULATOR_XENSTORE_DATA');
}
{
  const s = L(LibxlRec.EMULATOR_XENSTORE_DATA, xenstore('/local/domain/0/x\0v\0'));
  refuse('EMULATOR_XENSTORE_DATA: absolute key', libxl(hvm(), { after: [s] }), s, 16, XEN, 'libxl', 'EMULATOR_XENSTORE_DATA');
}
{
  const s = L(LibxlRec.EMULATOR_XENSTORE_DATA, xenstore('a\0b\0', 7));
  refuse('EMULATOR_XENSTORE_DATA: unknown emulator id 7', libxl(hvm(), { after: [s] }), s, 8, XEN, 'libxl', 'EMULATOR_XENSTORE_DATA');
}
refuse('libxl stream: input ends before libxl END', libxl(hvm(), { end: [] }), null, -1, 'PP_ERR_TRUNCATED', 'libxl', null);

// Checkpoints.
const checkpoint = (tail: Step[] = [X(LibxcRec.X86_TSC_INFO, tsc()), X(LibxcRec.HVM_CONTEXT, hvmContext()), X(LibxcRec.HVM_PARAMS, params(1))]) => [...tail, X(LibxcRec.CHECKPOINT)];
{
  const s = L(LibxlRec.CHECKPOINT_END);
  refuse('libxl CHECKPOINT_END outside a checkpoint', libxl(hvm(), { after: [s] }), s, 0, XEN, 'libxl', 'CHECKPOINT_END');
}
{
  const s = L(LibxlRec.CHECKPOINT_END, Buffer.alloc(4));
  refuse('libxl CHECKPOINT_END with a body', libxl(hvm({ tail: checkpoint(), end: [] }), { after: [s], end: [] }), s, 4, XEN, 'libxl', 'CHECKPOINT_END');
}
{
  const s = L(LibxlRec.END);
  refuse('libxl END inside a checkpoint (before CHECKPOINT_END)', libxl(hvm({ tail: checkpoint(), end: [] }), { after: [], end: [s] }), s, 0, XEN, 'libxl', 'END');
}
{
  const s = L(LibxlRec.CHECKPOINT_STATE, u32(0));
  refuse(
    'libxl CHECKPOINT_STATE in a stream not read as COLO',
    libxl(hvm({ tail: checkpoint(), end: [] }), { after: [L(LibxlRec.CHECKPOINT_END), s], end: [] }),
    s,
    0,
    XEN,
    'libxl',
    'CHECKPOINT_STATE',
    { message: /--colo/ },
  );
}
{
  const s = L(LibxlRec.CHECKPOINT_STATE, u32(0));
  refuse('COLO: CHECKPOINT_STATE not right after CHECKPOINT_END', libxl(hvm(), { after: [s] }), s, 0, XEN, 'libxl', 'CHECKPOINT_STATE', { opts: { colo: true } });
}
{
  const s = L(LibxlRec.EMULATOR_CONTEXT, emuContext());
  refuse(
    'COLO: a record other than CHECKPOINT_STATE after CHECKPOINT_END',
    libxl(hvm({ tail: checkpoint(), end: [] }), { after: [L(LibxlRec.CHECKPOINT_END), s], end: [] }),
    s,
    0,
    XEN,
    'libxl',
    'EMULATOR_CONTEXT',
    { opts: { colo: true } },
  );
}
{
  const s = L(LibxlRec.CHECKPOINT_STATE, u32(0, 0));
  refuse('COLO: CHECKPOINT_STATE length 8 (exactly 4)', libxl(hvm({ tail: checkpoint(), end: [] }), { after: [L(LibxlRec.CHECKPOINT_END), s], end: [] }), s, 4, XEN, 'libxl', 'CHECKPOINT_STATE', {
    opts: { colo: true },
  });
}
{
  const s = L(LibxlRec.CHECKPOINT_STATE, u32(9));
  refuse('COLO: unknown CHECKPOINT_STATE id 9', libxl(hvm({ tail: checkpoint(), end: [] }), { after: [L(LibxlRec.CHECKPOINT_END), s], end: [] }), s, 8, XEN, 'libxl', 'CHECKPOINT_STATE', {
    opts: { colo: true },
  });
}
refuse(
  'checkpointed stream: input ends inside a checkpoint (between CHECKPOINT and CHECKPOINT_END)',
  libxl(hvm({ tail: checkpoint(), end: [] }), { after: [L(LibxlRec.EMULATOR_CONTEXT, emuContext())], end: [] }),
  null,
  -1,
  'PP_ERR_TRUNCATED',
  'libxl',
  null,
);

// xl header.
const xlFixed = (edit: (b: Buffer) => void) => {
  const b = Buffer.alloc(48);
  bytes([XL()]).copy(b, 0, 0, 48);
  edit(b);
  return RAW(b);
};
{
  const s = XL();
  refuse(
    'xl header: magic (byte 20 wrong)',
    xl(libxl(hvm())).map((x, i) => (i === 0 ? s : x)),
    s,
    20,
    'PP_ERR_MAGIC',
    'xl',
    'header',
    { edit: (b, at) => (b[at + 20] = 0x58) },
  );
}
{
  const s = XL({ byteorder: 0x04030201 });
  refuse('xl header: byte order 01 02 03 04 (big-endian)', [s, ...libxl(hvm())], s, 32, XEN, 'xl', 'header');
}
{
  const s = XL({ mandatoryFlags: 0x7 });
  refuse('xl header: unknown mandatory flag bit 2', [s, ...libxl(hvm())], s, 36, XEN, 'xl', 'header', { message: /need newer xl/ });
}
{
  const s = xlFixed((b) => b.writeUInt32LE(16 * 1024 * 1024 + 1, 44));
  refuse('xl header: optional data length above 16 MiB (refused before buffering)', [s], s, 44, 'PP_ERR_LIMIT', 'xl', 'header');
}
{
  const s = xlFixed((b) => b.writeUInt32LE(2, 44));
  refuse('xl header: optional data too short for the config length', [s, RAW(Buffer.alloc(2)), ...libxl(hvm())], s, 48, XEN, 'xl', 'header');
}
{
  const s = xlFixed((b) => b.writeUInt32LE(8, 44));
  refuse('xl header: config length beyond the optional data', [s, RAW(u32(5, 0)), ...libxl(hvm())], s, 48, XEN, 'xl', 'header');
}
{
  const s = XL({ mandatoryFlags: XL_MANDATORY_FLAG_JSON });
  refuse('xl header: no STREAMv2 flag (a legacy stream follows), refused with how to convert', [s, RAW(Buffer.alloc(100, 1))], s, 36, 'PP_ERR_VERSION', 'xl', 'header', {
    message: /lack STREAMv2.*convert-legacy-stream/,
  });
}
refuse('xl file: input ends inside the header', [RAW(bytes([XL()]).subarray(0, 40))], null, -1, 'PP_ERR_TRUNCATED', 'xl', 'header');

// libvirt save-file header (virsh save, libxl driver): what libxlDomainSaveImageOpen checks.
{
  const s = LV();
  refuse('libvirt header: magic (byte 13 wrong)', [s, ...libxl(hvm())], s, 13, 'PP_ERR_MAGIC', 'libvirt', 'header', { edit: (b, at) => (b[at + 13] = 0x41) });
}
{
  const s = LV(3);
  refuse('libvirt header: version 3 (libvirt: "image version is not supported")', [s, ...libxl(hvm())], s, 16, 'PP_ERR_VERSION', 'libvirt', 'header');
}
{
  const s = LV(0);
  refuse('libvirt header: version 0 (libvirt writes 1 or 2)', [s, ...libxl(hvm())], s, 16, 'PP_ERR_VERSION', 'libvirt', 'header');
}
{
  const s = LV(2, 0);
  refuse('libvirt header: XML length 0 (libvirt: "invalid XML length")', [s, ...libxl(hvm())], s, 20, XEN, 'libvirt', 'header');
}
{
  const s = LV(2, -5);
  refuse('libvirt header: negative XML length', [s, ...libxl(hvm())], s, 20, XEN, 'libvirt', 'header');
}
{
  const s = LV(2, 16 * 1024 * 1024 + 1);
  refuse('libvirt header: XML length above 16 MiB (refused before buffering)', [s], s, 20, 'PP_ERR_LIMIT', 'libvirt', 'header');
}
{
  const s = LV(1);
  refuse('libvirt header: version 1 (a legacy stream follows), refused with how to convert', [s, RAW(Buffer.alloc(100, 1))], s, 16, 'PP_ERR_VERSION', 'libvirt', 'header', {
    message: /legacy.*convert-legacy-stream/,
  });
}
{
  const ih = IH();
  refuse('libvirt file: a libxc stream where the libxl header belongs', [LV(), ...hvm({ ih })], ih, 0, 'PP_ERR_MAGIC', 'libxl', 'header');
}
refuse('libvirt file: input ends inside the domain XML', [RAW(bytes([LV()]).subarray(0, 70))], null, -1, 'PP_ERR_TRUNCATED', 'libvirt', 'header');

describe('xen reader: every validation rule', () => {
  for (const c of cases) {
    it(`refuses ${c.name}`, () => {
      const stream = bytes(c.steps);
      const at = c.bad ? offsetOf(c.steps, c.bad) : 0;
      c.edit?.(stream, at);
      const offset = c.field < 0 ? stream.length : at + c.field;
      assert.throws(
        () => readXen(stream, c.opts),
        (e: unknown) => {
          assert.ok(e instanceof XenStreamError, `a XenStreamError, got ${String(e)}`);
          assert.equal(e.code, c.code, e.message);
          assert.equal(e.offset, offset, e.message);
          assert.equal(e.layer, c.layer, e.message);
          if (c.field >= 0) {
            assert.equal(e.recordName, c.record, e.message);
            if (c.layer) {
              assert.equal(e.recordOffset, at, e.message);
              assert.ok(e.message.startsWith(`${c.layer} ${c.record} at offset ${at}: `), e.message);
            }
          } else if (c.record) {
            assert.equal(e.recordName, c.record, e.message);
          }
          if (c.message) assert.match(e.message, c.message);
          return true;
        },
      );
    });
  }
});

describe('xen reader: what Xen tolerates is accepted', () => {
  const accepted: Array<[string, Step[], XenReaderOptions?]> = [
    ['the small bases (HVM v2/v3, PV v2/v3; libxl; xl)', []],
    ['HVM_PARAMS with count 0 (spec errata 1)', hvm({ tail: [X(LibxcRec.HVM_CONTEXT, hvmContext()), X(LibxcRec.HVM_PARAMS, params(0))] })],
    [
      'X86_PV_VCPU_EXTENDED/XSAVE/MSRS with no content (spec errata 1)',
      pv({
        vcpus: [
          X(LibxcRec.X86_PV_VCPU_BASIC, vcpu(0, VCPU_CONTEXT_64)),
          X(LibxcRec.X86_PV_VCPU_EXTENDED, vcpu(0, 0)),
          X(LibxcRec.X86_PV_VCPU_XSAVE, vcpu(0, 0)),
          X(LibxcRec.X86_PV_VCPU_MSRS, vcpu(0, 0)),
        ],
      }),
    ],
    ['a 32-bit PV guest (width 4, 3 levels, 0xAF0-byte vcpu context)', pv({ info: [X(LibxcRec.X86_PV_INFO, pvInfo(4, 3))], vcpus: [X(LibxcRec.X86_PV_VCPU_BASIC, vcpu(0, VCPU_CONTEXT_32))] })],
    ['an unknown optional libxc record (restore ignores it)', hvm({ end: [X(0x80000013, Buffer.from('opt')), X(LibxcRec.END)] })],
    [
      'VERIFY followed by a second full pass (xl migrate --debug)',
      hvm({ tail: [X(LibxcRec.VERIFY), PD([0, 0], [1, 0]), X(LibxcRec.X86_TSC_INFO, tsc()), X(LibxcRec.HVM_CONTEXT, hvmContext()), X(LibxcRec.HVM_PARAMS, params(1))] }),
    ],
    ['the same pfn sent again in later passes; BROKEN and XALLOC entries without contents', hvm({ pages: [PD([0, 0], [1, 0]), PD([1, 0], [2, PageType.BROKEN], [3, PageType.XALLOC]), PD([0, 0])] })],
    ['a converted stream (domain header xen_major 0) with the LEGACY libxl option', libxl(hvm({ dh: DH(DomainType.X86_HVM, 12, 0, 1) }), { lh: LH(LIBXL_OPT_LEGACY) })],
    ["HVM_PARAMS before HVM_CONTEXT (the spec's order)", hvm({ tail: [X(LibxcRec.X86_TSC_INFO, tsc()), X(LibxcRec.HVM_PARAMS, params(2)), X(LibxcRec.HVM_CONTEXT, hvmContext())] })],
    [
      'non-empty EMULATOR_XENSTORE_DATA with NUL-terminated pairs, and an empty one',
      libxl(hvm(), {
        after: [
          L(LibxlRec.EMULATOR_XENSTORE_DATA, xenstore('physmap/f0000000/start_addr\0f0000000\0physmap/f0000000/name\0vga.vram\0')),
          L(LibxlRec.EMULATOR_XENSTORE_DATA, xenstore('')),
          L(LibxlRec.EMULATOR_CONTEXT, emuContext()),
        ],
      }),
    ],
    ['xl header with optional flags set and without the JSON flag', xl(libxl(hvm()), { optionalFlags: 0x5, mandatoryFlags: XL_MANDATORY_FLAG_STREAMV2 })],
    ['a libvirt save file (virsh save on the libxl driver): header, domain XML, libxl stream', [LV(), ...libxl(hvm())]],
    ["PAGE_DATA records of more than 1024 entries (only Xen's saver batches by 1024)", hvm({ pages: [PD(...Array.from({ length: 1500 }, (_, i) => [i, 0] as [number, number]))] })],
  ];
  for (const [name, steps, opts] of accepted) {
    it(`accepts ${name}`, () => {
      const list = steps.length ? [steps] : [hvm(), hvm({ v: 2 }), pv(), pv({ v: 2 }), libxl(hvm()), xl(pvLibxl(pv()))];
      for (const s of list) {
        const stream = bytes(s);
        const r = readXen(stream, opts);
        assert.ok(r.output.equals(stream));
        assert.equal(r.summary.ending, 'END');
      }
    });
  }
  it('an xl header with no optional data at all', () => {
    const fixed = Buffer.alloc(48);
    bytes([XL()]).copy(fixed, 0, 0, 44);
    fixed.writeUInt32LE(0, 44);
    const stream = Buffer.concat([fixed, bytes(libxl(hvm()))]);
    assert.ok(readXen(stream).output.equals(stream));
  });
  it('names a converted stream in the summary', () => {
    assert.equal(readXen(bytes(hvm({ dh: DH(DomainType.X86_HVM, 12, 0, 1) }))).summary.xen, 'converted v1');
  });
});

describe('xen reader vs verify-stream-v2 where the verifier is wrong', function () {
  let verifier: Verifier;
  let dir: string;
  before(function () {
    verifier = requireVerifier(this);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pagepress-xen-rules-'));
  });
  after(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

  const verify = (steps: Step[], format: 'libxc' | 'libxl' | 'xl') => {
    const file = path.join(dir, `v.${format}`);
    fs.writeFileSync(file, bytes(steps));
    return verifier.run(file, format);
  };
  const refused = (steps: Step[], opts?: XenReaderOptions) => assert.throws(() => readXen(bytes(steps), opts), { code: XEN });

  it('libxc endianness bit: the verifier accepts it, XenReader refuses it (restore: "Unable to handle big endian streams")', () => {
    const steps = hvm({ ih: IH(3, IHDR_OPT_BIG_ENDIAN) });
    assert.equal(verify(steps, 'libxc').status, 0);
    refused(steps);
  });
  it('libxl endianness bit: the verifier accepts it, XenReader refuses it', () => {
    const steps = libxl(hvm(), { lh: LH(LIBXL_OPT_BIG_ENDIAN), after: [] });
    assert.equal(verify(steps, 'libxl').status, 0);
    refused(steps);
  });
  it('v3 stream without STATIC_DATA_END: the verifier accepts it, XenReader refuses it ("No STATIC_DATA_END seen")', () => {
    const steps = hvm({ statics: [X(LibxcRec.X86_CPUID_POLICY, cpuid()), X(LibxcRec.X86_MSR_POLICY, msr())] });
    assert.equal(verify(steps, 'libxc').status, 0);
    refused(steps);
  });
  it('PV record in an HVM stream: the verifier accepts it, XenReader refuses it', () => {
    const steps = hvm({ end: [X(LibxcRec.X86_PV_INFO, pvInfo()), X(LibxcRec.END)] });
    assert.equal(verify(steps, 'libxc').status, 0);
    refused(steps);
  });
  it('libxl reserved option bit 16: the verifier (checking bits 2..15 only) accepts it, XenReader refuses it', () => {
    const steps = libxl(hvm(), { lh: LH(0x10000), after: [] });
    assert.equal(verify(steps, 'libxl').status, 0);
    refused(steps);
  });
  it('non-empty EMULATOR_XENSTORE_DATA: the verifier refuses it ("Data not NUL terminated"), XenReader accepts it', () => {
    const steps = libxl(hvm(), { after: [L(LibxlRec.EMULATOR_XENSTORE_DATA, xenstore('physmap/f0000000/size\x00800000\x00'))] });
    const v = verify(steps, 'libxl');
    assert.notEqual(v.status, 0);
    assert.match(v.output, /not NUL terminated/);
    assert.doesNotThrow(() => readXen(bytes(steps)));
  });
  it('unknown optional libxc record: the verifier refuses it, XenReader accepts it (restore ignores it)', () => {
    const steps = hvm({ end: [X(0x80000013, Buffer.alloc(8)), X(LibxcRec.END)] });
    assert.notEqual(verify(steps, 'libxc').status, 0);
    assert.doesNotThrow(() => readXen(bytes(steps)));
  });
  it('zero-content HVM_PARAMS and PV vcpu records: both accept them', () => {
    const h = hvm({ tail: [X(LibxcRec.HVM_CONTEXT, hvmContext()), X(LibxcRec.HVM_PARAMS, params(0))] });
    const p = pv({ vcpus: [X(LibxcRec.X86_PV_VCPU_EXTENDED, vcpu(0, 0)), X(LibxcRec.X86_PV_VCPU_XSAVE, vcpu(0, 0)), X(LibxcRec.X86_PV_VCPU_MSRS, vcpu(0, 0))] });
    for (const steps of [h, p]) {
      assert.equal(verify(steps, 'libxc').status, 0);
      assert.doesNotThrow(() => readXen(bytes(steps)));
    }
  });
  it('the small valid bases are accepted by the verifier too', () => {
    for (const [steps, format] of [
      [hvm(), 'libxc'],
      [hvm({ v: 2 }), 'libxc'],
      [pv(), 'libxc'],
      [pv({ v: 2 }), 'libxc'],
      [libxl(hvm()), 'libxl'],
      [xl(pvLibxl(pv())), 'xl'],
    ] as const) {
      const v = verify(steps, format);
      assert.equal(v.status, 0, v.output);
    }
  });
  it('XL_MANDATORY_FLAG_STREAMv2 is what makes the verifier read a libxl stream', () => {
    assert.equal(verify(xl(libxl(hvm()), { mandatoryFlags: XL_MANDATORY_FLAG_JSON | XL_MANDATORY_FLAG_STREAMV2 }), 'xl').status, 0);
  });
});
