/**
 * SourceFetcher: the CDN's typed facade over the HTTP client for reading a task's source
 * (STYLE.md B12: one HTTP client, facades on top). It probes a source (length, validators,
 * range support, conditional revalidation) and opens ranged or whole reads. It follows
 * redirects (dropping credentials when the origin changes), maps transport failures to
 * DF_ERR_SOURCE_UNREACHABLE and error statuses to DF_ERR_SOURCE_STATUS naming the status.
 * It never logs the request headers: they carry the user's credentials.
 */
import type { Readable } from 'node:stream'
import { HttpClient } from '../../common/http/client.js'
import { parseContentRange } from '../../common/http/range-header.js'
import { DfError } from '../../protocol/errors.js'
import type { SourcePolicy } from './source-policy.js'

/** What identifies a version of the source file. */
export interface SourceValidators {
  readonly etag: string | null
  readonly lastModified: string | null
}

/** An open read of the source. The caller consumes or destroys `body`, and counts the bytes it reads. */
export interface SourceRead {
  readonly status: number
  /** Offset of the first body byte in the file. */
  readonly startBytes: number
  /** The file's total length when the answer told it. */
  readonly totalBytes: number | undefined
  readonly validators: SourceValidators
  readonly body: Readable
}

/** The answer of a probe (`GET` with `Range: bytes=0-0`, conditional when validators are given). */
export type ProbeResult =
  /** The cached version is still current (304). */
  | { readonly kind: 'not-modified' }
  /** The source serves ranges; the probe body was read and dropped. */
  | { readonly kind: 'ranged', readonly lengthBytes: number, readonly validators: SourceValidators }
  /** The source ignored the range: `read` is the whole file, to be consumed as one stream. */
  | { readonly kind: 'whole', readonly read: SourceRead }

export interface SourceFetcherOptions {
  /** Deadline for headers and for each gap between body chunks. */
  readonly timeoutMs: number
  /** Parallel connections per source origin. */
  readonly connectionsPerOrigin: number
}

const MAX_REDIRECTS = 5
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308])
const ANY_STATUS = Array.from({ length: 500 }, (_, index) => index + 100)
/** Request headers of the registration that are never forwarded to the source. */
const DROPPED_HEADERS = new Set(['host', 'range', 'connection', 'keep-alive', 'transfer-encoding', 'te', 'upgrade', 'content-length', 'accept-encoding', 'if-none-match', 'if-modified-since', 'if-range', 'proxy-authorization', 'proxy-connection'])

export class SourceFetcher {
  readonly #http: HttpClient
  readonly #onBytesRead: (bytes: number) => void
  readonly #policy: Pick<SourcePolicy, 'check'> | undefined

  /** `policy` checks every URL before it is requested, redirects included (source-policy.ts). */
  constructor (deps: { onBytesRead: (bytes: number) => void, policy?: Pick<SourcePolicy, 'check'> }, options: SourceFetcherOptions) {
    this.#onBytesRead = deps.onBytesRead
    this.#policy = deps.policy
    this.#http = new HttpClient({ timeoutMs: options.timeoutMs, connectionsPerOrigin: options.connectionsPerOrigin, keepAliveTimeoutMs: 10_000 })
  }

  /**
   * Probes the source: 304 → not-modified; 206 → ranged (length from Content-Range); 200 →
   * whole (its body is the file); 416 with `bytes *\/N` → ranged of length N (an empty file).
   * @throws DF_ERR_SOURCE_STATUS, DF_ERR_SOURCE_UNREACHABLE
   */
  async probe (url: string, headers: Readonly<Record<string, string>>, validators: SourceValidators | undefined, signal: AbortSignal): Promise<ProbeResult> {
    const conditional: Record<string, string> = {}
    if (validators?.etag != null) conditional['if-none-match'] = validators.etag
    if (validators?.lastModified != null) conditional['if-modified-since'] = validators.lastModified
    const response = await this.#send(url, { ...sourceHeaders(headers), ...conditional, range: 'bytes=0-0' }, signal)
    if (response.status === 304) {
      discardBody(response.body)
      return { kind: 'not-modified' }
    }
    if (response.status === 416) {
      const total = /^bytes \*\/(\d+)$/.exec(String(response.headers['content-range'] ?? ''))
      discardBody(response.body)
      if (total?.[1] === undefined) throw statusError(416)
      return { kind: 'ranged', lengthBytes: Number(total[1]), validators: validatorsOf(response.headers) }
    }
    const read = this.#toRead(response, 0)
    if (response.status === 206) {
      await this.#drain(read.body)
      if (read.totalBytes === undefined || read.startBytes !== 0) throw new DfError('DF_ERR_SOURCE_STATUS', 'source answered 206 without a usable Content-Range', { details: { status: 206 } })
      return { kind: 'ranged', lengthBytes: read.totalBytes, validators: read.validators }
    }
    return { kind: 'whole', read }
  }

