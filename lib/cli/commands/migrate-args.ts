/**
 * Options of `pagepress migrate receive` and `pagepress migrate send`, and their value
 * parsers: every value is checked while parsing (a bad value is a usage error, exit 2,
 * before any connection or guest), and the checks that need two options at once are in
 * checkReceiveFlags / checkSendFlags, run first by the commands. Loaded by args.ts for
 * every command line, so it loads nothing of the migration engine until a value needs it.
 */
import * as fs from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { CodecChoice } from '../../codec/registry';
import { codecOption, levelHelp, longOption } from '../codec-options';
import { POLICY_NAMES, PolicyName } from '../../migration/policy';
import { defaultThreads } from '../../stream/threads';
import { isLoopbackHost } from '../../migration/loopback';
import { UsageError } from '../exit';
import type * as GuestParse from '../../migration/guests/parse';

/** A parsed HOST:PORT. */
export interface HostPort {
  host: string;
  port: number;
}

/** Options of `migrate receive`. */
export interface MigrateReceiveFlags {
  listen: HostPort;
  /** Accept one migration, then exit (the default, and the only mode). */
  once?: boolean;
  /** Write the received, verified memory image here. */
  output?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  requireClientCert?: boolean;
  /** Largest guest accepted, bytes. */
  maxGuest?: number;
  threads: number;
  /** Idle timeout, seconds (0 = never). */
  timeout: number;
  /** The sender must complete HELLO (and the TLS handshake, each) in this long, seconds. */
  handshakeTimeout: number;
  /** Give up when no sender connects in this long, seconds (0 = wait). */
  acceptTimeout: number;
  /** Allow plain TCP on a non-loopback --listen address. */
  insecure?: boolean;
  json?: boolean;
  quiet?: boolean;
}

/** Options of `migrate send`. */
export interface MigrateSendFlags {
  /** The guest spec, already checked (parseGuestSpec). */
  guest: string;
  to: HostPort;
  policy: PolicyName;
  codec: CodecChoice;
  level?: number;
  /** Long-range matching window log (true: the default window). */
  long?: number | true;
  threads: number;
  cacheSlots?: number;
  downtimeTarget?: number;
  maxIterations?: number;
  /** Connect and idle timeout, seconds (0 = no idle timeout). */
  timeout: number;
  verify: 'paused' | 'sent';
  tls?: boolean;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsServername?: string;
  /** Allow plain TCP to a non-loopback --to host. */
  insecure?: boolean;
  progress?: boolean;
  json?: boolean;
  quiet?: boolean;
}

/** What the migrate commands do once parsed (main.ts supplies them through Handlers). */
export interface MigrateHandlers {
  migrateReceive(flags: MigrateReceiveFlags): Promise<void>;
  migrateSend(flags: MigrateSendFlags): Promise<void>;
}

/**
 * Parses HOST:PORT (`[v6addr]:PORT` for IPv6). `listen`: the port may be 0 (any free port,
 * printed once listening) and the host may be empty (`:7000` = every interface).
 */
export function parseHostPort(text: string, listen = false): HostPort {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:[\]]*):(\d+)$/.exec(text);
  const example = listen ? 'e.g. 0.0.0.0:7000, 127.0.0.1:0 or [::1]:7000' : 'e.g. 10.0.0.2:7000, dest.example:7000 or [::1]:7000';
  if (!m) throw new InvalidArgumentError(`expected HOST:PORT, ${example}.`);
  let host = m[1];
  const port = Number(m[2]);
  if (host === '') {
    if (!listen) throw new InvalidArgumentError(`the host is missing: expected HOST:PORT, ${example}.`);
    host = '0.0.0.0';
  }
  if (!/^[A-Za-z0-9.\-_:%]+$/.test(host)) throw new InvalidArgumentError(`"${host}" is not a host name or address.`);
  const min = listen ? 0 : 1;
  if (port < min || port > 65535) throw new InvalidArgumentError(`port ${m[2]} is outside ${min}..65535.`);
  return { host, port };
}

function integer(min: number, max: number) {
  return (text: string): number => {
    if (!/^\s*\d+\s*$/.test(text)) throw new InvalidArgumentError(`expected an integer in ${min}..${max}.`);
    const n = Number(text);
    if (n < min || n > max) throw new InvalidArgumentError(`expected an integer in ${min}..${max}.`);
    return n;
  };
}

function parseThreads(text: string): number {
  const n = integer(0, 64)(text);
  return n === 0 ? defaultThreads() : n;
}

