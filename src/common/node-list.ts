/**
 * The supernode list as people write it (`-n/--node host:port[=weight]`, repeatable or
 * comma-separated; the `nodes` key of a configuration file): one parser, so dfget and
 * dfdaemon accept and refuse the same entries with the same DF_ERR_CONFIG_INVALID.
 */
import { DfError } from '../protocol/errors.js'
import { formatBaseUrl } from './http/base-url.js'

/** Default API port of a supernode (DESIGN.md §8). */
export const DEFAULT_SUPERNODE_PORT = 8002

/** One entry of the list. */
export interface SupernodeAddress {
  readonly host: string
  readonly port: number
  readonly weight: number
  /** "http://host:port" (or https). */
  readonly baseUrl: string
}

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
 * bracketed (`[::1]:8002`); `http://host:port` and `https://host:port` are accepted too.
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
