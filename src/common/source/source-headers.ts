/**
 * The request headers sent to a source: the user's or the engine's own (`--header`, a
 * registration's headers, a registry client's), cleaned of what must not be forwarded, and
 * stripped of credentials when a redirect leaves their origin.
 *
 * A header carries credentials when it is Authorization, Proxy-Authorization or Cookie, or
 * when its name says it holds a secret (`X-Api-Key`, `Private-Token`, `X-Auth-Token`,
 * `X-Amz-Security-Token`, `X-Session-Id` …): any name containing auth, token, key, secret,
 * session, cookie, credential, password or signature. Such headers were given for the URL's
 * origin (scheme, host and port) and never reach another one, as Go's and browsers' clients
 * behave; presigned storage URLs even reject them.
 */

/** Header values as the user gave them (one value, or several for a repeated header). */
export type SourceRequestHeaders = Readonly<Record<string, string | string[]>>

/** Request headers of a registration or a `--header` that are never forwarded to a source. */
const NOT_FORWARDED = new Set(['host', 'range', 'connection', 'keep-alive', 'transfer-encoding', 'te', 'upgrade', 'content-length', 'accept-encoding', 'if-none-match', 'if-modified-since', 'if-range', 'proxy-authorization', 'proxy-connection'])

const CREDENTIAL_NAMES = new Set(['authorization', 'proxy-authorization', 'cookie'])
const CREDENTIAL_PATTERN = /auth|token|key|secret|session|cookie|credential|password|signature/i

/** True when a header of that name carries credentials (see the module comment). */
export function isCredentialHeader (name: string): boolean {
  const lower = name.toLowerCase()
  return CREDENTIAL_NAMES.has(lower) || CREDENTIAL_PATTERN.test(lower)
}

/** `headers` without those that carry credentials, for a request to another origin. */
export function withoutCredentials<T extends string | string[]> (headers: Readonly<Record<string, T>>): Record<string, T> {
  const out: Record<string, T> = {}
  for (const [name, value] of Object.entries(headers)) if (!isCredentialHeader(name)) out[name] = value
  return out
}

/**
 * The user's headers as sent to a source for a read of its bytes: lower-case names, no
 * hop-by-hop, range or conditional headers (the reader sets those itself), and identity
 * encoding (the bytes are the file, never a compressed form of it).
 */
export function sourceReadHeaders (headers: SourceRequestHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase()
    if (!NOT_FORWARDED.has(lower)) out[lower] = value
  }
  out['accept-encoding'] = 'identity'
  return out
}
