/**
 * Runs the test guest under QEMU (TCG; KVM is not usable on these machines):
 * `qemu-system-x86_64 -machine q35 -accel tcg -m MIB -kernel K -initrd I -append ...`, the
 * serial console on the child's stdio, QMP on a unix socket. Starts, waits for the guest's
 * "PP-READY" marker, stops/continues it, saves its RAM with `pmemsave` while stopped, and
 * shuts it down (QMP quit, then SIGKILL after a timeout). Every QEMU this module starts is
 * killed when the Node process exits.
 *
 *   const vm = await GuestVm.start({ kernel, initrd, workload: 'heap' });
 *   await vm.pmemsave('/tmp/ram.bin');
 *   await vm.shutdown();
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { have, run } from './exec';
import { GuestError } from './paths';
import { QmpClient } from './qmp';

/** The QEMU binary (Debian package qemu-system-x86). */
export const QEMU = 'qemu-system-x86_64';

/** Installs qemu-system-x86 with apt-get when QEMU is missing (as .ci does); throws GuestError if that fails. */
export function ensureQemu(log?: (m: string) => void): void {
  if (have(QEMU)) return;
  log?.('apt-get install qemu-system-x86');
  run('vm', 'apt-get', ['-o', 'DPkg::Lock::Timeout=300', 'update'], { timeoutMs: 600_000 });
  run('vm', 'apt-get', ['-o', 'DPkg::Lock::Timeout=300', 'install', '-y', '--no-install-recommends', 'qemu-system-x86'], {
    timeoutMs: 900_000,
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (!have(QEMU)) throw new GuestError('vm', `${QEMU} still not on PATH after installing qemu-system-x86`);
}

/** Options of {@link GuestVm.start}. */
export interface VmOptions {
  kernel: string;
  initrd: string;
  /** Guest RAM in MiB (default 512). */
  memMiB?: number;
  /** Workload (pp.workload=...; default idle). */
  workload?: string;
  /** More pp.* settings for /init, e.g. { heartbeat: 500, interval: 2000 }. */
  params?: Record<string, string | number>;
  /** Extra kernel command line. */
  append?: string;
  /** Extra QEMU arguments (e.g. ['-incoming', 'defer']). */
  qemuArgs?: string[];
  /** vCPUs (default 1: TCG on a shared 2-core machine). */
  smp?: number;
  /** Wait for "PP-READY" before resolving (default true; false for an -incoming destination). */
  waitReady?: boolean;
  /** How long boot + workload setup may take (default 240 s). */
  readyTimeoutMs?: number;
  /** Directory for the QMP socket (default a fresh temp dir, removed at shutdown). */
  dir?: string;
  /** Every serial console line. */
  onSerial?: (line: string) => void;
  /** Progress messages. */
  log?: (m: string) => void;
}

const live = new Set<ChildProcess>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const c of live) c.kill('SIGKILL');
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      for (const c of live) c.kill('SIGKILL');
      process.exit(128 + (sig === 'SIGINT' ? 2 : 15));
    });
  }
}

/** How a QEMU process ended. */
export interface VmExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const MAX_SERIAL_LINES = 20000;

/** A running guest. */
export class GuestVm {
  /** The QMP session. */
  readonly qmp: QmpClient;
  /** The QEMU child process. */
  readonly child: ChildProcess;
  /** Serial console lines so far (the last 20000). */
  readonly serial: string[] = [];
  /** Resolves when QEMU exits. */
  readonly exited: Promise<VmExit>;
  /** Guest RAM in MiB. */
  readonly memMiB: number;
  /** Date.now() at spawn. */
  readonly startedAt: number;
  /** Milliseconds from spawn to the ready marker (null if not waited for). */
  readyMs: number | null = null;
  private exitInfo: VmExit | null = null;
  private stderr = '';
  private serialListeners = new Set<(line: string) => void>();
  private readonly ownDir: string | null;

  private constructor(child: ChildProcess, qmp: QmpClient, memMiB: number, startedAt: number, exited: Promise<VmExit>, ownDir: string | null) {
    this.child = child;
    this.qmp = qmp;
    this.memMiB = memMiB;
    this.startedAt = startedAt;
    this.exited = exited;
    this.ownDir = ownDir;
  }

