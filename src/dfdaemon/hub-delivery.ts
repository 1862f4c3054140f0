/**
 * dfdaemon as a Hugging Face endpoint (docs/dfdaemon.md, "Hugging Face"): with
 * `HF_ENDPOINT=http://127.0.0.1:<port>`, the Hub client sends its requests here, and every
 * one goes to the configured Hub (`hf_endpoint`) with the client's own headers — its own
 * Authorization for its own requests only. The routing rule of the Hub:
 *
 * - a large (LFS) file (`/[datasets/]{owner}/{name}/resolve/{revision}/{path}`, which the
 *   Hub answers with a redirect to LFS storage stating the file's sha256 in X-Linked-Etag)
 *   goes through the swarm: its sha256 is the task's identity and the swarm reads it from
 *   its `/resolve/` URL at the commit the Hub named (X-Repo-Commit), so dfget's `hf://`
 *   and every host's client meet in one task; the bytes are checked against the sha256;
 * - everything else (the API, small files, errors) passes through unchanged.
 *
 * The client asks for a file's metadata with a HEAD before it GETs it. For an LFS file the
 * Hub's answer is the redirect; here it becomes a 200 carrying the same X-Repo-Commit,
 * X-Linked-Etag, X-Linked-Size and ETag, so the client's GET comes here too (a redirect
 * would send it to the storage itself). Xet headers (X-Xet-*, the xet-auth Link) are left
 * out of that answer: the client then downloads over HTTP, through the swarm, instead of
 * from Xet storage. Nothing else is rewritten.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { DfError } from '../protocol/errors.js'
import { redactUrl } from '../common/http/redact-url.js'
import type { Logger } from '../common/log.js'
import { HUB_COMMIT_PATTERN, hubResolveUrl, linkedSha256Of, parseHubResolvePath } from '../common/source/hub-paths.js'
import type { UpstreamClient } from './upstream-client.js'
import type { ProxyMetrics } from './proxy-metrics.js'
import type { SwarmDelivery } from './swarm-delivery.js'
import { clientResponseHeaders } from './forwarded-headers.js'
import { passThrough } from './pass-through.js'
import { sendErrorResponse } from './error-response.js'

export interface HubDeliveryDeps {
  readonly upstream: Pick<UpstreamClient, 'exchange'>
  readonly delivery: Pick<SwarmDelivery, 'deliver'>
  readonly metrics: ProxyMetrics
  readonly logger: Logger
}

export interface HubDeliveryOptions {
  /** The Hub (`hf_endpoint`): every request's path and query are taken below it. */
  readonly hubUrl: URL
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308])

/** Serves the requests of Hub clients. Stateless between requests. */
export class HubDelivery {
  readonly #deps: HubDeliveryDeps
  readonly #hubUrl: URL

  constructor (deps: HubDeliveryDeps, options: HubDeliveryOptions) {
    this.#deps = deps
    this.#hubUrl = options.hubUrl
  }

  /** The Hub's URL of an origin-form request (`/api/…`, `/{owner}/{name}/resolve/…`). */
  upstreamUrlOf (pathAndQuery: string): URL {
    const request = new URL(pathAndQuery, 'http://hub.invalid')
    return new URL(`${this.#hubUrl.origin}${this.#hubUrl.pathname.replace(/\/+$/, '')}${request.pathname}${request.search}`)
  }

