/**
 * Registry token auth (the Docker distribution "token" scheme): a registry answers 401 with
 * `WWW-Authenticate: Bearer realm="…",service="…",scope="…"`; the client GETs the realm with
 * `service` and `scope` (sending the caller's Basic credentials if it has them), reads
 * `token` (or `access_token`) from the JSON answer and retries with `Authorization: Bearer`.
 * Pure parsing here; the exchange itself is in image-resolver.ts.
 */

/** A parsed `WWW-Authenticate` challenge. */
export interface AuthChallenge {
  readonly scheme: string
  readonly params: Readonly<Record<string, string>>
}

/** Parses `Bearer realm="…",service="…"` (quoted or token values). Undefined when unreadable. */
export function parseAuthChallenge (header: string | undefined): AuthChallenge | undefined {
  if (header === undefined) return undefined
  const match = /^\s*([A-Za-z]+)\s*(.*)$/.exec(header)
  if (match === null) return undefined
  const params: Record<string, string> = {}
  const pattern = /([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g
  for (const param of (match[2] ?? '').matchAll(pattern)) {
    const name = param[1]
    if (name !== undefined) params[name.toLowerCase()] = param[2]?.replace(/\\(.)/g, '$1') ?? param[3] ?? ''
  }
  return { scheme: (match[1] ?? '').toLowerCase(), params }
}

/** The token endpoint URL of a Bearer challenge, or undefined when it names no http(s) realm. */
export function tokenUrlOf (challenge: AuthChallenge, fallbackScope: string): string | undefined {
  const realm = challenge.params.realm
  if (challenge.scheme !== 'bearer' || realm === undefined) return undefined
  let url: URL
  try { url = new URL(realm) } catch { return undefined }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined
  if (challenge.params.service !== undefined) url.searchParams.set('service', challenge.params.service)
  url.searchParams.set('scope', challenge.params.scope ?? fallbackScope)
  return url.toString()
}

/** The token of a token endpoint's JSON answer (`token` or `access_token`). */
export function tokenOf (body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined
  const record = body as Record<string, unknown> // fields checked one by one
  const token = typeof record.token === 'string' && record.token !== '' ? record.token : record.access_token
  return typeof token === 'string' && token !== '' ? token : undefined
}
