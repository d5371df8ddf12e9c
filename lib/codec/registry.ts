import { Codec, CodecName } from './codec';
import { none } from './none';
import { deflate } from './deflate';
import { lz4 } from './lz4';
import { zstd } from './zstd';
import { ErrorCodes, PagepressError } from '../errors';

/** Every codec, by wire id. */
export const codecsById: ReadonlyMap<number, Codec> = new Map([none, deflate, lz4, zstd].map((c) => [c.id, c] as const));
/** Every codec, by name. */
export const codecsByName: ReadonlyMap<CodecName, Codec> = new Map([none, deflate, lz4, zstd].map((c) => [c.name, c] as const));

/** Codec choices a caller may ask for: a wire codec, or `auto` (chosen per batch). */
export type CodecChoice = CodecName | 'auto';
/** All values accepted for the `codec` option. */
export const CODEC_CHOICES: readonly CodecChoice[] = ['auto', 'zstd', 'lz4', 'deflate', 'none'];

/** The codec with wire id `id`. @throws PagepressError PP_ERR_FORMAT for an unknown id. */
export function codecById(id: number, offset?: number): Codec {
  const codec = codecsById.get(id);
  if (!codec) throw new PagepressError(`unknown codec id ${id}`, ErrorCodes.FORMAT, { offset });
  return codec;
}

/** The largest bound over all codecs, for sizing slots that any codec may fill. */
export function maxBound(rawLength: number): number {
  let max = 0;
  for (const codec of codecsById.values()) max = Math.max(max, codec.bound(rawLength));
  return max;
}

export { Codec, CodecName, none, deflate, lz4, zstd };
