/**
 * Piece grants: the supernode's short-lived, signed permission for one cid of one peer to
 * read the pieces of one task (docs/security.md). Every answer of a pull that hands out
 * pieces carries one; the client sends it with each piece request in the
 * `x-damselfly-grant` header, and the supernode's download port and every peer server
 * check it locally, with the supernode's public key and no round trip.
 *
 * Signed with Ed25519 (node:crypto, no hand-made cryptography): only the supernode holds
 * the private key, so a peer server that verifies grants cannot mint them. (With HMAC every
 * host that verifies could also sign, and one compromised host of one tenant could open
 * every task of every tenant.) The public key travels as the `x` of its JWK (base64url of
 * the 32 raw bytes) in the registration answer, and from the dfget to its peer server.
 *
 * Wire form: `v1.<claims>.<signature>`, base64url; the claims are JSON
 * `{ t: taskId, p: peerId, c: cid, e: expiresAtMs }`, the signature covers the text
 * `v1.<claims>`.
 */
import { createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto'
import { DfError, invalidArgument } from './errors.js'

/** The request header that carries a grant. */
export const PIECE_GRANT_HEADER = 'x-damselfly-grant'

/** A grant key on the wire (the JWK `x` of an Ed25519 public key): 43 base64url characters. */
export const GRANT_KEY_PATTERN = '^[A-Za-z0-9_-]{43}$'

/** What a grant says. */
export interface PieceGrantClaims {
  readonly taskId: string
  /** The peer and cid the grant was issued to (the requester). */
  readonly peerId: string
  readonly cid: string
  /** Not valid after this, ms since the epoch. */
  readonly expiresAtMs: number
}

/** Why a grant opens nothing (`details.reason` of DF_ERR_PIECE_GRANT_INVALID). */
export type GrantRefusal = 'malformed' | 'signature' | 'task' | 'expired'

/** Why a piece request was refused, as the `reason` label of the grant refusal metrics. */
export type GrantRefusalReason = 'missing' | 'expired' | 'wrong_task' | 'bad_signature' | 'malformed'

const REFUSAL_REASONS: Readonly<Record<GrantRefusal, GrantRefusalReason>> = { malformed: 'malformed', signature: 'bad_signature', task: 'wrong_task', expired: 'expired' }

/** The metric reason of an error `verifyPieceGrant` threw, or undefined for any other error. */
export function grantRefusalReasonOf (err: unknown): GrantRefusalReason | undefined {
  if (!(err instanceof DfError)) return undefined
  if (err.code === 'DF_ERR_PIECE_GRANT_REQUIRED') return 'missing'
  if (err.code !== 'DF_ERR_PIECE_GRANT_INVALID') return undefined
  const reason = err.details?.reason
  return typeof reason === 'string' && Object.hasOwn(REFUSAL_REASONS, reason) ? REFUSAL_REASONS[reason as GrantRefusal] : undefined
}

const VERSION = 'v1'
/** Longest grant header read; longer is malformed (a grant is about 250 characters). */
const MAX_GRANT_CHARS = 2048

/** A new Ed25519 key pair for signing grants. */
export function generateGrantKeyPair (): { privateKey: KeyObject, publicKey: KeyObject } {
  return generateKeyPairSync('ed25519')
}

/** The wire form of the public key of `key` (a private or public Ed25519 key). */
export function formatGrantKey (key: KeyObject): string {
  const jwk = createPublicKey(key).export({ format: 'jwk' })
  if (jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw new DfError('DF_ERR_CONFIG_INVALID', 'a grant key must be an Ed25519 key')
  return jwk.x
}

/** A public key from its wire form. @throws DF_ERR_ARG_INVALID naming `field` */
export function parseGrantKey (text: string, field: string): KeyObject {
  if (!new RegExp(GRANT_KEY_PATTERN).test(text)) throw invalidArgument(field, 'is not a grant key (43 base64url characters)')
  try {
    return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: text }, format: 'jwk' })
  } catch {
    throw invalidArgument(field, 'is not an Ed25519 public key')
  }
}

/** The keys of a private task's upload or stream (`grantKeys`; none for a public task). @throws DF_ERR_ARG_INVALID naming `field[i]` */
export function parseGrantKeys (texts: readonly string[] | undefined, field: string): KeyObject[] {
  return (texts ?? []).map((text, index) => parseGrantKey(text, `${field}[${index}]`))
}

/** Signs `claims` with the supernode's private key. */
export function signPieceGrant (claims: PieceGrantClaims, privateKey: KeyObject): string {
  const payload = Buffer.from(JSON.stringify({ t: claims.taskId, p: claims.peerId, c: claims.cid, e: claims.expiresAtMs })).toString('base64url')
  const signed = `${VERSION}.${payload}`
  return `${signed}.${sign(null, Buffer.from(signed), privateKey).toString('base64url')}`
}

/**
 * Checks that `header` is a grant signed by one of `keys`, for `taskId`, not expired at
 * `nowMs`; returns its claims.
 * @throws DF_ERR_PIECE_GRANT_REQUIRED (no grant), DF_ERR_PIECE_GRANT_INVALID with
 *   `details.reason` (malformed, signature, task, expired)
 */
export function verifyPieceGrant (header: string | string[] | undefined, keys: readonly KeyObject[], taskId: string, nowMs: number): PieceGrantClaims {
  if (header === undefined || header === '') throw new DfError('DF_ERR_PIECE_GRANT_REQUIRED', `the pieces of this task need a grant (${PIECE_GRANT_HEADER}) from a supernode`)
  const text = Array.isArray(header) ? '' : header
  const parts = text.length > MAX_GRANT_CHARS ? [] : text.split('.')
  const [version, payload, signature] = parts
  if (parts.length !== 3 || version !== VERSION || payload === undefined || signature === undefined) throw refusal('malformed')
  const signed = Buffer.from(`${version}.${payload}`)
  const signatureBytes = Buffer.from(signature, 'base64url')
  if (!keys.some((key) => verify(null, signed, key, signatureBytes))) throw refusal('signature')
  const claims = parseClaims(payload)
  if (claims === undefined) throw refusal('malformed')
  if (claims.taskId !== taskId) throw refusal('task')
  if (nowMs > claims.expiresAtMs) throw refusal('expired')
  return claims
}

function parseClaims (payload: string): PieceGrantClaims | undefined {
  let value: unknown
  try { value = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) } catch { return undefined }
  if (typeof value !== 'object' || value === null) return undefined
  const { t, p, c, e } = value as Record<string, unknown> // checked field by field
  if (typeof t !== 'string' || typeof p !== 'string' || typeof c !== 'string' || typeof e !== 'number' || !Number.isFinite(e)) return undefined
  return { taskId: t, peerId: p, cid: c, expiresAtMs: e }
}

function refusal (reason: GrantRefusal): DfError {
  const messages: Record<GrantRefusal, string> = {
    malformed: 'the grant cannot be read',
    signature: 'the grant is not signed by a supernode this server trusts for the task',
    task: 'the grant is for another task',
    expired: 'the grant has expired: pull again for a fresh one',
  }
  return new DfError('DF_ERR_PIECE_GRANT_INVALID', messages[reason], { details: { reason } })
}