  /** The kernel command line for these options. */
  static cmdline(opts: Pick<VmOptions, 'workload' | 'params' | 'append'>): string {
    const pp = { workload: opts.workload ?? 'idle', ...(opts.params ?? {}) };
    const kv = Object.entries(pp).map(([k, v]) => {
      if (!/^[a-z_]+$/.test(k) || /\s/.test(String(v))) throw new GuestError('vm', `bad pp setting ${k}=${v}`);
      return `pp.${k}=${v}`;
    });
    return ['console=ttyS0', 'panic=-1', 'quiet', ...kv, opts.append ?? ''].filter(Boolean).join(' ');
  }

  /** Starts QEMU, connects QMP, and (by default) waits for the guest's ready marker. */
  static async start(opts: VmOptions): Promise<GuestVm> {
    for (const [what, f] of [
      ['kernel', opts.kernel],
      ['initrd', opts.initrd],
    ]) {
      if (!fs.existsSync(f)) throw new GuestError('vm', `${what} ${f} does not exist`);
    }
    const memMiB = opts.memMiB ?? 512;
    const ownDir = opts.dir ? null : fs.mkdtempSync(path.join(os.tmpdir(), 'pp-vm-'));
    const dir = opts.dir ?? (ownDir as string);
    const qmpPath = path.join(dir, `qmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}.sock`);
    const args = [
      '-machine',
      'q35',
      '-accel',
      'tcg',
      '-cpu',
      'max',
      '-smp',
      String(opts.smp ?? 1),
      '-m',
      String(memMiB),
      '-nodefaults',
      '-no-user-config',
      '-display',
      'none',
      '-serial',
      'stdio',
      '-no-reboot',
      '-kernel',
      opts.kernel,
      '-initrd',
      opts.initrd,
      '-append',
      GuestVm.cmdline(opts),
      '-qmp',
      `unix:${qmpPath},server=on,wait=off`,
      ...(opts.qemuArgs ?? []),
    ];
    hookExit();
    const startedAt = Date.now();
    const child = spawn(QEMU, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    live.add(child);
    const exited = new Promise<VmExit>((resolve) => {
      child.once('exit', (code, signal) => {
        live.delete(child);
        resolve({ code, signal });
      });
      child.once('error', () => {
        live.delete(child);
        resolve({ code: null, signal: null });
      });
    });
    let spawnError = null as Error | null; // set from a callback
    child.once('error', (e) => {
      spawnError = e;
    });
    let vm: GuestVm | null = null;
    const early: string[] = [];
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-8192);
      if (vm) vm.stderr = stderr;
    });
    let partial = '';
    child.stdout?.on('data', (d: Buffer) => {
      partial += d.toString('latin1');
      let nl: number;
      while ((nl = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, nl).replace(/\r$/, '');
        partial = partial.slice(nl + 1);
        opts.onSerial?.(line);
        if (vm) vm.addLine(line);
        else early.push(line);
      }
    });
    const why = (m: string) => `${m}${stderr.trim() ? `; QEMU stderr: ${stderr.trim().slice(-1000)}` : ''}`;
    let qmp: QmpClient;
    try {
      qmp = await Promise.race([
        QmpClient.connect(qmpPath, { timeoutMs: 20_000 }),
        exited.then((e) => {
          throw new GuestError('vm', why(spawnError ? `cannot start ${QEMU}: ${spawnError.message}` : `QEMU exited (${e.code ?? e.signal}) before QMP was up`));
        }),
      ]);
    } catch (e) {
      child.kill('SIGKILL');
      if (ownDir) fs.rmSync(ownDir, { recursive: true, force: true });
      throw e instanceof GuestError && e.step === 'vm' ? e : new GuestError('vm', why((e as Error).message));
    }
    vm = new GuestVm(child, qmp, memMiB, startedAt, exited, ownDir);
    vm.stderr = stderr;
    const started = vm;
    void exited.then((e) => {
      started.exitInfo = e;
    });
    for (const l of early) vm.addLine(l);
    if (opts.waitReady !== false) {
      try {
        const line = await vm.waitSerial(/^PP-(READY|FAILED)\b/, opts.readyTimeoutMs ?? 240_000, 0);
        if (line.startsWith('PP-FAILED')) throw new GuestError('vm', `guest workload ${opts.workload ?? 'idle'} failed: ${line}`);
        vm.readyMs = Date.now() - startedAt;
        opts.log?.(`guest ${opts.workload ?? 'idle'} ready after ${(vm.readyMs / 1000).toFixed(1)} s`);
      } catch (e) {
        await vm.kill();
        throw e;
      }
    }
    return vm;
  }

  private addLine(line: string): void {
    this.serial.push(line);
    if (this.serial.length > MAX_SERIAL_LINES) this.serial.splice(0, this.serial.length - MAX_SERIAL_LINES);
    for (const f of this.serialListeners) f(line);
  }

  /** QEMU's stderr so far (last 8 KiB). */
  get qemuStderr(): string {
    return this.stderr;
  }

  /**
   * Resolves with the first serial line matching `re`, looking back from line index `from`
   * of {@link serial} (default: only new lines). Rejects if QEMU exits or the time runs out,
   * with the last console lines in the message.
   */
  waitSerial(re: RegExp, timeoutMs: number, from = this.serial.length): Promise<string> {
    const hit = this.serial.slice(from).find((l) => re.test(l));
    if (hit !== undefined) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const tail = () => this.serial.slice(-8).join(' | ');
      const done = (f: () => void) => {
        clearTimeout(timer);
        this.serialListeners.delete(on);
        f();
      };
      const on = (l: string) => {
        if (re.test(l)) done(() => resolve(l));
      };
      const timer = setTimeout(() => done(() => reject(new GuestError('vm', `no console line matching ${re} within ${timeoutMs} ms; last lines: ${tail()}`))), timeoutMs);
      this.serialListeners.add(on);
      void this.exited.then((e) =>
        done(() => reject(new GuestError('vm', `QEMU exited (${e.code ?? e.signal}) while waiting for ${re}; last lines: ${tail()}; stderr: ${this.stderr.trim().slice(-500)}`))),
      );
    });
  }

  /** The number of the last "heartbeat <n>" line, or -1. */
  lastHeartbeat(): number {
    for (let i = this.serial.length - 1; i >= 0; i--) {
      const m = /^heartbeat (\d+)$/.exec(this.serial[i]);
      if (m) return Number(m[1]);
    }
    return -1;
  }

  /** Pauses the guest's vCPUs (QMP stop). */
  async stop(): Promise<void> {
    await this.qmp.execute('stop');
  }

  /** Resumes the guest (QMP cont). */
  async cont(): Promise<void> {
    await this.qmp.execute('cont');
  }

  /**
   * Writes the guest's RAM (guest-physical 0 .. memMiB, contiguous on q35 up to 2816 MiB) to
   * `file`, consistently: stop, pmemsave, cont (the guest stays stopped if it was). Returns
   * how long the guest was paused.
   */
  async pmemsave(file: string, timeoutMs = 120_000): Promise<{ pausedMs: number; bytes: number }> {
    if (this.memMiB > 2816) throw new GuestError('vm', `pmemsave of ${this.memMiB} MiB: q35 splits RAM above 2816 MiB at 4 GiB, not supported`);
    const status = await this.qmp.execute<{ running: boolean }>('query-status');
    const t0 = Date.now();
    if (status.running) await this.stop();
    const bytes = this.memMiB * 1048576;
    try {
      await this.qmp.execute('pmemsave', { val: 0, size: bytes, filename: path.resolve(file) }, timeoutMs);
    } finally {
      if (status.running) await this.cont();
    }
    const size = fs.statSync(file).size;
    if (size !== bytes) throw new GuestError('vm', `pmemsave wrote ${size} bytes to ${file}, expected ${bytes}`);
    return { pausedMs: Date.now() - t0, bytes };
  }

  /** Writes text to the guest's serial console input. */
  sendSerial(text: string): void {
    this.child.stdin?.write(text);
  }

  /** Asks QEMU to quit (QMP quit) and waits for it; SIGKILL after `timeoutMs`. Safe to call twice. */
  async shutdown(timeoutMs = 15_000): Promise<VmExit> {
    if (!this.exitInfo) {
      try {
        await this.qmp.execute('quit', undefined, timeoutMs);
      } catch {
        // QEMU may close the socket before it answers; the exit wait below decides.
      }
      const t = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
      await this.exited;
      clearTimeout(t);
    }
    this.cleanup();
    return this.exited;
  }

  /** Kills QEMU at once (SIGKILL) and waits for it. */
  async kill(): Promise<VmExit> {
    if (!this.exitInfo) this.child.kill('SIGKILL');
    const e = await this.exited;
    this.cleanup();
    return e;
  }

  private cleanup(): void {
    this.qmp.close();
    this.child.stdin?.destroy();
    if (this.ownDir) fs.rmSync(this.ownDir, { recursive: true, force: true });
  }
}
