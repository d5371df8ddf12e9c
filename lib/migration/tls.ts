/**
 * TLS for migrations: the engine takes an already-connected socket (`migrate(guest,
 * { socket })`, `receive({ socket })`), so TLS is a wrapper around node:tls that hands over
 * the socket once the handshake is done. Server authentication always; mutual
 * authentication when the receiver requires a client certificate. Handshake failures
 * become MigrationErrors of phase 'connect' with a one-line reason that says what to fix.
 * docs/MIGRATION.md, "TLS".
 */
import * as fs from 'node:fs';
import * as tls from 'node:tls';
import { ErrorCodes } from '../errors';
import { encodeMessage, MigrationError } from './protocol';

/** The receiver's TLS settings (PEM contents or file paths read by {@link readPem}). */
export interface TlsServerConfig {
  /** Certificate chain (PEM) presented to senders. */
  cert: string | Buffer;
  /** Its private key (PEM). */
  key: string | Buffer;
  /** CA(s) that sign accepted client certificates (PEM); required with requireClientCert. */
  ca?: string | Buffer;
  /** Ask every sender for a certificate signed by `ca`; refuse senders without one. */
  requireClientCert?: boolean;
}

/** The sender's TLS settings. */
export interface TlsClientConfig {
  /** CA(s) that sign the receiver's certificate (PEM); default: Node's built-in root CAs. */
  ca?: string | Buffer;
  /** Client certificate and key (PEM), for a receiver that requires one. */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Name the receiver's certificate must carry (default: the host connected to). */
  servername?: string;
}

/** Options of {@link tlsAcceptOne}. */
export interface TlsAcceptOptions {
  /** Called once the server listens (port 0 = the port chosen). */
  onListening?: (address: { host: string; port: number }) => void;
  /** Give up when no sender connects in this long, ms (0 = wait). */
  acceptTimeoutMs?: number;
  /** Limit on the TLS handshake, ms (default 10000). */
  handshakeTimeoutMs?: number;
  signal?: AbortSignal;
}

/** Options of {@link tlsConnect}. */
export interface TlsConnectOptions {
  /** Connect + handshake timeout, ms (default 10000). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Reads a PEM file; a missing or unreadable file is an Error naming `what` and the path. */
export function readPem(file: string, what: string): Buffer {
  try {
    const b = fs.readFileSync(file);
    if (!b.includes('-----BEGIN')) throw new Error('not a PEM file (no -----BEGIN line)');
    return b;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`${what} ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`, { cause: err });
  }
}

/** OpenSSL / Node reasons and what they mean, seen from `side`. Tested in order, first match wins. */
const REASONS: Array<{ test: RegExp; sender: string; receiver: string }> = [
  {
    test: /certificate required|PEER_DID_NOT_RETURN_A_CERTIFICATE|peer did not return a certificate/i,
    sender: 'the receiver requires a client certificate: give --tls-cert and --tls-key',
    receiver: 'the sender presented no client certificate (this receiver requires one: --require-client-cert)',
  },
  {
    test: /ERR_TLS_CERT_ALTNAME_INVALID|does not match certificate's altnames/i,
    sender: "the receiver's certificate is not valid for the name connected to (give --tls-servername NAME with a name it carries)",
    receiver: "the sender rejected this receiver's certificate (name mismatch)",
  },
  {
    test: /alert unknown ca|ALERT_UNKNOWN_CA/i,
    sender: "the receiver does not trust our client certificate (unknown CA: it is not signed by the receiver's --tls-ca)",
    receiver: "the sender does not trust this receiver's certificate (unknown CA: it is not signed by the sender's --tls-ca)",
  },
  {
    test: /alert bad certificate|ALERT_BAD_CERTIFICATE|alert certificate unknown|ALERT_CERTIFICATE_UNKNOWN/i,
    sender: 'the receiver rejected our client certificate',
    receiver: "the sender rejected this receiver's certificate",
  },
  {
    test: /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT|SELF_SIGNED_CERT|self[- ]signed certificate|unable to (verify|get local issuer)|CERT_SIGNATURE_FAILURE|certificate verify failed/i,
    sender: "the receiver's certificate is not signed by a trusted CA (check --tls-ca)",
    receiver: "the sender's client certificate is not signed by --tls-ca",
  },
  {
    test: /CERT_HAS_EXPIRED|certificate has expired|CERT_NOT_YET_VALID|not yet valid/i,
    sender: "the receiver's certificate has expired or is not yet valid",
    receiver: "the sender's client certificate has expired or is not yet valid",
  },
  {
    test: /wrong version number|WRONG_VERSION_NUMBER|http request|unknown protocol|packet length too long|record layer failure/i,
    sender: 'the receiver does not speak TLS (is it running with --tls-cert and --tls-key?)',
    receiver: 'the sender does not speak TLS (give it --tls-ca, or --tls)',
  },
  {
    test: /socket disconnected before secure TLS connection|ECONNRESET|socket hang up/i,
    sender: 'the receiver closed the connection during the TLS handshake (does it use TLS? does it require a client certificate?)',
    receiver: "the sender closed the connection during the TLS handshake (it may not trust this receiver's certificate)",
  },
];

