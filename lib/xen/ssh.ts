/**
 * The transport behind `pagepress xen ssh HOST COMMAND...`, a drop-in for ssh in
 * `xl migrate -s` (docs/XEN.md). xl runs `exec SSHCMD HOST xl [-t] migrate-receive [-e]`
 * with stdin = the forward pipe (sender → receiver) and stdout = the reverse pipe
 * (receiver's acknowledgements → sender), so:
 *
 *   our stdin ──▶ encoder (in this process) ──▶ rsh HOST "<remote line>" stdin
 *                                                 remote: pagepress decompress ─▶ COMMAND
 *   our stdout ◀──────────────── inherited by rsh ◀──────────────────── COMMAND's stdout
 *
 * The reverse direction never passes through this process: the rsh child writes straight
 * to our stdout, byte for byte, with no added latency. The encoder runs here rather than
 * in a `pagepress compress` child: one Node start-up less before the first byte moves,
 * and its failures are known first-hand. It is chosen from the first 8 bytes
 * (createForwardEncoder): the Xen-aware one for Xen streams, the raw one otherwise.
 *
 * States and events (runXenSsh):
 *   FORWARDING   stdin → encoder → child stdin. The encoder flushes whatever it holds
 *                when its input pauses, so the handshake never waits for EOF.
 *     stdin EOF → END frame written, child stdin closed → DRAINING
 *     child exits first → stop reading stdin → DONE (remote failed: its status, or 1)
 *     encoder / stdin error → SIGTERM to the child → DONE (local failed: 1)
 *     child stdin EPIPE → DRAINING with "remote stopped reading" (remote failed)
 *     abort (SIGTERM/SIGINT/SIGHUP to us) → the same signal to the child → DONE (128+n)
 *   DRAINING     wait for the child → DONE with its status (ssh returns the remote's)
 * A child sent a signal gets KILL_AFTER_MS to exit before SIGKILL.
 *
 * The remote line does not use `decompress | COMMAND`: a shell waits for every member of
 * a pipeline, and decompress only notices a dead COMMAND on its next write, so a COMMAND
 * that fails while the sender waits for an acknowledgement (a failed restore: xl sends
 * nothing until it reads "domain received") would hang both hosts. Instead decompress
 * writes into a FIFO that COMMAND reads, and the remote shell exits as soon as COMMAND
 * does (see remoteCommandLine).
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { growPipe, sniff, Sniffed } from '../stream/fd-io';
import { feed } from '../stream/files';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ErrorCodes, PagepressError } from '../errors';
import { Encoder } from '../stream/encoder';
import { EncodeTotals } from '../stream/encode-engine';
import { EncoderOptions, resolveEncoderOptions } from '../stream/options';
import { detectXen, XEN_SIGNATURE_BYTES } from './detect';
import { XenEncoder } from './filter';

/** Options of {@link runXenSsh}. */
export interface XenSshOptions {
  /** The host given to the remote shell command (ssh's HOST). */
  host: string;
  /** The remote command, one element per word (each word arrives as one argument). */
  command: readonly string[];
  /**
   * Shell text of the command that reaches HOST, default `ssh`. It runs as
   * `sh -c 'exec RSH "$@"' - HOST REMOTE_LINE`, so it gets two more arguments: HOST and
   * the remote command line, which it must hand to a POSIX shell (as ssh does).
   */
  rsh?: string;
  /** Shell text that runs pagepress on HOST (inserted verbatim), default `pagepress`. */
  remotePagepress?: string;
  /** Encoder options (codec, level, threads ...). */
  encoder?: EncoderOptions;
  /** Forward input format, default auto (Xen streams are recognised by their first 8 bytes). */
  format?: ForwardFormat;
  /** A Xen input is COLO (CHECKPOINT_STATE after each CHECKPOINT_END); default: the command has a `--colo` word. */
  colo?: boolean;
  /** The forward input, default our stdin (read from fd 0 directly when it is a pipe or socket, else as process.stdin). */
  input?: Readable;
  /** File descriptor the child writes the reverse direction to, default 1 (our stdout). */
  output?: number;
  /** Aborting stops the run: the child gets the abort reason as a signal (default SIGTERM). */
  signal?: AbortSignal;
}

