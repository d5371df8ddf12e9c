/**
 * Builds realistic Xen save/migration streams (for tests and benchmarks) in the record order
 * Xen's savers use (docs/XEN.md 1.6, 2.2, 5.3): live pre-copy passes batched like
 * xg_sr_save.c (ascending pfns, at most 1024 per PAGE_DATA), plausible static and
 * end-of-checkpoint records, and optionally the libxl and xl layers, Remus/COLO checkpoints
 * and trailing bytes. Page contents come from the caller.
 */
import { CheckpointState, DomainType, EmulatorId, LibxcRec, LibxlRec, PageType, pageTypeHasData, VCPU_CONTEXT_64, XEN_PAGE_SIZE } from './constants';
import { XenEmit, XenWriter, PageEntry } from './writer';

/** What {@link generateXenStream} builds. */
export interface GenerateOptions {
  guest: 'hvm' | 'pv';
  /** libxc stream version: 2 (Xen 4.6-4.13) or 3 (Xen >= 4.14). */
  version: 2 | 3;
  /** Outermost layer: a bare libxc stream, a libxl stream, an xl save file, or a libvirt (`virsh save`) file. */
  layer: 'libxc' | 'libxl' | 'xl' | 'libvirt';
  /** Guest pfns 0..pages-1 (the p2m size); the first pass sends each once. */
  pages: number;
  /** Fills `out` (4096 bytes) with the contents of `pfn` as sent in `iteration` (0 = first pass). */
  page(pfn: number, iteration: number, out: Uint8Array): void;
  /** Further pre-copy passes, each re-sending these pfns (sorted ascending, holes skipped). */
  iterations?: Array<{ pfns: number[] }>;
  /** pfns sent as XTAB (no contents) in the first pass, e.g. the HVM VGA hole 0xA0..0xBF. */
  holes?: number[];
  /**
   * A checkpointed stream (libxl or xl layer only): `count` checkpoints, the first being the
   * live migration above, each later one re-sending `pfns`; the stream ends after the last
   * CHECKPOINT_END (or its COLO CHECKPOINT_STATE), with no END: a failover point.
   */
  checkpoints?: { kind: 'remus' | 'colo'; count: number; pfns: number[] };
  /** Bytes after the libxl (or bare libxc) END, e.g. xl migrate's 44-byte "go" message. */
  trailing?: Buffer;
  /** vCPUs (default 2). */
  vcpus?: number;
  /**
   * HVM: the device model's xenstore keys for EMULATOR_XENSTORE_DATA (default a few physmap
   * keys); [] writes no such record, as libxl does when there are none.
   */
  xenstore?: Array<[string, string]>;
  /** xl layer: the config stored in the header (default a small libxl JSON config). */
  config?: string;
  /** Page-type nibble of a pfn that is not a hole (default NOTAB; PV: a few page tables). */
  pageType?: (pfn: number) => number;
}

/** What was written. */
export interface GenerateResult {
  bytes: number;
  pageRecords: number;
  /** Pages with contents written (all passes). */
  dataPages: number;
}

/** MAX_BATCH_SIZE of Xen's saver. */
const BATCH = 1024;

/** The physmap keys QEMU upstream leaves for an HVM guest with a VGA BAR. */
export const DEFAULT_XENSTORE: Array<[string, string]> = [
  ['physmap/f0000000/start_addr', 'f0000000'],
  ['physmap/f0000000/size', '800000'],
  ['physmap/f0000000/name', 'vga.vram'],
];

function u32(...values: number[]): Buffer {
  const b = Buffer.alloc(4 * values.length);
  values.forEach((v, i) => b.writeUInt32LE(v >>> 0, 4 * i));
  return b;
}

function u64(v: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(v));
  return b;
}

/** Deterministic filler for opaque blobs (register state, device state). */
function blob(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i += 4) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    // Mostly zero with some set words, like real CPU/device state.
    if ((s & 7) === 0) b.writeUInt32LE(s, i);
  }
  return b;
}

