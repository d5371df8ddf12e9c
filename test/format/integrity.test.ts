/**
 * Stream integrity (docs/FORMAT.md 2.7), through the real command line: whole, CRC-valid
 * frames swapped, dropped, repeated or taken from another stream, and stream headers that
 * lie about the geometry (CRC recomputed), in raw and Xen streams, at -T1 and -T2, decoded
 * to a file and to stdout. Each must exit 1 naming an offset, and leave exactly the decoded
 * bytes of the frames before the first bad one. (On format version 1 the swaps decoded with
 * exit 0 and the pages exchanged, and the forged page size decoded into zero-filled pages.)
 */
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { addon } from '../../lib/native';
import { decodeFrameHeader, decodeStreamHeader, encodeStreamHeader, FrameHeader, frameSeed, StreamHeader, streamHeaderLength, writeFrameHeader } from '../../lib/format/frame';
import { FRAME_HEADER_BYTES, FrameType, STREAM_HEADER_BYTES } from '../../lib/format/constants';
import { generateXenStream } from '../../lib/xen/generate';
import { memoryLike } from '../helpers';
import { run, tmpDir } from '../cli/helpers';

/** A stream cut into its parts. */
interface Parsed {
  header: Buffer;
  stream: StreamHeader;
  frames: Array<{ h: FrameHeader; bytes: Buffer }>;
  end: Buffer;
}

function parse(b: Buffer): Parsed {
  const stream = decodeStreamHeader(b);
  let at = streamHeaderLength(b);
  const frames: Parsed['frames'] = [];
  for (let i = 0; ; i++) {
    const h = decodeFrameHeader(b.subarray(at, at + FRAME_HEADER_BYTES), stream, at, i);
    const len = FRAME_HEADER_BYTES + h.bodyLength;
    if (h.type === FrameType.END) return { header: b.subarray(0, STREAM_HEADER_BYTES), stream, frames, end: b.subarray(at, at + len) };
    frames.push({ h, bytes: b.subarray(at, at + len) });
    at += len;
  }
}

function join(p: Parsed, frames: Buffer[], header = p.header): Buffer {
  return Buffer.concat([header, ...frames, p.end]);
}

/** Rewrites a frame's header (fields edited, CRC recomputed with `seed`): what a hostile sender can do. */
function reheader(frame: Buffer, edit: Partial<FrameHeader>, from: StreamHeader, seed: number): Buffer {
  const out = Buffer.from(frame);
  const h = decodeFrameHeader(out, from, 0, 0);
  writeFrameHeader(out, 0, { ...h, ...edit }, seed);
  return out;
}

/** Decoded bytes before frame `i`. */
const offsetOf = (p: Parsed, i: number) => (i < p.frames.length ? p.frames[i].h.outOffset : p.frames[p.frames.length - 1].h.outOffset + p.frames[p.frames.length - 1].h.outLength);

/** goodBytes of a stream whose frames are all self-consistent: only the END digest can refuse it. */
const END_DIGEST = -1;

/** Indexes of BATCH frames (Xen streams interleave VERBATIM ones). */
const batches = (p: Parsed) => p.frames.map((f, i) => (f.h.type === FrameType.BATCH ? i : -1)).filter((i) => i >= 0);

