/**
 * The commander program: commands, options and their value parsers. Every option value is
 * checked here, while parsing, so a bad value is a usage error (exit 2) before any file is
 * opened; checks that need two options at once (--level depends on --codec) are in
 * resolveCompressOptions, also run before any work.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { CODECS, CodecChoice, codecsByName, DEFAULT_CODEC } from '../codec/registry';
import { codecOption, levelHelp, longOption } from './codec-options';
import { isValidPageSize, MAX_BATCH_PAGES, MAX_CACHE_SLOTS } from '../format/constants';
import { defaultThreads } from '../stream/threads';
import { UsageError } from './exit';

/** Options shared by compress and decompress. */
export interface CommonOptions {
  output?: string;
  force?: boolean;
  threads: number;
  progress?: boolean;
  json?: boolean;
  quiet?: boolean;
}

/** Options of compress (raw, as parsed). */
export interface CompressFlags extends CommonOptions {
  codec: CodecChoice;
  level?: number;
  pageSize?: number;
  batchPages?: number;
  cacheSlots?: number;
  /** Long-range matching window log (true: the default window); see EncoderOptions.longWindowLog. */
  long?: number | true;
  decompress?: boolean;
  /** Input format: auto (default: Xen streams are recognised by their first bytes), xen or raw. */
  format?: 'auto' | 'xen' | 'raw';
  /** Xen input: the stream is COLO. */
  colo?: boolean;
  /** Xen input: what to do with a legacy (Xen <= 4.5) stream. */
  legacy?: 'refuse' | 'pass';
}

/** Options of inspect. */
export interface InspectFlags {
  json?: boolean;
  frames?: boolean;
}

/** Options of `xen inspect` (owned by commands/xen-inspect.ts). */
export interface XenInspectFlags {
  json?: boolean;
  /** The stream is COLO (a CHECKPOINT_STATE record follows each CHECKPOINT_END). */
  colo?: boolean;
}

/** Options of `xen ssh` (owned by commands/xen-ssh.ts). */
export interface XenSshFlags {
  /** Command used instead of ssh to reach HOST (run through sh -c with HOST and the remote command appended). */
  rsh?: string;
  codec: CodecChoice;
  level?: number;
  /** Long-range matching window log (true: the default window). */
  long?: number | true;
  threads: number;
  /** The pagepress command on the remote side. */
  remotePagepress?: string;
  quiet?: boolean;
  /** Forward input format: auto (Xen streams recognised by their first bytes), xen or raw. */
  format?: 'auto' | 'xen' | 'raw';
  /** The Xen stream is COLO (also implied by a `--colo` word in the remote command). */
  colo?: boolean;
}

/** What each command does once parsed; main.ts supplies these. */
export interface Handlers {
  compress(file: string | undefined, flags: CompressFlags): Promise<void>;
  decompress(file: string | undefined, flags: CommonOptions): Promise<void>;
  inspect(file: string | undefined, flags: InspectFlags): Promise<void>;
  xenInspect(file: string | undefined, flags: XenInspectFlags): Promise<void>;
  xenSsh(host: string, command: string[], flags: XenSshFlags): Promise<void>;
  /** `migrate receive` and `migrate send` (commands/migrate.ts; options in commands/migrate-args.ts). */
  migrateReceive(flags: import('./commands/migrate-args').MigrateReceiveFlags): Promise<void>;
  migrateSend(flags: import('./commands/migrate-args').MigrateSendFlags): Promise<void>;
  /** `plan` (commands/plan.ts; options in commands/plan-args.ts). */
  plan(flags: import('./commands/plan-args').PlanFlags): Promise<void>;
  /** `predict` (commands/predict.ts; options in commands/predict-args.ts). */
  predict(flags: import('./commands/predict-args').PredictFlags): Promise<void>;
}

/** The version in package.json, found at run time by walking up from this file. */
export function packageVersion(): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const file = path.join(dir, 'package.json');
    try {
      const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'pagepress' && pkg.version) return pkg.version;
    } catch {
      // not here; keep walking up
    }
    dir = path.dirname(dir);
  }
  return 'unknown';
}

const LEVEL_MIN = Math.min(...CODECS.map((c) => c.levels.min));
const LEVEL_MAX = Math.max(...CODECS.map((c) => c.levels.max));

function integer(text: string): number {
  if (!/^[+-]?\d+$/.test(text.trim())) throw new InvalidArgumentError('expected an integer.');
  return Number(text);
}

function intInRange(min: number, max: number) {
  return (text: string): number => {
    const n = integer(text);
    if (n < min || n > max) throw new InvalidArgumentError(`expected an integer in ${min}..${max}.`);
    return n;
  };
}

