/**
 * Numbers of the Xen save/migration stream formats (docs/XEN.md): the xl save-file header,
 * the libxl stream ("LibxlFmt", version 2) and the libxc stream ("migration v2", versions
 * 2 and 3). Taken from Xen's xl.h, libxl_sr_stream_format.h, xg_sr_stream_format.h and
 * public/domctl.h.
 */

/** Every libxc and libxl record body is at most this long (xg_sr_stream_format.h REC_LENGTH_MAX). */
export const REC_LENGTH_MAX = 128 * 1024 * 1024;
/** Records (header + body + padding) are multiples of this. */
export const REC_ALIGN = 8;
/** Bytes of a record header: u32 type, u32 body length. */
export const REC_HEADER_BYTES = 8;
/** Guest page size of every x86 stream (domain header page_shift 12). */
export const XEN_PAGE_SIZE = 4096;
/** page_shift every restore accepts. */
export const XEN_PAGE_SHIFT = 12;

/** Bit 31 of a libxc record type: libxc restore ignores unknown records with it set. */
export const REC_TYPE_OPTIONAL = 0x80000000;

/** libxc record types (libxc-migration-stream.pandoc rev 3). */
export const LibxcRec = {
  END: 0x00,
  PAGE_DATA: 0x01,
  X86_PV_INFO: 0x02,
  X86_PV_P2M_FRAMES: 0x03,
  X86_PV_VCPU_BASIC: 0x04,
  X86_PV_VCPU_EXTENDED: 0x05,
  X86_PV_VCPU_XSAVE: 0x06,
  SHARED_INFO: 0x07,
  X86_TSC_INFO: 0x08,
  HVM_CONTEXT: 0x09,
  HVM_PARAMS: 0x0a,
  TOOLSTACK: 0x0b,
  X86_PV_VCPU_MSRS: 0x0c,
  VERIFY: 0x0d,
  CHECKPOINT: 0x0e,
  CHECKPOINT_DIRTY_PFN_LIST: 0x0f,
  STATIC_DATA_END: 0x10,
  X86_CPUID_POLICY: 0x11,
  X86_MSR_POLICY: 0x12,
} as const;

/** libxl record types (libxl-migration-stream.pandoc rev 2). */
export const LibxlRec = {
  END: 0,
  LIBXC_CONTEXT: 1,
  EMULATOR_XENSTORE_DATA: 2,
  EMULATOR_CONTEXT: 3,
  CHECKPOINT_END: 4,
  CHECKPOINT_STATE: 5,
} as const;

const libxcNames = new Map<number, string>(Object.entries(LibxcRec).map(([k, v]) => [v, k]));
const libxlNames = new Map<number, string>(Object.entries(LibxlRec).map(([k, v]) => [v, k]));

function hex32(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
}

/** Name of a libxc record type: END, PAGE_DATA ..., OPTIONAL_0x8000abcd, or UNKNOWN_0x00000013. */
export function libxcRecordName(type: number): string {
  const known = libxcNames.get(type);
  if (known) return known;
  return (type & REC_TYPE_OPTIONAL) !== 0 ? `OPTIONAL_${hex32(type)}` : `UNKNOWN_${hex32(type)}`;
}

/** Name of a libxl record type: END, LIBXC_CONTEXT ..., or UNKNOWN_0x00000006. */
export function libxlRecordName(type: number): string {
  return libxlNames.get(type) ?? `UNKNOWN_${hex32(type)}`;
}

/** Domain header guest types. */
export const DomainType = { X86_PV: 1, X86_HVM: 2 } as const;

/**
 * PAGE_DATA page-type nibbles (bits 63..60 of a pfn word = XEN_DOMCTL_PFINFO_* >> 28).
 * 5..8 are reserved; 9..12 are L1..L4 tables with the PIN bit.
 */
export const PageType = {
  NOTAB: 0x0,
  L1TAB: 0x1,
  L2TAB: 0x2,
  L3TAB: 0x3,
  L4TAB: 0x4,
  L1TAB_PIN: 0x9,
  L2TAB_PIN: 0xa,
  L3TAB_PIN: 0xb,
  L4TAB_PIN: 0xc,
  BROKEN: 0xd,
  XALLOC: 0xe,
  XTAB: 0xf,
} as const;

const pageTypeNames: string[] = [];
for (const [k, v] of Object.entries(PageType)) pageTypeNames[v] = k;
for (let t = 5; t <= 8; t++) pageTypeNames[t] = `RESERVED_${t}`;

/** Name of a page-type nibble (NOTAB, L1TAB ..., XTAB; RESERVED_5..8). */
export function pageTypeName(nibble: number): string {
  return pageTypeNames[nibble & 0xf];
}

/** Page types the restore code knows (all but the reserved 5..8). */
export function isKnownPageType(nibble: number): boolean {
  return nibble < 5 || nibble > 8;
}

