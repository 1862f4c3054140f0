/**
 * THE outbound HTTP client (STYLE.md B12: one client, typed facades on top). Built on an
 * undici Agent owned by each instance (no global dispatcher). It is the only place that
 * reads an HTTP error response: a body in our error shape becomes a DfError with the same
 * code plus `remote`; connection failures become DF_ERR_NETWORK, deadlines DF_ERR_TIMEOUT.
 */
import { Agent, errors as undiciErrors, type Dispatcher } from 'undici'
import { Readable } from 'node:stream'
import { rootCertificates } from 'node:tls'
import { DfError, fromWire, type ErrorCode, type RemoteInfo } from '../../protocol/errors.js'
import type { Parser } from '../../protocol/schema-parser.js'
import { redactUrl } from './redact-url.js'
import { guardBodyEnd } from './body-end-guard.js'

/** Options of an HttpClient; all optional. */
export interface HttpClientOptions {
  /** Deadline for the response headers, and for each gap between body chunks. Default 30 s. */
  readonly timeoutMs?: number
  /** Deadline to open a connection. Default 5 s. */
  readonly connectTimeoutMs?: number
  /** How long an idle keep-alive socket is kept. Default 4 s. */
  readonly keepAliveTimeoutMs?: number
  /** Most connections per origin. Default 32. */
  readonly connectionsPerOrigin?: number
  /** Headers sent with every request (e.g. an API token). */
  readonly defaultHeaders?: Readonly<Record<string, string>>
  /** PEM CA certificate(s) trusted for https, in addition to the system's. */
  readonly caCert?: string | Buffer
}

/** One request. */
export interface HttpRequest {
  readonly method?: Dispatcher.HttpMethod
  readonly url: string
  readonly query?: Readonly<Record<string, string | number | undefined>>
  readonly headers?: Readonly<Record<string, string>>
  /** A JSON body (serialised here) — or raw bytes. */
  readonly json?: unknown
  /** A raw body, sent as application/octet-stream (instead of `json`): one buffer, or chunks sent in order without joining them. */
  readonly bytes?: Buffer | readonly Buffer[]
  readonly signal?: AbortSignal
  readonly timeoutMs?: number
  /** Code for an error status whose body is not in our error shape. Default DF_ERR_NETWORK. */
  readonly foreignStatusCode?: ErrorCode
}

/** A streamed response (status 2xx or one the caller accepted). */
export interface HttpStreamResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
  readonly body: Readable
}

const MAX_ERROR_BODY_BYTES = 64 * 1024

/** The HTTP client. `close()` releases every socket. */
export class HttpClient {
  readonly #agent: Dispatcher.ComposedDispatcher
  readonly #timeoutMs: number
  readonly #defaultHeaders: Readonly<Record<string, string>>
  #closed = false