/**
 * What a TLS failure means, as a one-line hint for `side` ('sender' or 'receiver'), or null
 * when `text` (an error message or code) is not recognised as a TLS failure.
 */
export function explainTls(text: string, side: 'sender' | 'receiver'): string | null {
  for (const r of REASONS) if (r.test.test(text)) return r[side];
  return null;
}

function errorText(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown; reason?: unknown };
  return [e?.code, e?.reason, e?.message].filter((x) => typeof x === 'string').join(' ');
}

/**
 * Shortens OpenSSL's error strings to their reason:
 * `8012...:error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required:../deps/...:1601:SSL alert number 116`
 * becomes `tlsv13 alert certificate required (SSL alert number 116)`.
 */
export function cleanOpensslMessage(text: string): string {
  return text.replace(/[0-9A-F]+:error:[0-9A-F]+:[^:]*:[^:]*:([^:]+):[^\s:]*:\d+:([^\]\n]*)/g, (_all, reason: string, extra: string) => (extra.trim() ? `${reason} (${extra.trim()})` : reason));
}

/** One line: the hint, then the underlying reason in brackets. */
function tlsMessage(prefix: string, err: unknown, side: 'sender' | 'receiver'): string {
  const raw = cleanOpensslMessage((err as Error)?.message ?? String(err))
    .split('\n')[0]
    .trim();
  const hint = explainTls(errorText(err), side);
  return hint ? `${prefix}: ${hint} [${raw}]` : `${prefix}: ${raw}`;
}

/**
 * Listens on host:port with TLS, accepts one sender, completes the handshake and stops
 * listening. A failed handshake (no client certificate when one is required, an untrusted
 * one, a peer without TLS) fails the receive: this receiver accepts one migration.
 */
export function tlsAcceptOne(host: string, port: number, config: TlsServerConfig, options: TlsAcceptOptions = {}): Promise<tls.TLSSocket> {
  const require = config.requireClientCert === true;
  if (require && !config.ca) return Promise.reject(new MigrationError('TLS: requireClientCert needs a CA (ca) to check client certificates against', ErrorCodes.ARG, 'connect'));
  return new Promise((resolvePromise, reject) => {
    let server: tls.Server;
    try {
      server = tls.createServer({
        cert: config.cert,
        key: config.key,
        ca: config.ca,
        // Client certificates are checked below, after the handshake, so that a refused
        // sender hears why (an ERROR message) instead of a bare connection reset.
        requestCert: require,
        rejectUnauthorized: false,
        handshakeTimeout: options.handshakeTimeoutMs ?? 10_000,
      });
    } catch (err) {
      reject(new MigrationError(`TLS: bad certificate or key: ${(err as Error).message}`, ErrorCodes.ARG, 'connect'));
      return;
    }
    // One migration, one connection: a second one while the first is in its handshake is
    // dropped, so handshakes cannot pile up (memory, CPU) however many peers connect.
    server.maxConnections = 1;
    let timer: NodeJS.Timeout | null = null;
    let settled = false;
    const finish = (err: MigrationError | null, socket?: tls.TLSSocket): void => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      server.close();
      if (err) reject(err);
      else resolvePromise(socket!);
    };
    const onAbort = (): void => finish(new MigrationError('receive cancelled by the caller before a sender connected', ErrorCodes.ABORTED, 'connect'));
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    server.once('error', (err) => finish(new MigrationError(`cannot listen on ${host}:${port}: ${err.message}`, ErrorCodes.ABORTED, 'connect', false, 'connection')));
    server.on('tlsClientError', (err, socket) => {
      const from = socket.remoteAddress ? ` from ${socket.remoteAddress}:${socket.remotePort}` : '';
      // Node leaves a timed-out handshake's socket open: a silent peer would keep this process alive.
      socket.destroy();
      finish(new MigrationError(tlsMessage(`TLS handshake${from} failed`, err, 'receiver'), ErrorCodes.ABORTED, 'connect', false, 'connection'));
    });
    server.on('secureConnection', (socket) => {
      if (settled) {
        socket.destroy();
        return;
      }
      if (require && !socket.authorized) {
        const cert = socket.getPeerCertificate();
        const none = !cert || Object.keys(cert).length === 0;
        const why = none
          ? 'the sender presented no client certificate (this receiver requires one: --require-client-cert)'
          : `the sender's client certificate (${cert.subject?.CN ? `CN=${cert.subject.CN}, ` : ''}issued by ${cert.issuer?.CN ? `CN=${cert.issuer.CN}` : 'an unknown issuer'}) is not signed by --tls-ca [${String(socket.authorizationError)}]`;
        const toSender = none
          ? 'TLS: this receiver requires a client certificate: give --tls-cert and --tls-key'
          : `TLS: this receiver does not trust our client certificate: it is not signed by the receiver's --tls-ca [${String(socket.authorizationError)}]`;
        // Tell the sender (it has finished its side of the handshake and waits for HELLO_ACK), then hang up.
        try {
          for (const part of encodeMessage({ type: 'ERROR', code: ErrorCodes.ABORTED, reason: toSender })) socket.write(part);
        } catch {
          // the socket is going anyway
        }
        socket.end();
        setTimeout(() => socket.destroy(), 2000).unref();
        const from = socket.remoteAddress ? ` from ${socket.remoteAddress}:${socket.remotePort}` : '';
        finish(new MigrationError(`TLS: refused the sender${from}: ${why}`, ErrorCodes.ABORTED, 'connect', false, 'connection'));
        return;
      }
      finish(null, socket);
    });
    server.listen(port, host, () => {
      const a = server.address() as { address: string; port: number };
      if (options.acceptTimeoutMs) {
        timer = setTimeout(() => finish(new MigrationError(`no sender connected to ${host}:${a.port} in ${options.acceptTimeoutMs} ms`, ErrorCodes.TIMEOUT, 'connect')), options.acceptTimeoutMs);
      }
      options.onListening?.({ host: a.address, port: a.port });
    });
  });
}