function cpuidPolicy(): Buffer {
  const leaves: number[][] = [];
  for (let leaf = 0; leaf <= 0xd; leaf++) leaves.push([leaf, leaf === 4 || leaf === 7 || leaf === 0xd ? 0 : 0xffffffff]);
  for (let leaf = 0x80000000; leaf <= 0x80000008; leaf++) leaves.push([leaf, 0xffffffff]);
  const b = Buffer.alloc(24 * leaves.length);
  leaves.forEach(([leaf, sub], i) => {
    const at = 24 * i;
    b.writeUInt32LE(leaf >>> 0, at);
    b.writeUInt32LE(sub >>> 0, at + 4);
    for (let r = 0; r < 4; r++) b.writeUInt32LE(((leaf * 0x9e3779b1) ^ (r * 0x85ebca6b)) >>> 0, at + 8 + 4 * r);
  });
  return b;
}

function msrPolicy(): Buffer {
  const msrs: Array<[number, number]> = [
    [0xce, 0x80000000],
    [0x10a, 0x0c000e6b],
  ];
  const b = Buffer.alloc(16 * msrs.length);
  msrs.forEach(([idx, val], i) => {
    b.writeUInt32LE(idx, 16 * i);
    b.writeUInt32LE(0, 16 * i + 4);
    b.writeBigUInt64LE(BigInt(val), 16 * i + 8);
  });
  return b;
}

function tscInfo(): Buffer {
  const b = Buffer.alloc(24);
  b.writeUInt32LE(0, 0); // mode: default
  b.writeUInt32LE(2994372, 4); // kHz
  b.writeBigUInt64LE(123456789012n, 8); // nsec
  b.writeUInt32LE(1, 16); // incarnation
  return b;
}

/** HVM save blob: {u16 typecode, u16 instance, u32 length, data}..., ending with typecode 0 (public/hvm/save.h). */
function hvmContext(vcpus: number): Buffer {
  const parts: Buffer[] = [];
  const desc = (code: number, instance: number, data: Buffer) => {
    const d = Buffer.alloc(8);
    d.writeUInt16LE(code, 0);
    d.writeUInt16LE(instance, 2);
    d.writeUInt32LE(data.length, 4);
    parts.push(d, data);
  };
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0x54381286, 0); // HVM_FILE_MAGIC
  header.writeUInt32LE(1, 4); // HVM_FILE_VERSION
  header.writeUInt32LE(0x000506f1, 16); // cpuid
  header.writeUInt32LE(2994372, 20); // gtsc_khz
  desc(1, 0, header); // HEADER
  for (let v = 0; v < vcpus; v++) desc(2, v, blob(1024, 100 + v)); // CPU
  desc(3, 0, blob(8, 3)); // PIC
  desc(3, 1, blob(8, 4));
  desc(4, 0, blob(208, 5)); // IOAPIC
  for (let v = 0; v < vcpus; v++) desc(5, v, blob(40, 200 + v)); // LAPIC
  desc(0, 0, Buffer.alloc(0)); // END
  return Buffer.concat(parts);
}

function hvmParams(pages: number): Buffer {
  const params: Array<[number, number]> = [
    [1, pages - 2], // STORE_PFN
    [5, pages - 4], // IOREQ_PFN
    [6, pages - 3], // BUFIOREQ_PFN
    [12, 0xfeffc000], // IDENT_PT
    [17, pages - 1], // CONSOLE_PFN
    [33, 2], // NR_IOREQ_SERVER_PAGES
  ];
  const b = Buffer.alloc(8 + 16 * params.length);
  b.writeUInt32LE(params.length, 0);
  params.forEach(([index, value], i) => {
    b.writeBigUInt64LE(BigInt(index), 8 + 16 * i);
    b.writeBigUInt64LE(BigInt(value), 16 + 16 * i);
  });
  return b;
}

function vcpuRecord(vcpu: number, data: Buffer): Buffer {
  return Buffer.concat([u32(vcpu, 0), data]);
}

function xenstoreData(keys: Array<[string, string]>): Buffer {
  const text = keys.map(([k, v]) => `${k}\0${v}\0`).join('');
  return Buffer.concat([u32(EmulatorId.QEMU_UPSTREAM, 0), Buffer.from(text, 'latin1')]);
}

function emulatorContext(): Buffer {
  const qemu = Buffer.concat([Buffer.from('QEVM', 'latin1'), u32(0x03000000), blob(8192, 77)]);
  return Buffer.concat([u32(EmulatorId.QEMU_UPSTREAM, 0), qemu]);
}

