/**
 * dfdaemon's configuration: the YAML file (`--config`, Dragonfly 1.x key names) and the
 * flags, resolved in one place. Flags override the file; `resolveDfdaemonConfig()` applies
 * defaults and validates, throwing DF_ERR_CONFIG_INVALID naming the key and the value.
 *
 *   port: 65001                      # listen port (0 picks a free one)
 *   listen: 127.0.0.1                # bind address
 *   home: ~/.damselfly               # per-host state, shared with dfget (peer server, data)
 *   nodes: [127.0.0.1:8002]          # supernodes, as dfget's -n (also dns://name, dns+srv://name)
 *   dns_servers: [10.96.0.10]        # DNS servers of dns:// and dns+srv:// nodes (default: the system's)
 *   dns_refresh: 30s                 # resolve those nodes again after this long
 *   verbose: false
 *   back_source: true                # when the swarm cannot deliver a blob, fetch it directly
 *   registry_mirror:
 *     remote: https://registry.example # upstream of /v2/... requests without ns=
 *     ns_scheme: https               # scheme for upstreams named by containerd's ns=
 *     insecure: false                # skip TLS verification of the upstream
 *     certs: [/path/ca.pem]          # extra CA certificates for the upstream
 *   hf_endpoint: https://huggingface.co # a Hugging Face Hub: other origin-form requests go
 *                                    # there, LFS files through the swarm (hub-delivery.ts)
 *   proxies:                         # ordered rules, first match wins (routing-rules.ts)
 *     - regx: blobs/sha256.*
 *     - regx: no-proxy-reg
 *       direct: true
 *     - regx: some-registry/
 *       use_https: true
 *     - regx: old-registry
 *       redirect: new-registry:5000
 *   hijack_https:                    # CONNECT interception
 *     cert: ca.crt
 *     key: ca.key
 *     hosts:
 *       - regx: registry.example:443
 *         insecure: false
 *         certs: []
 */
import { readFile } from 'node:fs/promises'
import { isIP } from 'node:net'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseConfigYaml } from '../common/config-yaml.js'
import { DEFAULT_DNS_REFRESH_MS, parseDnsServers, parseNodeList } from '../common/node-list.js'
import { parseDurationMs } from '../common/duration.js'
import { DfError } from '../protocol/errors.js'
import type { ProxyRule } from './routing-rules.js'

/** Default listen port (DESIGN.md §8). */
export const DEFAULT_DFDAEMON_PORT = 65001

/** TLS settings towards one upstream. */
export interface UpstreamTlsOptions {
  /** Accept any certificate (self-signed registries). */
  readonly insecure?: boolean
  /** Paths of extra CA certificates (PEM). */
  readonly certFiles?: readonly string[]
}

/** A host whose CONNECT tunnels are intercepted. */
export interface HijackHostRule extends UpstreamTlsOptions {
  /** Regular expression matched against "host:port" of the CONNECT. */
  readonly pattern: string
}

