/** Recognises a Xen save/migration stream by its first bytes (docs/XEN.md "Detection"). */

/** Which Xen layer a stream starts with, by its first 8 bytes. */
export type XenStart = 'libvirt' | 'xl' | 'libxl' | 'libxc';

/** Bytes needed to tell: the longest of the signatures below. */
export const XEN_SIGNATURE_BYTES = 8;

const LIBVIRT = Buffer.from('libvirt-', 'latin1'); // "libvirt-xml\n \0 \r" (virsh save, libxl driver)
const XL = Buffer.from('Xen save', 'latin1'); // "Xen saved domain, xl format\n \0 \r"
const LIBXL = Buffer.from('LibxlFmt', 'latin1');
const LIBXC = Buffer.alloc(8, 0xff); // the libxc image header's marker

/** The Xen layer `prefix` starts with, or null for anything else (including fewer than 8 bytes). */
export function detectXen(prefix: Uint8Array): XenStart | null {
  if (prefix.length < XEN_SIGNATURE_BYTES) return null;
  const head = Buffer.from(prefix.buffer, prefix.byteOffset, XEN_SIGNATURE_BYTES);
  if (head.equals(LIBVIRT)) return 'libvirt';
  if (head.equals(XL)) return 'xl';
  if (head.equals(LIBXL)) return 'libxl';
  if (head.equals(LIBXC)) return 'libxc';
  return null;
}
