/**
 * `pagepress migrate receive` and `pagepress migrate send`: thin layers over the engine
 * (lib/migration: receive(), migrate()) and its TLS wrapper (lib/migration/tls.ts).
 * Options are parsed and checked in migrate-args.ts. Exit status: 0 migrated, 1 failed
 * (one line with the reason; the sender's guest is resumed by the engine), 2 usage,
 * 128+n when stopped by signal n. docs/MIGRATION.md, "Command line".
 */
import { longWindowLogOf } from '../codec-options';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tty from 'node:tty';
import type { TLSSocket } from 'node:tls';
import type { SingleBar as SingleBarType } from 'cli-progress';
import { isPagepressError } from '../../errors';
import type { GuestMemory } from '../../migration/guest';
import { parseGuestSpec } from '../../migration/guests/parse';
import type { MigrationReport, ReceiverReport } from '../../migration/metrics';
import { MigrationError } from '../../migration/protocol';
import { receive, ReceivedGuest } from '../../migration/receiver';
import { migrate, MigrationProgress } from '../../migration/sender';
import { cleanOpensslMessage, explainTls, readPem, tlsAcceptOne, tlsConnect } from '../../migration/tls';
import { checkLevel } from '../args';
import { ExitCodeValue, printError, SilentExit, UsageError } from '../exit';
import { formatBytes } from '../progress';
import { checkReceiveFlags, checkSendFlags, MigrateReceiveFlags, MigrateSendFlags, sendUsesTls } from './migrate-args';

const STOP_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** Aborts on SIGINT/SIGTERM/SIGHUP while `fn` runs; remembers which signal came. */
async function withSignals<T>(fn: (signal: AbortSignal, got: () => NodeJS.Signals | null) => Promise<T>): Promise<T> {
  const abort = new AbortController();
  let received: NodeJS.Signals | null = null;
  const onSignal = (sig: NodeJS.Signals): void => {
    received ??= sig;
    abort.abort(sig);
  };
  for (const sig of STOP_SIGNALS) process.on(sig, onSignal);
  try {
    return await fn(abort.signal, () => received);
  } finally {
    for (const sig of STOP_SIGNALS) process.off(sig, onSignal);
  }
}

function signalExit(sig: NodeJS.Signals): SilentExit {
  return new SilentExit((128 + (os.constants.signals[sig] ?? 0)) as ExitCodeValue);
}

