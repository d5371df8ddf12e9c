/** Xen save/migration streams: constants, the validating reader, the page-aware filter, xen ssh, and stream builders for tests and benchmarks. */
export * from './constants';
export { XenReader, XenStreamError } from './reader';
export type { XenLayer, XenFormat, XenPageCounts, XenRecordInfo, XenReaderHandlers, XenReaderOptions, XenSummary, XenErrorContext } from './reader';
export { XenWriter, collect } from './writer';
export type { XenEmit, PageEntry, XlHeaderOptions } from './writer';
export { generateXenStream, DEFAULT_XENSTORE } from './generate';
export type { GenerateOptions, GenerateResult } from './generate';
export { XenEncoder, createXenEncoder, XEN_DEFAULT_CACHE_SLOTS } from './filter';
export type { XenEncoderOptions } from './filter';
export { detectXen, XEN_SIGNATURE_BYTES } from './detect';
export type { XenStart } from './detect';
export { runXenSsh } from './ssh';