function defaultConfig(guest: 'hvm' | 'pv', pages: number, vcpus: number): string {
  const memkb = pages * 4;
  return JSON.stringify(
    {
      c_info: { type: guest, name: 'vm1', uuid: '8f2b6e0c-7a1d-4c3e-9b5a-1d2e3f405162' },
      b_info: { max_vcpus: vcpus, max_memkb: memkb, target_memkb: memkb, type: { [guest]: guest === 'hvm' ? { firmware: 'seabios' } : { kernel: '/boot/vmlinuz' } } },
      disks: [{ pdev_path: '/dev/vg0/vm1', vdev: 'xvda', format: 'raw', readwrite: 1 }],
      nics: [{ mac: '00:16:3e:12:34:56', bridge: 'xenbr0' }],
    },
    null,
    4,
  );
}

/** A small libvirt domain XML, as `virsh save` stores before the libxl stream. */
function defaultDomainXml(guest: 'hvm' | 'pv', pages: number, vcpus: number): string {
  return [
    "<domain type='xen'>",
    '  <name>vm1</name>',
    '  <uuid>8f2b6e0c-7a1d-4c3e-9b5a-1d2e3f405162</uuid>',
    `  <memory unit='KiB'>${pages * 4}</memory>`,
    `  <vcpu>${vcpus}</vcpu>`,
    `  <os><type>${guest === 'hvm' ? 'hvm' : 'linux'}</type></os>`,
    '</domain>',
  ].join('\n');
}

function defaultPvType(pfn: number): number {
  if (pfn === 1) return PageType.L4TAB_PIN;
  if (pfn === 2) return PageType.L3TAB;
  if (pfn === 3) return PageType.L2TAB;
  if (pfn % 64 === 4) return PageType.L1TAB;
  return PageType.NOTAB;
}

