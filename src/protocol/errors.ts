/**
 * The error-code table: every failure that crosses a process boundary has one code here,
 * with the HTTP status a server answers with, whether a caller may retry, and a default
 * message. Codes, not messages or classes, cross boundaries (STYLE.md B8).
 * `docs/errors.md` documents every code; a test keeps the two in sync.
 */

interface ErrorSpec {
  readonly httpStatus: number
  readonly retryable: boolean
  readonly message: string
}

/** The table. Keep it sorted by area; add a section to docs/errors.md for every new code. */
export const ERROR_CODES = {
  DF_ERR_ARG_INVALID: { httpStatus: 400, retryable: false, message: 'invalid argument' },
  DF_ERR_ARG_ROUTE_NOT_FOUND: { httpStatus: 404, retryable: false, message: 'no such route' },
  DF_ERR_ARG_UNAUTHORIZED: { httpStatus: 401, retryable: false, message: 'missing or wrong token' },
  DF_ERR_CONFIG_INVALID: { httpStatus: 400, retryable: false, message: 'invalid configuration' },
  DF_ERR_CONFIG_UNUSABLE: { httpStatus: 400, retryable: false, message: 'a port, file or directory the configuration names cannot be used' },
  DF_ERR_TASK_NOT_FOUND: { httpStatus: 404, retryable: false, message: 'no such task' },
  DF_ERR_TASK_CLIENT_NOT_FOUND: { httpStatus: 404, retryable: false, message: 'no such cid for this task' },
  DF_ERR_TASK_CONFLICT: { httpStatus: 409, retryable: false, message: 'cid already registered for another task' },
  DF_ERR_TASK_FAILED: { httpStatus: 502, retryable: false, message: 'the task failed at the supernode' },
  DF_ERR_TASK_SWARM_FAILED: { httpStatus: 502, retryable: false, message: 'the swarm could not deliver the file and back-source is forbidden' },
  DF_ERR_TASK_MD5_MISMATCH: { httpStatus: 502, retryable: false, message: 'downloaded file does not match the expected md5' },
  DF_ERR_TASK_DIGEST_MISMATCH: { httpStatus: 502, retryable: false, message: 'downloaded file does not match the expected content digest' },
  DF_ERR_TASK_PREHEAT_NOT_FOUND: { httpStatus: 404, retryable: false, message: 'no such preheat' },
  DF_ERR_TASK_WRITE_FAILED: { httpStatus: 500, retryable: false, message: 'could not write the output' },
  DF_ERR_PEER_NOT_FOUND: { httpStatus: 404, retryable: false, message: 'no such peer' },
  DF_ERR_PIECE_NOT_FOUND: { httpStatus: 404, retryable: false, message: 'no such piece' },
  DF_ERR_PIECE_NOT_AVAILABLE: { httpStatus: 404, retryable: true, message: 'piece not held here' },
  DF_ERR_PIECE_RANGE_INVALID: { httpStatus: 416, retryable: false, message: 'invalid piece range' },
  DF_ERR_PIECE_DIGEST_MISMATCH: { httpStatus: 502, retryable: true, message: 'piece digest mismatch' },
  DF_ERR_PIECE_GRANT_REQUIRED: { httpStatus: 401, retryable: false, message: 'the pieces of this task need a grant from a supernode' },
  DF_ERR_PIECE_GRANT_INVALID: { httpStatus: 403, retryable: false, message: 'the piece grant opens nothing here' },
  DF_ERR_SOURCE_STATUS: { httpStatus: 502, retryable: false, message: 'the source answered with an error status' },
  DF_ERR_SOURCE_UNREACHABLE: { httpStatus: 502, retryable: true, message: 'the source could not be reached' },
  DF_ERR_SOURCE_CHANGED: { httpStatus: 502, retryable: true, message: 'the source changed during the download' },
  DF_ERR_SOURCE_MANIFEST_INVALID: { httpStatus: 502, retryable: false, message: 'the registry answered with a manifest that cannot be read' },
  DF_ERR_SOURCE_FORBIDDEN: { httpStatus: 403, retryable: false, message: 'fetching this source is not allowed' },
  DF_ERR_SOURCE_NOT_PROVEN: { httpStatus: 403, retryable: false, message: 'the task\'s content was verified from another source' },
  DF_ERR_SOURCE_REDIRECT_LOOP: { httpStatus: 502, retryable: false, message: 'the source redirects in a loop' },
  DF_ERR_SOURCE_TOO_MANY_REDIRECTS: { httpStatus: 502, retryable: false, message: 'the source redirected more times than allowed' },
  DF_ERR_CDN_IO: { httpStatus: 500, retryable: true, message: 'CDN cache input/output error' },
  DF_ERR_UPLOAD_TASK_NOT_FOUND: { httpStatus: 404, retryable: false, message: 'this peer does not serve that task' },
  DF_ERR_UPLOAD_STORE_FULL: { httpStatus: 507, retryable: true, message: 'the peer server\'s stream store is full' },
  DF_ERR_PROXY_BAD_REQUEST: { httpStatus: 400, retryable: false, message: 'the proxy cannot handle this request' },
  DF_ERR_PROXY_NO_UPSTREAM: { httpStatus: 502, retryable: false, message: 'no upstream registry for this request' },
  DF_ERR_PROXY_UPSTREAM_UNREACHABLE: { httpStatus: 502, retryable: true, message: 'the upstream could not be reached' },
  DF_ERR_PROXY_TUNNEL_FAILED: { httpStatus: 502, retryable: true, message: 'could not open the CONNECT tunnel' },
  DF_ERR_PROXY_DIGEST_MISMATCH: { httpStatus: 502, retryable: true, message: 'the blob does not match its digest' },
  DF_ERR_PROXY_MIRROR_NOT_IN_EFFECT: { httpStatus: 409, retryable: false, message: 'the container engine does not use dfdaemon as its mirror' },
  DF_ERR_NETWORK: { httpStatus: 503, retryable: true, message: 'network error' },
  DF_ERR_TIMEOUT: { httpStatus: 504, retryable: true, message: 'timed out' },
  DF_ERR_INTERNAL: { httpStatus: 500, retryable: false, message: 'internal error' },
  DF_ERR_INTERNAL_INVARIANT: { httpStatus: 500, retryable: false, message: 'internal invariant violated' },
} as const satisfies Record<string, ErrorSpec>

