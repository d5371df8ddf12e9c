/** A `migrate receive` child process, shared by the CLI and TLS suites. */
import { spawn } from 'node:child_process';
import { BIN, RunResult } from '../cli/helpers';

/** Loopback address the migration CLI tests listen on. */
export const HOST = '127.0.0.1';

/** A `migrate receive` child listening on a port the kernel picked (read from its "listening on" line). */
export interface ChildReceiver {
  port: Promise<number>;
  done: Promise<RunResult>;
  kill(): void;
}

/**
 * Starts `pagepress migrate receive --listen HOST:0 ...args` (`at.host` instead of HOST;
 * `at.prefix`, e.g. `ip netns exec NS`, runs it inside a network namespace).
 */
export function startReceiver(args: string[], at: { host?: string; prefix?: string[] } = {}): ChildReceiver {
  const host = at.host ?? HOST;
  const argv = [...(at.prefix ?? []), process.execPath, BIN, 'migrate', 'receive', '--listen', `${host.includes(':') ? `[${host}]` : host}:0`, ...args];
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let err = '';
  let gotPort!: (p: number) => void;
  let noPort!: (e: Error) => void;
  const port = new Promise<number>((resolve, reject) => ((gotPort = resolve), (noPort = reject)));
  port.catch(() => undefined);
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => {
    err += b.toString();
    const m = /listening on [^\s]+:(\d+)/.exec(err);
    if (m) gotPort(Number(m[1]));
  });
  const done = new Promise<RunResult>((resolve) =>
    child.on('close', (code, signal) => {
      noPort(new Error(`receiver exited (${code}) before listening: ${err}`));
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: err });
    }),
  );
  return { port, done, kill: () => child.exitCode === null && child.signalCode === null && void child.kill('SIGKILL') };
}