  /** Serves one request (`url`: its Hub URL). Never rejects: failures are answered or abort `res`. */
  async serve (req: IncomingMessage, res: ServerResponse, request: { readonly url: URL, readonly headers: Readonly<Record<string, string | string[]>> }): Promise<void> {
    const method = req.method ?? 'GET'
    const log = this.#deps.logger.child({ method, url: redactUrl(request.url.href), mode: 'hub' })
    const started = performance.now()
    let route: 'swarm' | 'direct' = 'direct'
    res.once('finish', () => {
      const entry = { route, status: res.statusCode, durationMs: Math.round(performance.now() - started) }
      if (route === 'swarm') log.info(entry, 'request served'); else log.debug(entry, 'request served')
    })
    try {
      const file = (method === 'GET' || method === 'HEAD') ? parseHubResolvePath(this.#pathBelowHub(request.url)) : undefined
      if (file === undefined) {
        this.#deps.metrics.countRequest('pass_through')
        await passThrough(this.#deps.upstream, req, res, request)
        return
      }
      // Where is the file? The Hub's answer to a HEAD, with the client's own headers, no redirect followed.
      const probe = await this.#deps.upstream.exchange({ method: 'HEAD', url: request.url, headers: { ...withoutRange(request.headers), 'accept-encoding': 'identity' }, maxRedirects: 0 })
      probe.body.resume()
      const digest = REDIRECT_STATUSES.has(probe.status) ? linkedSha256Of(probe.headers['x-linked-etag']) : undefined
      if (digest === undefined) {
        this.#deps.metrics.countRequest('pass_through')
        if (method === 'HEAD') res.writeHead(probe.status, withoutXet(clientResponseHeaders(probe.headers))).end()
        else await passThrough(this.#deps.upstream, req, res, request)
        return
      }
      const commit = headerOf(probe.headers['x-repo-commit'])
      const lengthBytes = /^\d+$/.test(headerOf(probe.headers['x-linked-size']) ?? '') ? Number(headerOf(probe.headers['x-linked-size'])) : undefined
      const fileHeaders: Record<string, string> = {
        ...(commit === undefined ? {} : { 'x-repo-commit': commit }),
        'x-linked-etag': `"${digest.slice('sha256:'.length)}"`,
        ...(lengthBytes === undefined ? {} : { 'x-linked-size': String(lengthBytes) }),
        etag: `"${digest.slice('sha256:'.length)}"`,
        'accept-ranges': 'bytes',
        'content-type': 'application/octet-stream',
      }
      if (method === 'HEAD') {
        this.#deps.metrics.countRequest('pass_through')
        res.writeHead(200, { ...fileHeaders, ...(lengthBytes === undefined ? {} : { 'content-length': String(lengthBytes) }) }).end()
        return
      }
      // The file at its commit: the same URL whatever branch or tag the client named.
      const source = commit !== undefined && HUB_COMMIT_PATTERN.test(commit)
        ? new URL(hubResolveUrl(this.#hubBase(), { ...file, revision: commit }))
        : request.url
      route = 'swarm'
      this.#deps.metrics.countRequest('swarm')
      await this.#deps.delivery.deliver(req, res, { url: source, headers: request.headers, digest, probed: { lengthBytes, headers: fileHeaders } })
    } catch (err) {
      log.warn({ err: err instanceof DfError ? { code: err.code, message: err.message } : String(err) }, 'Hub request failed')
      sendErrorResponse(res, err)
    }
  }

  /** The request's path below the Hub's own path (a Hub mirror may live under a prefix). */
  #pathBelowHub (url: URL): string {
    const base = this.#hubUrl.pathname.replace(/\/+$/, '')
    return url.pathname.startsWith(`${base}/`) ? url.pathname.slice(base.length) : url.pathname
  }

  #hubBase (): string {
    return `${this.#hubUrl.origin}${this.#hubUrl.pathname.replace(/\/+$/, '')}`
  }
}

/** Headers of an answer without Xet's (X-Xet-*, and the xet-auth link): the client then downloads over HTTP. */
function withoutXet (headers: Record<string, string | string[]>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith('x-xet-')) continue
    if (name === 'link') {
      const links = (Array.isArray(value) ? value.join(',') : value).split(/,(?=\s*<)/).filter((link) => !/rel="?xet-auth"?/i.test(link))
      if (links.length > 0) out[name] = links.join(',')
      continue
    }
    out[name] = value
  }
  return out
}

function withoutRange (headers: Readonly<Record<string, string | string[]>>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const [name, value] of Object.entries(headers)) if (name !== 'range' && name !== 'if-range') out[name] = value
  return out
}

function headerOf (value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}
