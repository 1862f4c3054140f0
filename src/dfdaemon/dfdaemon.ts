/**
 * class Dfdaemon: owns one proxy and everything it uses (upstream client, CA, routing
 * rules, swarm delivery, metrics, the P2P fetcher). `start()` reads the files the
 * configuration names (CA, extra upstream CAs) and listens; `close()` releases everything
 * in reverse order. Two instances can run in one process (tests).
 */
import { readFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { DfError } from '../protocol/errors.js'
import { CloseStack } from '../common/lifecycle.js'
import { formatBaseUrl } from '../common/http/server.js'
import type { Logger } from '../common/log.js'
import type { DfdaemonConfig, UpstreamTlsOptions } from './config.js'
import type { P2pFetcher } from './p2p-fetcher.js'
import { CertificateAuthority } from './certificate-authority.js'
import { ConnectHandler } from './connect-handler.js'
import { DfdaemonProxy } from './proxy.js'
import { HubDelivery } from './hub-delivery.js'
import { ProxyMetrics } from './proxy-metrics.js'
import { RoutingRules } from './routing-rules.js'
import { SwarmDelivery } from './swarm-delivery.js'
import { UpstreamClient, type UpstreamTlsProfile } from './upstream-client.js'

export interface DfdaemonDeps {
  readonly logger: Logger
  /** Builds the swarm fetcher (given the metrics to report to); the caller's composition root picks the implementation. */
  readonly createFetcher: (metrics: ProxyMetrics) => P2pFetcher
}

export class Dfdaemon {
  readonly #deps: DfdaemonDeps
  readonly #config: DfdaemonConfig
  readonly #resources = new CloseStack()
  readonly #metrics = new ProxyMetrics()
  #address: AddressInfo | undefined

  constructor (deps: DfdaemonDeps, config: DfdaemonConfig) {
    this.#deps = deps
    this.#config = config
  }

  /** The proxy's base URL ("http://127.0.0.1:65001"), once started. */
  get baseUrl (): string {
    if (this.#address === undefined) throw new DfError('DF_ERR_INTERNAL_INVARIANT', 'dfdaemon not started')
    return formatBaseUrl(this.#address.address, this.#address.port)
  }

  get metrics (): ProxyMetrics {
    return this.#metrics
  }

  /** Loads certificates and listens. @throws DF_ERR_CONFIG_INVALID for unreadable files */
  async start (): Promise<AddressInfo> {
    const config = this.#config
    const logger = this.#deps.logger
    try {
      const ca = config.caCertFile !== undefined && config.caKeyFile !== undefined
        ? new CertificateAuthority({ certPem: await readConfigFile(config.caCertFile, 'hijack_https.cert'), keyPem: await readConfigFile(config.caKeyFile, 'hijack_https.key') })
        : undefined
      const profiles: UpstreamTlsProfile[] = []
      for (const host of config.hijackHosts) profiles.push(await tlsProfile(new RegExp(host.pattern), host))
      if (config.registryUrl !== undefined) {
        const hostPort = `${config.registryUrl.hostname}:${config.registryUrl.port === '' ? '443' : config.registryUrl.port}`
        profiles.push(await tlsProfile(new RegExp(`^${escapeRegExp(hostPort)}$`), config.registryTls))
      }
      const upstream = this.#resources.push(new UpstreamClient({ tlsProfiles: profiles }))
      const fetcher = this.#resources.push(this.#deps.createFetcher(this.#metrics))
      const delivery = new SwarmDelivery({ upstream, fetcher, metrics: this.#metrics, logger: logger.child({ component: 'swarm-delivery' }) }, { backSource: config.backSource })
      const hub = config.hubUrl === undefined ? undefined : new HubDelivery({ upstream, delivery, metrics: this.#metrics, logger: logger.child({ component: 'hub' }) }, { hubUrl: config.hubUrl })
      const connect = new ConnectHandler({ ca, metrics: this.#metrics, logger: logger.child({ component: 'connect' }) }, { hijackPatterns: config.hijackHosts.map((h) => new RegExp(h.pattern)) })
      const proxy = this.#resources.push(new DfdaemonProxy({
        rules: new RoutingRules(config.rules), delivery, upstream, connect, metrics: this.#metrics, logger: logger.child({ component: 'proxy' }), ...(hub === undefined ? {} : { hub }),
        onImageManifest: (url, authorization, manifest) => { fetcher.prefetchImage?.(url.href, authorization, manifest) },
      }, { listen: config.listen, port: config.port, registryUrl: config.registryUrl, nsScheme: config.nsScheme }))
      // The port first: a port in use fails the start before the fetcher starts anything.
      const address = await proxy.start()
      // A fetcher that cannot prepare still serves: every blob then comes from the registry.
      await fetcher.start?.().catch((err: unknown) => { logger.warn({ err }, 'the swarm fetcher could not start; blobs will come from the registry until it can') })
      this.#address = address
      return address
    } catch (err) {
      await this.#resources.close().catch(() => undefined)
      throw err
    }
  }

  /** Stops the proxy and releases everything. Idempotent. */
  async close (): Promise<void> {
    await this.#resources.close()
  }
}

async function tlsProfile (hostPattern: RegExp, options: UpstreamTlsOptions): Promise<UpstreamTlsProfile> {
  const caPem: string[] = []
  for (const [i, file] of (options.certFiles ?? []).entries()) caPem.push(await readConfigFile(file, `certs[${i}]`))
  return { hostPattern, insecure: options.insecure === true, caPem }
}

async function readConfigFile (path: string, key: string): Promise<string> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    throw new DfError('DF_ERR_CONFIG_INVALID', `${key}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { details: { field: key }, cause: err })
  }
}

function escapeRegExp (text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
