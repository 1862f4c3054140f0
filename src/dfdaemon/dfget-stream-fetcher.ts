/**
 * The stream P2pFetcher: runs dfget's stream mode in process (`runDfgetStream`, the same
 * peer server per --home as the dfget CLI), so a blob flows to the engine as its pieces
 * arrive, holding only the window in memory and writing nothing to disk. The blob digest is
 * dfget's `digest`: it alone identifies the task (the same layer from two registries is
 * one task), and the whole stream is verified against it (a mismatch errors the body).
 *
 * `fetch` resolves once the task is registered; the body errors with a DfError when the
 * swarm fails part-way (the proxy then continues from the source by Range, or fails): dfget
 * itself never falls back to the source here, so there is one way to the registry.
 *
 * dfdaemon is a long-lived process, so it hosts the home's peer server itself (as
 * Dragonfly 2's dfdaemon is the peer) when none runs yet: its streams' pieces then go into
 * the store without a copy through loopback, and the dfget CLI of this host finds the
 * server through the home's state file as usual. A peer server already running for the
 * home (started by a dfget) is used over loopback instead.
 */
import { DfError } from '../protocol/errors.js'
import type { Logger } from '../common/log.js'
import type { SupernodeAddress } from '../common/node-list.js'
import type { PreheatRequest } from '../protocol/messages/preheat.js'
import { computeTaskId } from '../protocol/task-id.js'
import { isContentDigest } from '../protocol/content-digest.js'
import { createDataPlane, createSupernodeLocator, orderSupernodes, type SupernodeLocator, PeerServer, PeerServerLauncher, resolvePeerServerConfig, resolveDfgetConfig, runDfgetStream, type DfgetConfig, type DfgetDeps, type DfgetResult, type DfgetStream, type HostedPeerServer, type PeerServerOptions } from '../dfget/index.js'
import type { P2pFetcher, P2pFetchRequest, P2pStream } from './p2p-fetcher.js'

export interface DfgetStreamFetcherDeps {
  readonly logger: Logger
  /** Called after each swarm download delivered its last byte (for metrics and logs). */
  readonly onResult?: (result: DfgetResult) => void
  /** dfget's stream entry point; injectable for tests. Default runDfgetStream. */
  readonly runDfgetStream?: (config: DfgetConfig, deps: DfgetDeps) => Promise<DfgetStream>
}

export interface DfgetStreamFetcherOptions {
  readonly homeDir: string
  /** Supernodes, as dfget's -n. */
  readonly nodes: readonly string[]
  /** DNS servers of `dns://` and `dns+srv://` nodes, as dfget's --dns-server (default the system's). */
  readonly dnsServers?: readonly string[]
  /** How often those nodes are resolved again, as dfget's --dns-refresh (default 30s). */
  readonly dnsRefresh?: string
  /** Stream window in pieces; default dfget's. */
  readonly windowPieces?: number
  /** Shared token of the supernodes and peers (the hosted peer server requires it on piece requests). */
  readonly token?: string | undefined
  /** PEM CA file trusted for https supernodes. */
  readonly caCertPath?: string | undefined
  /** Fetch an image's layers into the supernode's cache when its manifest passes (default true). */
  readonly prefetch?: boolean
  /**
   * Settings of the peer server this process hosts, as `dfget server` takes them from the
   * host's dfget file: its port and address, how long a served file is kept, the host's
   * upload rate. Default: a free port on every address, dfget's expire time, no limit.
   */
  readonly peerServer?: Pick<PeerServerOptions, 'port' | 'ip' | 'expiretime' | 'totallimit'>
}

/** A manifest prefetched within this long is not prefetched again (every engine of a host asks for it). */
const PREFETCH_REPEAT_MS = 10 * 60_000
const PREFETCH_MEMORY = 1024

export class DfgetStreamFetcher implements P2pFetcher {
  readonly #deps: DfgetStreamFetcherDeps
  readonly #options: DfgetStreamFetcherOptions
  readonly #abort = new AbortController()
  readonly #peerServers: PeerServerLauncher
  readonly #hosted: PeerServer[] = []
  /** Manifest URL → when it was last prefetched. */
  readonly #prefetched = new Map<string, number>()
  /** One byte path for every blob's run: pieces reuse the connections, buffers and hashing thread. */
  readonly #dataPlane = createDataPlane()
  /** The supernode locator of every run and prefetch (#locatorFor). */
  #locator: Promise<SupernodeLocator> | undefined
  #closed = false

