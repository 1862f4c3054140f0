/**
 * dfdaemon's Prometheus metrics, one registry per instance (no global registry), served at
 * `GET /metrics` on the proxy port. Names use the `dragonfly_dfdaemon_` prefix next to the
 * supernode's `dragonfly_supernode_` ones.
 */
import { Counter, Registry } from 'prom-client'

/** Where a blob's bytes came from. */
export type BlobSource = 'swarm' | 'direct'

/** How a request was handled. */
export type RequestKind = 'blob_swarm' | 'swarm' | 'pass_through' | 'connect_tunnel' | 'connect_hijack' | 'own'

export class ProxyMetrics {
  readonly registry = new Registry()
  readonly #requests: Counter<'kind'>
  readonly #routes: Counter<'route'>
  readonly #bytes: Counter<'source'>
  readonly #fallbacks: Counter<'stage'>
  readonly #digestMismatches: Counter
  readonly #p2pBytes: Counter<'from'>

  constructor () {
    this.#requests = new Counter({ name: 'dragonfly_dfdaemon_requests_total', help: 'requests handled, by kind', labelNames: ['kind'], registers: [this.registry] })
    this.#routes = new Counter({ name: 'dragonfly_dfdaemon_route_requests_total', help: 'requests by route: swarm (through the P2P swarm) or direct (straight to the upstream, tunnels included)', labelNames: ['route'], registers: [this.registry] })
    this.#bytes = new Counter({ name: 'dragonfly_dfdaemon_swarm_route_bytes_total', help: 'body bytes of swarm-routed downloads sent to clients, by where they came from', labelNames: ['source'], registers: [this.registry] })
    this.#fallbacks = new Counter({ name: 'dragonfly_dfdaemon_back_source_total', help: 'swarm downloads that fell back to the source, by stage (start: before any byte; continue: part-way)', labelNames: ['stage'], registers: [this.registry] })
    this.#p2pBytes = new Counter({ name: 'dragonfly_dfdaemon_p2p_bytes_total', help: 'bytes of finished swarm downloads, by where the download took them from', labelNames: ['from'], registers: [this.registry] })
    this.#digestMismatches = new Counter({ name: 'dragonfly_dfdaemon_digest_mismatches_total', help: 'blobs whose bytes did not match their digest (responses aborted)', registers: [this.registry] })
  }

  countRequest (kind: RequestKind): void {
    this.#requests.inc({ kind })
    if (kind !== 'own') this.#routes.inc({ route: kind === 'blob_swarm' || kind === 'swarm' ? 'swarm' : 'direct' })
  }
  countBytes (source: BlobSource, bytes: number): void { this.#bytes.inc({ source }, bytes) }
  countFallback (stage: 'start' | 'continue'): void { this.#fallbacks.inc({ stage }) }
  countDigestMismatch (): void { this.#digestMismatches.inc() }
  /** Records where a finished swarm download took its bytes from. */
  countP2pResult (result: { readonly bytesFromSource: number, readonly bytesFromSupernode: number, readonly bytesFromPeers: number }): void {
    this.#p2pBytes.inc({ from: 'source' }, result.bytesFromSource)
    this.#p2pBytes.inc({ from: 'supernode' }, result.bytesFromSupernode)
    this.#p2pBytes.inc({ from: 'peers' }, result.bytesFromPeers)
  }

  /** Prometheus text. */
  async render (): Promise<{ contentType: string, text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() }
  }
}
