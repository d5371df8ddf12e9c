/**
 * Opening the input and output of a command, with the gzip/zstd conventions: "-" and a
 * missing name mean stdin/stdout (fd 0/1, used directly, never through process.stdin or
 * process.stdout, so their blocking mode is left alone); an existing OUT needs -f;
 * input and output may not be the same file. Failures here are usage errors (exit 2).
 */
import * as fs from 'node:fs';
import * as tty from 'node:tty';
import { UsageError } from './exit';

/** An opened input. */
export interface Input {
  fd: number;
  /** FILE as given, or "stdin". */
  name: string;
  /** Size when the input is a regular file. */
  size?: number;
  stat: fs.Stats | null;
  close(): void;
}

/** An opened output. */
export interface Output {
  fd: number;
  /** OUT as given, or "stdout". */
  name: string;
  /** The path of a regular file this command created or truncated, else null (stdout, a device). */
  path: string | null;
  /**
   * Set when OUT replaced a file with `replaceLater`: settles once the old file's storage
   * is freed (on the libuv pool).
   */
  released?: Promise<void>;
  close(): void;
}

function systemMessage(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  switch (e.code) {
    case 'ENOENT':
      return 'No such file or directory';
    case 'EACCES':
      return 'Permission denied';
    case 'EISDIR':
      return 'Is a directory';
    case 'ENOTDIR':
      return 'Not a directory';
    default:
      return e.message;
  }
}

function fstatOrNull(fd: number): fs.Stats | null {
  try {
    return fs.fstatSync(fd);
  } catch {
    return null;
  }
}

/**
 * Opens FILE (or stdin). With `refuseTerminal`, a terminal on stdin is refused
 * (compressed data is not typed in) unless `force`.
 */
export function openInput(file: string | undefined, opts: { refuseTerminal: boolean; force: boolean }): Input {
  if (file === undefined || file === '-') {
    if (opts.refuseTerminal && !opts.force && tty.isatty(0)) throw new UsageError('stdin is a console, aborting (use -f to read it anyway)');
    const stat = fstatOrNull(0);
    return { fd: 0, name: 'stdin', stat, size: stat?.isFile() ? stat.size : undefined, close() {} };
  }
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    throw new UsageError(`${file}: ${systemMessage(err)}`);
  }
  const stat = fstatOrNull(fd);
  if (stat?.isDirectory()) {
    fs.closeSync(fd);
    throw new UsageError(`${file}: Is a directory`);
  }
  return { fd, name: file, stat, size: stat?.isFile() ? stat.size : undefined, close: () => fs.closeSync(fd) };
}

/**
 * Opens OUT (or stdout). With `refuseTerminal` (compressed output), a terminal on stdout
 * is refused unless `force`. Without `force` an existing OUT is refused. With
 * `replaceLater`, an existing large OUT is replaced rather than truncated (see replace()).
 */
export function openOutput(output: string | undefined, input: Input, opts: { refuseTerminal: boolean; force: boolean; replaceLater?: boolean }): Output {
  if (output === undefined || output === '-') {
    if (opts.refuseTerminal && !opts.force && tty.isatty(1)) throw new UsageError('stdout is a console, aborting (use -o OUT, a pipe, or -f)');
    return { fd: 1, name: 'stdout', path: null, close() {} };
  }
  let existing: fs.Stats | null;
  try {
    existing = fs.statSync(output);
  } catch {
    existing = null;
  }
  if (existing && input.stat && existing.dev === input.stat.dev && existing.ino === input.stat.ino) {
    throw new UsageError(`${output}: input and output are the same file`);
  }
  if (existing?.isDirectory()) throw new UsageError(`${output}: Is a directory`);
  // Devices and FIFOs (/dev/null, a named pipe) are written to, not replaced: no -f needed.
  const special = existing !== null && !existing.isFile();
  if (existing && !special && !opts.force) throw new UsageError(`${output} already exists; use -f to overwrite it`);
  let fd: number;
  if (opts.replaceLater && existing?.isFile()) {
    const replaced = replace(output, existing);
    if (replaced) return replaced;
  }
  try {
    fd = fs.openSync(output, opts.force || special ? 'w' : 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new UsageError(`${output} already exists; use -f to overwrite it`);
    throw new UsageError(`${output}: ${systemMessage(err)}`);
  }
  return { fd, name: output, path: special ? null : output, close: () => fs.closeSync(fd) };
}

/** Below this size a file is truncated in place: freeing it costs less than replacing it. */
const REPLACE_BYTES = 16 * 1024 * 1024;

/**
 * -f over a large plain file (not a symlink, one link): removes its name and creates OUT
 * anew with the same mode, as gzip and zstd do, but frees the old storage on the libuv
 * pool (closing the last descriptor of an unlinked file frees it) instead of waiting:
 * the kernel takes about 60 ms for 500 MB of tmpfs pages, which O_TRUNC would spend
 * before the first byte is written. Until then both files take space. Returns null
 * (truncate in place instead) for small files, links, or a file this process may not read.
 */
function replace(output: string, existing: fs.Stats): Output | null {
  if (existing.size < REPLACE_BYTES || existing.nlink !== 1) return null;
  let oldFd: number;
  try {
    if (fs.lstatSync(output).isSymbolicLink()) return null;
    oldFd = fs.openSync(output, 'r');
  } catch {
    return null;
  }
  try {
    fs.unlinkSync(output);
  } catch {
    fs.closeSync(oldFd);
    return null;
  }
  let fd: number;
  try {
    fd = fs.openSync(output, 'wx', existing.mode & 0o7777);
  } catch (err) {
    fs.closeSync(oldFd);
    throw new UsageError(`${output}: ${systemMessage(err)}`);
  }
  try {
    fs.fchmodSync(fd, existing.mode & 0o7777); // exactly the old mode, whatever the umask
  } catch {
    // not the owner: the file keeps the mode it was created with
  }
  const released = new Promise<void>((resolve) => fs.close(oldFd, () => resolve()));
  return { fd, name: output, path: output, released, close: () => fs.closeSync(fd) };
}

/** Closes and deletes a partial output file; ignores errors (it is cleanup). */
export function removeOutput(out: Output): void {
  try {
    out.close();
  } catch {
    // already closed
  }
  if (out.path) {
    try {
      fs.unlinkSync(out.path);
    } catch {
      // gone already
    }
  }
}

/** Size of the output file so far, or undefined for a pipe/terminal. */
export function outputSize(out: Output): number | undefined {
  const stat = fstatOrNull(out.fd);
  return stat?.isFile() ? stat.size : undefined;
}