/** Every setting, all optional (file and flags). */
export interface DfdaemonOptions {
  readonly port?: number
  readonly listen?: string
  readonly homeDir?: string
  readonly nodes?: readonly string[]
  /** DNS servers of `dns://` and `dns+srv://` nodes (`ip[:port]`). */
  readonly dnsServers?: readonly string[]
  /** How often those nodes are resolved again (a duration, "30s"). */
  readonly dnsRefresh?: string
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

/** The rule set used when the configuration has none: registry blobs through the swarm. */
export const DEFAULT_RULES: readonly ProxyRule[] = [{ pattern: 'blobs/sha256:[0-9a-f]{64}' }]

const invalid = (key: string, problem: string, value?: unknown): DfError =>
  new DfError('DF_ERR_CONFIG_INVALID', `${key}: ${problem}${value === undefined ? '' : ` (got ${JSON.stringify(value)})`}`, { details: { field: key } })

/** Applies defaults and validates. @throws DF_ERR_CONFIG_INVALID */
export function resolveDfdaemonConfig (options: DfdaemonOptions): DfdaemonConfig {
  const port = options.port ?? DEFAULT_DFDAEMON_PORT
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw invalid('port', 'must be a whole number from 0 to 65535', port)
  const listen = options.listen ?? '127.0.0.1'
  // As the supernode's --listen: an address, not a name that may resolve to either family.
  if (isIP(listen) === 0) throw invalid('listen', 'must be an IP address', listen)
  let registryUrl: URL | undefined
  if (options.registryUrl !== undefined && options.registryUrl !== '') {
    try {
      registryUrl = new URL(options.registryUrl)
    } catch {
      throw invalid('registry', 'must be an http(s) URL', options.registryUrl)
    }
    if (registryUrl.protocol !== 'http:' && registryUrl.protocol !== 'https:') throw invalid('registry', 'must be an http(s) URL', options.registryUrl)
  }
  let hubUrl: URL | undefined
  if (options.hubUrl !== undefined && options.hubUrl !== '') {
    hubUrl = URL.canParse(options.hubUrl) ? new URL(options.hubUrl) : undefined
    if (hubUrl === undefined || (hubUrl.protocol !== 'http:' && hubUrl.protocol !== 'https:') || hubUrl.search !== '') throw invalid('hf_endpoint', 'must be an http(s) URL without a query', options.hubUrl)
  }
  const rules = options.rules ?? DEFAULT_RULES
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
  const dnsRefreshMs = options.dnsRefresh === undefined ? DEFAULT_DNS_REFRESH_MS : parseDurationMs(options.dnsRefresh)
  if (dnsRefreshMs === undefined || !Number.isFinite(dnsRefreshMs) || dnsRefreshMs < 1_000) throw invalid('dns_refresh', 'must be a duration of at least 1s, like 30s or 5m', options.dnsRefresh)
  return {
    port,
    listen,
    homeDir: resolve(options.homeDir ?? join(homedir(), '.damselfly')),
    nodes: options.nodes ?? [],
    dnsServers: parseDnsServers(options.dnsServers ?? [], { label: 'dns_servers', field: 'dns_servers' }),
    dnsRefreshMs,
    verbose: options.verbose ?? false,
    backSource: options.backSource ?? true,
    registryUrl,
    registryTls: options.registryTls ?? {},
    nsScheme: options.nsScheme ?? 'https',
    rules,
    caCertFile: options.caCertFile,
    caKeyFile: options.caKeyFile,
    hijackHosts: options.hijackHosts ?? [],
    supernodeCaCertFile: options.supernodeCaCertFile === undefined ? undefined : resolve(options.supernodeCaCertFile),
    prefetch: options.prefetch ?? true,
    hubUrl,
  }
}

/** Reads and parses a YAML configuration file. @throws DF_ERR_CONFIG_INVALID */
export async function loadDfdaemonConfigFile (path: string): Promise<DfdaemonOptions> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new DfError('DF_ERR_CONFIG_INVALID', `--config: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { details: { field: 'config' }, cause: err })
  }
  return parseDfdaemonConfigText(text)
}

/** Parses the YAML text of a configuration file into options. @throws DF_ERR_CONFIG_INVALID */
export function parseDfdaemonConfigText (text: string): DfdaemonOptions {
  let doc: unknown
  try {
    doc = parseConfigYaml(text)
  } catch (err) {
    throw new DfError('DF_ERR_CONFIG_INVALID', `config: not valid YAML: ${(err as Error).message}`, { details: { field: 'config' }, cause: err })
  }
  if (doc === null || doc === undefined) return {}
  const root = record(doc, '(root)')
  allowKeys(root, '', ['port', 'listen', 'home', 'nodes', 'dns_servers', 'dns_refresh', 'cacert', 'verbose', 'back_source', 'prefetch', 'registry_mirror', 'hf_endpoint', 'proxies', 'hijack_https'])
  const out: { -readonly [K in keyof DfdaemonOptions]: DfdaemonOptions[K] } = {}
  if (root.port !== undefined) out.port = integer(root.port, 'port')
  if (root.listen !== undefined) out.listen = string(root.listen, 'listen')
  if (root.home !== undefined) out.homeDir = string(root.home, 'home')
  if (root.nodes !== undefined) out.nodes = nodeList(root.nodes, 'nodes')
  if (root.dns_servers !== undefined) out.dnsServers = stringList(root.dns_servers, 'dns_servers')
  if (root.dns_refresh !== undefined) out.dnsRefresh = typeof root.dns_refresh === 'number' ? `${root.dns_refresh}s` : string(root.dns_refresh, 'dns_refresh')
  if (root.cacert !== undefined) out.supernodeCaCertFile = string(root.cacert, 'cacert')
  if (root.verbose !== undefined) out.verbose = boolean(root.verbose, 'verbose')
  if (root.back_source !== undefined) out.backSource = boolean(root.back_source, 'back_source')
  if (root.prefetch !== undefined) out.prefetch = boolean(root.prefetch, 'prefetch')
  if (root.hf_endpoint !== undefined) out.hubUrl = string(root.hf_endpoint, 'hf_endpoint')
  if (root.registry_mirror !== undefined) {
    const mirror = record(root.registry_mirror, 'registry_mirror')
    allowKeys(mirror, 'registry_mirror.', ['remote', 'ns_scheme', 'insecure', 'certs'])
    if (mirror.remote !== undefined) out.registryUrl = string(mirror.remote, 'registry_mirror.remote')
    if (mirror.ns_scheme !== undefined) {
      const scheme = string(mirror.ns_scheme, 'registry_mirror.ns_scheme')
      if (scheme !== 'http' && scheme !== 'https') throw invalid('registry_mirror.ns_scheme', 'must be http or https', scheme)
      out.nsScheme = scheme
    }
    out.registryTls = tlsOptions(mirror, 'registry_mirror.')
  }
  if (root.proxies !== undefined) {
    if (!Array.isArray(root.proxies)) throw invalid('proxies', 'must be a list of rules')
    out.rules = root.proxies.map((item, i) => parseRule(item, `proxies[${i}]`))
  }
  if (root.hijack_https !== undefined) {
    const hijack = record(root.hijack_https, 'hijack_https')
    allowKeys(hijack, 'hijack_https.', ['cert', 'key', 'hosts'])
    if (hijack.cert !== undefined) out.caCertFile = string(hijack.cert, 'hijack_https.cert')
    if (hijack.key !== undefined) out.caKeyFile = string(hijack.key, 'hijack_https.key')
    if (hijack.hosts !== undefined) {
      if (!Array.isArray(hijack.hosts)) throw invalid('hijack_https.hosts', 'must be a list')
      out.hijackHosts = hijack.hosts.map((item, i) => {
        const key = `hijack_https.hosts[${i}]`
        const host = record(item, key)
        allowKeys(host, `${key}.`, ['regx', 'insecure', 'certs'])
        return { pattern: string(host.regx, `${key}.regx`), ...tlsOptions(host, `${key}.`) }
      })
    }
  }
  return out
}

/** Merges option layers; later layers win key by key. */
export function mergeDfdaemonOptions (...layers: readonly DfdaemonOptions[]): DfdaemonOptions {
  const out: Record<string, unknown> = {}
  for (const layer of layers) {
    for (const [key, value] of Object.entries(layer)) if (value !== undefined) out[key] = value
  }
  return out as DfdaemonOptions // built only from DfdaemonOptions keys above
}

function parseRule (item: unknown, key: string): ProxyRule {
  const rule = record(item, key)
  allowKeys(rule, `${key}.`, ['regx', 'direct', 'use_https', 'redirect'])
  const out: { -readonly [K in keyof ProxyRule]: ProxyRule[K] } = { pattern: string(rule.regx, `${key}.regx`) }
  if (rule.direct !== undefined) out.direct = boolean(rule.direct, `${key}.direct`)
  if (rule.use_https !== undefined) out.useHttps = boolean(rule.use_https, `${key}.use_https`)
  if (rule.redirect !== undefined) out.redirect = string(rule.redirect, `${key}.redirect`)
  return out
}

function tlsOptions (value: Record<string, unknown>, prefix: string): UpstreamTlsOptions {
  const out: { insecure?: boolean, certFiles?: string[] } = {}
  if (value.insecure !== undefined) out.insecure = boolean(value.insecure, `${prefix}insecure`)
  if (value.certs !== undefined) out.certFiles = stringList(value.certs, `${prefix}certs`)
  return out
}

function record (value: unknown, key: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(key, 'must be a mapping')
  return value as Record<string, unknown> // checked to be a plain object just above
}

function allowKeys (value: Record<string, unknown>, prefix: string, keys: readonly string[]): void {
  for (const key of Object.keys(value)) if (!keys.includes(key)) throw invalid(`${prefix}${key}`, 'unknown key')
}

function string (value: unknown, key: string): string {
  if (typeof value !== 'string' || value === '') throw invalid(key, 'must be a non-empty string', value)
  return value
}

function stringList (value: unknown, key: string): string[] {
  if (typeof value === 'string') return [value]
  if (!Array.isArray(value)) throw invalid(key, 'must be a list of strings', value)
  return value.map((item, i) => string(item, `${key}[${i}]`))
}

/**
 * Supernodes, checked as dfget checks -n (common/node-list.ts) so a bad entry stops dfdaemon
 * at start instead of failing every blob later; the list stays text for dfget's resolver.
 */
function nodeList (value: unknown, key: string): string[] {
  const nodes = stringList(value, key)
  parseNodeList(nodes, { label: key, field: key })
  return nodes
}

function boolean (value: unknown, key: string): boolean {
  if (typeof value !== 'boolean') throw invalid(key, 'must be true or false', value)
  return value
}

function integer (value: unknown, key: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw invalid(key, 'must be a whole number', value)
  return value
}
