/** Usage of the bin: help, version, option errors (exit 2), files and terminals. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeInput, run, tmpDir } from './helpers';

const ONE_LINE = /^pagepress: [^\n]+\n$/;

describe('cli: usage', function () {
  this.timeout(30000);
  const t = tmpDir();
  const inFile = t.file('in.bin');
  before(() => fs.writeFileSync(inFile, Buffer.alloc(10000, 1)));
  after(() => t.cleanup());

  it('--help exits 0 and lists the commands, options and exit codes', async () => {
    const r = await run(['--help']);
    assert.equal(r.code, 0);
    const text = r.stdout.toString();
    for (const word of ['compress', 'decompress', 'inspect', 'Exit status']) assert.ok(text.includes(word), word);
    const c = await run(['compress', '--help']);
    assert.equal(c.code, 0);
    for (const word of ['--codec', '--level', '--threads', '--page-size', '--batch-pages', '--cache-slots', '--progress', '--json', '--quiet', '--force']) {
      assert.ok(c.stdout.toString().includes(word), word);
    }
  });

  it('migrate receive/send --help name --insecure, the loopback rule and every receiver limit with its default', async () => {
    const rx = (await run(['migrate', 'receive', '--help'])).stdout.toString();
    for (const word of [
      '--insecure',
      'loopback only',
      '127.0.0.0/8',
      'Threat model',
      'one connection',
      '--max-guest',
      '--handshake-timeout',
      '(default: 10)',
      '--timeout',
      '(default: 30)',
      '--accept-timeout',
      '(default: 0)',
      '16 MiB',
    ]) {
      assert.ok(rx.includes(word), `receive --help: ${word}`);
    }
    const tx = (await run(['migrate', 'send', '--help'])).stdout.toString();
    for (const word of ['--insecure', 'loopback only', 'before the guest is opened']) assert.ok(tx.includes(word), `send --help: ${word}`);
  });

  it('--version prints the version in package.json', async () => {
    const pkg = JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', '..', '..', 'package.json'), 'utf8'));
    const r = await run(['--version']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout.toString().trim(), pkg.version);
  });

  it('an unknown option exits 2 with one line', async () => {
    for (const args of [['--bogus'], ['compress', '--bogus'], ['decompress', '-z'], ['inspect', '--nope', inFile]]) {
      const r = await run(args, { input: Buffer.alloc(0) });
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, ONE_LINE);
      assert.match(r.stderr, /unknown option/);
      assert.equal(r.stdout.length, 0);
    }
  });

  const bad: Array<[string[], RegExp]> = [
    [['--codec', 'brotli'], /--codec/],
    [['--level', 'x'], /--level/],
    [['--level', '99'], /--level/],
    [['--codec', 'lz4', '--level', '5'], /--level/],
    [['--codec', 'deflate', '-l', '12'], /--level/],
    [['--page-size', '3000'], /--page-size/],
    [['--page-size', '128k'], /--page-size/],
    [['--page-size', 'big'], /--page-size/],
    [['--batch-pages', '0'], /--batch-pages/],
    [['--batch-pages', '5000'], /--batch-pages/],
    [['--cache-slots', '-1'], /--cache-slots/],
    [['-T', '65'], /--threads/],
    [['-T', 'two'], /--threads/],
  ];
  for (const [args, option] of bad) {
    it(`compress ${args.join(' ')} exits 2 naming the option, before any work`, async () => {
      const out = t.file(`never-${args.join('_')}.pp`);
      const r = await run(['compress', inFile, '-o', out, ...args]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, ONE_LINE);
      assert.match(r.stderr, option);
      assert.equal(fs.existsSync(out), false, 'no output file may be created');
    });
  }

  it('accepts 4k/64k page sizes, -T0 and a negative zstd level', async () => {
    const r = await run(['compress', '--page-size', '64k', '-T0', '-l', '-3', inFile, '-o', t.file('ok.pp')]);
    assert.equal(r.code, 0, r.stderr);
    const d = await run(['-d', t.file('ok.pp')]);
    assert.equal(d.code, 0, d.stderr);
    assert.ok(d.stdout.equals(fs.readFileSync(inFile)));
  });

  it('a missing input file exits 2', async () => {
    for (const cmd of ['compress', 'decompress', 'inspect']) {
      const r = await run([cmd, t.file('does-not-exist')]);
      assert.equal(r.code, 2, `${cmd}: ${r.stderr}`);
      assert.match(r.stderr, ONE_LINE);
      assert.match(r.stderr, /does-not-exist: No such file or directory/);
    }
  });

  it('a directory as input exits 2', async () => {
    const r = await run(['compress', t.dir]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /Is a directory/);
  });

  it('an existing OUT is not overwritten without -f (exit 2), and is with -f', async () => {
    const out = t.file('exists.pp');
    fs.writeFileSync(out, 'precious');
    const r = await run(['compress', inFile, '-o', out]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /already exists; use -f/);
    assert.equal(fs.readFileSync(out, 'utf8'), 'precious');
    const f = await run(['compress', inFile, '-o', out, '-f']);
    assert.equal(f.code, 0, f.stderr);
    assert.notEqual(fs.readFileSync(out, 'utf8'), 'precious');
  });

  it('decompress -f replaces a larger OUT exactly, zero pages (holes) included, keeping its mode', async () => {
    // A small OUT is truncated in place; a large one is replaced and its storage freed in
    // the background (io.ts replace()). Zero pages are left as holes, so a stale byte would show.
    const input = makeInput(300, 99, 3);
    const pp = t.file('replace.pp');
    const out = t.file('replace.out');
    const c = await run(['compress', '-o', pp, '--batch-pages', '32'], { input });
    assert.equal(c.code, 0, c.stderr);
    for (const old of [Buffer.alloc(4 * input.length, 0xaa), Buffer.alloc(20 << 20, 0x55), Buffer.alloc(1000, 0x11)]) {
      fs.writeFileSync(out, old);
      fs.chmodSync(out, 0o640);
      const d = await run(['decompress', pp, '-o', out, '-f', '-T2']);
      assert.equal(d.code, 0, d.stderr);
      assert.ok(fs.readFileSync(out).equals(input), `OUT differs after replacing a ${old.length}-byte file`);
      assert.equal(fs.statSync(out).mode & 0o777, 0o640, 'mode');
    }
    // A symlink OUT is written through, not replaced.
    const target = t.file('replace.target');
    const link = t.file('replace.link');
    fs.writeFileSync(target, Buffer.alloc(20 << 20, 0x77));
    fs.symlinkSync(target, link);
    const d = await run(['decompress', pp, '-o', link, '-f', '-T2']);
    assert.equal(d.code, 0, d.stderr);
    assert.ok(fs.lstatSync(link).isSymbolicLink());
    assert.ok(fs.readFileSync(target).equals(input));
  });

  it('writes to an existing device (-o /dev/null) without -f', async () => {
    const c = await run(['compress', inFile, '-o', t.file('dev.pp')]);
    assert.equal(c.code, 0, c.stderr);
    const r = await run(['decompress', t.file('dev.pp'), '-o', '/dev/null']);
    assert.equal(r.code, 0, r.stderr);
  });

  it('refuses to use the input file as OUT, even with -f', async () => {
    const r = await run(['compress', inFile, '-o', inFile, '-f']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /same file/);
    assert.equal(fs.statSync(inFile).size, 10000);
  });
});