function pem(file: string | undefined, what: string): Buffer | undefined {
  if (file === undefined) return undefined;
  try {
    return readPem(file, what);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function hostPort(h: { host: string; port: number }): string {
  return h.host.includes(':') ? `[${h.host}]:${h.port}` : `${h.host}:${h.port}`;
}

/** The one-line reason of a failed migration, with a hint for TLS and refused connections. */
function failureLine(err: unknown, side: 'sender' | 'receiver', tls: boolean): string {
  const e = err as MigrationError;
  let line = cleanOpensslMessage((e?.message ?? String(err)).split('\n')[0]);
  if (tls && !/\bTLS\b/.test(line)) {
    const hint = explainTls(line, side);
    if (hint) line = `TLS: ${hint} [${line}]`;
  }
  if (!tls && side === 'receiver' && /unknown message type \d+ from the sender at byte 0 /.test(line)) line += ' (does the sender use TLS? this receiver runs without --tls-cert)';
  if (!tls && side === 'sender' && /(failed|closed by the receiver) during handshake/.test(line)) line += ' (does the receiver use TLS? then give --tls-ca or --tls)';
  if (/ECONNREFUSED/.test(line)) line += ' (connection refused: is `pagepress migrate receive` listening there?)';
  if (err instanceof MigrationError) {
    const where = e.phase && !line.includes(`during ${e.phase}`) ? ` (phase ${e.phase})` : '';
    return `${line}${where} (${e.code})`;
  }
  if (isPagepressError(err)) return `${line} (${err.code})`;
  return line;
}

function ms(n: number): string {
  return n >= 10_000 ? `${(n / 1000).toFixed(1)} s` : `${n.toFixed(n < 100 ? 1 : 0)} ms`;
}

// ---------------------------------------------------------------------------
// receive

/** Runs `migrate receive`. */
export async function migrateReceive(flags: MigrateReceiveFlags): Promise<void> {
  checkReceiveFlags(flags);
  // Refuse an --output that cannot be written before accepting a migration, not after it.
  if (flags.output) {
    try {
      fs.accessSync(path.dirname(path.resolve(flags.output)), fs.constants.W_OK);
    } catch (err) {
      throw new Error(`--output ${flags.output}: cannot write there (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
    }
  }
  const useTls = !!flags.tlsCert;
  const cert = pem(flags.tlsCert, '--tls-cert');
  const key = pem(flags.tlsKey, '--tls-key');
  const ca = pem(flags.tlsCa, '--tls-ca');
  const { host, port } = flags.listen;
  const say = (line: string): void => {
    if (!flags.quiet) printError(`migrate receive: ${line}`);
  };
  const onListening = (a: { host: string; port: number }): void => {
    const mode = useTls ? (flags.requireClientCert ? ' (TLS, client certificates required)' : ' (TLS)') : '';
    say(`listening on ${hostPort(a)}${mode}`);
  };
  await withSignals(async (signal, got) => {
    let tlsInfo: Record<string, unknown> | null = null;
    let peer = '';
    let received: ReceivedGuest;
    try {
      const options = {
        threads: flags.threads,
        idleTimeoutMs: Math.round(flags.timeout * 1000),
        handshakeTimeoutMs: Math.round(flags.handshakeTimeout * 1000),
        maxGuestBytes: flags.maxGuest,
        acceptTimeoutMs: Math.round(flags.acceptTimeout * 1000),
        signal,
      };
      if (useTls) {
        const socket: TLSSocket = await tlsAcceptOne(
          host,
          port,
          { cert: cert!, key: key!, ca, requireClientCert: flags.requireClientCert },
          { onListening, acceptTimeoutMs: options.acceptTimeoutMs, handshakeTimeoutMs: options.handshakeTimeoutMs, signal },
        );
        peer = `${socket.remoteAddress}:${socket.remotePort}`;
        const subject = socket.getPeerCertificate()?.subject as { CN?: string } | undefined;
        tlsInfo = { protocol: socket.getProtocol(), cipher: socket.getCipher()?.name, clientCert: flags.requireClientCert ? (subject?.CN ?? true) : null };
        received = await receive({ socket }, options);
      } else {
        // checkReceiveFlags already refused a non-loopback address without --insecure; the engine checks again.
        received = await receive({ host, port }, { ...options, onListening, insecure: flags.insecure });
      }
    } catch (err) {
      const sig = got();
      if (sig) {
        printError(`migrate receive: stopped by ${sig}; the partial guest was discarded`);
        throw signalExit(sig);
      }
      printError(`migrate receive: ${failureLine(err, 'receiver', useTls)}; the partial guest was discarded`);
      throw new SilentExit(1);
    }
    const r: ReceiverReport = received.report;
    const live = r.iterations.filter((i) => !i.final).length;
    const tlsText = tlsInfo ? `, ${String(tlsInfo.protocol)}${tlsInfo.clientCert ? ` (client ${String(tlsInfo.clientCert)})` : ''}` : '';
    say(
      `received ${formatBytes(r.pageCount * r.pageSize)} (${r.pageCount} pages)${peer ? ` from ${peer}` : ''} in ${ms(r.totalMs)}, paused ${ms(r.pausedMs)}, ` +
        `${live} live iteration${live === 1 ? '' : 's'} + final, ${r.pagesReceived} pages in ${formatBytes(r.bytes.received)}, memory verified${tlsText}`,
    );
    if (flags.output) {
      await writeImage(flags.output, received.memory);
      say(`wrote the memory image to ${flags.output}`);
    }
    if (flags.json) process.stdout.write(`${JSON.stringify({ command: 'migrate receive', ...r, tls: tlsInfo, output: flags.output ?? null })}\n`);
  });
}

/**
 * Writes a received memory image through a temporary file renamed into place, so FILE is
 * either the whole verified image or untouched. Errors name the file (exit 1).
 */
async function writeImage(file: string, memory: Buffer): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    await fs.promises.writeFile(tmp, memory);
    await fs.promises.rename(tmp, file);
  } catch (err) {
    await fs.promises.rm(tmp, { force: true }).catch(() => undefined);
    throw new Error(`--output ${file}: ${(err as Error).message}`, { cause: err });
  }
}

// ---------------------------------------------------------------------------
// send

/** Progress of a migration on stderr (cli-progress), only on a terminal. */
interface SendProgress {
  update(p: MigrationProgress): void;
  stop(): void;
}

function createSendProgress(enabled: boolean): SendProgress {
  const none: SendProgress = { update() {}, stop() {} };
  if (!enabled || !tty.isatty(2)) return none;
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy: cli-progress loads only with --progress
  const { SingleBar } = require('cli-progress') as { SingleBar: typeof SingleBarType };
  const bar = new SingleBar({
    stream: process.stderr,
    format: 'migrate {phase} {iteration} [{bar}] {left} pages left | {sent} sent | {rate}',
    hideCursor: true,
    clearOnComplete: true,
    barsize: 24,
    fps: 5,
  });
  let started = false;
  let total = 0;
  let last = { t: 0, bytes: 0 };
  let rate = '-';
  return {
    update(p) {
      const t = p.elapsedMs;
      if (t - last.t >= 500) {
        rate = `${((p.bytesSent - last.bytes) / 1e6 / ((t - last.t) / 1000)).toFixed(1)} MB/s`;
        last = { t, bytes: p.bytesSent };
      }
      const payload = { phase: p.phase, iteration: `iteration ${p.iteration}`, left: p.pagesLeft, sent: formatBytes(p.bytesSent), rate };
      const iterationTotal = Math.max(1, p.pagesSent + p.pagesLeft);
      if (!started) {
        bar.start(iterationTotal, p.pagesSent, payload);
        started = true;
      } else {
        if (iterationTotal !== total) bar.setTotal(iterationTotal);
        bar.update(p.pagesSent, payload);
      }
      total = iterationTotal;
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

function sendSummary(r: MigrationReport, to: string): string {
  const paused = r.iterations.filter((i) => i.final).reduce((s, i) => s + i.pages, 0);
  return (
    `migrated ${formatBytes(r.pageCount * r.pageSize)} (${r.pageCount} pages) to ${to} in ${ms(r.totalMs)}, downtime ${ms(r.downtimeMs)}, ` +
    `${r.liveIterations} live iteration${r.liveIterations === 1 ? '' : 's'} + final (${paused} pages paused), ${formatBytes(r.bytes.sent)} on the wire ` +
    `(${r.pagesSent} pages, ratio ${r.ratio.toFixed(2)}), policy ${String(r.policy.name)}: ${r.stopReason}`
  );
}

/** Runs `migrate send`. */
export async function migrateSend(flags: MigrateSendFlags): Promise<void> {
  checkSendFlags(flags);
  checkLevel(flags.codec, flags.level);
  const useTls = sendUsesTls(flags);
  const ca = pem(flags.tlsCa, '--tls-ca');
  const cert = pem(flags.tlsCert, '--tls-cert');
  const key = pem(flags.tlsKey, '--tls-key');
  const spec = parseGuestSpec(flags.guest);
  const to = hostPort(flags.to);
  const timeoutMs = Math.round(flags.timeout * 1000);
  const say = (line: string): void => {
    if (!flags.quiet) printError(`migrate send: ${line}`);
  };

  let guest: GuestMemory;
  try {
    guest = await spec.create();
  } catch (err) {
    printError(`migrate send: cannot open the guest ${flags.guest}: ${(err as Error).message.split('\n')[0]}`);
    throw new SilentExit(1);
  }
  const progress = createSendProgress(!!flags.progress && !flags.quiet);
  try {
    await withSignals(async (signal, got) => {
      let report: MigrationReport;
      let tlsInfo: Record<string, unknown> | null = null;
      try {
        let socket: TLSSocket | undefined;
        if (useTls) {
          socket = await tlsConnect(flags.to.host, flags.to.port, { ca, cert, key, servername: flags.tlsServername }, { timeoutMs: timeoutMs || 10_000, signal });
          tlsInfo = { protocol: socket.getProtocol(), cipher: socket.getCipher()?.name, clientCert: !!cert };
        }
        report = await migrate(guest, {
          host: flags.to.host,
          port: flags.to.port,
          socket,
          insecure: flags.insecure,
          connectTimeoutMs: timeoutMs || 10_000,
          idleTimeoutMs: timeoutMs,
          policy: flags.policy,
          codec: flags.codec,
          level: flags.level,
          longWindowLog: longWindowLogOf(flags.long),
          threads: flags.threads,
          cacheSlots: flags.cacheSlots,
          downtimeTargetMs: flags.downtimeTarget,
          maxIterations: flags.maxIterations,
          verify: flags.verify,
          signal,
          onProgress: (p) => progress.update(p),
          meta: tlsInfo ? { tls: tlsInfo } : undefined,
        });
      } catch (err) {
        progress.stop();
        const state = (err as MigrationError).sourceState;
        const guestState = state === 'paused' ? '' : '; the source guest is running';
        const sig = got();
        if (sig) {
          printError(`migrate send: stopped by ${sig}${guestState}`);
          throw signalExit(sig);
        }
        printError(`migrate send: ${failureLine(err, 'sender', useTls)}${guestState}`);
        throw new SilentExit(1);
      }
      progress.stop();
      say(sendSummary(report, to) + (tlsInfo ? ` (${String(tlsInfo.protocol)})` : ''));
      if (flags.json) process.stdout.write(`${JSON.stringify({ command: 'migrate send', ...report, tls: tlsInfo })}\n`);
    });
  } finally {
    progress.stop();
    await guest.close().catch(() => undefined);
  }
}
