/**
 * SourcePolicy: which sources may be fetched. A supernode that fetches any URL on request
 * is an SSRF hole (it would read a cloud metadata endpoint or an internal admin page for
 * anyone who can register a task), so every source URL — and every redirect target — is
 * checked before a request: only http and https, never a denied host or network, and when
 * an allow list is set, only allowed hosts or networks. Entries are host names (`a.example`
 * exactly, `*.example` for its subdomains), IP addresses, or CIDR networks (`10.0.0.0/8`,
 * `fd00::/8`). A host name is resolved and every address it resolves to is checked, so a
 * name cannot smuggle a denied address. Refusal is DF_ERR_SOURCE_FORBIDDEN (403).
 *
 * The source reader (source-reader.ts) takes the check as a function (`SourceCheck`) and runs
 * it at every hop. The supernode's CDN and preheats use the configured policy; dfget's
 * back-source and dfdaemon have none configured, so their check is an open policy (scheme only).
 *
 * Limit: the check resolves the name itself and the HTTP client resolves it again, so a DNS
 * server that answers differently within that gap (rebinding) is not caught.
 */
import { lookup } from 'node:dns/promises'
import { BlockList, isIP } from 'node:net'
import { DfError } from '../../protocol/errors.js'

export interface SourcePolicyOptions {
  /** When non-empty, only these hosts / networks may be fetched. */
  readonly allow?: readonly string[]
  /** Never fetched (wins over `allow`). */
  readonly deny?: readonly string[]
}

/**
 * A check run on every URL before it is requested, redirect targets included.
 * @throws DF_ERR_SOURCE_FORBIDDEN when the URL may not be fetched
 */
export type SourceCheck = (url: string) => Promise<void>

/** Resolves a host name to its addresses (injectable for tests). */
export type ResolveHost = (host: string) => Promise<readonly string[]>

interface Rules { readonly names: readonly string[], readonly suffixes: readonly string[], readonly networks: BlockList, readonly isEmpty: boolean }

export class SourcePolicy {
  readonly #allow: Rules
  readonly #deny: Rules
  readonly #resolve: ResolveHost

  /** @throws DF_ERR_CONFIG_INVALID naming the bad entry */
  constructor (options: SourcePolicyOptions = {}, resolve: ResolveHost = resolveHost) {
    this.#allow = parseRules(options.allow ?? [], 'sourceAllow')
    this.#deny = parseRules(options.deny ?? [], 'sourceDeny')
    this.#resolve = resolve
  }

  /** True when neither list is set (only the scheme is checked). */
  get isOpen (): boolean {
    return this.#allow.isEmpty && this.#deny.isEmpty
  }

  /** The policy as a SourceCheck for the source reader. */
  get asCheck (): SourceCheck {
    return async (url) => { await this.check(url) }
  }

  /** @throws DF_ERR_SOURCE_FORBIDDEN when the URL may not be fetched */
  async check (url: string): Promise<void> {
    let parsed: URL
    try { parsed = new URL(url) } catch { throw forbidden('the source URL is not valid') }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw forbidden(`only http and https sources are fetched, not ${parsed.protocol}`)
    if (this.isOpen) return
    const host = parsed.hostname.replace(/^\[|\]$/g, '').toLowerCase()
    const addresses = isIP(host) !== 0 ? [host] : await this.#resolve(host).catch(() => [] as string[])
    if (matchesName(this.#deny, host) || addresses.some((address) => matchesAddress(this.#deny, address))) {
      throw forbidden(`the source host ${host} is denied`)
    }
    if (this.#allow.isEmpty || matchesName(this.#allow, host)) return
    if (addresses.length > 0 && addresses.every((address) => matchesAddress(this.#allow, address))) return
    throw forbidden(`the source host ${host} is not allowed`)
  }
}

async function resolveHost (host: string): Promise<readonly string[]> {
  return (await lookup(host, { all: true, verbatim: true })).map((entry) => entry.address)
}

function forbidden (message: string): DfError {
  return new DfError('DF_ERR_SOURCE_FORBIDDEN', message)
}

function parseRules (entries: readonly string[], field: string): Rules {
  const names: string[] = []
  const suffixes: string[] = []
  const networks = new BlockList()
  for (const raw of entries) {
    const entry = raw.trim().toLowerCase()
    if (entry === '') continue
    const bad = (): DfError => new DfError('DF_ERR_CONFIG_INVALID', `${field}: "${raw}" is not a host name, IP address or CIDR network`, { details: { field, value: raw } })
    const slash = entry.indexOf('/')
    if (slash >= 0) {
      const address = entry.slice(0, slash)
      const prefixText = entry.slice(slash + 1)
      const family = isIP(address)
      const prefix = Number(prefixText)
      if (family === 0 || !/^\d{1,3}$/.test(prefixText) || prefix > (family === 4 ? 32 : 128)) throw bad()
      networks.addSubnet(address, prefix, family === 4 ? 'ipv4' : 'ipv6')
    } else if (isIP(entry) !== 0) {
      networks.addAddress(entry, isIP(entry) === 4 ? 'ipv4' : 'ipv6')
    } else if (entry.startsWith('*.') && /^[a-z0-9.-]+$/.test(entry.slice(2))) {
      suffixes.push(entry.slice(1))
    } else if (/^[a-z0-9.-]+$/.test(entry)) {
      names.push(entry)
    } else {
      throw bad()
    }
  }
  return { names, suffixes, networks, isEmpty: names.length === 0 && suffixes.length === 0 && networks.rules.length === 0 }
}

function matchesName (rules: Rules, host: string): boolean {
  return rules.names.includes(host) || rules.suffixes.some((suffix) => host.endsWith(suffix))
}

function matchesAddress (rules: Rules, address: string): boolean {
  const family = isIP(address)
  if (family === 0) return false
  // An IPv4-mapped IPv6 address is checked as the IPv4 address it is.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1]
  if (mapped !== undefined) return rules.networks.check(mapped, 'ipv4')
  return rules.networks.check(address, family === 4 ? 'ipv4' : 'ipv6')
}
