/**
 * `supernode config default`: every setting of the supernode's YAML file with its default
 * (the same names `--config` reads and the flags use in kebab-case; docs/configuration.md).
 */
import { formatConfigYaml, formatDurationSetting, type ConfigEntry } from '../common/config-yaml.js'
import { resolveSupernodeConfig, SETTING_NAMES, type SupernodeConfig } from './config.js'

/** Help of each setting, and how its default is printed. */
const DEFAULTS: Readonly<Record<string, { help: string, value: (config: SupernodeConfig) => unknown }>> = {
  listen: { help: 'bind address of both servers', value: (c) => c.listen },
  port: { help: 'API port (0 picks a free port)', value: (c) => c.port },
  downloadPort: { help: 'piece-data port; equal to port = one server for both', value: (c) => c.downloadPort },
  advertiseIp: { help: 'address peers are told (default: listen if specific, else the first non-loopback IPv4)', value: () => undefined },
  homeDir: { help: 'CDN cache and metadata', value: (c) => c.homeDir },
  logLevel: { help: 'fatal, error, warn, info, debug, trace or silent', value: (c) => c.logLevel },
  maxUploadsPerPeer: { help: 'most uploads in flight from one peer', value: (c) => c.maxUploadsPerPeer },
  supernodeMaxUploads: { help: 'most uploads in flight from the supernode, per task', value: (c) => c.supernodeMaxUploads },
  cdnConcurrency: { help: 'parallel ranged source requests per task (1: one request, pieces in order; more for sources slow per connection)', value: (c) => c.cdnConcurrency },
  pieceTimeout: { help: 'a piece handed out and not reported within this is handed out again', value: (c) => formatDurationSetting(c.pieceTimeoutMs) },
  taskExpireTime: { help: 'a task nobody uses leaves memory after this', value: (c) => formatDurationSetting(c.taskExpireTimeMs) },
  cacheExpireTime: { help: 'a CDN cache file unused this long is deleted', value: (c) => formatDurationSetting(c.cacheExpireTimeMs) },
  gcInterval: { help: 'how often GC runs', value: (c) => formatDurationSetting(c.gcIntervalMs) },
  cacheMaxSize: { help: 'most bytes of CDN cache files, e.g. 50G; least recently used files go first (0 = no limit)', value: (c) => c.cacheMaxSizeBytes },
  cacheMinFreeSpace: { help: 'least free space kept on the cache\'s filesystem, e.g. 5G (0 = no limit)', value: (c) => c.cacheMinFreeBytes },
  cdnMemoryCache: { help: 'bytes of just-cached pieces kept in memory, served without reading the cache file (0 = none)', value: (c) => c.cdnMemoryCacheBytes },
  sourceTimeout: { help: 'source deadline for headers and between body chunks', value: (c) => formatDurationSetting(c.sourceTimeoutMs) },
  sourceAllow: { help: 'sources the CDN may fetch: host names, *.domains, IPs, CIDR networks (empty = any)', value: (c) => [...c.sourceAllow] },
  sourceDeny: { help: 'sources the CDN never fetches (same forms; wins over sourceAllow)', value: (c) => [...c.sourceDeny] },
  token: { help: 'shared token required on the API and piece data (Authorization: Bearer); default none', value: () => undefined },
  tlsCert: { help: 'serve HTTPS with this PEM certificate (with tlsKey)', value: () => undefined },
  tlsKey: { help: 'the PEM private key of tlsCert', value: () => undefined },
  tlsData: { help: 'serve the piece-data port over HTTPS too (tlsCert) and hand out peers\' piece URLs as https: every host agent must then serve TLS', value: (c) => c.tlsData },
  grantKeyFile: { help: 'Ed25519 private key (PEM) signing piece grants, created when missing; share it between the supernodes of a fleet (default <homeDir>/grant-key.pem)', value: () => undefined },
  grantLifetime: { help: 'how long a piece grant opens its task\'s pieces', value: (c) => formatDurationSetting(c.grantLifetimeMs) },
  accessCheckTtl: { help: 'how long a registration\'s proven access to its source stands (per task, URL and headers)', value: (c) => formatDurationSetting(c.accessCheckTtlMs) },
}

/** The default configuration file of the supernode, as YAML. */
export function formatSupernodeDefaultConfig (): string {
  const config = resolveSupernodeConfig({})
  const entries: ConfigEntry[] = SETTING_NAMES.map((key) => {
    const known = DEFAULTS[key]
    return known === undefined ? { key, value: undefined, help: `${key} (see docs/configuration.md)` } : { key, value: known.value(config), help: known.help }
  })
  return formatConfigYaml('Damselfly supernode configuration (supernode --config FILE)', entries)
}
