/**
 * Xen's own stream verifier (verify-stream-v2 from Debian's xen-utils-4.17, docs/XEN.md
 * section 6) for the Xen tests, and small stream helpers those tests share.
 *
 * The unpacked package is looked for in $PAGEPRESS_XEN_UTILS (the `dpkg -x` directory),
 * else in <repo>/.cache/xen-utils; when absent, this fetches it there (`apt-get download`
 * + `dpkg -x`, no root needed when apt's lists exist). If it still is not available the
 * tests that need it fail when $CI is set and are skipped (with the reason printed)
 * otherwise.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { XenReader, XenReaderOptions, XenRecordInfo, XenSummary } from '../../lib/xen/reader';
import { XenEmit, XenWriter } from '../../lib/xen/writer';

/** The repository root (this file runs from dist/test/xen). */
export const REPO = path.resolve(__dirname, '..', '..', '..');
const PACKAGE = 'xen-utils-4.17';
const XEN_LIB = path.join('usr', 'lib', 'xen-4.17');

/** A usable verify-stream-v2. */
export interface Verifier {
  /** The unpacked package directory. */
  dir: string;
  /** Runs the verifier on `file` as `format`; exit status 0 = accepted. */
  run(file: string, format: 'libxc' | 'libxl' | 'xl'): { status: number | null; output: string };
}

function script(dir: string): string {
  return path.join(dir, XEN_LIB, 'bin', 'verify-stream-v2');
}

function makeVerifier(dir: string): Verifier {
  return {
    dir,
    run(file, format) {
      const r = spawnSync('python3', [script(dir), '-f', format, '-i', file], {
        env: { ...process.env, PYTHONPATH: path.join(dir, XEN_LIB, 'lib', 'python') },
        encoding: 'utf8',
        timeout: 60_000,
      });
      return { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
    },
  };
}

/** Downloads and unpacks the package into `dir`; returns why it failed, or null. */
function fetchInto(dir: string): string | null {
  const cache = path.dirname(dir);
  fs.mkdirSync(cache, { recursive: true });
  const dl = spawnSync('apt-get', ['download', PACKAGE], { cwd: cache, encoding: 'utf8', timeout: 180_000 });
  if (dl.status !== 0) return `apt-get download ${PACKAGE} failed: ${(dl.stderr || String(dl.error ?? '')).trim().split('\n').pop()}`;
  const deb = fs.readdirSync(cache).find((f) => f.startsWith(`${PACKAGE}_`) && f.endsWith('.deb'));
  if (!deb) return `apt-get download ${PACKAGE} left no .deb in ${cache}`;
  const x = spawnSync('dpkg', ['-x', path.join(cache, deb), dir], { encoding: 'utf8', timeout: 120_000 });
  if (x.status !== 0) return `dpkg -x ${deb} failed: ${(x.stderr || String(x.error ?? '')).trim()}`;
  return null;
}

let found: { verifier: Verifier | null; reason: string } | undefined;

/** Finds (or fetches) the verifier once per process. */
export function findVerifier(): { verifier: Verifier | null; reason: string } {
  if (found) return found;
  const env = process.env.PAGEPRESS_XEN_UTILS;
  const dir = env ? path.resolve(env) : path.join(REPO, '.cache', 'xen-utils');
  let reason = '';
  if (!fs.existsSync(script(dir))) {
    if (env) reason = `PAGEPRESS_XEN_UTILS=${env} holds no ${XEN_LIB}/bin/verify-stream-v2`;
    else reason = fetchInto(dir) ?? '';
    if (!reason && !fs.existsSync(script(dir))) reason = `${PACKAGE} unpacked into ${dir} has no verify-stream-v2`;
  }
  if (!reason) {
    const py = spawnSync('python3', ['--version'], { encoding: 'utf8' });
    if (py.status !== 0) reason = 'python3 is not available to run verify-stream-v2';
  }
  found = reason ? { verifier: null, reason } : { verifier: makeVerifier(dir), reason: '' };
  return found;
}

/**
 * For a mocha `before` hook: returns the verifier, or skips the suite (printing why), or,
 * under CI, fails it with the reason.
 */
export function requireVerifier(ctx: Mocha.Context): Verifier {
  ctx.timeout(400_000); // a first run may download the package
  const { verifier, reason } = findVerifier();
  if (verifier) return verifier;
  const message = `Xen's verify-stream-v2 is not available (${reason}); set PAGEPRESS_XEN_UTILS to an unpacked ${PACKAGE} (apt-get download ${PACKAGE} && dpkg -x ${PACKAGE}_*.deb DIR)`;
  if (process.env.CI) throw new Error(message);
  console.log(`      skipped: ${message}`);
  ctx.skip();
  throw new Error('unreachable');
}

// ------------------------------------------------------------------ shared stream helpers

/** Everything a XenReader reported. */
export interface ReadResult {
  /** verbatim() and pageBytes() concatenated, in call order: must equal the input. */
  output: Buffer;
  /** pfns of every pageRecord(), concatenated. */
  pfns: number[];
  /** record() infos, in order. */
  records: XenRecordInfo[];
  flushes: string[];
  /** Handler calls in order: v(erbatim), r(ecord start), p(age bytes), f(lush):reason. */
  events: string[];
  summary: XenSummary;
}

/** Feeds `input` to a XenReader in `chunks` (sizes; the rest goes in one last chunk) and collects what it reported. */
export function readXen(input: Buffer, options: XenReaderOptions = {}, chunks: number[] = []): ReadResult {
  const parts: Buffer[] = [];
  const pfns: number[] = [];
  const records: XenRecordInfo[] = [];
  const flushes: string[] = [];
  const events: string[] = [];
  let pageBytesDue = 0;
  const reader = new XenReader(
    {
      verbatim(b) {
        if (pageBytesDue !== 0) throw new Error(`verbatim() while ${pageBytesDue} page bytes are due`);
        parts.push(Buffer.from(b));
        events.push('v');
      },
      pageRecord(p, info) {
        if (p.length === 0) throw new Error('pageRecord() with no pfns');
        if (info.pages?.dataPages !== p.length) throw new Error('pageRecord() pfns disagree with info.pages');
        pfns.push(...p);
        pageBytesDue = p.length * 4096;
        events.push(`r${p.length}`);
      },
      pageBytes(b) {
        if (b.length > pageBytesDue) throw new Error('pageBytes() beyond the record');
        pageBytesDue -= b.length;
        parts.push(Buffer.from(b));
        events.push('p');
      },
      flushPoint(reason) {
        flushes.push(reason);
        events.push(`f:${reason}`);
      },
      record(info) {
        records.push(info);
      },
    },
    options,
  );
  let at = 0;
  for (const n of chunks) {
    reader.push(input.subarray(at, Math.min(input.length, at + n)));
    at = Math.min(input.length, at + n);
  }
  reader.push(input.subarray(at));
  if (reader.offset !== input.length) throw new Error(`reader.offset ${reader.offset} != input length ${input.length}`);
  const summary = reader.end();
  return { output: Buffer.concat(parts), pfns, records, flushes, events, summary };
}

/** Builds a stream in memory with a XenWriter. */
export function build(write: (w: XenWriter) => void): Buffer {
  const parts: Buffer[] = [];
  const emit: XenEmit = (c) => parts.push(Buffer.from(c));
  write(new XenWriter(emit));
  return Buffer.concat(parts);
}