  constructor (deps: DfgetStreamFetcherDeps, options: DfgetStreamFetcherOptions) {
    this.#deps = deps
    this.#options = options
    this.#peerServers = new PeerServerLauncher({ logger: deps.logger }, { homeDir: options.homeDir, hostInProcess: async () => await this.#hostPeerServer() })
  }

  /** Finds this home's peer server or starts one in this process, so that it serves from the start. @throws DfError */
  async start (): Promise<void> {
    await this.#peerServers.locate(this.#abort.signal)
  }

  /** @throws DfError from dfget (see docs/errors.md) when the swarm cannot start the download */
  async fetch (request: P2pFetchRequest): Promise<P2pStream> {
    if (this.#closed) throw new DfError('DF_ERR_TASK_SWARM_FAILED', 'the fetcher is closed')
    const config = this.#runConfig(request)
    const supernodeLocator = await this.#locatorFor(config)
    const run = this.#deps.runDfgetStream ?? runDfgetStream
    // The proxy verifies the blob's digest over every byte it serves (also bytes it continues
    // from the registry): dfget need not hash the stream a second time.
    const stream = await run(config, { logger: this.#deps.logger, peerServerLocator: this.#peerServers, readerVerifiesDigest: true, dataPlane: this.#dataPlane, supernodeLocator, signal: AbortSignal.any([request.signal, this.#abort.signal]) })
    stream.result.then((result) => { this.#deps.onResult?.(result) }, () => {})
    return { lengthBytes: stream.lengthBytes >= 0 ? stream.lengthBytes : undefined, body: stream.body }
  }

  /** A blob's dfget run (stream mode, no back-source of its own). */
  #runConfig (request: Pick<P2pFetchRequest, 'url' | 'headers' | 'digest'>): DfgetConfig {
    return resolveDfgetConfig({
      url: request.url,
      output: '-',
      stream: true,
      node: [...this.#options.nodes],
      ...(this.#options.dnsServers === undefined ? {} : { dnsServer: [...this.#options.dnsServers] }),
      ...(this.#options.dnsRefresh === undefined ? {} : { dnsRefresh: this.#options.dnsRefresh }),
      home: this.#options.homeDir,
      header: Object.entries(request.headers).map(([name, value]) => `${name}: ${value}`),
      // dfget never reads the registry itself here: when the swarm cannot deliver, the body
      // errors and the proxy continues from the registry (SwarmDelivery), with the
      // registry's TLS settings (a hijacked host's `certs`, `insecure`), its redirects and
      // the back-source metric, or fails the response when back-source is off.
      notbs: true,
      ...(this.#options.caCertPath === undefined ? {} : { cacert: this.#options.caCertPath }),
      ...(this.#options.token === undefined ? {} : { token: this.#options.token }),
      ...(this.#options.windowPieces === undefined ? {} : { window: String(this.#options.windowPieces) }),
      ...(request.digest === undefined ? {} : { digest: request.digest }),
    })
  }

  /** The supernode locator of every run and prefetch (runs differ only in URL, headers and digest: nodes, token, CA and DNS settings are the same). */
  async #locatorFor (config: DfgetConfig): Promise<SupernodeLocator> {
    this.#locator ??= createSupernodeLocator(config, this.#deps.logger)
    return await this.#locator
  }

  /**
   * Asks the supernode to preheat the image (`type: image`): its CDN starts reading every
   * layer from the registry now, while the engine is still on its first blob request, so
   * each later blob request joins a download already under way (the same tasks: a layer's
   * digest is its identity). The engine's Authorization goes with it. With several
   * supernodes a blob's task lives on the one its digest orders first (as dfget's
   * registration picks it), so each supernode is asked for the blobs it owns only
   * (`digests`), read from the manifest that passed through; without those bytes (a
   * manifest over 4 MiB) nothing is prefetched. Best effort: failures are logged.
   */
  prefetchImage (manifestUrl: string, authorization: string | undefined, manifest?: Buffer): void {
    if (this.#closed || this.#options.prefetch === false) return
    const now = Date.now()
    const last = this.#prefetched.get(manifestUrl)
    if (last !== undefined && now - last < PREFETCH_REPEAT_MS) return
    let config: DfgetConfig
    try {
      config = this.#runConfig({ url: manifestUrl, headers: {} })
    } catch (err) {
      this.#deps.logger.debug({ err }, 'no prefetch: the manifest URL is not one dfget takes')
      return
    }
    void this.#prefetchWith(config, manifestUrl, authorization, manifest, now).catch((err: unknown) => {
      this.#deps.logger.debug({ err }, 'no prefetch: the supernode list does not resolve')
    })
  }

  async #prefetchWith (config: DfgetConfig, manifestUrl: string, authorization: string | undefined, manifest: Buffer | undefined, now: number): Promise<void> {
    const locator = await this.#locatorFor(config)
    const supernodes = await locator.currentSupernodes()
    const request: PreheatRequest = { type: 'image', url: manifestUrl, ...(authorization === undefined ? {} : { headers: { authorization } }) }
    const asks = new Map<SupernodeAddress, PreheatRequest>()
    if (supernodes.length === 1 && supernodes[0] !== undefined) {
      asks.set(supernodes[0], request)
    } else {
      const digests = manifest === undefined ? undefined : imageBlobDigests(manifest)
      if (digests === undefined) return
      const owned = new Map<SupernodeAddress, string[]>()
      for (const digest of digests) {
        const owner = orderSupernodes(supernodes, computeTaskId({ url: manifestUrl, digest }))[0]
        if (owner !== undefined) owned.set(owner, [...owned.get(owner) ?? [], digest])
      }
      for (const [owner, blobs] of owned) asks.set(owner, { ...request, digests: blobs })
    }
    this.#prefetched.delete(manifestUrl)
    this.#prefetched.set(manifestUrl, now)
    for (const oldest of this.#prefetched.keys()) {
      if (this.#prefetched.size <= PREFETCH_MEMORY) break
      this.#prefetched.delete(oldest)
    }
    for (const [address, ask] of asks) {
      locator.clientFor(address).createPreheat(ask).catch((err: unknown) => {
        this.#deps.logger.debug({ err, supernode: address.baseUrl }, 'prefetch of the image\'s layers was refused')
      })
    }
  }

  /** Aborts running downloads and stops the hosted peer server (its supernodes are told). Idempotent. */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#abort.abort(new DfError('DF_ERR_INTERNAL', 'dfdaemon is closing'))
    await this.#dataPlane.close()
    await (await this.#locator?.catch(() => undefined))?.close()
    await Promise.all(this.#hosted.splice(0).map(async (server) => { await server.close() }))
  }

  async #hostPeerServer (): Promise<HostedPeerServer> {
    if (this.#closed) throw new DfError('DF_ERR_TASK_SWARM_FAILED', 'the fetcher is closed')
    const config = resolvePeerServerConfig({
      ...this.#options.peerServer,
      home: this.#options.homeDir,
      ...(this.#options.token === undefined ? {} : { token: this.#options.token }),
      ...(this.#options.caCertPath === undefined ? {} : { cacert: this.#options.caCertPath }),
    })
    // It is the host's agent too: the host's dfget runs hand their downloads to this process,
    // which shares its connections, buffers and hashing thread with the blobs' runs.
    const server = new PeerServer({ logger: this.#deps.logger, buffers: this.#dataPlane.buffers, dataPlane: this.#dataPlane }, { ...config, stopWhenIdle: false, agent: true })
    await server.start()
    this.#hosted.push(server)
    let running = true
    void server.whenStopped().then(() => { running = false })
    return { handle: { peerId: server.peerId, port: server.port, localUrl: server.localUrl, localStreams: server.localStreams(), localPieces: server.localPieces() }, isRunning: () => running }
  }
}

/**
 * The blob digests (layers, then config) of an image manifest (Docker schema 2 or OCI);
 * undefined when the bytes are not one.
 */
function imageBlobDigests (manifest: Buffer): string[] | undefined {
  let parsed: unknown
  try {
    parsed = JSON.parse(manifest.toString('utf8'))
  } catch {
    return undefined
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined
  const { layers, config } = parsed as { layers?: unknown, config?: unknown }
  if (!Array.isArray(layers)) return undefined
  const digests: string[] = []
  for (const entry of [...(layers as unknown[]), config]) {
    const digest = (entry as { digest?: unknown } | undefined)?.digest
    if (!isContentDigest(digest)) return undefined
    if (!digests.includes(digest)) digests.push(digest)
  }
  return digests
}
