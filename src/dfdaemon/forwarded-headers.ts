/**
 * Which headers cross the proxy. End-to-end headers (Accept, Authorization, Range,
 * If-None-Match, Docker-*, ...) pass unchanged in both directions; hop-by-hop headers
 * (RFC 9110 §7.6.1: Connection and the headers it names, Keep-Alive, Proxy-*, TE, Trailer,
 * Transfer-Encoding, Upgrade) and Host do not, since they describe one connection.
 */
import type { IncomingHttpHeaders } from 'node:http'

const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection',
  'te', 'trailer', 'transfer-encoding', 'upgrade', 'host',
])

/** Headers of a client's request to send upstream. */
export function upstreamRequestHeaders (headers: IncomingHttpHeaders): Record<string, string | string[]> {
  return endToEnd(headers)
}

/** Headers of an upstream answer to send to the client. */
export function clientResponseHeaders (headers: Readonly<Record<string, string | string[] | undefined>>): Record<string, string | string[]> {
  return endToEnd(headers)
}

/**
 * Headers the swarm's source fetch must not inherit: it fetches whole, identity-encoded
 * files with a bodiless GET (and a supernode refuses Expect in a source's headers).
 */
const NOT_FOR_SOURCE_FETCH = new Set(['range', 'if-range', 'if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since', 'accept-encoding', 'content-length', 'expect'])

/** Single-valued request headers for the swarm's source fetch (credentials kept, conditionals dropped). */
export function sourceFetchHeaders (headers: Readonly<Record<string, string | string[]>>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (NOT_FOR_SOURCE_FETCH.has(name.toLowerCase())) continue
    out[name] = Array.isArray(value) ? value.join(', ') : value
  }
  return out
}

function endToEnd (headers: Readonly<Record<string, string | string[] | undefined>>): Record<string, string | string[]> {
  const named = new Set<string>()
  const connection = headers.connection
  for (const value of Array.isArray(connection) ? connection : connection === undefined ? [] : [connection]) {
    for (const token of value.split(',')) named.add(token.trim().toLowerCase())
  }
  const out: Record<string, string | string[]> = {}
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase()
    if (value === undefined || HOP_BY_HOP.has(lower) || named.has(lower)) continue
    out[lower] = value
  }
  return out
}
