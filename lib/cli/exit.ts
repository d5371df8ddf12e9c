/**
 * Exit codes and the one-line error report of the command line.
 *
 *   0  success
 *   1  bad input (any PagepressError from decoding: corrupt, truncated, checksum ...),
 *      an I/O error while reading or writing, or output closed early (EPIPE, see below)
 *   2  usage: unknown option, bad option value, missing input file, existing output
 *      without -f, refusal to write compressed data to a terminal
 *
 * EPIPE (the reader of our stdout went away, as in `pagepress -d x.pp | head -c 10`):
 * exit 1 without a message. The output is incomplete, so it is not a success (zstd and
 * gzip also exit 1), but the cause is the consumer's decision and needs no diagnostic.
 */
import { CommanderError } from 'commander';
import { ErrorCodes, isPagepressError, PagepressError } from '../errors';

/** Process exit codes. */
export const ExitCode = { OK: 0, FAILURE: 1, USAGE: 2 } as const;
/** One of the values of {@link ExitCode}. */
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** A usage error found by the command line itself (exit 2). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** An error that was already reported (or needs no report) and only carries an exit code. */
export class SilentExit extends Error {
  constructor(readonly exitCode: ExitCodeValue) {
    super(`exit ${exitCode}`);
    this.name = 'SilentExit';
  }
}

/** True when NODE_DEBUG asks for pagepress stacks. */
export function debugEnabled(): boolean {
  return /\bpagepress\b/i.test(process.env.NODE_DEBUG ?? '');
}

/** Writes one diagnostic line to stderr, prefixed with `pagepress: `. */
export function printError(line: string): void {
  process.stderr.write(`pagepress: ${line}\n`);
}

/** Maps library option names (options.pageSize) to the command-line flags that set them. */
const OPTION_FLAGS: Record<string, string> = {
  codec: '--codec',
  level: '--level',
  threads: '--threads',
  pageSize: '--page-size',
  batchPages: '--batch-pages',
  cacheSlots: '--cache-slots',
  window: '--window',
};

/** Rewrites `options.level must be ...` as `--level must be ...`. */
export function cliOptionMessage(message: string): string {
  return message.replace(/\boptions\.(\w+)/g, (all, name: string) => OPTION_FLAGS[name] ?? all);
}

function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && !code.startsWith('PP_ERR_') ? code : undefined;
}

/** True for the error a write to a closed pipe raises. */
export function isEpipe(err: unknown): boolean {
  return errnoCode(err) === 'EPIPE';
}

/** The one-line form of a PagepressError: message, offset when the message lacks one, code. */
export function describePagepressError(err: PagepressError): string {
  let message = err.code === ErrorCodes.ADDON ? err.message : err.message.split('\n')[0];
  if (err.offset !== undefined && !/\boffset\b/.test(message)) message = `offset ${err.offset}: ${message}`;
  if (err.code === ErrorCodes.ARG) message = cliOptionMessage(message);
  return `${message} (${err.code})`;
}

/**
 * Reports `err` (one line on stderr; the stack too when NODE_DEBUG contains pagepress)
 * and returns the exit code. `command` prefixes the line; `suffix` is appended to it
 * (for example what happened to the output file).
 */
export function reportError(command: string | null, err: unknown, suffix = ''): ExitCodeValue {
  const prefix = command ? `${command}: ` : '';
  let code: ExitCodeValue;
  let line: string | null;
  if (err instanceof SilentExit) {
    return err.exitCode;
  } else if (err instanceof CommanderError) {
    // Commander printed its own message (help, version, or "error: unknown option ...").
    return err.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
  } else if (err instanceof UsageError) {
    code = ExitCode.USAGE;
    line = err.message;
  } else if (isPagepressError(err)) {
    code = err.code === ErrorCodes.ARG ? ExitCode.USAGE : ExitCode.FAILURE;
    line = describePagepressError(err);
  } else if (isEpipe(err)) {
    code = ExitCode.FAILURE;
    line = null;
  } else {
    code = ExitCode.FAILURE;
    const e = err as Error;
    line = (e && typeof e.message === 'string' ? e.message : String(err)).split('\n')[0];
  }
  if (line !== null) printError(`${prefix}${line}${suffix}`);
  if (debugEnabled() && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  return code;
}
