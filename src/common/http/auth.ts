/**
 * The optional shared token of a Damselfly deployment (`--token`): servers that have one
 * require `Authorization: Bearer <token>` on every request but the exempt paths (health
 * checks); clients send it. The comparison takes the same time whatever the guess. The
 * token is never logged (common/log.ts redacts authorization headers and `token` keys) and
 * is handed to child processes through the environment (TOKEN_ENV), not argv, where `ps`
 * would show it.
 */
import type { FastifyInstance } from 'fastify'
import { DfError } from '../../protocol/errors.js'

/** Environment variable that carries the token to child processes (and may set it). */
export const TOKEN_ENV = 'DAMSELFLY_TOKEN'

/** The request header that carries `token`. */
export function bearerHeaders (token: string | undefined): Record<string, string> {
  return token === undefined || token === '' ? {} : { authorization: `Bearer ${token}` }
}

/** True when an Authorization header value carries exactly `token`. */
export function hasBearerToken (header: string | undefined, token: string): boolean {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')
  if (match?.[1] === undefined) return false
  // Hashing first makes both sides the same length, as timingSafeEqual requires. node:crypto
  // is loaded here, not at the top: dfget's thin client reads TOKEN_ENV from this module and
  // never checks a token (loading crypto is a tenth of its start-up).
  const { createHash, timingSafeEqual } = process.getBuiltinModule('node:crypto')
  const digest = (value: string): Buffer => createHash('sha256').update(value).digest()
  return timingSafeEqual(digest(match[1]), digest(token))
}

/**
 * Makes `app` require the bearer token on every request whose path `isExempt` does not admit.
 * Does nothing when `token` is undefined or empty.
 * @throws (per request) DF_ERR_ARG_UNAUTHORIZED, 401
 */
export function requireBearerToken (app: FastifyInstance, token: string | undefined, isExempt: (path: string) => boolean = () => false): void {
  if (token === undefined || token === '') return
  app.addHook('onRequest', async (request) => {
    const path = request.url.split('?')[0] ?? ''
    if (isExempt(path)) return
    const header = request.headers.authorization
    if (!hasBearerToken(typeof header === 'string' ? header : undefined, token)) {
      throw new DfError('DF_ERR_ARG_UNAUTHORIZED', 'this server requires its token: Authorization: Bearer <token>')
    }
  })
}
