/**
 * dfdaemon's configuration: the settings (flags, environment, the YAML file in Dragonfly
 * 1.x key names; flags > environment > file > defaults) are declared once in settings.ts;
 * this module maps their values to options, and `resolveDfdaemonConfig()` applies defaults
 * and validates what spans keys (regular expressions, hijack hosts need a CA), throwing
 * DF_ERR_CONFIG_INVALID naming the key and the value.
 */
import { resolve } from 'node:path'
import { formatSettingsYaml } from '../common/settings/settings-output.js'
import { fileSettingKeys, loadSettingsFile, parseSettingValue, parseSettingsYaml, settingInvalid, type SettingValues } from '../common/settings/settings-table.js'
import { parseDurationMs } from '../common/duration.js'
import { parseDnsServers } from '../common/node-list.js'
import { DfError } from '../protocol/errors.js'
import type { ProxyRule } from './routing-rules.js'
import { DEFAULT_DFDAEMON_PORT, DEFAULT_RULES, DFDAEMON_SETTINGS, type HijackHostRule } from './settings.js'

export { DEFAULT_DFDAEMON_PORT, DEFAULT_RULES, type HijackHostRule }

/** TLS settings towards one upstream. */
export interface UpstreamTlsOptions {
  /** Accept any certificate (self-signed registries). */
  readonly insecure?: boolean
  /** Paths of extra CA certificates (PEM). */
  readonly certFiles?: readonly string[]
}

/** Every setting, all optional (file and flags). */
export interface DfdaemonOptions {
  readonly port?: number
  readonly listen?: string
  readonly homeDir?: string
  readonly nodes?: readonly string[]
  /** DNS servers of `dns://` and `dns+srv://` nodes (`ip[:port]`). */
  readonly dnsServers?: readonly string[]
  /** How often those nodes are resolved again: a duration ("30s") or milliseconds. */
  readonly dnsRefresh?: string | number
  readonly verbose?: boolean
  readonly backSource?: boolean
  readonly registryUrl?: string
  readonly registryTls?: UpstreamTlsOptions
  readonly nsScheme?: 'http' | 'https'
  readonly rules?: readonly ProxyRule[]
  readonly caCertFile?: string
  readonly caKeyFile?: string
  readonly hijackHosts?: readonly HijackHostRule[]
  /** PEM CA file trusted for https supernodes. */
  readonly supernodeCaCertFile?: string
  /** Preheat an image's layers at the supernode when its manifest passes through. */
  readonly prefetch?: boolean
  /** A Hugging Face Hub this port serves as an endpoint (HF_ENDPOINT of the Hub client). */
  readonly hubUrl?: string
}

/** The resolved configuration. */
export interface DfdaemonConfig {
  readonly port: number
  readonly listen: string
  readonly homeDir: string
  readonly nodes: readonly string[]
  /** DNS servers of `dns://` and `dns+srv://` nodes (`ip:port`); empty = the system's. */
  readonly dnsServers: readonly string[]
  /** A DNS answer for the nodes is used this long before it is resolved again. */
  readonly dnsRefreshMs: number
  readonly verbose: boolean
  readonly backSource: boolean
  /** Upstream of mirror requests without ns=, or undefined (then ns= is required). */
  readonly registryUrl: URL | undefined
  readonly registryTls: UpstreamTlsOptions
  readonly nsScheme: 'http' | 'https'
  readonly rules: readonly ProxyRule[]
  readonly caCertFile: string | undefined
  readonly caKeyFile: string | undefined
  readonly hijackHosts: readonly HijackHostRule[]
  /** PEM CA file trusted for https supernodes (absolute), or undefined. */
  readonly supernodeCaCertFile: string | undefined
  readonly prefetch: boolean
  /** The Hugging Face Hub behind the endpoint, or undefined (no Hub endpoint). */
  readonly hubUrl: URL | undefined
}

const invalid = (key: string, problem: string, value?: unknown): DfError =>
  value === undefined ? new DfError('DF_ERR_CONFIG_INVALID', `${key}: ${problem}`, { details: { field: key } }) : settingInvalid(key, value, problem)