  constructor (options: HttpClientOptions = {}) {
    this.#timeoutMs = options.timeoutMs ?? 30_000
    this.#defaultHeaders = options.defaultHeaders ?? {}
    this.#agent = new Agent({
      connect: { timeout: options.connectTimeoutMs ?? 5_000, ...(options.caCert === undefined ? {} : { ca: [...rootCertificates, options.caCert.toString()] }) },
      keepAliveTimeout: options.keepAliveTimeoutMs ?? 4_000,
      keepAliveMaxTimeout: 60_000,
      connections: options.connectionsPerOrigin ?? 32,
      headersTimeout: this.#timeoutMs,
      bodyTimeout: this.#timeoutMs,
    }).compose(guardBodyEnd)
  }

  /** Sends a request and parses a 2xx JSON answer with `parse`. @throws DfError */
  async requestJson<T> (request: HttpRequest, parse: Parser<T>): Promise<T> {
    const response = await this.#send(request, 'application/json')
    const text = await readText(response.body, request, response.statusCode)
    let body: unknown
    try {
      body = JSON.parse(text)
    } catch (err) {
      throw new DfError('DF_ERR_NETWORK', `${describe(request)}: answer is not JSON`, { cause: err, remote: remoteOf(request, response.statusCode) })
    }
    try {
      return parse(body)
    } catch (err) {
      throw new DfError('DF_ERR_NETWORK', `${describe(request)}: unexpected answer: ${(err as Error).message}`, { cause: err, remote: remoteOf(request, response.statusCode) })
    }
  }

  /** Sends a request whose success has no body we need. @throws DfError */
  async requestVoid (request: HttpRequest): Promise<number> {
    const response = await this.#send(request, 'application/json')
    await response.body.dump()
    return response.statusCode
  }

  /**
   * Sends a request and hands back the body stream on 2xx (and on any status listed in
   * `acceptStatus`). The caller must consume or destroy the body. @throws DfError
   */
  async stream (request: HttpRequest, acceptStatus: readonly number[] = []): Promise<HttpStreamResponse> {
    const response = await this.#send(request, '*/*', acceptStatus)
    return { status: response.statusCode, headers: response.headers, body: response.body }
  }

  /** Fetches bytes `start-end` (inclusive) of `url` into one buffer. @throws DfError */
  async fetchRange (request: HttpRequest & { readonly start: number, readonly end: number }): Promise<Buffer> {
    const chunks = await this.fetchRangeChunks(request)
    return chunks.length === 1 && chunks[0] !== undefined ? chunks[0] : Buffer.concat(chunks)
  }

  /**
   * Fetches bytes `start-end` (inclusive) of `url` as the chunks they arrived in, so a caller
   * can hash and write them without copying them into one buffer first. @throws DfError
   */
  async fetchRangeChunks (request: HttpRequest & { readonly start: number, readonly end: number }): Promise<Buffer[]> {
    const headers = { ...request.headers, range: `bytes=${request.start}-${request.end}` }
    const response = await this.#send({ ...request, headers }, '*/*')
    const expected = request.end - request.start + 1
    if (response.statusCode !== 206) {
      await response.body.dump()
      throw new DfError(request.foreignStatusCode ?? 'DF_ERR_NETWORK', `${describe(request)}: expected 206 for a range, got ${response.statusCode}`, { remote: remoteOf(request, response.statusCode) })
    }
    const chunks: Buffer[] = []
    let length = 0
    try {
      for await (const chunk of response.body) {
        const buffer = chunk as Buffer
        length += buffer.length
        if (length > expected) break
        chunks.push(buffer)
      }
    } catch (err) {
      throw mapFailure(err, request)
    }
    if (length !== expected) {
      response.body.destroy()
      throw new DfError('DF_ERR_NETWORK', `${describe(request)}: got ${length} bytes, expected ${expected}`, { remote: remoteOf(request, 206) })
    }
    return chunks
  }

  /** Releases every socket. Idempotent. */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#agent.destroy()
  }

  async #send (request: HttpRequest, accept: string, acceptStatus: readonly number[] = []): Promise<Dispatcher.ResponseData> {
    const url = new URL(request.url)
    for (const [name, value] of Object.entries(request.query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, String(value))
    }
    const headers: Record<string, string> = { accept, ...this.#defaultHeaders, ...request.headers }
    let body: string | Buffer | Readable | null = null
    if (request.json !== undefined) {
      body = JSON.stringify(request.json)
      headers['content-type'] = 'application/json'
    } else if (Buffer.isBuffer(request.bytes)) {
      body = request.bytes
      headers['content-type'] = 'application/octet-stream'
    } else if (request.bytes !== undefined) {
      body = Readable.from(request.bytes, { objectMode: false })
      headers['content-type'] = 'application/octet-stream'
      headers['content-length'] = String(request.bytes.reduce((sum, chunk) => sum + chunk.length, 0))
    }
    const timeoutMs = request.timeoutMs ?? this.#timeoutMs
    let response: Dispatcher.ResponseData
    try {
      response = await this.#agent.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: request.method ?? 'GET',
        headers,
        body,
        signal: request.signal,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      })
    } catch (err) {
      throw mapFailure(err, request)
    }
    if ((response.statusCode >= 200 && response.statusCode < 300) || acceptStatus.includes(response.statusCode)) return response
    const text = await readText(response.body, request, response.statusCode).catch(() => '')
    const remote = remoteOf(request, response.statusCode)
    let parsed: unknown
    try { parsed = JSON.parse(text) } catch { parsed = undefined }
    const wire = fromWire(parsed, remote)
    if (wire !== undefined) throw wire
    throw new DfError(request.foreignStatusCode ?? 'DF_ERR_NETWORK', `${describe(request)}: HTTP ${response.statusCode}`, { remote, details: { status: response.statusCode } })
  }
}

async function readText (body: Dispatcher.ResponseData['body'], request: HttpRequest, status: number): Promise<string> {
  const chunks: Buffer[] = []
  let length = 0
  try {
    for await (const chunk of body) {
      const buffer = chunk as Buffer
      length += buffer.length
      if (status >= 300 && length > MAX_ERROR_BODY_BYTES) break
      chunks.push(buffer)
    }
  } catch (err) {
    throw mapFailure(err, request)
  }
  return Buffer.concat(chunks).toString('utf8')
}

function remoteOf (request: HttpRequest, status: number): RemoteInfo {
  return { url: redactUrl(request.url), method: request.method ?? 'GET', status }
}

function describe (request: HttpRequest): string {
  return `${request.method ?? 'GET'} ${redactUrl(request.url)}`
}

/** Maps a transport failure to DF_ERR_TIMEOUT / DF_ERR_NETWORK, keeping the cause. */
function mapFailure (err: unknown, request: HttpRequest): DfError {
  if (err instanceof DfError) return err
  const name = (err as { name?: string } | undefined)?.name
  const isTimeout = err instanceof undiciErrors.HeadersTimeoutError ||
    err instanceof undiciErrors.BodyTimeoutError ||
    err instanceof undiciErrors.ConnectTimeoutError ||
    name === 'TimeoutError'
  if (isTimeout) return new DfError('DF_ERR_TIMEOUT', `${describe(request)}: timed out`, { cause: err })
  const code = (err as { code?: string } | undefined)?.code
  const reason = code ?? (err as Error | undefined)?.message ?? 'failed'
  return new DfError('DF_ERR_NETWORK', `${describe(request)}: ${reason}`, { cause: err })
}
