/** Live pipes: compress | decompress without EOF, and a stdout reader that goes away. */
import * as assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { Readable } from 'node:stream';
import { BIN, prng, tmpDir } from './helpers';

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/** Collects `n` bytes from `stream`; rejects after `ms`. */
function readBytes(stream: Readable, n: number, ms: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let got = 0;
    const onData = (b: Buffer) => {
      parts.push(b);
      got += b.length;
      if (got >= n) {
        done();
        resolve(Buffer.concat(parts));
      }
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`only ${got} of ${n} bytes within ${ms} ms`));
    }, ms);
    const done = () => {
      clearTimeout(timer);
      stream.off('data', onData);
    };
    stream.on('data', onData);
  });
}

describe('cli: live pipes', function () {
  this.timeout(30000);
  const t = tmpDir();
  after(() => t.cleanup());

  it('compress | decompress delivers each chunk while stdin stays open (no EOF needed)', async () => {
    const compress = spawn(process.execPath, [BIN, 'compress', '-T2'], { stdio: ['pipe', 'pipe', 'pipe'] });
    // A real pipe between the two: decompress's stdin is compress's stdout.
    const decompress = spawn(process.execPath, [BIN, 'decompress', '-T2'], { stdio: [compress.stdout, 'pipe', 'pipe'] });
    let errors = '';
    compress.stderr.on('data', (b) => (errors += b));
    decompress.stderr.on('data', (b) => (errors += b));
    decompress.stdout.pause();
    try {
      const rand = prng(99);
      // The first message is shorter than the 8 bytes that tell a Xen stream from raw
      // bytes: it must still come through while the input stays open.
      for (const size of [5, 10_000, 10_000, 50_000, 1]) {
        const chunk = rand(size);
        const back = readBytes(decompress.stdout, size, 1000);
        decompress.stdout.resume();
        compress.stdin.write(chunk);
        const got = await back;
        decompress.stdout.pause();
        assert.equal(got.length, size, 'more bytes came back than were sent');
        assert.ok(got.equals(chunk), 'chunk came back different');
      }
      compress.stdin.end();
      decompress.stdout.resume();
      const [c, d] = await Promise.all([exited(compress), exited(decompress)]);
      assert.equal(c.code, 0, errors);
      assert.equal(d.code, 0, errors);
      assert.equal(errors, '');
    } finally {
      compress.kill();
      decompress.kill();
    }
  });

  for (const via of ['FILE', 'stdin pipe']) {
    it(`compress (input from ${via}) to a stdout whose reader closes early: exit 1, no message, no stack`, async () => {
      const big = t.file('big.bin');
      if (!fs.existsSync(big)) fs.writeFileSync(big, prng(5)(20 * 1024 * 1024));
      const args = via === 'FILE' ? [BIN, 'compress', '-T2', big] : [BIN, 'compress', '-T2'];
      const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (b) => (stderr += b));
      child.stdin.on('error', () => {});
      if (via === 'FILE') child.stdin.end();
      else fs.createReadStream(big).pipe(child.stdin);
      await readBytes(child.stdout, 100, 10000);
      child.stdout.destroy();
      const r = await exited(child);
      assert.equal(r.signal, null);
      assert.equal(r.code, 1, stderr);
      assert.equal(stderr, '', 'EPIPE is silent');
    });
  }

  it('decompress to a stdout whose reader closes early: exit 1, silently', async () => {
    const big = t.file('big.bin');
    const pp = t.file('big.pp');
    const c = spawn(process.execPath, [BIN, 'compress', big, '-o', pp, '--codec', 'lz4']);
    assert.equal((await exited(c)).code, 0);
    const child = spawn(process.execPath, [BIN, 'decompress', pp], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b) => (stderr += b));
    await readBytes(child.stdout, 100, 10000);
    child.stdout.destroy();
    const r = await exited(child);
    assert.equal(r.code, 1, stderr);
    assert.equal(stderr, '');
  });
});
