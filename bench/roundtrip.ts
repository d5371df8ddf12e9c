/**
 * Acceptance check: the command line round-trips every codec byte for byte on the given
 * files (the real corpus, a 1 GiB file), and refuses corrupt or truncated streams with
 * exit 1 and an offset, keeping exactly the good frames before the damage.
 *
 *   node dist/bench/roundtrip.js FILE... [--dir /dev/shm]
 */
import * as cp from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CODEC_CHOICES } from '../lib/codec/registry';

const CLI = path.join(__dirname, '..', 'lib', 'cli', 'main.js');
const CODECS = CODEC_CHOICES;

function sha256(file: string, length?: number): string {
  const h = crypto.createHash('sha256');
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.allocUnsafe(8 << 20);
  let left = length ?? fs.fstatSync(fd).size;
  let pos = 0;
  while (left > 0) {
    const n = fs.readSync(fd, buf, 0, Math.min(buf.length, left), pos);
    if (n === 0) break;
    h.update(buf.subarray(0, n));
    pos += n;
    left -= n;
  }
  fs.closeSync(fd);
  return h.digest('hex');
}

function run(args: string[]): { status: number; stderr: string; seconds: number } {
  const t = process.hrtime.bigint();
  const r = cp.spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { status: r.status ?? -1, stderr: r.stderr, seconds: Number(process.hrtime.bigint() - t) / 1e9 };
}

function main(): void {
  const args = process.argv.slice(2);
  let dir = '/dev/shm';
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--dir') dir = args[++i];
    else files.push(args[i]);
  }
  if (!files.length) {
    process.stderr.write('usage: node dist/bench/roundtrip.js FILE... [--dir DIR]\n');
    process.exitCode = 2;
    return;
  }
  let failures = 0;
  const mid = path.join(dir, `pp-rt-${process.pid}.pp`);
  const out = path.join(dir, `pp-rt-${process.pid}.out`);
  try {
    for (const file of files) {
      const size = fs.statSync(file).size;
      const want = sha256(file);
      for (const codec of CODECS) {
        const c = run(['compress', '-f', '--codec', codec, file, '-o', mid]);
        const d = run(['decompress', '-f', mid, '-o', out]);
        const ok = c.status === 0 && d.status === 0 && sha256(out) === want;
        if (!ok) failures++;
        console.log(
          `${path.basename(file)} (${(size / 2 ** 20).toFixed(0)} MiB) ${codec.padEnd(7)} ratio ${(size / fs.statSync(mid).size).toFixed(3).padStart(7)}  ` +
            `compress ${c.seconds.toFixed(2)} s, decompress ${d.seconds.toFixed(2)} s  ${ok ? 'byte-exact' : `FAILED ${c.stderr}${d.stderr}`}`,
        );
      }
      // Damage: a flipped byte in the middle, and the stream cut in the middle.
      run(['compress', '-f', file, '-o', mid]);
      const stream = fs.readFileSync(mid);
      for (const [what, bytes] of [
        [
          'corrupt',
          (() => {
            const b = Buffer.from(stream);
            b[b.length >> 1] ^= 0x10;
            return b;
          })(),
        ],
        ['truncated', stream.subarray(0, stream.length >> 1)],
      ] as const) {
        fs.writeFileSync(mid, bytes);
        const d = run(['decompress', '-f', mid, '-o', out]);
        const kept = fs.statSync(out).size;
        const prefixOk = kept === 0 || sha256(out) === sha256(file, kept);
        const ok = d.status === 1 && /offset \d+/.test(d.stderr) && prefixOk && kept % (4 << 20) === 0;
        if (!ok) failures++;
        console.log(`${path.basename(file)} ${what}: exit ${d.status}, kept ${kept} bytes (${prefixOk ? 'a prefix of the input' : 'NOT a prefix'}) ${ok ? 'ok' : 'FAILED'}: ${d.stderr.trim()}`);
      }
    }
  } finally {
    for (const f of [mid, out]) fs.rmSync(f, { force: true });
  }
  console.log(failures ? `${failures} FAILED` : 'all round trips byte-exact');
  process.exitCode = failures ? 1 : 0;
}

main();