function number(what: string, min: number, max: number) {
  return (text: string): number => {
    if (!/^\s*\d+(\.\d+)?\s*$/.test(text)) throw new InvalidArgumentError(`expected ${what} (a number in ${min}..${max}).`);
    const n = Number(text);
    if (n < min || n > max) throw new InvalidArgumentError(`expected ${what} (a number in ${min}..${max}).`);
    return n;
  };
}

const seconds = number('seconds', 0, 86_400);

function guestParse(): typeof GuestParse {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy: the guest parser loads only when --guest is given
  return require('../../migration/guests/parse') as typeof GuestParse;
}

function existingFile(path: string, what: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
  } catch {
    throw new InvalidArgumentError(`${what} ${path}: no such file.`);
  }
  if (!st.isFile()) throw new InvalidArgumentError(`${what} ${path}: not a regular file.`);
}

/** --guest: the whole spec is checked now, and the files it names must exist. */
function parseGuest(text: string): string {
  let spec: GuestParse.GuestSpec;
  try {
    spec = guestParse().parseGuestSpec(text);
  } catch (err) {
    throw new InvalidArgumentError(`${(err as Error).message.replace(/^guest spec "[^"]*": /, '')}.`);
  }
  if (spec.kind === 'trace' || spec.kind === 'file') existingFile(spec.file, spec.kind === 'trace' ? 'trace file' : 'image');
  const source = (spec.options as { source?: string }).source;
  if (source !== undefined) existingFile(source, 'source image');
  return text;
}

function parseMaxGuest(text: string): number {
  try {
    const n = guestParse().parseSize(text, 'size');
    if (n < 4096) throw new Error('must be at least 4K');
    return n;
  } catch (err) {
    throw new InvalidArgumentError(`${(err as Error).message}.`);
  }
}

function pemFile(what: string) {
  return (text: string): string => {
    existingFile(text, what);
    return text;
  };
}

function hostPortText(h: HostPort): string {
  return h.host.includes(':') ? `[${h.host}]:${h.port}` : `${h.host}:${h.port}`;
}

const INSECURE_WITH_TLS = "option '--insecure' only allows plain TCP to or on a non-loopback address; it does not turn off TLS certificate checks: drop it when using TLS";

/**
 * Checks that need two options of `migrate receive` at once, and the secure default: plain
 * TCP only on loopback (lib/migration/loopback.ts says how a host is judged).
 * @throws UsageError
 */
export function checkReceiveFlags(f: MigrateReceiveFlags): void {
  if (!!f.tlsCert !== !!f.tlsKey)
    throw new UsageError(`option '--tls-${f.tlsCert ? 'key' : 'cert'} <FILE>' is required with '--tls-${f.tlsCert ? 'cert' : 'key'}': TLS needs a certificate and its key`);
  if (f.requireClientCert && !f.tlsCert) throw new UsageError("option '--require-client-cert' needs TLS: give '--tls-cert' and '--tls-key' too");
  if (f.requireClientCert && !f.tlsCa) throw new UsageError("option '--require-client-cert' needs '--tls-ca <FILE>', the CA that signs the senders' certificates");
  if (f.tlsCa && !f.requireClientCert) throw new UsageError("option '--tls-ca' on the receiver checks client certificates: add '--require-client-cert' (or drop '--tls-ca')");
  if (f.insecure && f.tlsCert) throw new UsageError(INSECURE_WITH_TLS);
  if (!f.tlsCert && !f.insecure && !isLoopbackHost(f.listen.host)) {
    throw new UsageError(
      `--listen ${hostPortText(f.listen)} is not a loopback address: in plain TCP anyone who can reach it could send this receiver a guest, and anyone on the path could read or alter it. ` +
        'Use TLS (--tls-cert FILE --tls-key FILE; add --tls-ca FILE --require-client-cert to accept only senders with a certificate), or --insecure for plain TCP on a network you trust',
    );
  }
}

/**
 * Checks that need two options of `migrate send` at once, and the secure default: plain TCP
 * only to loopback. Runs before the guest is made and before any connection.
 * @throws UsageError
 */
