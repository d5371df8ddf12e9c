/**
 * The one list of codecs. Everything that names codecs derives from {@link CODECS}: the
 * {@link CodecName} type, the lookups by id and name, the CLI's choices and help texts,
 * the predictor's built-in profiles, the contract test (test/codec/contract.test.ts),
 * the tests and benchmarks that loop over codecs, and the check of docs/FORMAT.md 2.4.
 * Adding a codec: one file that exports a `Codec<'name'>`, and one line in CODECS.
 */
import { Codec, CodecEstimate } from './codec';
import { none } from './none';
import { deflate } from './deflate';
import { lz4 } from './lz4';
import { zstd } from './zstd';
import { ErrorCodes, PagepressError } from '../errors';

/** Every wire codec, in wire id order. */
export const CODECS = [none, deflate, lz4, zstd] as const;

/** Names of the codecs that can appear on the wire. */
export type CodecName = (typeof CODECS)[number]['name'];

/** The wire codec names, in {@link CODECS} order. */
export const CODEC_NAMES: readonly CodecName[] = CODECS.map((c) => c.name);

/** Every codec, by wire id. */
export const codecsById: ReadonlyMap<number, Codec> = new Map(CODECS.map((c) => [c.id, c] as const));
/** Every codec, by name. */
export const codecsByName: ReadonlyMap<CodecName, Codec> = new Map(CODECS.map((c) => [c.name, c] as const));

/** The codec of the CLI and of the encoder options when none is named (and the one `auto` probes). */
export const DEFAULT_CODEC: CodecName = 'zstd';

/** Codec choices a caller may ask for: a wire codec, or `auto` (chosen per batch). */
export type CodecChoice = CodecName | 'auto';
/** All values accepted for the `codec` option. */
export const CODEC_CHOICES: readonly CodecChoice[] = ['auto', ...CODEC_NAMES];

/** The codec with wire id `id`. @throws PagepressError PP_ERR_FORMAT for an unknown id. */
export function codecById(id: number, offset?: number): Codec {
  const codec = codecsById.get(id);
  if (!codec) throw new PagepressError(`unknown codec id ${id}`, ErrorCodes.FORMAT, { offset });
  return codec;
}

/** The largest bound over all codecs, for sizing slots that any codec may fill. */
export function maxBound(rawLength: number): number {
  let max = 0;
  for (const codec of CODECS) max = Math.max(max, codec.bound(rawLength));
  return max;
}

export { Codec, CodecEstimate, none, deflate, lz4, zstd };