/** Parses a byte count with an optional k/K suffix (x1024), e.g. 4096, 4k, 64K, 4KiB. */
export function parseSize(text: string): number {
  const m = /^\s*(\d+)\s*(k|kb|kib)?\s*$/i.exec(text);
  if (!m) throw new InvalidArgumentError('expected bytes, e.g. 4096, 4k or 64k.');
  return Number(m[1]) * (m[2] ? 1024 : 1);
}

function parsePageSize(text: string): number {
  const n = parseSize(text);
  if (!isValidPageSize(n)) throw new InvalidArgumentError('expected a power of two from 512 to 65536 (512, 1k, 2k, 4k ... 64k).');
  return n;
}

function parseThreads(text: string): number {
  const n = intInRange(0, 64)(text);
  return n === 0 ? defaultThreads() : n;
}

/** Checks --level against the range of --codec. @throws UsageError (exit 2) */
export function checkLevel(codec: CodecChoice, level: number | undefined): void {
  if (level === undefined) return;
  const ops = codecsByName.get(codec === 'auto' ? DEFAULT_CODEC : codec)!;
  if (level < ops.levels.min || level > ops.levels.max) {
    const range = ops.levels.min === ops.levels.max ? `only ${ops.levels.min}` : `${ops.levels.min}..${ops.levels.max}`;
    throw new UsageError(`option '-l, --level <N>': level ${level} is invalid for --codec ${codec} (accepted: ${range})`);
  }
}

const EPILOG = `
Input is FILE, or stdin when FILE is missing or "-". Output goes to stdout unless
-o OUT is given ("-o -" is stdout). Compressed data is never written to a terminal,
and an existing OUT is never overwritten, unless -f is given.

When decompression fails, OUT keeps every byte decoded before the first bad frame
(the stream is checked frame by frame); a failed compression removes OUT.

Exit status: 0 success; 1 bad or corrupt input, I/O error, or stdout closed by its
reader (EPIPE: no message, as the output is incomplete); 2 usage error (unknown
option, bad option value, missing input file, existing OUT, terminal refusal).
Set NODE_DEBUG=pagepress for stack traces.`;

function addCommon(cmd: Command): Command {
  return cmd
    .option('-o, --output <OUT>', 'write to OUT ("-" = stdout)')
    .option('-f, --force', 'overwrite OUT; allow compressed data to or from a terminal')
    .addOption(new Option('-T, --threads <N>', 'worker threads, 0 = all cores').argParser(parseThreads).default(defaultThreads(), 'all cores'))
    .option('--progress', 'show a progress bar on stderr (when it is a terminal)')
    .option('--json', 'print a one-line JSON summary on stderr')
    .option('-q, --quiet', 'no progress bar, no summary; errors only');
}