export function checkSendFlags(f: MigrateSendFlags): void {
  if (!!f.tlsCert !== !!f.tlsKey)
    throw new UsageError(`option '--tls-${f.tlsCert ? 'key' : 'cert'} <FILE>' is required with '--tls-${f.tlsCert ? 'cert' : 'key'}': a client certificate needs its key`);
  if (f.downtimeTarget !== undefined && f.policy !== 'adaptive') throw new UsageError(`option '--downtime-target <MS>' applies to --policy adaptive only (not ${f.policy})`);
  const tls = sendUsesTls(f);
  if (f.insecure && tls) throw new UsageError(INSECURE_WITH_TLS);
  if (!tls && !f.insecure && !isLoopbackHost(f.to.host)) {
    throw new UsageError(
      `--to ${hostPortText(f.to)} is not a loopback address: in plain TCP the guest's memory would cross the network in the clear, to a receiver nobody authenticated. ` +
        "Use TLS (--tls-ca FILE, or --tls to trust the system's CAs), or --insecure for plain TCP on a network you trust",
    );
  }
}

/** True when `migrate send` connects with TLS. */
export function sendUsesTls(f: MigrateSendFlags): boolean {
  return !!(f.tls || f.tlsCa || f.tlsCert || f.tlsServername);
}

const RECEIVE_HELP = `
Listens on HOST:PORT (port 0: any free port; the port is printed once listening),
accepts one migration, verifies the memory against the sender's checksum of the paused
guest and "resumes" it, then exits. A one-line summary goes to stderr; --json prints
the receiver's report as one JSON line on stdout.

TLS: --tls-cert and --tls-key make the receiver speak TLS; with --require-client-cert
and --tls-ca it accepts only senders with a certificate signed by that CA.

Plain TCP is allowed on loopback only (127.0.0.0/8, ::1, localhost): any other --listen
address (0.0.0.0, ::, a LAN address, a name other than localhost; names are not resolved)
needs TLS or --insecure, else exit 2 before anything listens. Without TLS anyone who
reaches the port can send a guest; with or without, anyone can take the one connection
and fail this receive (docs/MIGRATION.md, "Threat model").

Limits: one connection (the listener closes once a sender connects; with TLS it takes
no second connection while the first one's handshake runs); --max-guest (default
this machine's memory), checked before anything is allocated; HELLO within
--handshake-timeout (default 10 s; with TLS the TLS handshake gets as long again before
it); --timeout idle (default 30 s); --accept-timeout (default 0: wait); at most 16 MiB of
received messages queued.

Exit status: 0 migrated and verified; 1 failed (timeout, connection lost, sender's
abort, checksum mismatch, protocol version mismatch, TLS handshake); 2 usage error.`;

const SEND_HELP = `
Guest specs:
  sim:SIZE[,workload=idle|pagecache|hotset|inplace|webserver][,dirty-rate=PAGES_PER_S][,seed=N][,source=IMAGE]
  trace:FILE[,speed=X][,loop][,seed=N][,source=IMAGE][,default-bytes=N]
  file:IMAGE[,preload]
A sim: guest runs its workload while it migrates.

Policies: xen-4.4 (fewer than 50 dirty pages, 29 iterations or 3x memory sent), xen
(fewer than 50 dirty pages or 5 iterations), adaptive (the predicted final copy fits
--downtime-target, default 300 ms; at most 30 iterations).

TLS: --tls (system CAs), --tls-ca FILE (the CA that signs the receiver's certificate),
--tls-cert/--tls-key (a client certificate, for a receiver with --require-client-cert),
--tls-servername NAME (the name the receiver's certificate must carry; default HOST).
Plain TCP is allowed to loopback only (127.0.0.0/8, ::1, localhost): any other --to host
needs TLS or --insecure, else exit 2 before the guest is opened or anything connects.

Prints a one-line summary on stderr; --json prints the sender's report as one JSON line
on stdout; --progress shows iteration, pages left and rate on a terminal.

Exit status: 0 migrated (the source guest stays paused: it runs on the receiver now);
1 failed (the reason is printed; the source guest was resumed); 2 usage error.`;

