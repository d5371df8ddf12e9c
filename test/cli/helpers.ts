/** Shared helpers of the CLI tests: run the real bin as a child process, make test inputs. */
import { spawn, SpawnOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { rngU32 } from '../helpers';

/** The compiled bin (dist/lib/cli/main.js), found from dist/test/cli. */
export const BIN = path.resolve(__dirname, '..', '..', 'lib', 'cli', 'main.js');

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

/**
 * Runs `node main.js ...args`. `input` is written to stdin through a real pipe (then
 * stdin is ended); `stdin: 'file'` passes a file descriptor instead.
 */
export function run(args: string[], opts: { input?: Buffer; stdinFile?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const stdio: SpawnOptions['stdio'] = [opts.stdinFile ? fs.openSync(opts.stdinFile, 'r') : 'pipe', 'pipe', 'pipe'];
    const child = spawn(process.execPath, [BIN, ...args], { stdio, env: { ...process.env, ...opts.env } });
    if (opts.stdinFile) fs.closeSync(stdio[0] as number);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    if (child.stdin) {
      child.stdin.on('error', () => {}); // the child may exit before reading everything
      if (opts.input) Readable.from([opts.input]).pipe(child.stdin);
      else child.stdin.end();
    }
    child.on('close', (code, signal) => resolve({ code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() }));
  });
}

/** A fresh temporary directory, removed by the returned cleanup function. */
export function tmpDir(): { dir: string; file: (name: string) => string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pagepress-cli-'));
  return { dir, file: (name) => path.join(dir, name), cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Deterministic pseudo-random bytes: each call returns the next `n` bytes of one stream (test/helpers.ts's generator). */
export function prng(seed: number): (n: number) => Buffer {
  const next = rngU32(seed);
  return (n) => {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = next() & 0xff;
    return b;
  };
}

/**
 * Page-structured test input: zero pages, random pages, repeated pages, text-like pages,
 * then a short tail of `tail` bytes. `pages` 4 KiB pages in all.
 */
export function makeInput(pages: number, tail = 1234, seed = 42): Buffer {
  const P = 4096;
  const rand = prng(seed);
  const pool = [rand(P), rand(P), rand(P)];
  const parts: Buffer[] = [];
  for (let i = 0; i < pages; i++) {
    switch (i % 6) {
      case 0:
        parts.push(Buffer.alloc(P));
        break;
      case 1:
        parts.push(rand(P));
        break;
      case 2:
        parts.push(pool[i % 3]);
        break;
      case 3: {
        const line = `page ${i}: the quick brown fox jumps over the lazy dog; mov rax, [rbp-8]\n`;
        parts.push(Buffer.from(line.repeat(Math.ceil(P / line.length))).subarray(0, P));
        break;
      }
      case 4: {
        // Mostly zero with a few words set, like a sparse kernel page.
        const b = Buffer.alloc(P);
        rand(64).copy(b, (i * 64) % P);
        parts.push(b);
        break;
      }
      default:
        parts.push(Buffer.alloc(P, i & 0xff));
    }
  }
  parts.push(rand(tail));
  return Buffer.concat(parts);
}

/** First `n` bytes of `b` equal all of `prefix`. */
export function isPrefix(prefix: Buffer, b: Buffer): boolean {
  return prefix.length <= b.length && b.subarray(0, prefix.length).equals(prefix);
}
