/**
 * SourceReader: THE reader of sources (origins), for the supernode's CDN, dfget's
 * back-source (file and stream mode) and dfdaemon's registry fallback. One request to it
 * may take several hops:
 * - redirects (301, 302, 303, 307, 308) are followed up to `maxRedirects` (default 10);
 *   a redirect back to a URL already visited is DF_ERR_SOURCE_REDIRECT_LOOP, one more than
 *   allowed DF_ERR_SOURCE_TOO_MANY_REDIRECTS, one to a scheme other than http(s)
 *   DF_ERR_SOURCE_FORBIDDEN;
 * - the source check (the supernode's allow/deny policy; scheme only when none is given)
 *   runs before every hop, so a redirect cannot lead where a registration may not;
 * - credentials (source-headers.ts) are dropped as soon as a hop leaves the origin
 *   (scheme, host and port) they were given for, and never come back on later hops.
 * On top of `open` (the final answer, whatever its status) it reads files: `probe`
 * (length, validators, range support, conditional revalidation), `openRange` and
 * `openWhole`, each mapping error statuses through source-errors.ts. Resumed reads are in
 * resumable-read.ts. The transport is injected: the project's HttpClient
 * (`createHttpSourceTransport`), or dfdaemon's upstream client with its per-host TLS.
 * Nothing here logs: the request headers carry the user's credentials.
 */
import type { Readable } from 'node:stream'
import type { HttpClient } from '../http/client.js'
import { redactUrl } from '../http/redact-url.js'
import { parseContentRange } from '../http/range-header.js'
import { DfError } from '../../protocol/errors.js'
import { sourceStatusError, sourceTransportError } from './source-errors.js'
import { sourceReadHeaders, withoutCredentials, type SourceRequestHeaders } from './source-headers.js'
import { SourcePolicy, type SourceCheck } from './source-policy.js'
import { statedDigestOf } from './stated-digest.js'
import { conditionalHeadersOf, headerText, validatorsOf, type ResponseHeaders, type SourceValidators } from './source-validators.js'

/** One request of one hop. */
export interface SourceHop {
  readonly method: 'GET' | 'HEAD'
  readonly url: string
  readonly headers: SourceRequestHeaders
  readonly signal?: AbortSignal | undefined
}

/** An answer, whatever its status. The receiver consumes or destroys `body`. */
export interface SourceAnswer {
  readonly status: number
  readonly headers: ResponseHeaders
  readonly body: Readable
}

/** Sends one hop (no redirect followed) and resolves with its answer, whatever its status. @throws on transport failure */
export type SourceTransport = (hop: SourceHop) => Promise<SourceAnswer>

/** The final answer of a request after its redirects. */
export interface SourceResponse extends SourceAnswer {
  /** The URL that answered. */
  readonly url: string
  /** The headers sent to it (credentials dropped when a redirect left their origin). */
  readonly sentHeaders: SourceRequestHeaders
  /** Redirects followed to get here. */
  readonly redirects: number
  /** The content digest the answer states (stated-digest.ts), else the one the nearest redirect stated ("sha256:<hex>"). */
  readonly statedDigest: string | undefined
}

/** An open read of the source file. The caller consumes or destroys `body`. */
export interface SourceRead {
  readonly status: number
  /** Offset of the first body byte in the file. */
  readonly startBytes: number
  /** The file's total length when the answer told it. */
  readonly totalBytes: number | undefined
  readonly validators: SourceValidators
  readonly headers: ResponseHeaders
  readonly body: Readable
  /** The URL that answered (after redirects). */
  readonly url: string
  /** The content digest the source stated, if any (SourceResponse.statedDigest). */
  readonly statedDigest: string | undefined
}

/** The answer of a probe (`GET` with `Range: bytes=0-0`, conditional when validators are given). */
export type ProbeResult =
  /** The cached version is still current (304). */
  | { readonly kind: 'not-modified' }
  /** The source serves ranges; the probe body was read and dropped. */
  | { readonly kind: 'ranged', readonly lengthBytes: number, readonly validators: SourceValidators, readonly statedDigest?: string | undefined }
  /** The source ignored the range: `read` is the whole file, to be consumed as one stream. */
  | { readonly kind: 'whole', readonly read: SourceRead }

export interface SourceReaderDeps {
  readonly transport: SourceTransport
  /** Run before every hop (SourcePolicy.asCheck). Default: http and https only. */
  readonly check?: SourceCheck
  /** Body bytes the reader itself read and dropped (a probe's byte), for a source-bytes metric. */
  readonly onProbeBytesRead?: (bytes: number) => void
}

export interface SourceReaderOptions {
  /** Redirects followed per request. Default 10. */
  readonly maxRedirects?: number
}

/** Redirects followed per request unless told otherwise (as browsers and curl -L bound them). */
export const DEFAULT_MAX_REDIRECTS = 10
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308])

