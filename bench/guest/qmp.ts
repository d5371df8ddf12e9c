/**
 * A small QMP client (QEMU Machine Protocol, docs/interop/qmp-spec in QEMU) over a unix
 * socket: reads the greeting, negotiates capabilities, runs commands one reply at a time
 * matched by `id`, and records asynchronous events with QEMU's timestamps.
 *
 *   const qmp = await QmpClient.connect('/tmp/vm.qmp', { timeoutMs: 10_000 });
 *   await qmp.execute('stop');
 *   const ev = await qmp.waitEvent('STOP', 5000);
 */
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import { GuestError } from './paths';

/** One QMP event, with QEMU's timestamp in seconds (microsecond resolution) and our receive time. */
export interface QmpEvent {
  event: string;
  data: Record<string, unknown>;
  /** QEMU's timestamp, seconds since the epoch. */
  time: number;
  /** Date.now() / 1000 when the client read it. */
  received: number;
}

/** A QMP error reply. */
export class QmpCommandError extends GuestError {
  /** QMP error class (GenericError, CommandNotFound ...). */
  readonly errorClass: string;
  constructor(command: string, errorClass: string, desc: string) {
    super('qmp', `${command} failed: ${errorClass}: ${desc}`);
    this.errorClass = errorClass;
  }
}

/** Splits a byte stream into QMP messages (one JSON object per line, CRLF or LF). */
export class QmpFramer {
  private pending = '';
  /** Longest line accepted (QMP replies here are small; query-migrate is a few KiB). */
  readonly maxLine: number;

  constructor(maxLine = 16 * 1024 * 1024) {
    this.maxLine = maxLine;
  }

  /** Feeds bytes; returns the complete messages they finish. Throws GuestError on a non-JSON or overlong line. */
  push(chunk: Buffer | string): Array<Record<string, unknown>> {
    this.pending += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    const out: Array<Record<string, unknown>> = [];
    let nl: number;
    while ((nl = this.pending.indexOf('\n')) >= 0) {
      const line = this.pending.slice(0, nl).trim();
      this.pending = this.pending.slice(nl + 1);
      if (line === '') continue;
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch {
        throw new GuestError('qmp', `not JSON: ${line.slice(0, 200)}`);
      }
      if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new GuestError('qmp', `not a JSON object: ${line.slice(0, 200)}`);
      out.push(v as Record<string, unknown>);
    }
    if (this.pending.length > this.maxLine) throw new GuestError('qmp', `line longer than ${this.maxLine} bytes`);
    return out;
  }
}

/** Serializes one command (newline-terminated). */
export function qmpCommand(execute: string, args: Record<string, unknown> | undefined, id: number): string {
  return `${JSON.stringify(args === undefined ? { execute, id } : { execute, arguments: args, id })}\n`;
}

interface Waiter {
  resolve(v: unknown): void;
  reject(e: Error): void;
  command: string;
  timer: NodeJS.Timeout;
}

/** A connected, negotiated QMP session. Emits 'event' (QmpEvent) and 'close'. */
export class QmpClient extends EventEmitter {
  /** Every event received, in order. */
  readonly events: QmpEvent[] = [];
  /** The greeting's QEMU version, e.g. { major: 7, minor: 2, micro: 22 }. */
  version: { major: number; minor: number; micro: number } | null = null;
  private readonly sock: net.Socket;
  private readonly framer = new QmpFramer();
  private readonly waiters = new Map<number, Waiter>();
  private nextId = 1;
  /** Why the session ended (no 'qmp:' prefix), once it has. */
  private closedError: string | null = null;
  private greeted: (() => void) | null = null;

  private constructor(sock: net.Socket) {
    super();
    this.sock = sock;
    sock.on('data', (d) => {
      let msgs: Array<Record<string, unknown>>;
      try {
        msgs = this.framer.push(d);
      } catch (e) {
        this.fail((e as Error).message.replace(/^qmp: /, ''));
        sock.destroy();
        return;
      }
      for (const m of msgs) this.dispatch(m);
    });
    sock.on('error', (e) => this.fail(`socket error: ${e.message}`));
    sock.on('close', () => {
      this.fail('connection closed');
      this.emit('close');
    });
  }