/** Builds the program; actions call `handlers`. Errors surface as CommanderError (exitOverride). */
export function buildProgram(handlers: Handlers): Command {
  const program = new Command('pagepress');
  program
    .description('Compress and decompress streams of 4 KiB memory pages (the pagepress framed format).')
    .version(packageVersion(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(`pagepress: ${str}`) })
    .addHelpText('after', EPILOG);

  const compress = program.command('compress [FILE]', { isDefault: true }).description('compress FILE (default stdin); also the default command, and "pagepress -d" decompresses');
  addCommon(compress)
    .addOption(codecOption())
    .addOption(new Option('-l, --level <N>', levelHelp()).argParser(intInRange(LEVEL_MIN, LEVEL_MAX)))
    .addOption(new Option('--page-size <BYTES>', 'page size, a power of two 512..64k (default 4k)').argParser(parsePageSize))
    .addOption(new Option('--batch-pages <N>', `pages per batch frame, 1..${MAX_BATCH_PAGES} (default 1024)`).argParser(intInRange(1, MAX_BATCH_PAGES)))
    .addOption(new Option('--cache-slots <N>', `page-cache slots for UNCHANGED/DELTA pages, 0..${MAX_CACHE_SLOTS} (default 0; Xen streams 262144 = 1 GiB)`).argParser(intInRange(0, MAX_CACHE_SLOTS)))
    .addOption(longOption())
    .addOption(new Option('--format <F>', 'input format: auto recognises Xen save/migration streams (libvirt, xl, libxl, libxc) by their first bytes').choices(['auto', 'xen', 'raw']).default('auto'))
    .option('--colo', 'Xen input is a COLO stream (CHECKPOINT_STATE after each CHECKPOINT_END)')
    .addOption(new Option('--legacy <WHAT>', 'Xen input from Xen <= 4.5 (v1): refuse with a hint, or pass it through as raw bytes').choices(['refuse', 'pass']).default('refuse'))
    .addOption(new Option('-d, --decompress', 'decompress instead (same as the decompress command)'))
    .action(async (file: string | undefined, flags: CompressFlags) => (flags.decompress ? handlers.decompress(file, flags) : handlers.compress(file, flags)));

  const decompress = program.command('decompress [FILE]').description('decompress FILE (default stdin)');
  addCommon(decompress).action(async (file: string | undefined, flags: CommonOptions) => handlers.decompress(file, flags));

  program
    .command('inspect [FILE]')
    .description('check a stream and describe its header, frames, codecs and page kinds')
    .option('--json', 'print the report as JSON on stdout')
    .option('--frames', 'also list every frame')
    .action(async (file: string | undefined, flags: InspectFlags) => handlers.inspect(file, flags));

  const xen = program.command('xen').description('Xen save/restore/migrate streams (docs/XEN.md)');

  // --- xen inspect (commands/xen-inspect.ts) ---
  xen
    .command('inspect [FILE]')
    .description('check a Xen stream (libvirt, xl, libxl or libxc layer) and list its headers and records')
    .option('--json', 'print the report as JSON on stdout')
    .option('--colo', 'the stream is COLO (CHECKPOINT_STATE after each CHECKPOINT_END)')
    .action(async (file: string | undefined, flags: XenInspectFlags) => handlers.xenInspect(file, flags));
  // --- end xen inspect ---

  // --- xen ssh (commands/xen-ssh.ts) ---
  // Everything after HOST belongs to the remote command (`xl -t migrate-receive -e`), so
  // option parsing stops at HOST; that needs positional options on the parents, which
  // only changes where program-level options may go (-V/-h before the command).
  program.enablePositionalOptions();
  xen.enablePositionalOptions();
  xen
    .command('ssh <HOST> [COMMAND...]')
    .description('drop-in for ssh in `xl migrate -s`: compress the stream to HOST, pass the replies back')
    .passThroughOptions()
    .option('--rsh <CMD>', 'shell command to reach HOST instead of ssh; gets HOST and the remote command line appended', 'ssh')
    .addOption(codecOption())
    .addOption(longOption())
    .addOption(new Option('-l, --level <N>', levelHelp()).argParser(intInRange(LEVEL_MIN, LEVEL_MAX)))
    .addOption(new Option('-T, --threads <N>', 'worker threads, 0 = all cores').argParser(parseThreads).default(defaultThreads(), 'all cores'))
    .option('--remote-pagepress <CMD>', 'shell command that runs pagepress on HOST', 'pagepress')
    .addOption(new Option('--format <F>', 'forward input: auto recognises Xen streams (libvirt, xl, libxl, libxc) by their first bytes').choices(['auto', 'xen', 'raw']).default('auto'))
    .option('--colo', 'the Xen stream is COLO (implied when the remote command has a --colo word)')
    .option('-q, --quiet', 'errors only (no summary line on stderr)')
    .addHelpText(
      'after',
      `
Runs RSH HOST "<remote line>" where the remote line starts \`pagepress decompress\`
and COMMAND, feeding the decompressed stream to COMMAND; COMMAND's stdout comes back
unchanged on stdout. Options go before HOST; every word after HOST is COMMAND's, and
each word arrives as one argument. Use with xl:  xl migrate -s 'pagepress xen ssh' DOM HOST

Exit status: the remote side's (as ssh passes it on); 1 when the local encoder failed
or the remote side ended without a status or before the input did; 2 usage; 128+n
when stopped by signal n (the remote side is stopped too).`,
    )
    .action(async (host: string, command: string[], flags: XenSshFlags) => handlers.xenSsh(host, command, flags));
  // --- end xen ssh ---

  // --- migrate (commands/migrate.ts; options and their parsers in commands/migrate-args.ts) ---
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy: the command's options load only when it is named (start-up time)
  (require('./commands/migrate-args') as typeof import('./commands/migrate-args')).addMigrateCommands(program, handlers);
  // --- end migrate ---

  // --- plan (commands/plan.ts; options and their parsers in commands/plan-args.ts) ---
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy: the command's options load only when it is named (start-up time)
  (require('./commands/plan-args') as typeof import('./commands/plan-args')).addPlanCommand(program, handlers);
  // --- end plan ---

  // --- predict (commands/predict.ts; options and their parsers in commands/predict-args.ts) ---
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy: the command's options load only when it is named (start-up time)
  (require('./commands/predict-args') as typeof import('./commands/predict-args')).addPredictCommand(program, handlers);
  // --- end predict ---

  return program;
}
