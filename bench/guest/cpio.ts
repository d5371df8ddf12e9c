/**
 * A writer of "newc" cpio archives (the format the Linux kernel unpacks as an initramfs,
 * Documentation/driver-api/early-userspace/buffer-format.rst): 110-byte ASCII headers
 * ("070701" + 13 fields of 8 hex digits), the name with its NUL, data, each padded to 4
 * bytes, closed by a "TRAILER!!!" entry. Entries are written as given (no sorting), with
 * uid/gid 0 and a fixed mtime, so the same entries give the same bytes.
 */

/** One archive member. */
export type CpioEntry =
  | { type: 'dir'; name: string; mode?: number }
  | { type: 'file'; name: string; data: Uint8Array; mode?: number }
  | { type: 'symlink'; name: string; target: string }
  | { type: 'char'; name: string; major: number; minor: number; mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;
const MAX_U32 = 0xffffffff;

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

function hex8(v: number, what: string): string {
  if (!Number.isInteger(v) || v < 0 || v > MAX_U32) throw new RangeError(`cpio: ${what} ${v} does not fit in 32 bits`);
  return v.toString(16).padStart(8, '0');
}

/** Builds a newc archive in memory; `finish()` returns the bytes. */
export class CpioWriter {
  private readonly parts: Buffer[] = [];
  private ino = 1;
  private readonly mtime: number;
  private closed = false;

  /** @param mtime seconds since the epoch stored in every header (default 0, for reproducible archives). */
  constructor(mtime = 0) {
    this.mtime = mtime;
  }

  private header(name: string, mode: number, size: number, nlink: number, rdev: [number, number], ino: number): void {
    if (this.closed) throw new Error('cpio: archive already finished');
    if (name.length === 0 || name.startsWith('/') || name.includes('\0')) throw new RangeError(`cpio: bad member name ${JSON.stringify(name)}`);
    const nameBytes = Buffer.from(`${name}\0`, 'utf8');
    const fields = [ino, mode, 0, 0, nlink, this.mtime, size, 0, 0, rdev[0], rdev[1], nameBytes.length, 0];
    const names = ['ino', 'mode', 'uid', 'gid', 'nlink', 'mtime', 'size', 'devmajor', 'devminor', 'rdevmajor', 'rdevminor', 'namesize', 'check'];
    const head = '070701' + fields.map((v, i) => hex8(v, names[i])).join('');
    this.parts.push(Buffer.from(head, 'latin1'), nameBytes, Buffer.alloc(pad4(110 + nameBytes.length)));
  }

  /** Appends one member (names are relative: "bin/busybox", not "/bin/busybox"). */
  add(e: CpioEntry): this {
    const ino = this.ino++;
    switch (e.type) {
      case 'dir':
        this.header(e.name, S_IFDIR | (e.mode ?? 0o755), 0, 2, [0, 0], ino);
        break;
      case 'file':
        this.header(e.name, S_IFREG | (e.mode ?? 0o644), e.data.length, 1, [0, 0], ino);
        this.parts.push(Buffer.from(e.data.buffer, e.data.byteOffset, e.data.length), Buffer.alloc(pad4(e.data.length)));
        break;
      case 'symlink': {
        const t = Buffer.from(e.target, 'utf8');
        this.header(e.name, S_IFLNK | 0o777, t.length, 1, [0, 0], ino);
        this.parts.push(t, Buffer.alloc(pad4(t.length)));
        break;
      }
      case 'char':
        this.header(e.name, S_IFCHR | (e.mode ?? 0o600), 0, 1, [e.major, e.minor], ino);
        break;
    }
    return this;
  }

  /** Writes the trailer and returns the archive. */
  finish(): Buffer {
    this.header('TRAILER!!!', 0, 0, 1, [0, 0], 0);
    this.closed = true;
    return Buffer.concat(this.parts);
  }
}

/** One member as read back by {@link parseCpio}. */
export interface CpioMember {
  name: string;
  mode: number;
  data: Buffer;
  rdevMajor: number;
  rdevMinor: number;
}

/** Reads a newc archive (up to its trailer); throws RangeError naming the offset on malformed input. */
export function parseCpio(buf: Buffer): CpioMember[] {
  const out: CpioMember[] = [];
  let at = 0;
  for (;;) {
    if (at + 110 > buf.length) throw new RangeError(`cpio: truncated header at offset ${at}`);
    if (buf.toString('latin1', at, at + 6) !== '070701') throw new RangeError(`cpio: bad magic at offset ${at}`);
    const field = (i: number) => {
      const s = buf.toString('latin1', at + 6 + 8 * i, at + 14 + 8 * i);
      if (!/^[0-9a-fA-F]{8}$/.test(s)) throw new RangeError(`cpio: bad hex field ${i} at offset ${at}`);
      return parseInt(s, 16);
    };
    const mode = field(1);
    const size = field(6);
    const namesize = field(11);
    const nameAt = at + 110;
    if (namesize < 1 || nameAt + namesize > buf.length) throw new RangeError(`cpio: bad name size ${namesize} at offset ${at}`);
    const name = buf.toString('utf8', nameAt, nameAt + namesize - 1);
    const dataAt = nameAt + namesize + pad4(110 + namesize);
    if (dataAt + size > buf.length) throw new RangeError(`cpio: member ${name} runs past the end (offset ${at})`);
    if (name === 'TRAILER!!!') return out;
    out.push({ name, mode, data: buf.subarray(dataAt, dataAt + size), rdevMajor: field(9), rdevMinor: field(10) });
    at = dataAt + size + pad4(size);
  }
}