/** Adds `migrate receive` and `migrate send` to `program`. */
export function addMigrateCommands(program: Command, handlers: MigrateHandlers): void {
  const migrate = program.command('migrate').description("pre-copy live migration of a guest's memory over TCP (docs/MIGRATION.md)");

  migrate
    .command('receive')
    .description('receive one migration on HOST:PORT')
    .addOption(new Option('--listen <HOST:PORT>', 'address to listen on (port 0 = any free port)').argParser((t) => parseHostPort(t, true)).makeOptionMandatory())
    .option('--once', 'accept one migration, then exit (the default)')
    .option('-o, --output <FILE>', 'write the received memory image (verified) to FILE; nothing is written if the migration fails')
    .addOption(new Option('--tls-cert <FILE>', "TLS: this receiver's certificate (PEM)").argParser(pemFile('--tls-cert')))
    .addOption(new Option('--tls-key <FILE>', 'TLS: its private key (PEM)').argParser(pemFile('--tls-key')))
    .addOption(new Option('--tls-ca <FILE>', 'TLS: CA that signs accepted client certificates (PEM)').argParser(pemFile('--tls-ca')))
    .option('--require-client-cert', 'TLS: accept only senders with a certificate signed by --tls-ca')
    .addOption(new Option('--max-guest <SIZE>', "largest guest accepted, e.g. 4G (default: this machine's memory)").argParser(parseMaxGuest))
    .addOption(new Option('-T, --threads <N>', 'decoder threads, 0 = all cores').argParser(parseThreads).default(defaultThreads(), 'all cores'))
    .addOption(new Option('--timeout <S>', 'fail when nothing moves for S seconds (0 = never)').argParser(seconds).default(30))
    .addOption(
      new Option('--handshake-timeout <S>', 'fail when a connected sender has not completed HELLO in S seconds (the TLS handshake gets as long)').argParser(number('seconds', 0.1, 3600)).default(10),
    )
    .addOption(new Option('--accept-timeout <S>', 'fail when no sender connects in S seconds (0 = wait)').argParser(seconds).default(0))
    .option('--insecure', 'allow plain TCP on a non-loopback --listen address (anyone who reaches it can send a guest)')
    .option('--json', "print the receiver's report as one JSON line on stdout")
    .option('-q, --quiet', 'errors only')
    .addHelpText('after', RECEIVE_HELP)
    .action(async (flags: MigrateReceiveFlags) => handlers.migrateReceive(flags));

  migrate
    .command('send')
    .description('migrate a guest to a receiver at HOST:PORT')
    .addOption(new Option('--guest <SPEC>', 'the guest: sim:SIZE[,...], trace:FILE[,...] or file:IMAGE (below)').argParser(parseGuest).makeOptionMandatory())
    .addOption(new Option('--to <HOST:PORT>', 'the receiver').argParser((t) => parseHostPort(t, false)).makeOptionMandatory())
    .addOption(new Option('--policy <NAME>', 'stop policy').choices(POLICY_NAMES as readonly string[]).default('adaptive'))
    .addOption(codecOption())
    .addOption(longOption('migration'))
    .addOption(
      new Option('-l, --level <N>', levelHelp()).argParser((t) => {
        if (!/^\s*[+-]?\d+\s*$/.test(t)) throw new InvalidArgumentError('expected an integer.');
        return Number(t);
      }),
    )
    .addOption(new Option('-T, --threads <N>', 'encoder threads, 0 = all cores').argParser(parseThreads).default(defaultThreads(), 'all cores'))
    .addOption(new Option('--cache-slots <N>', 'page-cache slots: re-sent pages go as UNCHANGED/DELTA (default min(guest pages, 16384): 64 MiB)').argParser(integer(0, 1 << 22)))
    .addOption(new Option('--downtime-target <MS>', 'adaptive: the downtime to aim for, ms (default 300)').argParser(number('milliseconds', 0, 3_600_000)))
    .addOption(new Option('--max-iterations <N>', "most live iterations (default: the policy's)").argParser(integer(1, 10_000)))
    .addOption(new Option('--timeout <S>', 'connect timeout, and fail when nothing moves for S seconds (0 = no idle limit)').argParser(seconds).default(30))
    .addOption(new Option('--verify <WHAT>', 'COMMIT checksum over the paused guest re-read, or the pages as sent').choices(['paused', 'sent']).default('paused'))
    .option('--tls', "use TLS, trusting the system's CAs (implied by the other --tls options)")
    .addOption(new Option('--tls-ca <FILE>', "TLS: CA that signs the receiver's certificate (PEM)").argParser(pemFile('--tls-ca')))
    .addOption(new Option('--tls-cert <FILE>', 'TLS: client certificate (PEM), for --require-client-cert receivers').argParser(pemFile('--tls-cert')))
    .addOption(new Option('--tls-key <FILE>', 'TLS: its private key (PEM)').argParser(pemFile('--tls-key')))
    .option('--tls-servername <NAME>', "TLS: name the receiver's certificate must carry (default: HOST)")
    .option('--insecure', "allow plain TCP to a non-loopback --to host (the guest's memory goes in the clear)")
    .option('--progress', 'show iteration, pages left and rate on stderr (when it is a terminal)')
    .option('--json', "print the sender's report as one JSON line on stdout")
    .option('-q, --quiet', 'no progress, no summary; errors only')
    .addHelpText('after', SEND_HELP)
    .action(async (flags: MigrateSendFlags) => handlers.migrateSend(flags));
}
