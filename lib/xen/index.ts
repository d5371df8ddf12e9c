/** Xen save/migration streams: constants, the validating reader, and stream builders for tests and benchmarks. */
export * from './constants';
export { XenReader, XenStreamError } from './reader';
export type { XenLayer, XenFormat, XenPageCounts, XenRecordInfo, XenReaderHandlers, XenReaderOptions, XenSummary, XenErrorContext } from './reader';
export { XenWriter, collect } from './writer';
export type { XenEmit, PageEntry, XlHeaderOptions } from './writer';
export { generateXenStream, DEFAULT_XENSTORE } from './generate';
export type { GenerateOptions, GenerateResult } from './generate';