/** Which side ended the run, when it did not succeed. */
export type XenSshFailure = 'remote' | 'local' | 'signal';

/** Outcome of {@link runXenSsh}; it resolves rather than throws once the child has started. */
export interface XenSshResult {
  /** What the command line should exit with: the remote status, 1, or 128+signal. */
  exitCode: number;
  /** null on success. */
  failure: XenSshFailure | null;
  /** One line naming the side that failed; null on success. */
  message: string | null;
  /** The rsh child's exit status, or null when a signal ended it. */
  remoteStatus: number | null;
  /** The signal that ended the rsh child, if any. */
  remoteSignal: NodeJS.Signals | null;
  /** Encoder totals (raw bytes in, stream bytes out without the END frame). */
  totals: EncodeTotals;
  /** Wall time from start to the child's exit, in seconds. */
  seconds: number;
  /** The encoder used: 'xen' or 'raw' (null when the input ended before it was chosen). */
  format: 'xen' | 'raw' | null;
}

/** Signal numbers for the 128+n exit status of a run stopped by a signal. */
const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15, SIGKILL: 9 };

/** A Transform that encodes the forward direction and counts what it did. */
export type ForwardEncoder = Transform & { readonly totals: EncodeTotals };

/** How the forward input is read: auto recognises Xen streams by their first bytes. */
export type ForwardFormat = 'auto' | 'xen' | 'raw';

/**
 * The forward encoder; the one place that picks it. Xen streams get the page-aware
 * XenEncoder (records kept byte-exact, flushes at END/CHECKPOINT/CHECKPOINT_END), with
 * legacy (Xen <= 4.5) streams passed through rather than refused: a transport must carry
 * whatever the sender writes. Anything else gets the raw page encoder. Both decode with
 * plain `pagepress decompress`, and both flush when their input pauses.
 */
export function createForwardEncoder(format: 'xen' | 'raw', options: EncoderOptions, colo = false): ForwardEncoder {
  return format === 'xen' ? new XenEncoder({ ...options, colo, legacy: 'pass' }) : new Encoder(options);
}

/**
 * Waits for the first `n` bytes of `input` (fewer at EOF, or when the input pauses for
 * `idleMs` with fewer: a short message may be waiting for a reply), and returns them with
 * the stream to read from then: `input` itself with the bytes put back at its front
 * (Readable.unshift), or, when `input` already ended, a stream of just those bytes.
 */
export function peekHead(input: Readable, n: number, idleMs: number): Promise<{ head: Buffer; source: Readable }> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let got = 0;
    let timer: NodeJS.Timeout | null = null;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      input.off('readable', onReadable);
      input.off('end', finish);
      input.off('error', onError);
      const head = Buffer.concat(parts);
      if (input.readableEnded) return resolve({ head, source: Readable.from(head.length > 0 ? [head] : []) });
      if (head.length > 0) input.unshift(head);
      resolve({ head, source: input });
    };
    const onError = (err: Error) => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      reject(err);
    };
    const onReadable = () => {
      let chunk: Buffer | null;
      while (got < n && (chunk = input.read() as Buffer | null) !== null) {
        parts.push(chunk);
        got += chunk.length;
      }
      if (got >= n) return finish();
      if (timer) clearTimeout(timer);
      if (got > 0) timer = setTimeout(finish, idleMs);
    };
    input.on('readable', onReadable);
    input.once('end', finish);
    input.once('error', onError);
  });
}

function isPipeOrSocket(fd: number): boolean {
  try {
    const st = fs.fstatSync(fd);
    return st.isFIFO() || st.isSocket();
  } catch {
    return false;
  }
}

/** How long a first message shorter than a Xen signature may wait for more bytes before the format is chosen. */
const PEEK_IDLE_MS = 20;

/** How long a child that was sent SIGTERM (or SIGINT, SIGHUP) gets before SIGKILL. */
const KILL_AFTER_MS = 5000;

