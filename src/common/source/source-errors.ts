/**
 * The one mapping from what a source does to `DF_ERR_SOURCE_*` codes, for every reader of a
 * source (the CDN, dfget's back-source and stream mode, dfdaemon's registry fallback):
 * - an error status (4xx, 5xx, or a 3xx that cannot be followed) is DF_ERR_SOURCE_STATUS
 *   naming the status and the URL (`details.status`, `details.url` without its query);
 * - a failure to connect, a reset, a stall or a body cut short is DF_ERR_SOURCE_UNREACHABLE,
 *   with the transport's error as `cause`;
 * - an abort by the caller's signal stays what it is (the caller tells why it aborted).
 * Whether a failed read may be tried again is decided here too (`isTransientSourceFailure`).
 */
import { redactUrl } from '../http/redact-url.js'
import { DfError, isCode } from '../../protocol/errors.js'

/** Statuses a source may answer once and not the next time (overload, a gateway's hiccup). */
const TRANSIENT_STATUSES = new Set([408, 429, 500, 502, 503, 504])

/** DF_ERR_SOURCE_STATUS for a source's error answer. */
export function sourceStatusError (status: number, url: string): DfError {
  const shown = redactUrl(url)
  return new DfError('DF_ERR_SOURCE_STATUS', `source answered ${status} for ${shown}`, { details: { status, url: shown } })
}

/**
 * A failure of a source request or of reading its body, as a source error: our transport's
 * DF_ERR_NETWORK / DF_ERR_TIMEOUT and raw socket errors become DF_ERR_SOURCE_UNREACHABLE;
 * other DfErrors (already classified) and aborts by `signal` are returned as they are.
 */
export function sourceTransportError (err: unknown, url: string, signal?: AbortSignal): unknown {
  if (signal?.aborted === true) return err
  const shown = redactUrl(url)
  if (isCode(err, 'DF_ERR_NETWORK') || isCode(err, 'DF_ERR_TIMEOUT')) {
    return new DfError('DF_ERR_SOURCE_UNREACHABLE', `source unreachable: ${err.message}`, { cause: err, details: { url: shown } })
  }
  if (err instanceof DfError || (err instanceof Error && err.name === 'AbortError')) return err
  // A failure while reading a body (reset, closed early, stalled) comes from the socket as is.
  const reason = (err as { code?: string } | undefined)?.code ?? (err instanceof Error ? err.message : String(err))
  return new DfError('DF_ERR_SOURCE_UNREACHABLE', `source connection failed for ${shown}: ${reason}`, { cause: err, details: { url: shown } })
}

/**
 * True when a failed source read may succeed if tried again: the source could not be
 * reached, or answered a transient status (408, 429, 5xx gateways and overload). A changed
 * source, a refused one, a redirect loop or a 404 will not mend by retrying.
 */
export function isTransientSourceFailure (err: unknown): boolean {
  if (isCode(err, 'DF_ERR_SOURCE_STATUS')) return TRANSIENT_STATUSES.has(Number(err.details?.status))
  return isCode(err, 'DF_ERR_SOURCE_UNREACHABLE') || isCode(err, 'DF_ERR_NETWORK') || isCode(err, 'DF_ERR_TIMEOUT')
}
