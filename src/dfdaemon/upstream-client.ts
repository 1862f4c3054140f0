/**
 * The proxy's outbound side: relays one request to an upstream (registry, object store, any
 * host of the forward proxy) and hands back the raw status, headers and body stream, for
 * every status, with streamed request bodies. This is the one place dfdaemon opens HTTP
 * connections; it is not built on common/http/client.ts because a proxy must see upstream
 * answers exactly as sent (errors included) instead of typed results.
 *
 * Redirects are followed only when asked (blob fetches: registries send blobs to object
 * storage), by the shared source reader (common/source/source-reader.ts) with this client
 * as its transport: the same limit, loop detection and credential rule as the CDN and
 * dfget (Authorization, Cookie and other credential headers are dropped when a redirect
 * leaves the origin, because presigned storage URLs reject them), and every hop still goes
 * through this client's per-host TLS.
 * TLS towards an upstream is chosen per host: extra CA certificates or no verification.
 */
import { Agent, type Dispatcher } from 'undici'
import type { Readable } from 'node:stream'
import { rootCertificates } from 'node:tls'
import { DfError } from '../protocol/errors.js'
import { redactUrl } from '../common/http/redact-url.js'
import { SourceReader, type SourceHop } from '../common/source/source-reader.js'
import { guardBodyEnd } from '../common/http/body-end-guard.js'

/** TLS settings for the upstreams whose "host:port" matches `hostPattern`. */
export interface UpstreamTlsProfile {
  /** Matched against "host:port" (port always present); undefined matches every host. */
  readonly hostPattern: RegExp | undefined
  readonly insecure: boolean
  /** Extra trusted CA certificates (PEM text), trusted next to the system's. */
  readonly caPem: readonly string[]
}

export interface UpstreamClientOptions {
  /** First matching profile wins; without a match the system CAs verify. */
  readonly tlsProfiles?: readonly UpstreamTlsProfile[]
  /** Deadline for response headers and for each gap in a body. Default 60 s. */
  readonly timeoutMs?: number
  readonly connectTimeoutMs?: number
}

/** One relayed request. */
export interface UpstreamRequest {
  readonly method: string
  readonly url: URL
  /** Headers to send (hop-by-hop headers already removed). */
  readonly headers: Readonly<Record<string, string | string[]>>
  readonly body?: Readable
  /**
   * Follow up to this many redirects (GET/HEAD only). Default 0: return 3xx as is. More
   * redirects than that, or a loop, is DF_ERR_SOURCE_TOO_MANY_REDIRECTS / DF_ERR_SOURCE_REDIRECT_LOOP.
   */
  readonly maxRedirects?: number
  readonly signal?: AbortSignal
}

/** The upstream's answer. The caller consumes or destroys `body`. */
export interface UpstreamResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
  readonly body: Readable
  /** The URL that answered (after redirects). */
  readonly url: URL
  /** The headers sent to that URL (credentials may have been dropped on the way). */
  readonly sentHeaders: Readonly<Record<string, string | string[]>>
}

/** Relays requests to upstreams. `close()` releases every socket. */
export class UpstreamClient {
  readonly #profiles: readonly UpstreamTlsProfile[]
  readonly #timeoutMs: number
  readonly #connectTimeoutMs: number
  readonly #agents = new Map<UpstreamTlsProfile | 'default', Dispatcher.ComposedDispatcher>()
  readonly #reader: SourceReader
  #closed = false

  constructor (options: UpstreamClientOptions = {}) {
    this.#profiles = options.tlsProfiles ?? []
    this.#timeoutMs = options.timeoutMs ?? 60_000
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 10_000
    this.#reader = new SourceReader({ transport: async (hop) => await this.#sendHop(hop) })
  }

  /**
   * Sends the request and returns the answer, whatever its status.
   * @throws DF_ERR_PROXY_UPSTREAM_UNREACHABLE when no answer arrives (refused, reset, TLS, timeout)
   */
  async exchange (request: UpstreamRequest): Promise<UpstreamResponse> {
    if (this.#closed) throw new DfError('DF_ERR_PROXY_UPSTREAM_UNREACHABLE', 'the upstream client is closed')
    const { method } = request
    const maxRedirects = method === 'GET' || method === 'HEAD' ? request.maxRedirects ?? 0 : 0
    if (maxRedirects > 0 && (method === 'GET' || method === 'HEAD')) {
      const answer = await this.#reader.open({ method, url: request.url.href, headers: request.headers, signal: request.signal, maxRedirects })
      return { status: answer.status, headers: answer.headers, body: answer.body, url: new URL(answer.url), sentHeaders: answer.sentHeaders }
    }
    const response = await this.#send(method, request.url, request.headers, request.body, request.signal)
    return { status: response.statusCode, headers: response.headers, body: response.body, url: request.url, sentHeaders: request.headers }
  }

  /** Releases every socket. Idempotent. */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await Promise.all([...this.#agents.values()].map(async (agent) => { await agent.destroy() }))
    this.#agents.clear()
  }

  /** One hop of a redirect chain followed by the source reader. */
  async #sendHop (hop: SourceHop): Promise<{ status: number, headers: Dispatcher.ResponseData['headers'], body: Readable }> {
    const response = await this.#send(hop.method, new URL(hop.url), hop.headers, undefined, hop.signal)
    return { status: response.statusCode, headers: response.headers, body: response.body }
  }

  async #send (method: string, url: URL, headers: Readonly<Record<string, string | string[]>>, body: Readable | undefined, signal: AbortSignal | undefined): Promise<Dispatcher.ResponseData> {
    try {
      return await this.#agentFor(url).request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: method as Dispatcher.HttpMethod, // any token the client sent; undici validates it
        headers,
        body: body ?? null,
        signal,
        headersTimeout: this.#timeoutMs,
        bodyTimeout: this.#timeoutMs,
      })
    } catch (err) {
      const reason = (err as { code?: string } | undefined)?.code ?? (err as Error | undefined)?.message ?? 'failed'
      throw new DfError('DF_ERR_PROXY_UPSTREAM_UNREACHABLE', `${method} ${redactUrl(url.href)}: ${reason}`, { cause: err })
    }
  }

  #agentFor (url: URL): Dispatcher.ComposedDispatcher {
    const hostPort = `${url.hostname}:${url.port !== '' ? url.port : url.protocol === 'https:' ? '443' : '80'}`
    const profile = url.protocol === 'https:'
      ? this.#profiles.find((p) => p.hostPattern === undefined || p.hostPattern.test(hostPort)) ?? 'default'
      : 'default'
    let agent = this.#agents.get(profile)
    if (agent === undefined) {
      const tls = profile === 'default'
        ? {}
        : { rejectUnauthorized: !profile.insecure, ...(profile.caPem.length > 0 ? { ca: [...rootCertificates, ...profile.caPem] } : {}) }
      agent = new Agent({
        connect: { timeout: this.#connectTimeoutMs, ...tls },
        keepAliveTimeout: 4_000,
        connections: 64,
        headersTimeout: this.#timeoutMs,
        bodyTimeout: this.#timeoutMs,
      }).compose(guardBodyEnd)
      this.#agents.set(profile, agent)
    }
    return agent
  }
}