/** A closed union of every error code. */
export type ErrorCode = keyof typeof ERROR_CODES

/** JSON-safe extra facts about an error (the field at fault, a status, a peer id ...). */
export type ErrorDetails = Readonly<Record<string, string | number | boolean | null>>

/** Where a remote error came from, filled in by the HTTP client. */
export interface RemoteInfo {
  readonly url: string
  readonly method: string
  readonly status: number
}

/** The wire shape of every error response body. */
export interface WireError {
  readonly code: ErrorCode
  readonly message: string
  readonly details?: ErrorDetails
}

/** The one error class of the project. Subclass only to add typed fields. */
export class DfError extends Error {
  override readonly name = 'DfError'
  readonly code: ErrorCode
  readonly httpStatus: number
  readonly retryable: boolean
  readonly details: ErrorDetails | undefined
  readonly remote: RemoteInfo | undefined

  constructor (code: ErrorCode, message?: string, options: { details?: ErrorDetails, cause?: unknown, remote?: RemoteInfo } = {}) {
    super(message ?? ERROR_CODES[code].message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.httpStatus = ERROR_CODES[code].httpStatus
    this.retryable = ERROR_CODES[code].retryable
    this.details = options.details
    this.remote = options.remote
  }
}

/** True when `err` is a DfError with that code (works on both sides of a boundary). */
export function isCode (err: unknown, code: ErrorCode): err is DfError {
  return err instanceof DfError && err.code === code
}

/** True when `value` names a code of the table. */
export function isErrorCode (value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value)
}

/** The body a server sends for `err`. */
export function toWire (err: DfError): WireError {
  return err.details === undefined
    ? { code: err.code, message: err.message }
    : { code: err.code, message: err.message, details: err.details }
}

/**
 * Rebuilds a DfError from an error body, keeping its code. Returns undefined when the body
 * is not in our shape (the caller then maps the bare status).
 */
export function fromWire (body: unknown, remote: RemoteInfo): DfError | undefined {
  if (typeof body !== 'object' || body === null) return undefined
  const record = body as Record<string, unknown> // narrowed field by field below
  if (!isErrorCode(record.code)) return undefined
  const message = typeof record.message === 'string' ? record.message : ERROR_CODES[record.code].message
  const details = typeof record.details === 'object' && record.details !== null ? record.details as ErrorDetails : undefined
  return new DfError(record.code, message, details === undefined ? { remote } : { details, remote })
}

/** An ARG_INVALID error naming the field at fault. */
export function invalidArgument (field: string, problem: string): DfError {
  return new DfError('DF_ERR_ARG_INVALID', `${field}: ${problem}`, { details: { field } })
}
