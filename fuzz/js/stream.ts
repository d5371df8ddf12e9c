/**
 * The stream decoder under mutated input: the Transform (createDecoder), the file path
 * (decodeFd) and `pagepress decompress -o FILE`, at 1 and 2 threads, over raw and Xen
 * streams of every codec. Invariant: the original bytes exactly, or a PP_ERR_ error with
 * a prefix of the original written (for files: the file after the failure); the command
 * line exits 0 or 1, never anything else.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createDecoder, decodeFd } from '../../lib';
import { throughSettled } from '../../test/helpers';
import { Choices, expectExactOrPrefix, Finding, JsHarness, TypedError } from './harness';
import { mutateBytes, mutateFrames } from './mutate';
import { encode, original, pickShape } from './sources';

const CLI = path.join(__dirname, '..', '..', 'lib', 'cli', 'main.js');

/** Runs `pagepress decompress` on `input`; returns the exit code, the output file and stderr. */
function cli(input: Buffer, threads: number, dir: string): Promise<{ code: number | null; out: Buffer; stderr: string }> {
  const inPath = path.join(dir, 'cli-in');
  const outPath = path.join(dir, 'cli-out');
  fs.writeFileSync(inPath, input);
  fs.rmSync(outPath, { force: true });
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, 'decompress', '-q', '-T', String(threads), '-o', outPath, inPath], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, out: fs.existsSync(outPath) ? fs.readFileSync(outPath) : Buffer.alloc(0), stderr }));
  });
}

async function viaFile(input: Buffer, threads: number, dir: string): Promise<{ out: Buffer; err: unknown }> {
  const inPath = path.join(dir, 'fd-in');
  const outPath = path.join(dir, 'fd-out');
  fs.writeFileSync(inPath, input);
  const inFd = fs.openSync(inPath, 'r');
  const outFd = fs.openSync(outPath, 'w');
  let err: unknown = null;
  try {
    await decodeFd(inFd, outFd, { threads });
  } catch (e) {
    err = e;
  } finally {
    fs.closeSync(inFd);
    fs.closeSync(outFd);
  }
  return { out: fs.readFileSync(outPath), err };
}

/** Creates the stream harness (a temporary folder for its files). */
export function streamHarness(): JsHarness {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pagepress-fuzz-stream-'));
  return {
    name: 'stream',
    caseTimeoutMs: 20_000,
    async run(seed) {
      const c = new Choices(seed);
      const shape = pickShape(c);
      const orig = original(shape, c, seed);
      const stream = await encode(shape, orig);
      const foreign = await encode(shape, original(shape, new Choices(seed ^ 0x5eed), seed + 1));
      const m = c.chance(0.5) ? mutateFrames(stream, foreign, c) : mutateBytes(stream, c);
      const threads = c.pick([1, 2]);
      const how = c.chance(0.1) ? 'cli' : c.pick(['transform', 'file'] as const);
      const what = `${shape.kind} ${shape.codec} P=${shape.pageSize} batch=${shape.batchPages} cache=${shape.cacheSlots} long=${shape.longWindowLog}, ${m.description}, ${how} -T ${threads}`;
      if (how === 'cli') {
        const r = await cli(m.bytes, threads, dir);
        if (r.code !== 0 && r.code !== 1) throw new Finding(`${what}: pagepress decompress exited ${r.code}: ${r.stderr.trim()}`, m.bytes);
        const code = /PP_ERR_[A-Z_]+/.exec(r.stderr)?.[0];
        const err: TypedError | null = r.code === 0 ? null : Object.assign(new Error(r.stderr.trim()), { code: code ?? 'none' });
        return `cli ${expectExactOrPrefix(orig, r.out, err, what, m.bytes, m.forged)}`;
      }
      const { out, err } = how === 'file' ? await viaFile(m.bytes, threads, dir) : await throughSettled(m.bytes, createDecoder({ threads }));
      return expectExactOrPrefix(orig, out, err, what, m.bytes, m.forged);
    },
    async close() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
