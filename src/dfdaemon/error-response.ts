/**
 * How dfdaemon answers a request it cannot serve: the error's HTTP status and the project's
 * error body `{ code, message, details? }` (STYLE.md B8). Anything that is not a DfError is
 * an internal failure: a 500 with an opaque message. When the headers already left, the
 * only honest answer is to abort the connection, so the client sees a broken transfer.
 */
import type { ServerResponse } from 'node:http'
import { DfError, toWire } from '../protocol/errors.js'

/** The DfError for `err` (a non-DfError becomes DF_ERR_INTERNAL with `err` as cause). */
export function asDfError (err: unknown): DfError {
  return err instanceof DfError ? err : new DfError('DF_ERR_INTERNAL', undefined, { cause: err })
}

/** Answers with the error, or aborts the response if its headers were sent already. */
export function sendErrorResponse (res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  const error = asDfError(err)
  const body = JSON.stringify(error.code === 'DF_ERR_INTERNAL' ? { code: error.code, message: 'internal error' } : toWire(error))
  res.writeHead(error.httpStatus, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
  res.end(body)
}