/**
 * Connects to host:port with TLS and resolves once the handshake succeeded and the
 * receiver's certificate was verified (against `ca`, and for `servername` or `host`).
 * With TLS 1.3 a receiver that refuses our client certificate says so only after this
 * resolves: the engine then fails with the alert, which {@link explainTls} explains.
 */
export function tlsConnect(host: string, port: number, config: TlsClientConfig, options: TlsConnectOptions = {}): Promise<tls.TLSSocket> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  return new Promise((resolvePromise, reject) => {
    let socket: tls.TLSSocket;
    try {
      socket = tls.connect({
        host,
        port,
        ca: config.ca,
        cert: config.cert,
        key: config.key,
        servername: config.servername ?? (isIp(host) ? undefined : host),
        // Verify the name against --tls-servername when given, else the host.
        checkServerIdentity: (_name, cert) => tls.checkServerIdentity(config.servername ?? host, cert),
      });
    } catch (err) {
      reject(new MigrationError(`TLS: bad certificate, key or CA: ${(err as Error).message}`, ErrorCodes.ARG, 'connect'));
      return;
    }
    let settled = false;
    const finish = (err: MigrationError | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      socket.removeListener('error', onError);
      if (err) {
        socket.destroy();
        reject(err);
      } else {
        resolvePromise(socket);
      }
    };
    const timer = setTimeout(() => finish(new MigrationError(`cannot connect to ${host}:${port}: no TLS handshake in ${timeoutMs} ms`, ErrorCodes.TIMEOUT, 'connect', false, 'connection')), timeoutMs);
    const onAbort = (): void => finish(new MigrationError('migration cancelled by the caller while connecting', ErrorCodes.ABORTED, 'connect'));
    const onError = (err: NodeJS.ErrnoException): void => {
      // Errors of the TCP connection itself are not TLS failures.
      const plain = ['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EADDRNOTAVAIL'].includes(err.code ?? '');
      const msg = plain ? `cannot connect to ${host}:${port}: ${err.message}` : tlsMessage(`TLS handshake with ${host}:${port} failed`, err, 'sender');
      finish(new MigrationError(msg, ErrorCodes.ABORTED, 'connect', false, 'connection'));
    };
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    socket.on('error', onError);
    socket.once('secureConnect', () => {
      // rejectUnauthorized (the default) already refused an unverified certificate; be explicit.
      if (!socket.authorized) {
        finish(
          new MigrationError(tlsMessage(`TLS handshake with ${host}:${port} failed`, socket.authorizationError ?? 'not authorized', 'sender'), ErrorCodes.ABORTED, 'connect', false, 'connection'),
        );
        return;
      }
      finish(null);
    });
  });
}

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':');
}
