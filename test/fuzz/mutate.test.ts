/**
 * The fuzzers' structure-aware mutator (fuzz/js/mutate.ts) does what a hostile sender
 * does: frames moved, dropped, repeated or spliced, and bodies changed, with every CRC
 * still valid, so that the decoder's own checks, not the CRCs, must catch them.
 */
import * as assert from 'node:assert/strict';
import { createEncoder } from '../../lib';
import { checkBodyCrc } from '../../lib/format/frame';
import { FrameType } from '../../lib/format/constants';
import { Choices } from '../../fuzz/js/harness';
import { frameBody, mutateFrames, splitStream } from '../../fuzz/js/mutate';
import { memoryLike, through } from '../helpers';

describe('fuzz mutator', () => {
  let stream: Buffer;
  let foreign: Buffer;
  before(async () => {
    stream = await through(memoryLike(12, 1, 512, 77), createEncoder({ pageSize: 512, batchPages: 2, threads: 1 }));
    foreign = await through(memoryLike(12, 2, 512, 77), createEncoder({ pageSize: 512, batchPages: 2, threads: 1 }));
  });

  it('splits a stream into its frames with the format parsers, END last, and joins back to the same bytes', () => {
    const s = splitStream(stream);
    assert.equal(s.frames.at(-1)!.header.type, FrameType.END);
    assert.equal(s.frames.length, 8); // 7 batches of up to 2 pages + END
    assert.ok(Buffer.concat([s.header, ...s.frames.map((f) => f.bytes)]).equals(stream));
  });

  it('frame-level mutations keep every header and body CRC valid and change the stream', () => {
    const seen = new Set<string>();
    for (let seed = 1; seed <= 300; seed++) {
      const m = mutateFrames(stream, foreign, new Choices(seed));
      const kind = /^(?:data frames \d+ and \d+ (swapped)|frame \d+ (dropped|repeated|body byte)|frame \d+ of (another stream))/.exec(m.description)?.slice(1).find(Boolean);
      if (!kind) continue; // header-field and byte-level fallbacks may break the framing on purpose
      seen.add(kind);
      assert.ok(!m.bytes.equals(stream) || kind === 'swapped', `${m.description}: stream unchanged`);
      const s = splitStream(m.bytes); // throws on a bad header CRC
      s.frames.forEach((f, i) => checkBodyCrc(frameBody(f, s.stream), f.header, 0, i));
    }
    assert.deepEqual([...seen].sort(), ['another stream', 'body byte', 'dropped', 'repeated', 'swapped']);
  });
});