/** Writes a whole stream to `emit` (chunks may be reused after each call: copy to keep). */
export function generateXenStream(opts: GenerateOptions, emit: XenEmit): GenerateResult {
  const { guest, version, layer, pages } = opts;
  if (!Number.isInteger(pages) || pages < 1 || pages >= 2 ** 32) throw new RangeError('pages must be an integer in 1..2^32-1');
  if (opts.checkpoints && layer === 'libxc') throw new RangeError('checkpointed streams need the libxl layer (layer libxl or xl)');
  if (opts.checkpoints && opts.trailing) throw new RangeError('a checkpointed stream has no END, so nothing can trail it');
  if (opts.checkpoints && opts.checkpoints.count < 1) throw new RangeError('checkpoints.count must be at least 1');
  const hvm = guest === 'hvm';
  const vcpus = opts.vcpus ?? 2;
  const xenstore = opts.xenstore ?? DEFAULT_XENSTORE;
  const typeOf = opts.pageType ?? (hvm ? () => PageType.NOTAB : defaultPvType);
  const holes = new Set(opts.holes ?? []);
  const w = new XenWriter(emit);
  const result: GenerateResult = { bytes: 0, pageRecords: 0, dataPages: 0 };
  const buffer = new Uint8Array(BATCH * XEN_PAGE_SIZE);

  /** One pass over `pfns` (ascending), in batches of at most 1024 like the saver. */
  const sendPages = (pfns: Iterable<number>, iteration: number, firstPass: boolean) => {
    let entries: PageEntry[] = [];
    let data = 0;
    const flush = () => {
      if (entries.length === 0) return;
      w.pageData(entries, buffer.subarray(0, data * XEN_PAGE_SIZE));
      result.pageRecords++;
      result.dataPages += data;
      entries = [];
      data = 0;
    };
    for (const pfn of pfns) {
      if (holes.has(pfn)) {
        if (!firstPass) continue;
        entries.push({ pfn, type: PageType.XTAB });
      } else {
        const type = typeOf(pfn);
        entries.push({ pfn, type });
        if (pageTypeHasData(type)) {
          opts.page(pfn, iteration, buffer.subarray(data * XEN_PAGE_SIZE, (data + 1) * XEN_PAGE_SIZE));
          data++;
        }
      }
      if (entries.length === BATCH) flush();
    }
    flush();
  };

  function* range(n: number): Generator<number> {
    for (let i = 0; i < n; i++) yield i;
  }
  const sorted = (pfns: number[]) => [...new Set(pfns)].filter((p) => p >= 0 && p < pages).sort((a, b) => a - b);

  /** Records the saver writes at the end of every checkpoint (end_of_checkpoint). */
  const endOfCheckpoint = () => {
    w.libxcRecord(LibxcRec.X86_TSC_INFO, tscInfo());
    if (hvm) {
      w.libxcRecord(LibxcRec.HVM_CONTEXT, hvmContext(vcpus));
      w.libxcRecord(LibxcRec.HVM_PARAMS, hvmParams(pages));
      return;
    }
    w.libxcRecord(LibxcRec.SHARED_INFO, blob(XEN_PAGE_SIZE, 9));
    for (let v = 0; v < vcpus; v++) {
      w.libxcRecord(LibxcRec.X86_PV_VCPU_BASIC, vcpuRecord(v, blob(VCPU_CONTEXT_64, 300 + v)));
      w.libxcRecord(LibxcRec.X86_PV_VCPU_EXTENDED, vcpuRecord(v, blob(32, 400 + v)));
      w.libxcRecord(LibxcRec.X86_PV_VCPU_XSAVE, vcpuRecord(v, Buffer.concat([u64(7), u64(7), blob(576, 500 + v)])));
      w.libxcRecord(LibxcRec.X86_PV_VCPU_MSRS, vcpuRecord(v, Buffer.concat([u32(0xc0000103, 0), u64(v), u32(0xc0000080, 0), u64(0xd01)])));
    }
  };

  /** libxl records after the libxc part (HVM only: the device model's state). */
  const emulatorRecords = () => {
    if (!hvm) return;
    if (xenstore.length > 0) w.libxlRecord(LibxlRec.EMULATOR_XENSTORE_DATA, xenstoreData(xenstore));
    w.libxlRecord(LibxlRec.EMULATOR_CONTEXT, emulatorContext());
  };

  if (layer === 'xl') w.xlHeader(opts.config ?? defaultConfig(guest, pages, vcpus));
  if (layer === 'libvirt') w.libvirtHeader(defaultDomainXml(guest, pages, vcpus));
  if (layer !== 'libxc') {
    w.libxlHeader();
    w.libxlRecord(LibxlRec.LIBXC_CONTEXT);
  }
  w.libxcImageHeader(version);
  w.libxcDomainHeader(hvm ? DomainType.X86_HVM : DomainType.X86_PV, 4, version === 3 ? 17 : 13);
  if (!hvm) w.libxcRecord(LibxcRec.X86_PV_INFO, Buffer.from([8, 4, 0, 0, 0, 0, 0, 0]));
  if (version === 3) {
    w.libxcRecord(LibxcRec.X86_CPUID_POLICY, cpuidPolicy());
    w.libxcRecord(LibxcRec.X86_MSR_POLICY, msrPolicy());
    w.libxcRecord(LibxcRec.STATIC_DATA_END);
  }
  if (!hvm) {
    const fpp = XEN_PAGE_SIZE / 8;
    const frames = Math.floor((pages - 1) / fpp) + 1;
    const body = Buffer.alloc(8 + 8 * frames);
    body.writeUInt32LE(0, 0);
    body.writeUInt32LE(pages - 1, 4);
    for (let i = 0; i < frames; i++) body.writeBigUInt64LE(BigInt(Math.max(0, pages - frames + i)), 8 + 8 * i);
    w.libxcRecord(LibxcRec.X86_PV_P2M_FRAMES, body);
  }
  sendPages(range(pages), 0, true);
  const iterations = opts.iterations ?? [];
  iterations.forEach((it, i) => sendPages(sorted(it.pfns), i + 1, false));
  endOfCheckpoint();

  if (opts.checkpoints) {
    const cp = opts.checkpoints;
    const dirty = sorted(cp.pfns);
    for (let k = 0; k < cp.count; k++) {
      if (k > 0) {
        sendPages(dirty, iterations.length + k, false);
        endOfCheckpoint();
      }
      w.libxcRecord(LibxcRec.CHECKPOINT);
      emulatorRecords();
      w.libxlRecord(LibxlRec.CHECKPOINT_END);
      if (cp.kind === 'colo') w.libxlRecord(LibxlRec.CHECKPOINT_STATE, u32(CheckpointState.NEW));
    }
  } else {
    w.libxcRecord(LibxcRec.END);
    if (layer !== 'libxc') {
      emulatorRecords();
      w.libxlRecord(LibxlRec.END);
    }
    if (opts.trailing) w.raw(opts.trailing);
  }
  result.bytes = w.offset;
  return result;
}