const mutations: Array<[string, (p: Parsed, other: Parsed) => { stream: Buffer; goodBytes: number }]> = [
  [
    'two BATCH frames swapped',
    (p) => {
      const [i, , j] = batches(p);
      const f = p.frames.map((x) => x.bytes);
      [f[i], f[j]] = [f[j], f[i]];
      return { stream: join(p, f), goodBytes: offsetOf(p, i) };
    },
  ],
  [
    'a frame dropped',
    (p) => {
      const i = batches(p)[1];
      return {
        stream: join(
          p,
          p.frames.filter((_x, k) => k !== i).map((x) => x.bytes),
        ),
        goodBytes: offsetOf(p, i),
      };
    },
  ],
  [
    'the last frame dropped',
    (p) => {
      const i = p.frames.length - 1;
      return {
        stream: join(
          p,
          p.frames.slice(0, i).map((x) => x.bytes),
        ),
        goodBytes: offsetOf(p, i),
      };
    },
  ],
  [
    'a frame repeated',
    (p) => {
      const i = batches(p)[1];
      const f = p.frames.map((x) => x.bytes);
      f.splice(i + 1, 0, f[i]);
      return { stream: join(p, f), goodBytes: offsetOf(p, i + 1) };
    },
  ],
  [
    'a frame of another stream in its place',
    (p, other) => {
      const i = batches(p)[1];
      const f = p.frames.map((x) => x.bytes);
      f[i] = other.frames[i].bytes;
      return { stream: join(p, f), goodBytes: offsetOf(p, i) };
    },
  ],
  [
    'a frame of another stream, its header rewritten for this one (seq, offset, CRC)',
    (p, other) => {
      // A sender that recomputes CRCs can write any stream it likes (only authentication, TLS,
      // stops that); what is left to the decoder is the END digest, which covers every frame.
      const i = batches(p)[1];
      const f = p.frames.map((x) => x.bytes);
      const o = other.frames[i];
      f[i] = reheader(o.bytes, { seq: i, outOffset: p.frames[i].h.outOffset }, other.stream, frameSeed(p.stream));
      return { stream: join(p, f), goodBytes: END_DIGEST };
    },
  ],
  [
    'stream header claims 65536-byte pages (its CRC recomputed)',
    (p) => {
      const h = Buffer.from(p.header);
      h.writeUInt32LE(65536, 8);
      h.writeUInt32LE(addon.crc32c(h.subarray(0, 28)), 28);
      return {
        stream: join(
          p,
          p.frames.map((x) => x.bytes),
          h,
        ),
        goodBytes: 0,
      };
    },
  ],
  [
    'stream header claims 65536-byte pages, every CRC recomputed',
    (p) => {
      const forged: StreamHeader = { ...p.stream, pageSize: 65536, batchPages: Math.min(p.stream.batchPages, 1024) };
      const h = encodeStreamHeader(forged);
      const seed = frameSeed(forged);
      const f = p.frames.map((x) => reheader(x.bytes, x.h.type === FrameType.BATCH ? { outLength: x.h.pages * 65536 } : {}, p.stream, seed));
      return { stream: join(p, f, h), goodBytes: 0 };
    },
  ],
];

function xenInput(seed: number): Buffer {
  const chunks: Buffer[] = [];
  const pages = memoryLike(600, seed);
  generateXenStream(
    {
      guest: 'hvm',
      version: 3,
      layer: 'xl',
      pages: 600,
      iterations: [{ pfns: [3, 4, 5, 300, 301] }],
      page: (pfn, it, out) => {
        out.set(pages.subarray(pfn * 4096, pfn * 4096 + 4096));
        if (it) out[7] ^= it;
      },
    },
    (b) => chunks.push(Buffer.from(b)),
  );
  return Buffer.concat(chunks);
}

