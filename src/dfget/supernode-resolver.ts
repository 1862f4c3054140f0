/**
 * The supernode list as it is now: the written entries (common/node-list.ts), with each
 * entry that names DNS records (`dns://name[:port]`: A and AAAA; `dns+srv://name`: SRV,
 * whose targets are resolved in turn) replaced by the supernodes its records list. A fleet's
 * configuration can then be one name, such as a Kubernetes headless Service, and the fleet
 * follows the DNS answer: task ownership is rendezvous hashing over what resolves
 * (supernode-locator.ts).
 *
 * Resolution asks the DNS servers of `--dns-server` (default: the system's) through a
 * node:dns Resolver, never /etc/hosts. An answer is kept for `refreshMs`; the next use after
 * that resolves again, and a caller that failed on every supernode asks for a refresh at
 * once (`refresh()`, at most once a second). A name that resolved before and fails now
 * keeps its last good answer with a warning; a name that never resolved is an error
 * (DF_ERR_CONFIG_UNUSABLE when DNS says it does not exist, DF_ERR_NETWORK when DNS did not
 * answer). Resolutions are single-flight: concurrent callers share one.
 */
import { Resolver } from 'node:dns/promises'
import { isIP } from 'node:net'
import { formatBaseUrl } from '../common/http/base-url.js'
import type { Logger } from '../common/log.js'
import { systemClock, type Clock } from '../common/clock.js'
import { DEFAULT_DNS_REFRESH_MS, type SupernodeAddress } from '../common/node-list.js'
import { DfError } from '../protocol/errors.js'

export interface SupernodeResolverOptions {
  /** The list as written (parseNodeList). */
  readonly entries: readonly SupernodeAddress[]
  /** DNS servers (parseDnsServers); empty or absent = the system's. */
  readonly dnsServers?: readonly string[]
  /** How long an answer is used before it is resolved again (default 30 s). */
  readonly refreshMs?: number
  /** Time of one DNS query before it is tried again (twice in all); default 2 s. */
  readonly queryTimeoutMs?: number
}

/** At most one forced refresh per this interval (a fleet's failing runs would otherwise flood DNS). */
const MIN_FORCED_REFRESH_MS = 1_000
/** SRV weights are 0-65535; rendezvous weights 1-9999. */
const MAX_WEIGHT = 9999
/** DNS answers that mean "no such name or no such records", as node:dns codes them. */
const NOT_FOUND_CODES = new Set(['ENOTFOUND', 'ENODATA', 'NXDOMAIN', 'ENONAME'])

interface NameState {
  readonly entry: SupernodeAddress
  /** The last good answer, with when it was had; undefined until the name first resolves. */
  addresses: readonly SupernodeAddress[] | undefined
}

export class SupernodeResolver {
  readonly #logger: Logger
  readonly #clock: Clock
  readonly #entries: readonly SupernodeAddress[]
  readonly #names: NameState[]
  readonly #refreshMs: number
  readonly #resolver: Resolver | undefined
  readonly #dnsServers: readonly string[]
  #resolvedAtMs = Number.NEGATIVE_INFINITY
  #inFlight: Promise<SupernodeAddress[]> | undefined
  #current: SupernodeAddress[] | undefined
  #closed = false

