/**
 * Runs a host command to completion (apt-get, dpkg, gcc) and fails with a {@link GuestError}
 * that names the command, its exit status and the end of its stderr.
 */
import { spawnSync } from 'node:child_process';
import { GuestError } from './paths';

/** Options of {@link run}. */
export interface RunOptions {
  cwd?: string;
  /** Kill after this long (default 10 minutes). */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

/** Runs `cmd args...`; returns its stdout; throws GuestError(step) if it cannot start or exits non-zero. */
export function run(step: string, cmd: string, args: string[], opts: RunOptions = {}): string {
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 600_000,
    maxBuffer: 64 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const line = [cmd, ...args].join(' ');
  if (r.error) throw new GuestError(step, `\`${line}\` could not run: ${r.error.message}`);
  if (r.status !== 0) {
    const tail = (r.stderr ?? '').trim().split('\n').slice(-5).join('\n');
    throw new GuestError(step, `\`${line}\` exited with ${r.status ?? r.signal}${tail ? `:\n${tail}` : ''}`);
  }
  return r.stdout;
}

/** True when `cmd` is on PATH. */
export function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}