describe('stream integrity: frames out of place and forged geometry are refused before their bytes', function () {
  this.timeout(180_000);
  const t = tmpDir();
  after(() => t.cleanup());

  for (const kind of ['raw', 'xen'] as const) {
    const input = kind === 'raw' ? memoryLike(5 * 64 + 17, 3, 4096, 900) : xenInput(4);
    const otherInput = kind === 'raw' ? memoryLike(5 * 64 + 17, 9, 4096, 900) : xenInput(8);
    let p: Parsed;
    let other: Parsed;
    before(async () => {
      const args = kind === 'raw' ? ['compress', '--batch-pages', '64'] : ['compress', '--batch-pages', '64', '--format', 'xen'];
      const a = await run(args, { input });
      const b = await run(args, { input: otherInput });
      assert.equal(a.code, 0, a.stderr);
      assert.equal(b.code, 0, b.stderr);
      p = parse(a.stdout);
      other = parse(b.stdout);
      assert.ok(batches(p).length >= 4, `${kind}: ${batches(p).length} batch frames`);
    });

    for (const [name, mutate] of mutations) {
      it(`${kind}: ${name}: exit 1 with an offset, output exactly the good prefix (-T1/-T2, file/stdout)`, async () => {
        const { stream, goodBytes } = mutate(p, other);
        const src = t.file(`${kind}-${crypto.randomUUID()}.pp`);
        fs.writeFileSync(src, stream);
        const outputs: string[] = [];
        for (const threads of ['1', '2']) {
          const toStdout = await run(['decompress', '-T', threads], { stdinFile: src });
          const file = path.join(t.dir, `${crypto.randomUUID()}.out`);
          const toFile = await run(['decompress', '-T', threads, src, '-o', file]);
          for (const [where, r, out] of [
            ['stdout', toStdout, toStdout.stdout],
            ['file', toFile, fs.existsSync(file) ? fs.readFileSync(file) : Buffer.alloc(0)],
          ] as const) {
            const label = `${kind} ${name} -T${threads} ${where}`;
            assert.equal(r.code, 1, `${label}: exit ${r.code}: ${r.stderr}`);
            assert.match(r.stderr, /offset \d+/, label);
            assert.match(r.stderr, /PP_ERR_(FORMAT|CHECKSUM|LIMIT)/, label);
            outputs.push(crypto.createHash('sha256').update(out).digest('hex'));
            if (goodBytes === END_DIGEST) {
              // Refused at END by the digest, or at the next frame when its length differs.
              assert.match(r.stderr, /END frame .*digest|reordered, dropped or repeated/, `${label}: ${r.stderr}`);
              continue;
            }
            assert.ok(out.equals(input.subarray(0, out.length)), `${label}: output is not a prefix of the original`);
            assert.equal(out.length, goodBytes, `${label}: output ends at the last good frame`);
          }
        }
        assert.equal(new Set(outputs).size, 1, 'the same output whatever the thread count and output kind');
        // inspect refuses it too, at an offset.
        const i = await run(['inspect', src]);
        assert.equal(i.code, 1, i.stderr);
        assert.match(i.stderr, /offset \d+/);
      });
    }
  }
});

describe('format version 1 streams (written by the release before version 2)', () => {
  const dir = path.join(__dirname, '..', '..', '..', 'test', 'fixtures');
  const expected = JSON.parse(fs.readFileSync(path.join(dir, 'v1-streams.json'), 'utf8')).streams as Record<string, { bytes: number; sha256: string }>;
  for (const [file, want] of Object.entries(expected)) {
    it(`${file} decodes to the original bytes (-T1 and -T2), and inspect reads it`, async () => {
      for (const threads of ['1', '2']) {
        const r = await run(['decompress', '-T', threads], { stdinFile: path.join(dir, file) });
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout.length, want.bytes);
        assert.equal(crypto.createHash('sha256').update(r.stdout).digest('hex'), want.sha256);
      }
      const i = await run(['inspect', path.join(dir, file)]);
      assert.equal(i.code, 0, i.stderr);
      assert.match(i.stdout.toString(), /pagepress v1/);
    });
  }

  it('a version 1 byte stream with two batches swapped is refused (pfn run check), with the good prefix', async () => {
    const b = fs.readFileSync(path.join(dir, 'v1-raw-zstd.pp'));
    const stream = decodeStreamHeader(b);
    const frames: Buffer[] = [];
    let at = 20;
    for (;;) {
      const h = decodeFrameHeader(b.subarray(at, at + 24), stream, at, frames.length);
      if (h.type === FrameType.END) break;
      frames.push(b.subarray(at, at + 24 + h.bodyLength));
      at += 24 + h.bodyLength;
    }
    [frames[1], frames[2]] = [frames[2], frames[1]];
    const t = tmpDir();
    try {
      const src = t.file('swapped-v1.pp');
      fs.writeFileSync(src, Buffer.concat([b.subarray(0, 20), ...frames, b.subarray(at)]));
      const r = await run(['decompress', '-T', '2'], { stdinFile: src });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /reordered, dropped or repeated/);
      assert.equal(r.stdout.length, 64 * 4096);
    } finally {
      t.cleanup();
    }
  });
});