/** The remote decoder, after the remote pagepress command; reads stdin, writes stdout. */
const REMOTE_DECOMPRESS = 'decompress';

/** Words that need no quoting in a POSIX shell. */
const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/**
 * Quotes one word for a POSIX shell: unchanged when it has only safe characters, else in
 * single quotes with each embedded `'` written as `'\''`.
 * @example shellQuote("it's") === "'it'\\''s'"
 */
export function shellQuote(word: string): string {
  if (SAFE_WORD.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The command line run on HOST by a POSIX shell: `sh -c SCRIPT pagepress-xen-ssh WORDS...`.
 * SCRIPT starts `REMOTE decompress` in the background writing into a FIFO, runs the
 * command ("$@") reading the FIFO, and as soon as the command exits, stops decompress and
 * exits with the command's status, as ssh would. (A plain pipeline would wait for
 * decompress, which waits for input the sender only sends after an acknowledgement.) A
 * decompress failure is not lost: the command sees a truncated stream and fails, and
 * decompress's message is on stderr. Stdin reaches decompress through fd 3 because a
 * background job's stdin is /dev/null in a non-interactive shell.
 * @param remotePagepress shell text that runs pagepress on HOST (not quoted)
 * @param command the remote command's words (each quoted)
 */
export function remoteCommandLine(remotePagepress: string, command: readonly string[]): string {
  const script = [
    'd=$(mktemp -d) || exit 1',
    'trap "rm -rf \\"$d\\"" EXIT',
    'trap "exit 129" HUP',
    'trap "exit 130" INT',
    'trap "exit 143" TERM',
    'mkfifo "$d/f" || exit 1',
    'exec 3<&0',
    `${remotePagepress} ${REMOTE_DECOMPRESS} <&3 3<&- >"$d/f" & p=$!`,
    'exec 3<&-',
    '"$@" <"$d/f"',
    's=$?',
    'kill $p 2>/dev/null',
    'wait $p 2>/dev/null',
    'exit $s',
  ].join('; ');
  return ['sh', '-c', shellQuote(script), 'pagepress-xen-ssh', ...command.map(shellQuote)].join(' ');
}

/** The argv that starts the rsh child: `/bin/sh -c 'exec RSH "$@"' pagepress-xen-ssh HOST LINE`. */
export function rshArgv(rsh: string, host: string, remoteLine: string): string[] {
  return ['/bin/sh', '-c', `exec ${rsh} "$@"`, 'pagepress-xen-ssh', host, remoteLine];
}

interface ChildEnd {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

function childEnded(child: ChildProcess): Promise<ChildEnd> {
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    // No 'exit' follows a failed spawn.
    child.once('error', (error) => {
      if (child.pid === undefined) resolve({ code: null, signal: null, error });
    });
  });
}

/**
 * Errors a stream gets when a neighbour in the pipeline was destroyed. (A neighbour's own
 * error is passed on as the same object: see stdinError.)
 */
const PASSED_ON = new Set(['ABORT_ERR', 'ERR_STREAM_PREMATURE_CLOSE', 'ERR_STREAM_DESTROYED']);

function isPassedOn(err: unknown): boolean {
  const e = err as { code?: unknown; name?: unknown } | null;
  return e?.name === 'AbortError' || (typeof e?.code === 'string' && PASSED_ON.has(e.code));
}

function describeEnd(end: ChildEnd): string {
  if (end.error) return `could not be started (${end.error.message})`;
  if (end.signal) return `was killed by ${end.signal}`;
  return `exited with status ${end.code}`;
}

function errorText(err: unknown): string {
  const e = err as { message?: unknown; code?: unknown };
  const message = typeof e?.message === 'string' ? e.message.split('\n')[0] : String(err);
  return typeof e?.code === 'string' && e.code.startsWith('PP_ERR_') ? `${message} (${e.code})` : message;
}

/**
 * Runs the transport: compresses `input` into the rsh child's stdin until `input` ends,
 * then waits for the child. Resolves with the exit code to use and a message naming the
 * side that failed (see the state list at the top of this file).
 * @throws PagepressError PP_ERR_ARG when the command is empty or an encoder option is invalid
 * @example
 * const r = await runXenSsh({ host: 'dst', command: ['xl', 'migrate-receive'] });
 * process.exitCode = r.exitCode;
 */
