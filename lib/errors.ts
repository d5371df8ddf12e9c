/**
 * One error family for the whole package. Match on `code`, never on the message.
 * Native errors are constructed as this same class (the addon receives it at load).
 */

/** Stable error codes. See docs/FORMAT.md for when each is raised. */
export const ErrorCodes = {
  /** Input ended inside a header, record or frame. */
  TRUNCATED: 'PP_ERR_TRUNCATED',
  /** Bytes after the last expected byte (image longer than its header says, data after END). */
  TRAILING: 'PP_ERR_TRAILING',
  /** Wrong magic number. */
  MAGIC: 'PP_ERR_MAGIC',
  /** Unsupported stream or image version. */
  VERSION: 'PP_ERR_VERSION',
  /** Image layout string not known to this reader. */
  LAYOUT: 'PP_ERR_LAYOUT',
  /** A field holds a value the format does not allow. */
  FORMAT: 'PP_ERR_FORMAT',
  /** A length or count exceeds a documented limit. */
  LIMIT: 'PP_ERR_LIMIT',
  /** A checksum did not match. */
  CHECKSUM: 'PP_ERR_CHECKSUM',
  /** A codec failed, or produced a length other than the frame header says. */
  CODEC: 'PP_ERR_CODEC',
  /** A DELTA payload is malformed. */
  DELTA: 'PP_ERR_DELTA',
  /** UNCHANGED or DELTA page whose pfn is not in the decoder's page cache. */
  CACHE_MISS: 'PP_ERR_CACHE_MISS',
  /** A caller passed an invalid argument or option. */
  ARG: 'PP_ERR_ARG',
  /** The native addon could not be loaded. */
  ADDON: 'PP_ERR_ADDON',
  /** A worker thread failed. */
  WORKER: 'PP_ERR_WORKER',
  /** A Xen save/migration stream breaks a rule Xen's restore enforces (docs/XEN.md). */
  XEN: 'PP_ERR_XEN',
  /** A migration ended early: the peer aborted, or the connection closed or failed (docs/MIGRATION.md). */
  ABORTED: 'PP_ERR_ABORTED',
  /** A migration made no progress for its idle timeout (docs/MIGRATION.md). */
  TIMEOUT: 'PP_ERR_TIMEOUT',
} as const;

/** Any of the codes in {@link ErrorCodes}. */
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** Where an error happened; every field optional. */
export interface ErrorContext {
  /** Byte offset in the input (stream offset for streams, image offset for images). */
  offset?: number;
  /** Index of the frame (0 = first frame after the stream header). */
  frame?: number;
  /** Index of the page inside its batch. */
  page?: number;
  /** Record or section name. */
  record?: string;
}

/** The error class of pagepress: `code` is stable, `offset`/`frame`/`page` say where. */
export class PagepressError extends Error {
  readonly code: ErrorCode;
  offset?: number;
  frame?: number;
  page?: number;
  record?: string;

  constructor(message: string, code: ErrorCode, context: ErrorContext = {}) {
    super(message);
    this.name = 'PagepressError';
    this.code = code;
    Object.assign(this, context);
  }
}

/** True when `err` is a PagepressError (also across worker threads, where the prototype is lost). */
export function isPagepressError(err: unknown): err is PagepressError {
  return (
    err instanceof PagepressError || (typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string' && String((err as { code: string }).code).startsWith('PP_ERR_'))
  );
}

/** Rebuild a PagepressError from a structured-clone copy received from a worker. */
export function reviveError(data: { message: string; code?: string; offset?: number; frame?: number; page?: number; record?: string }): PagepressError {
  const code = (data.code && data.code.startsWith('PP_ERR_') ? data.code : ErrorCodes.WORKER) as ErrorCode;
  return new PagepressError(data.message, code, { offset: data.offset, frame: data.frame, page: data.page, record: data.record });
}
