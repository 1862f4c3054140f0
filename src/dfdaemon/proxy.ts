/**
 * dfdaemon's HTTP server: one port that is at once
 *   - a registry mirror: origin-form `/v2/...` requests go to `--registry` (or to the
 *     registry named by containerd's `ns=`),
 *   - a Hugging Face endpoint when `hf_endpoint` is set: every other origin-form request
 *     (`/api/...`, `/{owner}/{name}/resolve/...`) goes to that Hub (hub-delivery.ts: large
 *     files through the swarm, the rest straight to the Hub),
 *   - an HTTP forward proxy: absolute-URI requests (`GET http://host/...`) and CONNECT
 *     (tunnelled, or intercepted for hijack hosts: connect-handler.ts),
 *   - its own small API: `GET /_ping`, `GET /metrics`.
 * Every request's upstream URL then goes through the routing rules: swarm-routed GETs are
 * served by SwarmDelivery (registry blobs identified by digest, also their byte ranges),
 * everything else passes through unchanged. Request logs carry method, redacted URL, route, status and duration,
 * never headers: engines send registry credentials.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { DfError } from '../protocol/errors.js'
import { redactUrl } from '../common/http/redact-url.js'
import type { Logger } from '../common/log.js'
import type { RoutingRules } from './routing-rules.js'
import type { SwarmDelivery } from './swarm-delivery.js'
import type { UpstreamClient } from './upstream-client.js'
import type { ProxyMetrics } from './proxy-metrics.js'
import type { ConnectHandler } from './connect-handler.js'
import type { HubDelivery } from './hub-delivery.js'
import { isImageManifestType, isManifestPath, isRegistryPath, parseBlobPath, resolveMirrorUpstream, type MirrorUpstreamOptions } from './registry-request.js'
import { upstreamRequestHeaders } from './forwarded-headers.js'
import { passThrough } from './pass-through.js'
import { sendErrorResponse } from './error-response.js'

export interface DfdaemonProxyDeps {
  readonly rules: RoutingRules
  readonly delivery: SwarmDelivery
  readonly upstream: Pick<UpstreamClient, 'exchange'>
  readonly connect: ConnectHandler
  readonly metrics: ProxyMetrics
  readonly logger: Logger
  /** The Hugging Face endpoint (`hf_endpoint`), when configured. */
  readonly hub?: Pick<HubDelivery, 'serve' | 'upstreamUrlOf'>
  /** Told of every image manifest passed through (GET, 200), with the engine's Authorization and the manifest (unless over 4 MiB): its layers may be fetched ahead. */
  readonly onImageManifest?: (url: URL, authorization: string | undefined, manifest: Buffer | undefined) => void
}

export interface DfdaemonProxyOptions extends MirrorUpstreamOptions {
  readonly listen: string
  readonly port: number
}

type Mode = 'mirror' | 'forward' | 'intercepted' | 'hub'

/** Manifests up to this size are kept for prefetch (registries refuse bigger ones: the distribution spec's 4 MiB). */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024

/** The proxy server. `start()` listens; `close()` stops and drops every connection. */
export class DfdaemonProxy {
  readonly #deps: DfdaemonProxyDeps
  readonly #options: DfdaemonProxyOptions
  readonly #sockets = new Set<Socket>()
  #server: Server | undefined
  #closing: Promise<void> | undefined

  constructor (deps: DfdaemonProxyDeps, options: DfdaemonProxyOptions) {
    this.#deps = deps
    this.#options = options
  }