  /** @throws DF_ERR_CONFIG_INVALID when a DNS server is not an address node:dns takes */
  constructor (deps: { logger: Logger, clock?: Clock }, options: SupernodeResolverOptions) {
    this.#logger = deps.logger.child({ component: 'supernode-resolver' })
    this.#clock = deps.clock ?? systemClock
    this.#entries = options.entries
    this.#names = options.entries.filter((entry) => entry.discovery !== undefined).map((entry) => ({ entry, addresses: undefined }))
    this.#refreshMs = options.refreshMs ?? DEFAULT_DNS_REFRESH_MS
    this.#dnsServers = options.dnsServers ?? []
    if (this.#names.length === 0) {
      this.#current = dedupe(this.#entries)
      return
    }
    const queryTimeoutMs = options.queryTimeoutMs ?? 2_000
    this.#resolver = new Resolver({ timeout: queryTimeoutMs, tries: 2 })
    try {
      if (this.#dnsServers.length > 0) this.#resolver.setServers([...this.#dnsServers])
    } catch (err) {
      throw new DfError('DF_ERR_CONFIG_INVALID', `--dns-server: ${(err as Error).message}`, { cause: err, details: { field: 'dns-server' } })
    }
  }

  /** Whether any entry names DNS records (else the list never changes). */
  get hasNames (): boolean {
    return this.#names.length > 0
  }

  /**
   * The supernodes now, in list order (duplicates removed). Resolves first when an answer is
   * older than the refresh interval.
   * @throws DfError when a name has never resolved (DF_ERR_CONFIG_UNUSABLE or DF_ERR_NETWORK)
   */
  async current (): Promise<SupernodeAddress[]> {
    if (this.#names.length === 0 && this.#current !== undefined) return this.#current
    if (this.#current !== undefined && this.#clock.now() - this.#resolvedAtMs < this.#refreshMs) return this.#current
    return await this.#resolveAll()
  }

  /**
   * Resolves again now, unless that was done less than a second ago (then the answer in
   * hand). For a caller that found no supernode of the list answering.
   * @throws as `current()`
   */
  async refresh (): Promise<SupernodeAddress[]> {
    if (this.#names.length === 0 && this.#current !== undefined) return this.#current
    if (this.#current !== undefined && this.#clock.now() - this.#resolvedAtMs < MIN_FORCED_REFRESH_MS) return this.#current
    return await this.#resolveAll()
  }

  /** Cancels queries in flight. Idempotent. */
  close (): void {
    if (this.#closed) return
    this.#closed = true
    this.#resolver?.cancel()
  }

  async #resolveAll (): Promise<SupernodeAddress[]> {
    this.#inFlight ??= this.#resolveNames().finally(() => { this.#inFlight = undefined })
    return await this.#inFlight
  }

  async #resolveNames (): Promise<SupernodeAddress[]> {
    const outcomes = await Promise.allSettled(this.#names.map(async (state) => await this.#resolveEntry(state.entry)))
    let firstError: DfError | undefined
    outcomes.forEach((outcome, i) => {
      const state = this.#names[i]
      if (state === undefined) return
      if (outcome.status === 'fulfilled') {
        state.addresses = outcome.value
        return
      }
      if (state.addresses !== undefined) {
        this.#logger.warn({ entry: state.entry.baseUrl, err: outcome.reason }, 'could not resolve the supernode list again; keeping its last answer')
      } else {
        firstError ??= outcome.reason instanceof DfError ? outcome.reason : new DfError('DF_ERR_INTERNAL', 'the supernode list could not be resolved', { cause: outcome.reason })
      }
    })
    if (firstError !== undefined) throw firstError
    const list = dedupe(this.#entries.flatMap((entry) => entry.discovery === undefined ? [entry] : this.#names.find((state) => state.entry === entry)?.addresses ?? []))
    const before = this.#current
    this.#current = list
    this.#resolvedAtMs = this.#clock.now()
    const key = (node: SupernodeAddress): string => node.baseUrl
    if (before === undefined || before.map(key).join() !== list.map(key).join()) {
      this.#logger.info({ supernodes: list.map(key), ...(before === undefined ? {} : { before: before.map(key) }) }, 'supernode list resolved')
    }
    return list
  }

  /** The supernodes one entry names now. @throws DfError */
  async #resolveEntry (entry: SupernodeAddress): Promise<SupernodeAddress[]> {
    if (entry.discovery === 'dns') {
      const addresses = await this.#lookupAddresses(entry.host, entry.baseUrl)
      return addresses.map((ip) => ({ host: ip, port: entry.port, weight: entry.weight, baseUrl: formatBaseUrl(ip, entry.port) }))
    }
    let records
    try {
      records = await this.#dns().resolveSrv(entry.host)
    } catch (err) {
      throw this.#failure(entry.baseUrl, 'SRV', err)
    }
    if (records.length === 0) throw this.#failure(entry.baseUrl, 'SRV', Object.assign(new Error('no records'), { code: 'ENODATA' }))
    const out: SupernodeAddress[] = []
    for (const record of records) {
      let addresses: string[]
      try {
        addresses = isIP(record.name) !== 0 ? [record.name] : await this.#lookupAddresses(record.name, `SRV target ${record.name}`)
      } catch (err) {
        this.#logger.warn({ entry: entry.baseUrl, target: record.name, err }, 'an SRV target of the supernode list does not resolve; leaving it out')
        continue
      }
      for (const ip of addresses) {
        // The target's name is the supernode's identity in the hashing (orderSupernodes):
        // a StatefulSet pod that comes back with another address keeps its tasks.
        out.push({ host: record.name.toLowerCase(), port: record.port, weight: Math.min(MAX_WEIGHT, Math.max(1, record.weight)), priority: record.priority, baseUrl: formatBaseUrl(ip, record.port) })
      }
    }
    if (out.length === 0) throw this.#failure(entry.baseUrl, 'SRV', Object.assign(new Error('no target resolves'), { code: 'ENODATA' }), 'none of its targets resolves')
    return out
  }

  /** The A and AAAA records of `name`: either family may be empty, not both. @throws DfError */
  async #lookupAddresses (name: string, what: string): Promise<string[]> {
    const [v4, v6] = await Promise.allSettled([this.#dns().resolve4(name), this.#dns().resolve6(name)])
    const addresses = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])]
    if (addresses.length > 0) return addresses
    // A family that failed otherwise than "no such records" says more than one that has none.
    const reasons = [v4, v6].flatMap((outcome) => outcome.status === 'rejected' ? [outcome.reason as unknown] : [])
    throw this.#failure(what, 'A/AAAA', reasons.find((reason) => !NOT_FOUND_CODES.has(errnoOf(reason))) ?? reasons[0] ?? Object.assign(new Error('no records'), { code: 'ENODATA' }))
  }

  #dns (): Resolver {
    if (this.#resolver === undefined || this.#closed) throw new DfError('DF_ERR_INTERNAL', 'the supernode resolver is closed')
    return this.#resolver
  }

  /** The error of a name that did not resolve: it does not exist (CONFIG_UNUSABLE), or DNS did not answer (NETWORK). */
  #failure (what: string, records: string, err: unknown, problem?: string): DfError {
    if (err instanceof DfError) return err
    const code = errnoOf(err)
    const servers = this.#dnsServers.length > 0 ? this.#dnsServers.join(', ') : 'the system\'s DNS servers'
    const details = { entry: what, errno: code }
    if (NOT_FOUND_CODES.has(code)) {
      return new DfError('DF_ERR_CONFIG_UNUSABLE', `supernode list: ${what}: ${problem ?? `no ${records} records`} (${code} from ${servers})`, { cause: err, details })
    }
    return new DfError('DF_ERR_NETWORK', `supernode list: ${what}: DNS did not answer (${code} from ${servers})`, { cause: err, details })
  }
}

function errnoOf (err: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code
  return typeof code === 'string' ? code : 'error'
}

/** The list without repeated supernodes (the first mention wins). */
function dedupe (list: readonly SupernodeAddress[]): SupernodeAddress[] {
  const seen = new Set<string>()
  return list.filter((node) => {
    if (seen.has(node.baseUrl)) return false
    seen.add(node.baseUrl)
    return true
  })
}