  /** Connects to a QMP unix socket (retrying while QEMU has not created it yet), reads the greeting, sends qmp_capabilities. */
  static async connect(socketPath: string, opts: { timeoutMs?: number } = {}): Promise<QmpClient> {
    const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
    for (;;) {
      try {
        const sock = await new Promise<net.Socket>((resolve, reject) => {
          const s = net.createConnection(socketPath);
          s.once('connect', () => {
            s.removeAllListeners('error');
            resolve(s);
          });
          s.once('error', reject);
        });
        const c = new QmpClient(sock);
        try {
          await c.handshake(Math.max(1000, deadline - Date.now()));
        } catch (e) {
          c.close();
          throw e;
        }
        return c;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if ((code === 'ENOENT' || code === 'ECONNREFUSED') && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 50));
          continue;
        }
        if (e instanceof GuestError) throw e;
        throw new GuestError('qmp', `cannot connect to ${socketPath}: ${(e as Error).message}`);
      }
    }
  }

  private async handshake(timeoutMs: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new GuestError('qmp', `no greeting within ${timeoutMs} ms`)), timeoutMs);
      this.greeted = () => {
        clearTimeout(t);
        resolve();
      };
      this.once('close', () => {
        clearTimeout(t);
        reject(new GuestError('qmp', `closed before the greeting${this.closedError ? ` (${this.closedError})` : ''}`));
      });
    });
    await this.execute('qmp_capabilities', undefined, timeoutMs);
  }

  private dispatch(m: Record<string, unknown>): void {
    if ('QMP' in m) {
      const v = (m.QMP as { version?: { qemu?: { major: number; minor: number; micro: number } } }).version?.qemu;
      this.version = v ?? null;
      this.greeted?.();
      this.greeted = null;
      return;
    }
    if (typeof m.event === 'string') {
      const ts = m.timestamp as { seconds?: number; microseconds?: number } | undefined;
      const ev: QmpEvent = {
        event: m.event,
        data: (m.data as Record<string, unknown>) ?? {},
        time: ts ? (ts.seconds ?? 0) + (ts.microseconds ?? 0) / 1e6 : Date.now() / 1000,
        received: Date.now() / 1000,
      };
      this.events.push(ev);
      this.emit('event', ev);
      return;
    }
    const id = typeof m.id === 'number' ? m.id : -1;
    const w = this.waiters.get(id);
    if (!w) return;
    this.waiters.delete(id);
    clearTimeout(w.timer);
    if ('error' in m) {
      const err = m.error as { class?: string; desc?: string };
      w.reject(new QmpCommandError(w.command, err.class ?? 'Error', err.desc ?? JSON.stringify(m.error)));
    } else w.resolve(m.return);
  }

  private fail(reason: string): void {
    if (!this.closedError) this.closedError = reason;
    for (const [id, w] of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new GuestError('qmp', `${w.command}: ${reason}`));
      this.waiters.delete(id);
    }
  }

  /** Runs a command; resolves with its `return` value, rejects with QmpCommandError or a GuestError on timeout/close. */
  execute<T = unknown>(command: string, args?: Record<string, unknown>, timeoutMs = 30_000): Promise<T> {
    if (this.closedError) return Promise.reject(new GuestError('qmp', `${command}: ${this.closedError}`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(id);
        reject(new GuestError('qmp', `${command}: no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(id, { resolve, reject, command, timer });
      this.sock.write(qmpCommand(command, args, id));
    });
  }

  /**
   * Resolves with the first event named `name` received at or after index `from` of
   * {@link events} (default: only events still to come).
   */
  waitEvent(name: string, timeoutMs: number, from = this.events.length): Promise<QmpEvent> {
    const seen = this.events.slice(from).find((e) => e.event === name);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const onEvent = (e: QmpEvent) => {
        if (e.event !== name) return;
        cleanup();
        resolve(e);
      };
      const onClose = () => {
        cleanup();
        reject(new GuestError('qmp', `connection closed while waiting for event ${name}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new GuestError('qmp', `no ${name} event within ${timeoutMs} ms`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.off('event', onEvent);
        this.off('close', onClose);
      };
      this.on('event', onEvent);
      this.on('close', onClose);
    });
  }

  /** Closes the socket. */
  close(): void {
    this.sock.destroy();
  }
}
