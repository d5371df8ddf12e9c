/**
 * The codec contract (lib/codec/codec.ts), run over every codec in the registry, so a new
 * codec is tested by being listed: bound >= compressed length, byte-exact round trip,
 * PP_ERR_CODEC for a truncated body and for a destination larger or smaller than the real
 * decoded length, and no byte read or written outside the buffers it is given.
 */
import * as assert from 'node:assert/strict';
import { CODECS, CODEC_NAMES, Codec, DEFAULT_CODEC, codecsByName, maxBound } from '../../lib/codec/registry';
import { isPagepressError } from '../../lib/errors';
import { memoryLike, randomBytes } from '../helpers';

/** Bytes of guard on each side of every buffer handed to a codec. */
const GUARD = 64;
const GUARD_BYTE = 0xa5;

/** `length` bytes inside a larger buffer whose guard bytes around them are GUARD_BYTE. */
function guarded(length: number): { view: Uint8Array; intact: () => boolean } {
  const whole = new Uint8Array(GUARD + length + GUARD).fill(GUARD_BYTE);
  const view = whole.subarray(GUARD, GUARD + length);
  const intact = () => whole.subarray(0, GUARD).every((b) => b === GUARD_BYTE) && whole.subarray(GUARD + length).every((b) => b === GUARD_BYTE);
  return { view, intact };
}

/** `bytes` copied inside guard bytes (what lies around a body a codec must not read). */
function inGuard(bytes: Uint8Array): Uint8Array {
  const g = guarded(bytes.length);
  g.view.set(bytes);
  return g.view;
}

/** Asserts that `fn` throws a PagepressError with code PP_ERR_CODEC. */
function throwsCodec(fn: () => void, what: string): void {
  let caught: unknown = null;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught !== null, `${what}: no error`);
  assert.ok(isPagepressError(caught), `${what}: not a PagepressError: ${String(caught)}`);
  assert.equal((caught as { code: string }).code, 'PP_ERR_CODEC', `${what}: ${(caught as Error).message}`);
}

/** Compresses `raw` into a guarded destination of exactly bound(raw.length) bytes; returns the body. */
function compressChecked(codec: Codec, raw: Uint8Array, level: number, what: string): Uint8Array {
  const bound = codec.bound(raw.length);
  assert.ok(Number.isInteger(bound) && bound >= 1, `${what}: bound ${bound}`);
  const dst = guarded(bound);
  const n = codec.compress(inGuard(raw), dst.view, level);
  assert.ok(Number.isInteger(n) && n >= 1 && n <= bound, `${what}: compressed to ${n} bytes, bound ${bound}`);
  assert.ok(dst.intact(), `${what}: compress wrote outside its destination`);
  return dst.view.slice(0, n);
}

const INPUTS: { name: string; make: (n: number) => Uint8Array }[] = [
  { name: 'incompressible', make: (n) => randomBytes(n, n) },
  { name: 'compressible', make: (n) => memoryLike(Math.ceil(n / 4096), n).subarray(0, n) },
  { name: 'all-zero', make: (n) => new Uint8Array(n) },
];
// One byte, a page less one, a page, a batch of 16 pages, and the image of a default batch of 1024 pages.
const SIZES = [1, 4095, 4096, 16 * 4096 + 3, 1024 * 4096 + 80 + 1024 * 16];

describe('codec contract', function () {
  this.timeout(120000);

  it('the registry lists unique u8 ids and unique names, and the default codec has a built-in estimate', () => {
    assert.ok(CODECS.length >= 4);
    assert.equal(new Set(CODECS.map((c) => c.id)).size, CODECS.length);
    assert.equal(new Set(CODEC_NAMES).size, CODECS.length);
    for (const c of CODECS) {
      assert.ok(Number.isInteger(c.id) && c.id >= 0 && c.id <= 255, `${c.name}: id ${c.id}`);
      assert.ok(/^[a-z0-9]+$/.test(c.name) && (c.name as string) !== 'auto', `${c.name}: name`);
      assert.ok(c.description.length > 0, `${c.name}: description`);
      assert.ok(c.levels.min <= c.levels.default && c.levels.default <= c.levels.max, `${c.name}: levels`);
      assert.equal(codecsByName.get(c.name), c);
    }
    assert.ok(codecsByName.get(DEFAULT_CODEC)?.estimate, 'the default codec needs an estimate (predict and plan default to it)');
  });

  for (const codec of CODECS) {
    describe(codec.name, () => {
      const levels = [...new Set([codec.levels.min, codec.levels.default, codec.levels.max])];

      it('compresses within bound(n), and round-trips byte for byte, at its min, default and max level', () => {
        for (const input of INPUTS) {
          for (const n of SIZES) {
            const raw = input.make(n);
            for (const level of levels) {
              const what = `${codec.name} level ${level}, ${n} ${input.name} bytes`;
              assert.ok(codec.bound(n) <= maxBound(n), `${what}: maxBound`);
              const body = compressChecked(codec, raw, level, what);
              const out = guarded(n);
              codec.decompress(inGuard(body), out.view);
              assert.ok(out.intact(), `${what}: decompress wrote outside its destination`);
              assert.ok(Buffer.from(out.view).equals(raw), `${what}: round trip differs`);
            }
          }
        }
      });

      it('refuses a truncated body with PP_ERR_CODEC (the bytes cut off stay readable behind it)', () => {
        for (const input of INPUTS) {
          for (const n of [4096, 16 * 4096 + 3]) {
            const raw = input.make(n);
            const body = inGuard(compressChecked(codec, raw, codec.levels.default, codec.name));
            const cuts = [...new Set([0, 1, Math.floor(body.length / 2), body.length - 1])].filter((k) => k < body.length);
            for (const cut of cuts) {
              // A view of the whole body: a codec that read past src.length would see the
              // rest of a valid body and succeed.
              const out = guarded(n);
              throwsCodec(() => codec.decompress(body.subarray(0, cut), out.view), `${codec.name}, ${n} ${input.name} bytes cut to ${cut} of ${body.length}`);
              assert.ok(out.intact(), `${codec.name}: wrote outside its destination on a truncated body`);
            }
          }
        }
      });

      it('refuses a destination larger or smaller than the decoded length with PP_ERR_CODEC, writing nothing outside it', () => {
        for (const input of INPUTS) {
          const n = 16 * 4096 + 3;
          const body = inGuard(compressChecked(codec, input.make(n), codec.levels.default, codec.name));
          for (const claimed of [1, n - 1, n + 1, 2 * n]) {
            const out = guarded(claimed);
            throwsCodec(() => codec.decompress(body, out.view), `${codec.name}, ${n} ${input.name} bytes decoded into ${claimed}`);
            assert.ok(out.intact(), `${codec.name}: wrote outside a ${claimed}-byte destination`);
          }
        }
      });
    });
  }
});