export class SourceReader {
  readonly #transport: SourceTransport
  readonly #check: SourceCheck
  readonly #maxRedirects: number
  readonly #onProbeBytesRead: ((bytes: number) => void) | undefined

  /** @throws DF_ERR_CONFIG_INVALID for a negative redirect limit */
  constructor (deps: SourceReaderDeps, options: SourceReaderOptions = {}) {
    this.#maxRedirects = options.maxRedirects ?? DEFAULT_MAX_REDIRECTS
    if (!Number.isInteger(this.#maxRedirects) || this.#maxRedirects < 0) throw new DfError('DF_ERR_CONFIG_INVALID', `maxRedirects: ${this.#maxRedirects} is not a count`)
    this.#transport = deps.transport
    this.#check = deps.check ?? new SourcePolicy().asCheck
    this.#onProbeBytesRead = deps.onProbeBytesRead
  }

  /**
   * Sends the request, following redirects, and resolves with the final answer whatever
   * its status (error statuses included: the caller maps or relays them).
   * @throws DF_ERR_SOURCE_FORBIDDEN, DF_ERR_SOURCE_REDIRECT_LOOP, DF_ERR_SOURCE_TOO_MANY_REDIRECTS, DF_ERR_SOURCE_UNREACHABLE
   */
  async open (request: SourceHop & { readonly maxRedirects?: number }): Promise<SourceResponse> {
    const maxRedirects = request.maxRedirects ?? this.#maxRedirects
    let url = request.url
    let headers = request.headers
    const visited = new Set<string>()
    let hopDigest: string | undefined
    for (let redirects = 0; ; redirects++) {
      visited.add(withoutFragment(url))
      await this.#check(url)
      let answer: SourceAnswer
      try {
        answer = await this.#transport({ method: request.method, url, headers, signal: request.signal })
      } catch (err) {
        throw sourceTransportError(err, url, request.signal)
      }
      const location = headerText(answer.headers.location)
      if (!REDIRECT_STATUSES.has(answer.status) || location === undefined) return { ...answer, url, sentHeaders: headers, redirects, statedDigest: statedDigestOf(answer.headers) ?? hopDigest }
      skipBody(answer.body)
      hopDigest = statedDigestOf(answer.headers) ?? hopDigest
      let next: URL
      try {
        next = new URL(location, url)
      } catch {
        throw sourceStatusError(answer.status, url)
      }
      if (next.protocol !== 'http:' && next.protocol !== 'https:') {
        throw new DfError('DF_ERR_SOURCE_FORBIDDEN', `${redactUrl(url)} redirected to a ${next.protocol} URL: only http and https sources are fetched`)
      }
      next.hash = ''
      if (visited.has(next.href)) {
        throw new DfError('DF_ERR_SOURCE_REDIRECT_LOOP', `the source redirects in a loop: ${redactUrl(url)} leads back to ${redactUrl(next.href)} after ${redirects + 1} redirects`, { details: { url: redactUrl(next.href), redirects: redirects + 1 } })
      }
      if (redirects >= maxRedirects) {
        throw new DfError('DF_ERR_SOURCE_TOO_MANY_REDIRECTS', `the source redirected more than ${maxRedirects} times (from ${redactUrl(request.url)})`, { details: { maxRedirects } })
      }
      if (next.origin !== new URL(url).origin) headers = withoutCredentials(headers)
      url = next.href
    }
  }

  /**
   * Probes the source with `Range: bytes=0-0` (conditional with `validators`): 304 →
   * not-modified; 206 → ranged (length from Content-Range); 200 → whole (its body is the
   * file); 416 with `bytes *\/N` → ranged of length N (an empty file).
   * @throws DF_ERR_SOURCE_STATUS, DF_ERR_SOURCE_UNREACHABLE, and open()'s redirect codes
   */
  async probe (url: string, headers: SourceRequestHeaders, validators: SourceValidators | undefined, signal: AbortSignal): Promise<ProbeResult> {
    const response = await this.open({ method: 'GET', url, headers: { ...sourceReadHeaders(headers), ...conditionalHeadersOf(validators), range: 'bytes=0-0' }, signal })
    if (response.status === 304) {
      skipBody(response.body)
      return { kind: 'not-modified' }
    }
    if (response.status === 416) {
      const total = /^bytes \*\/(\d+)$/.exec(headerText(response.headers['content-range']) ?? '')
      skipBody(response.body)
      if (total?.[1] === undefined) throw sourceStatusError(416, response.url)
      return { kind: 'ranged', lengthBytes: Number(total[1]), validators: validatorsOf(response.headers), statedDigest: response.statedDigest }
    }
    if (response.status < 200 || response.status >= 300) {
      skipBody(response.body)
      throw sourceStatusError(response.status, response.url)
    }
    const read = toRead(response, 0)
    if (response.status === 206) {
      await this.#dropProbeBody(read.body, response.url)
      if (read.totalBytes === undefined || read.startBytes !== 0) throw new DfError('DF_ERR_SOURCE_STATUS', `source answered 206 without a usable Content-Range for ${redactUrl(response.url)}`, { details: { status: 206 } })
      return { kind: 'ranged', lengthBytes: read.totalBytes, validators: read.validators, statedDigest: read.statedDigest }
    }
    return { kind: 'whole', read }
  }

  /**
   * Opens bytes `startBytes`..`endBytes` (inclusive; to the end when undefined), with
   * `If-Range` when a version is pinned. The answer is 206 for a range starting exactly at
   * `startBytes`, or 200 for the whole file (the source ignores Range, or the pinned version
   * is gone): the caller tells them apart by `status`.
   * @throws DF_ERR_SOURCE_CHANGED (a 206 for another range), DF_ERR_SOURCE_STATUS, DF_ERR_SOURCE_UNREACHABLE, open()'s redirect codes
   */
  async openRange (url: string, headers: SourceRequestHeaders, startBytes: number, endBytes: number | undefined, signal: AbortSignal, ifRange?: string): Promise<SourceRead> {
    const range = `bytes=${startBytes}-${endBytes ?? ''}`
    const response = await this.open({ method: 'GET', url, headers: { ...sourceReadHeaders(headers), range, ...(ifRange === undefined ? {} : { 'if-range': ifRange }) }, signal })
    if (response.status === 206) {
      const read = toRead(response, startBytes)
      if (read.startBytes !== startBytes) {
        discardBody(read.body)
        throw new DfError('DF_ERR_SOURCE_CHANGED', `source answered ${headerText(response.headers['content-range']) ?? 'another range'} for ${range}`, { details: { status: 206 } })
      }
      return read
    }
    if (response.status === 200) return toRead(response, 0)
    skipBody(response.body)
    throw sourceStatusError(response.status, response.url)
  }

  /**
   * Opens the whole file (no Range). @throws DF_ERR_SOURCE_STATUS for any answer but 2xx,
   * DF_ERR_SOURCE_UNREACHABLE, open()'s redirect codes
   */
  async openWhole (url: string, headers: SourceRequestHeaders, signal: AbortSignal): Promise<SourceRead> {
    const response = await this.open({ method: 'GET', url, headers: sourceReadHeaders(headers), signal })
    if (response.status >= 200 && response.status < 300 && response.status !== 206) return toRead(response, 0)
    skipBody(response.body)
    throw sourceStatusError(response.status, response.url)
  }

  /** Reads a probe's body (one byte) to its end, keeping the connection, and counts it. */
  async #dropProbeBody (body: Readable, url: string): Promise<void> {
    try {
      for await (const chunk of body) this.#onProbeBytesRead?.((chunk as Buffer).length)
    } catch (err) {
      throw sourceTransportError(err, url)
    }
  }
}

/** A SourceTransport over the project's HTTP client: one hop, every status handed back. */
export function createHttpSourceTransport (http: Pick<HttpClient, 'stream'>): SourceTransport {
  return async (hop) => {
    const headers: Record<string, string> = {}
    for (const [name, value] of Object.entries(hop.headers)) headers[name] = Array.isArray(value) ? value.join(name.toLowerCase() === 'cookie' ? '; ' : ', ') : value
    return await http.stream({ method: hop.method, url: hop.url, headers, ...(hop.signal === undefined ? {} : { signal: hop.signal }) }, ANY_STATUS)
  }
}

const ANY_STATUS = Array.from({ length: 500 }, (_, index) => index + 100)

/**
 * Drops a response body we will not read. undici emits an abort error on a destroyed body;
 * without a listener that would be an uncaught exception, so one is attached first.
 */
export function discardBody (body: Readable): void {
  body.on('error', () => undefined)
  body.destroy()
}

/**
 * Reads a short body (a redirect's, a probe's single byte, an error page) to its end and
 * drops it, so the connection can be reused; errors are ignored.
 */
function skipBody (body: Readable): void {
  body.on('error', () => undefined)
  body.resume()
}

function toRead (response: SourceResponse, requestedStart: number): SourceRead {
  const validators = validatorsOf(response.headers)
  const common = { validators, headers: response.headers, body: response.body, url: response.url, statedDigest: response.statedDigest }
  if (response.status === 206) {
    const contentRange = parseContentRange(headerText(response.headers['content-range']))
    return { status: 206, startBytes: contentRange?.range.start ?? requestedStart, totalBytes: contentRange?.totalBytes, ...common }
  }
  const length = headerText(response.headers['content-length'])
  const totalBytes = length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined
  return { status: response.status, startBytes: 0, totalBytes, ...common }
}

function withoutFragment (url: string): string {
  try {
    const parsed = new URL(url)
    parsed.hash = ''
    return parsed.href
  } catch {
    return url
  }
}