  /**
   * Opens bytes `startBytes`..`endBytes` (inclusive; to the end when undefined). The answer
   * may be 206 for exactly that range, or 200 for the whole file (the caller skips ahead).
   * @throws DF_ERR_SOURCE_STATUS, DF_ERR_SOURCE_UNREACHABLE
   */
  async openRange (url: string, headers: Readonly<Record<string, string>>, startBytes: number, endBytes: number | undefined, signal: AbortSignal): Promise<SourceRead> {
    const range = `bytes=${startBytes}-${endBytes ?? ''}`
    const response = await this.#send(url, { ...sourceHeaders(headers), range }, signal)
    if (response.status === 206) {
      const read = this.#toRead(response, startBytes)
      if (read.startBytes !== startBytes) {
        discardBody(read.body)
        throw new DfError('DF_ERR_SOURCE_STATUS', `source answered a different range than ${range}`, { details: { status: 206 } })
      }
      return read
    }
    if (response.status === 200) return this.#toRead(response, 0)
    discardBody(response.body)
    throw statusError(response.status)
  }

  /** Releases the source connections. Idempotent. */
  async close (): Promise<void> {
    await this.#http.close()
  }

  async #send (url: string, headers: Record<string, string>, signal: AbortSignal): Promise<{ status: number, headers: Readonly<Record<string, string | string[] | undefined>>, body: Readable }> {
    let current = url
    let currentHeaders = headers
    for (let redirects = 0; ; redirects++) {
      await this.#policy?.check(current)
      let response
      try {
        response = await this.#http.stream({ url: current, headers: currentHeaders, signal }, ANY_STATUS)
      } catch (err) {
        if (signal.aborted) throw err
        const reason = err instanceof Error ? err.message : String(err)
        throw new DfError('DF_ERR_SOURCE_UNREACHABLE', `source unreachable: ${reason}`, { cause: err })
      }
      const location = response.headers.location
      if (!REDIRECT_STATUSES.has(response.status) || typeof location !== 'string') {
        if (response.status >= 200 && response.status < 300) return response
        if (response.status === 304 || response.status === 416) return response
        discardBody(response.body)
        throw statusError(response.status)
      }
      discardBody(response.body)
      if (redirects >= MAX_REDIRECTS) throw new DfError('DF_ERR_SOURCE_STATUS', `source redirected more than ${MAX_REDIRECTS} times`, { details: { status: response.status } })
      const next = new URL(location, current)
      if (next.protocol !== 'http:' && next.protocol !== 'https:') throw new DfError('DF_ERR_SOURCE_FORBIDDEN', `source redirected to a ${next.protocol} URL`)
      if (next.origin !== new URL(current).origin) currentHeaders = withoutCredentials(currentHeaders)
      current = next.toString()
    }
  }

  #toRead (response: { status: number, headers: Readonly<Record<string, string | string[] | undefined>>, body: Readable }, requestedStart: number): SourceRead {
    const validators = validatorsOf(response.headers)
    if (response.status === 206) {
      const contentRange = parseContentRange(headerText(response.headers['content-range']))
      return { status: 206, startBytes: contentRange?.range.start ?? requestedStart, totalBytes: contentRange?.totalBytes, validators, body: response.body }
    }
    const length = headerText(response.headers['content-length'])
    const totalBytes = length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined
    return { status: response.status, startBytes: 0, totalBytes, validators, body: response.body }
  }

  async #drain (body: Readable): Promise<void> {
    for await (const chunk of body) this.#onBytesRead((chunk as Buffer).length)
  }
}

/**
 * Drops a response body we will not read. undici emits an abort error on a destroyed body;
 * without a listener that would be an uncaught exception, so one is attached first.
 */
export function discardBody (body: Readable): void {
  body.on('error', () => undefined)
  body.destroy()
}

function statusError (status: number): DfError {
  return new DfError('DF_ERR_SOURCE_STATUS', `source answered ${status}`, { details: { status } })
}

function headerText (value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}

function validatorsOf (headers: Readonly<Record<string, string | string[] | undefined>>): SourceValidators {
  return { etag: headerText(headers.etag) ?? null, lastModified: headerText(headers['last-modified']) ?? null }
}

/** The registration's headers as sent to the source: lower-case names, no hop-by-hop or range headers, identity encoding. */
function sourceHeaders (headers: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase()
    if (!DROPPED_HEADERS.has(lower)) out[lower] = value
  }
  out['accept-encoding'] = 'identity'
  return out
}

function withoutCredentials (headers: Record<string, string>): Record<string, string> {
  const out = { ...headers }
  delete out.authorization
  delete out.cookie
  return out
}

/** True when both describe the same version of the file (a strong match on either validator). */
export function isSameVersion (a: SourceValidators, b: SourceValidators): boolean {
  if (a.etag !== null && b.etag !== null) return a.etag === b.etag
  if (a.lastModified !== null && b.lastModified !== null) return a.lastModified === b.lastModified
  return false
}
