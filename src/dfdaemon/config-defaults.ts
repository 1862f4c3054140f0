/**
 * `dfdaemon config default`: every key of dfdaemon's YAML file (Dragonfly 1.x names) with
 * its default, readable back by `--config` (docs/configuration.md).
 */
import { formatConfigYaml, formatDurationSetting, type ConfigEntry } from '../common/config-yaml.js'
import { resolveDfdaemonConfig } from './config.js'

/** The top-level keys of dfdaemon's configuration file. */
export const DFDAEMON_CONFIG_KEYS = ['port', 'listen', 'home', 'nodes', 'dns_servers', 'dns_refresh', 'cacert', 'verbose', 'back_source', 'prefetch', 'registry_mirror', 'hf_endpoint', 'proxies', 'hijack_https'] as const

/** The default configuration file of dfdaemon, as YAML. */
export function formatDfdaemonDefaultConfig (): string {
  const config = resolveDfdaemonConfig({})
  const entries: ConfigEntry[] = [
    { key: 'port', value: config.port, help: 'listen port (0 picks a free one)' },
    { key: 'listen', value: config.listen, help: 'bind address' },
    { key: 'home', value: config.homeDir, help: 'per-host state shared with dfget (peer server, data)' },
    { key: 'nodes', value: [...config.nodes], help: 'supernodes, host:port[=weight], or DNS records dns://name[:port][=weight] (A/AAAA), dns+srv://name (SRV), as dfget -n (empty: 127.0.0.1:8002)' },
    { key: 'dns_servers', value: [...config.dnsServers], help: 'DNS servers (ip[:port]) that resolve dns:// and dns+srv:// nodes (empty: the system\'s)' },
    { key: 'dns_refresh', value: formatDurationSetting(config.dnsRefreshMs), help: 'resolve dns:// and dns+srv:// nodes again after this long' },
    { key: 'cacert', value: undefined, help: 'PEM CA certificate trusted for https supernodes (nodes: [https://host:port])' },
    { key: 'verbose', value: config.verbose, help: 'debug logs' },
    { key: 'back_source', value: config.backSource, help: 'when the swarm cannot deliver a blob, fetch it from the registry directly' },
    { key: 'prefetch', value: config.prefetch, help: 'when an image manifest passes through, have the supernode start fetching its layers (one supernode only)' },
    { key: 'registry_mirror', value: { ns_scheme: config.nsScheme }, help: 'mirror mode: remote (upstream of /v2/ requests, e.g. https://registry.example), ns_scheme, insecure (false), certs (extra CA files)' },
    { key: 'hf_endpoint', value: undefined, help: 'serve as a Hugging Face endpoint for this Hub (e.g. https://huggingface.co; HF_ENDPOINT of the Hub client): LFS files through the swarm, the rest straight to the Hub' },
    { key: 'proxies', value: config.rules.map((rule) => ({ regx: rule.pattern })), help: 'ordered rules, first match wins: regx, direct, use_https, redirect' },
    { key: 'hijack_https', value: undefined, help: 'CONNECT interception: cert, key (dfdaemon gen-ca), hosts: [{ regx, insecure, certs }]' },
  ]
  return formatConfigYaml('Damselfly dfdaemon configuration (dfdaemon --config FILE)', entries)
}
