/**
 * pagepress: serialize and compress batches of VM memory pages, natively and off the
 * event loop. Public exports only.
 */
export { PagepressError, ErrorCodes, isPagepressError } from './errors';
export type { ErrorCode, ErrorContext } from './errors';
export { createEncoder, Encoder } from './stream/encoder';
export { createDecoder, Decoder } from './stream/decoder';
export { BatchEncoder, BatchDecoder } from './stream/batch';
export { SyncBatchCodec } from './stream/batch-sync';
export type { DecodedBatch } from './stream/batch';
export { encodeFd, decodeFd } from './stream/files';
export type { DecodeFdOptions } from './stream/files';
export type { EncoderOptions, DecoderOptions } from './stream/options';
export type { DecoderLimits, DecodeTotals } from './stream/decode-engine';
export type { EncodeTotals } from './stream/encode-engine';
export { CODECS, CODEC_NAMES, codecsById, codecsByName, CODEC_CHOICES, DEFAULT_CODEC } from './codec/registry';
export type { Codec, CodecEstimate, CodecName, CodecChoice } from './codec/registry';
export { PageKind, addon as native } from './native';
export * as format from './format/constants';
export * as xen from './xen';
export * as migration from './migration';
export * as planner from './planner';