  /** Listens; returns the bound address (port 0 picks a free one). */
  async start (): Promise<AddressInfo> {
    if (this.#server !== undefined) throw new DfError('DF_ERR_INTERNAL_INVARIANT', 'proxy already started')
    const server = createServer({ keepAliveTimeout: 30_000 }, (req, res) => { this.#onRequest(req, res) })
    this.#server = server
    server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket)
      socket.once('close', () => this.#sockets.delete(socket))
    })
    server.on('connect', (req: IncomingMessage, socket, head: Buffer) => { this.#deps.connect.handle(server, req, socket, head) })
    server.on('clientError', (_err, socket) => {
      // Malformed requests, and TLS handshakes sent to the plain port (skopeo probes https first).
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n')
      else socket.destroy()
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.#options.port, this.#options.listen, () => { server.off('error', reject); resolve() })
    })
    return server.address() as AddressInfo // a TCP server always has an AddressInfo
  }

  /** Stops listening and destroys open connections. Idempotent. */
  async close (): Promise<void> {
    this.#closing ??= (async () => {
      const server = this.#server
      if (server === undefined) return
      const closed = new Promise<void>((resolve) => { server.close(() => { resolve() }) })
      this.#deps.connect.close()
      for (const socket of this.#sockets) socket.destroy()
      server.closeAllConnections()
      await closed
    })()
    return await this.#closing
  }

  #onRequest (req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now()
    const method = req.method ?? 'GET'
    let target: { url: URL, mode: Mode }
    try {
      const own = this.#ownEndpoint(req, res)
      if (own) return
      target = this.#targetOf(req)
    } catch (err) {
      this.#deps.logger.debug({ method, err: (err as Error).message }, 'request refused')
      sendErrorResponse(res, err)
      return
    }
    if (target.mode === 'hub' && this.#deps.hub !== undefined) {
      void this.#deps.hub.serve(req, res, { url: target.url, headers: upstreamRequestHeaders(req.headers) })
      return
    }
    const decision = this.#deps.rules.decide(target.url)
    const headers = upstreamRequestHeaders(req.headers)
    const log = this.#deps.logger.child({ method, url: redactUrl(decision.url.href), mode: target.mode })
    const blob = parseBlobPath(decision.url.pathname)
    // A ranged GET goes through the swarm for a blob (its digest names the task); any other
    // ranged file passes through.
    const useSwarm = decision.route === 'swarm' && method === 'GET' && (req.headers.range === undefined || blob !== undefined)
    const done = (): void => {
      const entry = { route: useSwarm ? 'swarm' : 'direct', status: res.statusCode, durationMs: Math.round(performance.now() - started) }
      if (useSwarm) log.info(entry, 'request served'); else log.debug(entry, 'request served')
    }
    res.once('finish', done)
    if (useSwarm) {
      this.#deps.metrics.countRequest(blob === undefined ? 'swarm' : 'blob_swarm')
      void this.#deps.delivery.deliver(req, res, { url: decision.url, headers, digest: blob?.digest })
      return
    }
    this.#deps.metrics.countRequest('pass_through')
    const isManifestGet = method === 'GET' && isManifestPath(decision.url.pathname)
    passThrough(this.#deps.upstream, req, res, { url: decision.url, headers, ...(isManifestGet ? { keepBodyBytes: MAX_MANIFEST_BYTES } : {}) }).then((answer) => {
      if (isManifestGet && answer.status === 200 && isImageManifestType(answer.contentType) && this.#blobsGoThroughSwarm(target.url)) {
        this.#deps.onImageManifest?.(decision.url, req.headers.authorization, answer.body)
      }
    }, (err: unknown) => {
      log.warn({ err: err instanceof DfError ? { code: err.code, message: err.message } : String(err) }, 'pass-through failed')
      sendErrorResponse(res, err)
    })
  }

  /** Whether the rules send the blobs of this manifest's repository through the swarm (else prefetching them is waste). */
  #blobsGoThroughSwarm (manifestUrl: URL): boolean {
    const blobUrl = new URL(manifestUrl.href)
    blobUrl.pathname = manifestUrl.pathname.replace(/\/manifests\/[^/]+$/, `/blobs/sha256:${'0'.repeat(64)}`)
    blobUrl.search = ''
    return this.#deps.rules.decide(blobUrl).route === 'swarm'
  }

  /** Serves `/_ping` and `/metrics` (origin-form only); true when it answered. */
  #ownEndpoint (req: IncomingMessage, res: ServerResponse): boolean {
    if (this.#deps.connect.originOf(req.socket) !== undefined || !(req.url ?? '').startsWith('/')) return false
    const path = (req.url ?? '/').split('?')[0]
    if (path === '/_ping') {
      this.#deps.metrics.countRequest('own')
      res.writeHead(200, { 'content-type': 'text/plain' }).end('OK')
      return true
    }
    if (path === '/metrics') {
      this.#deps.metrics.countRequest('own')
      this.#deps.metrics.render().then(({ contentType, text }) => {
        res.writeHead(200, { 'content-type': contentType }).end(text)
      }, (err: unknown) => { sendErrorResponse(res, err) })
      return true
    }
    return false
  }

  /** The upstream URL of a request. @throws DF_ERR_PROXY_BAD_REQUEST, DF_ERR_PROXY_NO_UPSTREAM */
  #targetOf (req: IncomingMessage): { url: URL, mode: Mode } {
    const raw = req.url ?? '/'
    const intercepted = this.#deps.connect.originOf(req.socket)
    if (intercepted !== undefined) return { url: new URL(raw, intercepted), mode: 'intercepted' }
    if (/^https?:\/\//i.test(raw)) {
      try {
        return { url: new URL(raw), mode: 'forward' }
      } catch {
        throw new DfError('DF_ERR_PROXY_BAD_REQUEST', 'malformed absolute URI')
      }
    }
    const path = raw.split('?')[0] ?? ''
    if (raw.startsWith('/') && isRegistryPath(path)) return { url: resolveMirrorUpstream(raw, this.#options), mode: 'mirror' }
    if (raw.startsWith('/') && this.#deps.hub !== undefined) return { url: this.#deps.hub.upstreamUrlOf(raw), mode: 'hub' }
    throw new DfError('DF_ERR_PROXY_BAD_REQUEST', `not a registry path or an absolute URI: ${path.slice(0, 64)}`)
  }
}
