/**
 * The supernode list as people write it (`-n/--node host:port[=weight]`, repeatable or
 * comma-separated; the `nodes` key of a configuration file): one parser, so dfget and
 * dfdaemon accept and refuse the same entries with the same DF_ERR_CONFIG_INVALID.
 * An entry may also name DNS records that list the supernodes (`dns://name[:port][=weight]`
 * for A/AAAA records, `dns+srv://name` for SRV records, as a Kubernetes headless Service
 * publishes its pods); dfget/supernode-resolver.ts resolves those, with the DNS servers
 * `--dns-server` names (parseDnsServers).
 */
import { isIP } from 'node:net'
import { DfError } from '../protocol/errors.js'
import { formatBaseUrl } from './http/base-url.js'

/** Default API port of a supernode (DESIGN.md §8). */
export const DEFAULT_SUPERNODE_PORT = 8002

/** One entry of the list. */
export interface SupernodeAddress {
  /** As written; of a supernode found by SRV, the record's target name (its identity in the hashing; `baseUrl` has its address). */
  readonly host: string
  readonly port: number
  readonly weight: number
  /** "http://host:port" (or https); for an entry that names DNS records, the entry itself ("dns://name:port", "dns+srv://name"). */
  readonly baseUrl: string
  /**
   * Set on an entry that names DNS records rather than one supernode: `dns`, the A and AAAA
   * records of `host`, each address a supernode at `port` with `weight`; `srv`, the SRV
   * records of `host`, whose targets, ports, priorities and weights are the supernodes.
   * Addresses that came out of DNS never carry it.
   */
  readonly discovery?: 'dns' | 'srv'
  /** SRV priority (lower is tried first, RFC 2782); absent = 0, as for every written entry. */
  readonly priority?: number
}

/** Default refresh interval of DNS entries (the TTL Kubernetes' DNS gives a Service's records). */
export const DEFAULT_DNS_REFRESH_MS = 30_000

/** How an error names the setting: `label` starts the message, `field` goes in its details. */
export interface NodeListSetting {
  readonly label: string
  readonly field: string
}

/** The flag's name in errors; files pass their key. */
export const NODE_FLAG: NodeListSetting = { label: '--node', field: 'node' }

/**
 * Parses node values. Each value may hold several comma-separated entries
 * `host[:port][=weight]` (port default 8002, weight 1-9999, default 1); IPv6 hosts are
 * bracketed (`[::1]:8002`); `http://host:port` and `https://host:port` are accepted too;
 * `dns://name[:port][=weight]` and `dns+srv://name` name DNS records (see `discovery`).
 * Empty entries are skipped, so an empty list is no error.
 * @throws DF_ERR_CONFIG_INVALID naming the setting and the bad entry
 */
export function parseNodeList (values: readonly string[], setting: NodeListSetting = NODE_FLAG): SupernodeAddress[] {
  const out: SupernodeAddress[] = []
  for (const value of values) {
    for (const raw of value.split(',')) {
      const entry = raw.trim()
      if (entry === '') continue
      out.push(parseNodeEntry(entry, setting))
    }
  }
  return out
}

