/**
 * SourceAccess: every registration proves its own read access to the source, with its own
 * URL and headers (docs/security.md). The proof is a probe of one byte through the shared
 * source reader (`GET` with `Range: bytes=0-0`, conditional on the cached version when there
 * is one; a GET and not a HEAD, because presigned URLs are signed for GET): a 2xx or 304
 * answer proves it, an error status refuses the registration
 * with the source's own status (DF_ERR_SOURCE_STATUS, `details.status` 401, 403, 404 …).
 *
 * A proof is kept for `ttlMs` per (task, URL, headers) — the key is a sha256, so no
 * credential is kept in clear — and registrations arriving while one is being made share
 * it (single flight). A failed proof is not kept: the next registration asks again.
 *
 * Whether a registration is anonymous (no credentials: `isAnonymousRegistration`) decides
 * what a passed proof says about the task: an anonymous proof shows the source is public,
 * and the task manager then stops checking (task-manager.ts).
 */
import { createHash } from 'node:crypto'
import type { Clock } from '../../common/clock.js'
import { discardBody, type SourceReader } from '../../common/source/source-reader.js'
import { isCredentialHeader } from '../../common/source/source-headers.js'
import type { SourceValidators } from '../../common/source/source-validators.js'
import { DfError } from '../../protocol/errors.js'
import type { TaskId } from '../../protocol/ids.js'
import { isSignatureParam } from '../../protocol/url-signature.js'

/**
 * How a registration's access check ended (the `result` label of
 * dragonfly_supernode_access_checks_total): `proven` by a probe of the source made with its
 * own URL and headers (the CDN's first read counts), `cached` by such a proof of the last
 * `ttlMs`, `public` without a check (the source answers without credentials), `refused`
 * (the source refused it or could not be reached).
 */
export type AccessCheckResult = 'proven' | 'cached' | 'refused' | 'public'

/** What one registration asks for. */
export interface AccessRequest {
  readonly taskId: TaskId
  readonly url: string
  /** May hold credentials: never logged. */
  readonly headers: Readonly<Record<string, string>>
  /**
   * The version of the cached file, when known: the probe is then conditional, and a 304
   * proves access without a byte of body (sources check credentials before conditions).
   */
  readonly sourceVersion?: string | undefined
}

export interface SourceAccessOptions {
  /** How long a passed proof stands for the same task, URL and headers. */
  readonly ttlMs: number
}

/** How long a passed proof stands unless told otherwise. */
export const DEFAULT_ACCESS_TTL_MS = 60_000

interface Proof { readonly expiresAtMs: number, readonly done: Promise<void> }

export class SourceAccess {
  readonly #reader: Pick<SourceReader, 'probe'>
  readonly #clock: Clock
  readonly #options: SourceAccessOptions
  /** Proofs by key, oldest first (a renewed proof moves to the end). */
  readonly #proofs = new Map<string, Proof>()
  readonly #closing = new AbortController()

  constructor (deps: { reader: Pick<SourceReader, 'probe'>, clock: Clock }, options: SourceAccessOptions) {
    this.#reader = deps.reader
    this.#clock = deps.clock
    this.#options = options
  }

  /**
   * Resolves when the source answers `request`'s URL with its headers: 'proven' by a probe
   * made for it, 'cached' by one of the last `ttlMs` (or in flight) for the same task, URL
   * and headers. @throws DF_ERR_SOURCE_STATUS (the source's status), DF_ERR_SOURCE_UNREACHABLE,
   * DF_ERR_SOURCE_FORBIDDEN and the reader's redirect codes
   */
  async prove (request: AccessRequest): Promise<'proven' | 'cached'> {
    const now = this.#clock.now()
    this.#dropExpired(now)
    const key = proofKey(request)
    const kept = this.#proofs.get(key)
    if (kept !== undefined) {
      await kept.done
      return 'cached'
    }
    const done = this.#probe(request)
    this.#proofs.set(key, { expiresAtMs: now + this.#options.ttlMs, done })
    try {
      await done
    } catch (err) {
      if (this.#proofs.get(key)?.done === done) this.#proofs.delete(key)
      throw err
    }
    return 'proven'
  }

  /** Records that `request` was just proven by other means (the CDN's own probe, made with its URL and headers). */
  remember (request: AccessRequest): void {
    const key = proofKey(request)
    this.#proofs.delete(key)
    this.#proofs.set(key, { expiresAtMs: this.#clock.now() + this.#options.ttlMs, done: Promise.resolve() })
  }

  /** Stops proofs in flight (they fail). */
  close (): void {
    this.#closing.abort(new DfError('DF_ERR_SOURCE_UNREACHABLE', 'supernode closing'))
  }

  async #probe (request: AccessRequest): Promise<void> {
    const probe = await this.#reader.probe(request.url, request.headers, validatorsOf(request.sourceVersion), this.#closing.signal)
    if (probe.kind === 'whole') discardBody(probe.read.body) // a source without ranges: its 200 is proof enough
  }

  #dropExpired (now: number): void {
    for (const [key, proof] of this.#proofs) {
      if (proof.expiresAtMs > now) break
      this.#proofs.delete(key)
    }
  }
}

/**
 * True when a registration carries no credentials: no header that carries one
 * (source-headers.ts), no user name or password in the URL, and none of the query
 * parameters it filters out of the task identity (the signature of a presigned URL is one)
 * present in its URL.
 */
export function isAnonymousRegistration (url: string, headers: Readonly<Record<string, string>>, filter: readonly string[] = []): boolean {
  if (Object.keys(headers).some(isCredentialHeader)) return false
  const parsed = new URL(url)
  if (parsed.username !== '' || parsed.password !== '') return false
  // A signed URL (presigned S3/GCS/Azure/CloudFront) is a credential too: the signature is
  // not part of the task's identity, so every client's own must be proven.
  if ([...parsed.searchParams.keys()].some(isSignatureParam)) return false
  return !filter.some((name) => parsed.searchParams.has(name))
}

/** The validator a source version stands for: an ETag is quoted (RFC 9110 §8.8.3), anything else is a Last-Modified date. */
function validatorsOf (sourceVersion: string | undefined): SourceValidators | undefined {
  if (sourceVersion === undefined) return undefined
  const isEtag = sourceVersion.startsWith('"') || sourceVersion.startsWith('W/"')
  return { etag: isEtag ? sourceVersion : null, lastModified: isEtag ? null : sourceVersion }
}

function proofKey (request: AccessRequest): string {
  const headers = Object.entries(request.headers).map(([name, value]) => [name.toLowerCase(), value]).sort(([a], [b]) => (a ?? '') < (b ?? '') ? -1 : 1)
  return createHash('sha256').update(JSON.stringify([request.taskId, request.url, headers])).digest('hex')
}