/** True for the page types followed by 4 KiB of contents in the record (NOTAB, L1..L4, pinned L1..L4). */
export function pageTypeHasData(nibble: number): boolean {
  return nibble <= 4 || (nibble >= 9 && nibble <= 12);
}

/** Bit 0 of the libxc image-header options: big-endian stream (no restore handles it). */
export const IHDR_OPT_BIG_ENDIAN = 0x0001;
/** libxc image header marker (8 x 0xFF). */
export const IHDR_MARKER = Buffer.alloc(8, 0xff);
/** libxc image header id "XENF". */
export const IHDR_ID = 0x58454e46;
/** libxc stream versions restore accepts. */
export const LIBXC_VERSION_MIN = 2;
/** libxc stream versions restore accepts. */
export const LIBXC_VERSION_MAX = 3;
/** Bytes of the libxc image header. */
export const IHDR_BYTES = 24;
/** Bytes of the libxc domain header. */
export const DHDR_BYTES = 16;

/** libxl header ident: ASCII "LibxlFmt". */
export const LIBXL_IDENT = Buffer.from('LibxlFmt', 'latin1');
/** The only libxl stream version. */
export const LIBXL_VERSION = 2;
/** Bytes of the libxl header. */
export const LIBXL_HEADER_BYTES = 16;
/** libxl header option bit 0: big-endian (libxl refuses it). */
export const LIBXL_OPT_BIG_ENDIAN = 0x1;
/** libxl header option bit 1: produced by convert-legacy-stream. */
export const LIBXL_OPT_LEGACY = 0x2;

/** libxl emulator ids (EMULATOR_* record header). */
export const EmulatorId = { UNKNOWN: 0, QEMU_TRADITIONAL: 1, QEMU_UPSTREAM: 2 } as const;
/** CHECKPOINT_STATE control ids. */
export const CheckpointState = { NEW: 0, SVM_SUSPENDED: 1, SVM_READY: 2, SVM_RESUMED: 3 } as const;

/** The 32-byte xl save-file magic (embedded NUL, no terminator). */
export const XL_MAGIC = Buffer.from('Xen saved domain, xl format\n \0 \r', 'latin1');
/** Bytes of the fixed part of the xl header: magic, byteorder, mandatory flags, optional flags, optional data length. */
export const XL_HEADER_BYTES = 48;
/** The byteorder word as x86 (little-endian) xl writes it: 0x01020304 native = bytes 04 03 02 01. */
export const XL_BYTEORDER = 0x01020304;
/** xl mandatory flag: the config in the optional data is JSON. */
export const XL_MANDATORY_FLAG_JSON = 1 << 0;
/** xl mandatory flag: a libxl (v2) stream follows; without it a legacy stream follows. */
export const XL_MANDATORY_FLAG_STREAMV2 = 1 << 1;
/** Every mandatory flag xl knows; any other bit makes xl refuse the file. */
export const XL_MANDATORY_FLAG_ALL = XL_MANDATORY_FLAG_JSON | XL_MANDATORY_FLAG_STREAMV2;
/** Sanity cap on the xl optional data (a domain config is a few KiB; xl itself has no cap). */
export const XL_OPTDATA_MAX = 16 * 1024 * 1024;

/** The 16-byte magic of libvirt's libxl-driver save file (`virsh save`; libxl_conf.h LIBXL_SAVE_MAGIC). */
export const LIBVIRT_MAGIC = Buffer.from('libvirt-xml\n \0 \r', 'latin1');
/** Bytes of libvirt's save-file header: magic, u32 version, u32 xmlLen, 40 unused bytes; the domain XML follows. */
export const LIBVIRT_HEADER_BYTES = 64;
/** Highest libvirt save-file version (libvirt refuses more): 2 = a libxl v2 stream follows; 1 = a legacy one. */
export const LIBVIRT_VERSION_MAX = 2;
/** Sanity cap on the domain XML of a libvirt save file (libvirt itself has none; a domain XML is a few KiB). */
export const LIBVIRT_XML_MAX = 16 * 1024 * 1024;

/** sizeof(vcpu_guest_context) for a 64-bit PV guest (X86_PV_VCPU_BASIC blob). */
export const VCPU_CONTEXT_64 = 0x1430;
/** sizeof(vcpu_guest_context) for a 32-bit PV guest. */
export const VCPU_CONTEXT_32 = 0xaf0;
/** Largest X86_PV_VCPU_EXTENDED blob restore accepts. */
export const VCPU_EXTENDED_MAX = 128;
/** Smallest non-empty X86_PV_VCPU_XSAVE blob restore accepts (xcr0 + xcr0_accum). */
export const VCPU_XSAVE_MIN = 16;

/** The message `xl migrate` sends after the stream (F3 in docs/XEN.md 4.3), 44 bytes with its NUL. */
export const XL_MIGRATE_GO = Buffer.from('domain is yours, you are cleared to unpause\0', 'latin1');
