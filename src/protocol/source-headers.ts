/**
 * Which request headers may be passed on to a source (dfget's `--header`, a registration's
 * or a preheat's `headers`): a name that is an HTTP token, a value without control
 * characters (CR, LF, NUL ... — tab is allowed), and no connection-level header. Anything
 * else cannot be sent as it is: sent, it would end in a failed source fetch
 * (DF_ERR_SOURCE_UNREACHABLE) that fails the task for every client of the URL, or, were the
 * HTTP client less strict, split the request. It is refused up front instead, naming the
 * header and never echoing its value (it may be a credential).
 */
import { invalidArgument } from './errors.js'

/** An HTTP token (RFC 9110 §5.1). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
/** A field value (RFC 9110 §5.5): visible characters, spaces, tabs and obs-text; no CR, LF or NUL. */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/
/** Headers about the connection, not the resource: the HTTP client sets them itself (undici refuses them). */
const CONNECTION_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'expect'])

/** What is wrong with one source header, or undefined when it may be sent. */
export function findSourceHeaderProblem (name: string, value: string): string | undefined {
  if (!HEADER_NAME.test(name)) return 'the name is not an HTTP token'
  if (!HEADER_VALUE.test(value)) return 'the value contains CR, LF or another control character'
  if (CONNECTION_HEADERS.has(name.toLowerCase())) return 'a connection header cannot be sent to a source'
  return undefined
}

/**
 * Checks every header of a request body's `field` (e.g. `body.headers`).
 * @throws DF_ERR_ARG_INVALID whose `details.field` names the header (`body.headers.X-Token`)
 */
export function checkSourceHeaders (headers: Readonly<Record<string, string>> | undefined, field: string): void {
  for (const [name, value] of Object.entries(headers ?? {})) {
    const problem = findSourceHeaderProblem(name, value)
    // A name that is no token is quoted (JSON), so the message stays one line.
    if (problem !== undefined) throw invalidArgument(HEADER_NAME.test(name) ? `${field}.${name}` : `${field}[${JSON.stringify(name)}]`, problem)
  }
}