/** Applies defaults and validates. @throws DF_ERR_CONFIG_INVALID */
export function resolveDfdaemonConfig (options: DfdaemonOptions): DfdaemonConfig {
  const s = DFDAEMON_SETTINGS
  const port = parseSettingValue(s.port, options.port ?? s.port.default, 'port')
  // As the supernode's --listen: an address, not a name that may resolve to either family.
  const listen = parseSettingValue(s.listen, options.listen ?? s.listen.default, 'listen')
  const remote = options.registryUrl === undefined || options.registryUrl === '' ? undefined : parseSettingValue(s['registry_mirror.remote'], options.registryUrl, 'registry_mirror.remote')
  const registryUrl = remote === undefined ? undefined : new URL(remote)
  const hub = options.hubUrl === undefined || options.hubUrl === '' ? undefined : parseSettingValue(s.hf_endpoint, options.hubUrl, 'hf_endpoint')
  if (hub !== undefined && new URL(hub).search !== '') throw invalid('hf_endpoint', 'must be an http(s) URL without a query', hub)
  const hubUrl = hub === undefined ? undefined : new URL(hub)
  const rules = options.rules ?? DFDAEMON_SETTINGS.proxies.default
  for (const [i, rule] of rules.entries()) {
    try {
      new RegExp(rule.pattern) // validates the pattern only
    } catch {
      throw invalid(`proxies[${i}].regx`, 'is not a valid regular expression', rule.pattern)
    }
  }
  for (const [i, host] of (options.hijackHosts ?? []).entries()) {
    try {
      new RegExp(host.pattern) // validates the pattern only
    } catch {
      throw invalid(`hijack_https.hosts[${i}].regx`, 'is not a valid regular expression', host.pattern)
    }
  }
  if ((options.hijackHosts ?? []).length > 0 && (options.caCertFile === undefined || options.caKeyFile === undefined)) {
    throw invalid('hijack_https', 'hosts to intercept need cert and key (see `dfdaemon gen-ca`)')
  }
  const dnsRefreshMs = typeof options.dnsRefresh === 'string' ? parseDurationMs(options.dnsRefresh) : options.dnsRefresh ?? s.dns_refresh.default
  if (dnsRefreshMs === undefined || !Number.isFinite(dnsRefreshMs) || dnsRefreshMs < 1_000) throw invalid('dns_refresh', 'must be a duration of at least 1s, like 30s or 5m', options.dnsRefresh)
  return {
    port,
    listen,
    homeDir: resolve(options.homeDir ?? DFDAEMON_SETTINGS.home.default),
    nodes: options.nodes ?? DFDAEMON_SETTINGS.nodes.default,
    dnsServers: parseDnsServers(options.dnsServers ?? [], { label: 'dns_servers', field: 'dns_servers' }),
    dnsRefreshMs,
    verbose: options.verbose ?? DFDAEMON_SETTINGS.verbose.default,
    backSource: options.backSource ?? DFDAEMON_SETTINGS.back_source.default,
    registryUrl,
    registryTls: options.registryTls ?? {},
    nsScheme: options.nsScheme ?? DFDAEMON_SETTINGS['registry_mirror.ns_scheme'].default,
    rules,
    caCertFile: options.caCertFile,
    caKeyFile: options.caKeyFile,
    hijackHosts: options.hijackHosts ?? [],
    supernodeCaCertFile: options.supernodeCaCertFile === undefined ? undefined : resolve(options.supernodeCaCertFile),
    prefetch: options.prefetch ?? DFDAEMON_SETTINGS.prefetch.default,
    hubUrl,
  }
}

/** The values of the settings table. */
export type DfdaemonSettingValues = SettingValues<typeof DFDAEMON_SETTINGS>

/** The top-level keys of dfdaemon's configuration file (dotted keys sit in a mapping). */
export const DFDAEMON_CONFIG_KEYS: readonly string[] = fileSettingKeys(DFDAEMON_SETTINGS)

/** Setting values (from any layer) → options. The token is no option: main.ts hands it on. */
export function optionsFromValues (values: DfdaemonSettingValues): DfdaemonOptions {
  const tls: { insecure?: boolean, certFiles?: readonly string[] } = {}
  if (values['registry_mirror.insecure'] !== undefined) tls.insecure = values['registry_mirror.insecure']
  if (values['registry_mirror.certs'] !== undefined) tls.certFiles = values['registry_mirror.certs']
  const options: { -readonly [K in keyof DfdaemonOptions]: DfdaemonOptions[K] } = {}
  if (values.port !== undefined) options.port = values.port
  if (values.listen !== undefined) options.listen = values.listen
  if (values.home !== undefined) options.homeDir = values.home
  if (values.nodes !== undefined) options.nodes = values.nodes
  if (values.dns_servers !== undefined) options.dnsServers = values.dns_servers
  if (values.dns_refresh !== undefined) options.dnsRefresh = values.dns_refresh
  if (values.cacert !== undefined) options.supernodeCaCertFile = values.cacert
  if (values.verbose !== undefined) options.verbose = values.verbose
  if (values.back_source !== undefined) options.backSource = values.back_source
  if (values.prefetch !== undefined) options.prefetch = values.prefetch
  if (values['registry_mirror.remote'] !== undefined) options.registryUrl = values['registry_mirror.remote']
  if (values.hf_endpoint !== undefined) options.hubUrl = values.hf_endpoint
  if (values['registry_mirror.ns_scheme'] !== undefined) options.nsScheme = values['registry_mirror.ns_scheme']
  if (Object.keys(tls).length > 0) options.registryTls = tls
  if (values.proxies !== undefined) options.rules = values.proxies
  if (values['hijack_https.cert'] !== undefined) options.caCertFile = values['hijack_https.cert']
  if (values['hijack_https.key'] !== undefined) options.caKeyFile = values['hijack_https.key']
  if (values['hijack_https.hosts'] !== undefined) options.hijackHosts = values['hijack_https.hosts']
  return options
}

/** Reads and parses a YAML configuration file. @throws DF_ERR_CONFIG_INVALID */
export async function loadDfdaemonConfigFile (path: string): Promise<DfdaemonOptions> {
  return optionsFromValues(await loadSettingsFile(path, DFDAEMON_SETTINGS, 'dfdaemon'))
}

/** Parses the YAML text of a configuration file into options. @throws DF_ERR_CONFIG_INVALID */
export function parseDfdaemonConfigText (text: string): DfdaemonOptions {
  return optionsFromValues(parseSettingsYaml(text, DFDAEMON_SETTINGS, 'dfdaemon'))
}

/** Merges option layers; later layers win key by key. */
export function mergeDfdaemonOptions (...layers: readonly DfdaemonOptions[]): DfdaemonOptions {
  const out: Record<string, unknown> = {}
  for (const layer of layers) {
    for (const [key, value] of Object.entries(layer)) if (value !== undefined) out[key] = value
  }
  return out as DfdaemonOptions // built only from DfdaemonOptions keys above
}

/** `dfdaemon config default`: every key with its default, readable back by `--config`. */
export function formatDfdaemonDefaultConfig (): string {
  return formatSettingsYaml('Damselfly dfdaemon configuration (dfdaemon --config FILE)', DFDAEMON_SETTINGS)
}