export async function runXenSsh(opts: XenSshOptions): Promise<XenSshResult> {
  if (opts.command.length === 0) throw new PagepressError('a remote command is required (for example: xl migrate-receive)', ErrorCodes.ARG);
  const format = opts.format ?? 'auto';
  if (!['auto', 'xen', 'raw'].includes(format)) throw new PagepressError(`options.format must be auto, xen or raw, got ${String(format)}`, ErrorCodes.ARG);
  // Invalid encoder options throw here, before anything is started.
  resolveEncoderOptions(opts.encoder ?? {});
  const colo = opts.colo ?? opts.command.includes('--colo');
  const input = opts.input ?? process.stdin;
  const remoteLine = remoteCommandLine(opts.remotePagepress ?? 'pagepress', opts.command);
  const argv = rshArgv(opts.rsh ?? 'ssh', opts.host, remoteLine);
  const side = `remote side (${opts.rsh ?? 'ssh'} ${opts.host})`;
  const started = process.hrtime.bigint();

  // The child starts at once, before any input: xl's receiver speaks first (its banner).
  const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', opts.output ?? 1, 'inherit'] });
  // 1 MiB pipe buffers on both sides of the encoder (Linux): 16x fewer reads, writes and wake-ups.
  if (input === process.stdin) growPipe(0);
  const childStdinFd = (child.stdin as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof childStdinFd === 'number' && childStdinFd >= 0) growPipe(childStdinFd);
  const ended = childEnded(child);
  let childGone: ChildEnd | null = null;
  void ended.then((end) => (childGone = end));
  // The child's stdin fails on its own (EPIPE: the remote side stopped reading), and the
  // pipeline then destroys our input and encoder with that same error object.
  let stdinError: unknown = null;
  child.stdin!.on('error', (err) => (stdinError ??= err));
  // The first error raised by our input or encoder themselves, not one passed on to them
  // when another stream of the pipeline failed or was stopped.
  let localError: unknown = null;
  const onLocalError = (err: unknown) => {
    if (err !== stdinError && !isPassedOn(err)) localError ??= err;
  };
  input.once('error', onLocalError);

  let encoder: ForwardEncoder | null = null;
  let chosen: 'xen' | 'raw' | null = null;
  let source: Readable = input;
  let forwardComplete = false;
  const startEncoder = (kind: 'xen' | 'raw'): ForwardEncoder => {
    const e = (encoder = createForwardEncoder((chosen = kind), opts.encoder ?? {}, colo));
    e.once('error', onLocalError);
    // 'end' = the END frame went to the child's stdin: the forward stream is complete.
    e.once('end', () => (forwardComplete = true));
    return e;
  };
  const runForward = async () => {
    let kind = format === 'auto' ? null : format;
    if (kind === null) {
      const peeked = await peekHead(input, XEN_SIGNATURE_BYTES, PEEK_IDLE_MS);
      source = peeked.source;
      kind = detectXen(peeked.head) ? 'xen' : 'raw';
    }
    await pipeline(source, startEncoder(kind), child.stdin!);
  };
  // Our stdin as a pipe or socket is read with fs.read, page contents straight into the
  // encoder's slots (as `pagepress compress` does): no 64 KiB chunks through a stream and
  // no copy on the main thread. process.stdin is opened all the same, and never read: it
  // puts the fd in non-blocking mode, so a read never blocks a libuv pool thread (which
  // would hold up our exit while xl waits for an answer) and stopping is immediate.
  const fdInput = opts.input === undefined && isPipeOrSocket(0) ? 0 : null;
  const stopReading = new AbortController();
  const runForwardFd = async (fd: number) => {
    let kind = format === 'auto' ? null : format;
    let start: Sniffed | undefined;
    if (kind === null) {
      start = await sniff(fd, XEN_SIGNATURE_BYTES, PEEK_IDLE_MS, stopReading.signal);
      kind = detectXen(start.bytes) ? 'xen' : 'raw';
    }
    const e = startEncoder(kind);
    const reading = feed(fd, e, start, stopReading.signal).catch((err: unknown) => {
      if (!stopReading.signal.aborted) onLocalError(err);
      e.destroy(err as Error);
      throw err;
    });
    await Promise.all([reading, pipeline(e, child.stdin!)]);
  };
  const forward = (fdInput === null ? runForward() : runForwardFd(fdInput)).then(
    () => null,
    (err: unknown) => err ?? new Error('forward pipeline failed'),
  );
  let abortSignal: NodeJS.Signals | null = null;
  const aborted = new Promise<'abort'>((resolve) => {
    if (!opts.signal) return;
    const onAbort = () => {
      const reason: unknown = opts.signal!.reason;
      abortSignal = typeof reason === 'string' && reason in SIGNAL_NUMBERS ? (reason as NodeJS.Signals) : 'SIGTERM';
      resolve('abort');
    };
    if (opts.signal.aborted) onAbort();
    else opts.signal.addEventListener('abort', onAbort, { once: true });
  });
  /** Stops reading the input and encoding (the forward promise then settles; its outcome is ignored). */
  const stopForward = () => {
    stopReading.abort();
    source.destroy();
    input.destroy();
    encoder?.destroy();
  };
  const result = (end: ChildEnd, exitCode: number, failure: XenSshFailure | null, message: string | null): XenSshResult => ({
    exitCode,
    failure,
    message,
    remoteStatus: end.code,
    remoteSignal: end.signal,
    totals: encoder?.totals ?? { frames: 0, pages: 0, rawBytes: 0, streamBytes: 0, kinds: [], codecs: {} },
    seconds: Number(process.hrtime.bigint() - started) / 1e9,
    format: chosen,
  });
  /** Sends `sig` to the child, and SIGKILL if it is still there after KILL_AFTER_MS. */
  const stopChild = async (sig: NodeJS.Signals): Promise<ChildEnd> => {
    if (childGone) return childGone;
    child.kill(sig);
    const timer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
    const end = await ended;
    clearTimeout(timer);
    return end;
  };
  const stopBySignal = async (): Promise<XenSshResult> => {
    const sig = abortSignal ?? 'SIGTERM';
    stopForward();
    const end = await stopChild(sig);
    return result(end, 128 + (SIGNAL_NUMBERS[sig] ?? 15), 'signal', `stopped by ${sig}; the ${side} ${describeEnd(end)}`);
  };

  const first = await Promise.race([
    forward.then((err) => ({ kind: 'forward' as const, err })),
    ended.then((end) => ({ kind: 'exit' as const, end })),
    aborted.then(() => ({ kind: 'abort' as const })),
  ]);
  if (first.kind === 'abort') return stopBySignal();

  if (localError !== null) {
    // Our half failed (stdin read error, encoder error): the remote must not wait for more.
    stopForward();
    const end = await stopChild('SIGTERM');
    return result(end, 1, 'local', `the local encoder failed: ${errorText(localError)}; stopped the ${side}`);
  }
  if (first.kind === 'exit' && !forwardComplete) {
    // The remote side is gone while the sender may still write: stop, report its status.
    stopForward();
    const end = first.end;
    return result(end, end.code ? end.code : 1, 'remote', `the ${side} ${describeEnd(end)} before the end of the input`);
  }

  // The forward stream is complete, or the remote stopped reading it: wait for the child.
  const next = await Promise.race([ended.then((end) => ({ kind: 'exit' as const, end })), aborted.then(() => ({ kind: 'abort' as const }))]);
  if (next.kind === 'abort') return stopBySignal();
  const end = next.end;
  if (!forwardComplete) {
    stopForward();
    return result(end, end.code ? end.code : 1, 'remote', `the ${side} stopped reading before the end of the input and ${describeEnd(end)}`);
  }
  if (end.code === 0) return result(end, 0, null, null);
  return result(end, end.code ?? 1, 'remote', `the ${side} ${describeEnd(end)}`);
}