function parseNodeEntry (entry: string, setting: NodeListSetting): SupernodeAddress {
  const bad = (problem: string): DfError => new DfError('DF_ERR_CONFIG_INVALID', `${setting.label}: bad supernode "${entry}": ${problem}`, { details: { field: setting.field, value: entry } })
  const dns = /^dns(\+srv)?:\/\/(.*)$/i.exec(entry)
  if (dns !== null) return parseDnsEntry(dns[2] ?? '', dns[1] === undefined ? 'dns' : 'srv', bad)
  const protocol = /^https:\/\//i.test(entry) ? 'https' : 'http'
  let rest = entry.replace(/^https?:\/\//i, '').replace(/\/+$/, '')
  let weight = 1
  const eq = rest.lastIndexOf('=')
  if (eq >= 0) {
    const weightText = rest.slice(eq + 1)
    if (!/^\d{1,4}$/.test(weightText) || Number(weightText) < 1) throw bad('weight must be a whole number from 1 to 9999')
    weight = Number(weightText)
    rest = rest.slice(0, eq)
  }
  let host: string
  let portText: string | undefined
  const v6 = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(rest)
  if (v6 !== null) {
    host = v6[1] ?? ''
    portText = v6[2]
  } else {
    const match = /^([A-Za-z0-9.-]+)(?::(\d+))?$/.exec(rest)
    if (match === null) throw bad('expected host:port[=weight]')
    host = match[1] ?? ''
    portText = match[2]
  }
  const port = portText === undefined ? DEFAULT_SUPERNODE_PORT : Number(portText)
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad('port must be 1-65535')
  return { host, port, weight, baseUrl: formatBaseUrl(host, port, protocol) }
}

/** `dns://name[:port][=weight]` or `dns+srv://name` (`rest` is what follows the scheme). */
function parseDnsEntry (rest: string, discovery: 'dns' | 'srv', bad: (problem: string) => DfError): SupernodeAddress {
  const usage = discovery === 'dns' ? 'expected dns://name[:port][=weight]' : 'expected dns+srv://name (the records give ports and weights)'
  const match = /^([A-Za-z0-9_.-]+?)\.?(?::(\d+))?(?:=(\d{1,4}))?\/?$/.exec(rest)
  if (match === null) throw bad(usage)
  const name = (match[1] ?? '').toLowerCase()
  if (isIP(name) !== 0 || !/[a-z_]/.test(name) || name.length > 253) throw bad(`${usage}; "${name}" is not a DNS name`)
  if (discovery === 'srv' && (match[2] !== undefined || match[3] !== undefined)) throw bad(usage)
  const port = match[2] === undefined ? DEFAULT_SUPERNODE_PORT : Number(match[2])
  if (port < 1 || port > 65535) throw bad('port must be 1-65535')
  const weight = match[3] === undefined ? 1 : Number(match[3])
  if (weight < 1) throw bad('weight must be a whole number from 1 to 9999')
  return discovery === 'dns'
    ? { host: name, port, weight, baseUrl: `dns://${name}:${port}`, discovery }
    : { host: name, port: 0, weight: 1, baseUrl: `dns+srv://${name}`, discovery }
}

/**
 * Parses the DNS servers that resolve `dns://` and `dns+srv://` entries (`--dns-server`,
 * repeatable or comma-separated): `ip`, `ip:port` or `[ipv6]:port`, as node:dns's
 * `Resolver.setServers` takes them. An empty list means the system's servers.
 * @throws DF_ERR_CONFIG_INVALID naming the setting and the bad entry
 */
export function parseDnsServers (values: readonly string[], setting: NodeListSetting): string[] {
  const out: string[] = []
  for (const value of values) {
    for (const raw of value.split(',')) {
      const entry = raw.trim()
      if (entry === '') continue
      const v6 = /^\[([0-9a-fA-F:.]+)\](?::(\d{1,5}))?$/.exec(entry)
      const v4 = /^([0-9.]+)(?::(\d{1,5}))?$/.exec(entry)
      const host = v6?.[1] ?? v4?.[1] ?? (isIP(entry) === 6 ? entry : '')
      const port = v6?.[2] ?? v4?.[2]
      const portNumber = port === undefined ? 53 : Number(port)
      if (isIP(host) === 0 || portNumber < 1 || portNumber > 65535) {
        throw new DfError('DF_ERR_CONFIG_INVALID', `${setting.label}: bad DNS server "${entry}": expected an IP address, ip:port or [ipv6]:port`, { details: { field: setting.field, value: entry } })
      }
      out.push(isIP(host) === 6 ? `[${host}]:${portNumber}` : `${host}:${portNumber}`)
    }
  }
  return out
}
