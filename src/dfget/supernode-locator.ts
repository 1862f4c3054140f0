/**
 * The supernodes of a dfget (the `-n` list, parsed by common/node-list.ts, its DNS entries
 * resolved by supernode-resolver.ts) and the failover order for one task. A task belongs to
 * one supernode, chosen by weighted rendezvous hashing of the taskId over the list as it
 * resolves now (DESIGN.md §11): every client of the task computes the same order, so they
 * meet in the same place, and when that supernode does not answer each moves on to the same
 * next one. When none answers, the list is resolved again at once, so a fleet follows a
 * DNS answer that moved to other supernodes.
 */
import { createHash } from 'node:crypto'
import { DfError, isCode } from '../protocol/errors.js'
import type { SupernodeAddress } from '../common/node-list.js'
import type { Logger } from '../common/log.js'
import type { Clock } from '../common/clock.js'
import { SupernodeClient } from '../supernode/client.js'
import type { RegisterPeerRequest } from '../protocol/messages/register-peer.js'
import type { RegisterTaskRequest, RegisterTaskResponse } from '../protocol/messages/register-task.js'
import type { DfgetConfig } from './config.js'
import { loadCaCert } from './ca-cert.js'
import { SupernodeResolver } from './supernode-resolver.js'

/**
 * The order in which to try the supernodes for `key` (a taskId): weighted rendezvous
 * hashing (highest score first), so an entry of weight 2 is first for about twice as many
 * tasks as one of weight 1, and removing an entry moves only its own tasks. Supernodes of
 * a lower SRV priority come before those of a higher one (RFC 2782); written entries are
 * all priority 0.
 */
export function orderSupernodes (supernodes: readonly SupernodeAddress[], key: string): SupernodeAddress[] {
  const scored = supernodes.map((node) => {
    const digest = createHash('sha256').update(`${key}\n${node.host}:${node.port}`).digest()
    // A uniform number in (0, 1) from the first 48 bits of the hash.
    const unit = (digest.readUIntBE(0, 6) + 1) / (2 ** 48 + 2)
    return { node, priority: node.priority ?? 0, score: -node.weight / Math.log(unit) }
  })
  return scored.sort((a, b) => a.priority - b.priority || b.score - a.score).map((entry) => entry.node)
}

/** The settings of a run that make its locator: runs that agree on these can share one. */
export type LocatorSettings = Pick<DfgetConfig, 'supernodes' | 'token' | 'caCertPath' | 'dnsServers' | 'dnsRefreshMs'>

/** A key of the settings a locator is made from (equal keys: one locator serves both). */
export function locatorKey (settings: LocatorSettings): string {
  return JSON.stringify([settings.supernodes, settings.token ?? '', settings.caCertPath ?? '', settings.dnsServers, settings.dnsRefreshMs])
}

/** The locator of a run's supernode list, token, CA and DNS settings. @throws DfError when the CA file cannot be read */
export async function createSupernodeLocator (settings: LocatorSettings, logger: Logger): Promise<SupernodeLocator> {
  return new SupernodeLocator({ logger }, {
    supernodes: settings.supernodes,
    token: settings.token,
    caCert: await loadCaCert(settings.caCertPath),
    dnsServers: settings.dnsServers,
    dnsRefreshMs: settings.dnsRefreshMs,
  })
}

/** A successful registration: with whom, and the task's geometry. */
export interface SupernodeRegistration {
  readonly address: SupernodeAddress
  /** The calls a download makes after registering (an in-process stand-in in the fleet simulator). */
  readonly client: Pick<SupernodeClient, 'registerPeer' | 'pullPieceTasks' | 'reportPiece' | 'reportPieces' | 'deleteTask' | 'syncTask'>
  readonly task: RegisterTaskResponse
}

/**
 * Registration with failover: tries the supernodes in the task's order and returns the
 * first that registers the peer and the task. A source error (the supernode reached the
 * source and it answered an error status) is final: no other supernode would do better.
 * Owns one SupernodeClient per supernode and the resolver of the list; `close()` releases
 * them.
 */
export class SupernodeLocator {
  readonly #logger: Logger
  readonly #resolver: SupernodeResolver
  readonly #clients = new Map<string, SupernodeClient>()
  readonly #requestTimeoutMs: number
  readonly #token: string | undefined
  readonly #caCert: Buffer | undefined

  /**
   * `supernodes` as written (DNS entries are resolved with `dnsServers`, again after
   * `dnsRefreshMs`); `token` is sent to every supernode; `caCert` (PEM) is trusted for https
   * supernodes.
   */
  constructor (
    deps: { logger: Logger, clock?: Clock },
    options: { supernodes: readonly SupernodeAddress[], requestTimeoutMs?: number, token?: string | undefined, caCert?: Buffer | undefined, dnsServers?: readonly string[] | undefined, dnsRefreshMs?: number | undefined },
  ) {
    this.#logger = deps.logger.child({ component: 'supernode-locator' })
    this.#resolver = new SupernodeResolver({ logger: deps.logger, ...(deps.clock === undefined ? {} : { clock: deps.clock }) }, {
      entries: options.supernodes,
      ...(options.dnsServers === undefined ? {} : { dnsServers: options.dnsServers }),
      ...(options.dnsRefreshMs === undefined ? {} : { refreshMs: options.dnsRefreshMs }),
    })
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 15_000
    this.#token = options.token
    this.#caCert = options.caCert
  }

  /**
   * The supernodes now (DNS entries resolved; again when the answer is older than the
   * refresh interval).
   * @throws DfError when a DNS entry never resolved (DF_ERR_CONFIG_UNUSABLE, DF_ERR_NETWORK)
   */
  async currentSupernodes (): Promise<SupernodeAddress[]> {
    return await this.#resolver.current()
  }

  /**
   * Registers the peer and the task with the first supernode (in `taskKey` order, skipping
   * `skip` base URLs) that answers. When none does and the list names DNS records, they
   * are resolved again at once and the supernodes that were not tried yet are tried.
   * @throws DfError: the source error, a DNS entry that never resolved, or the last
   * supernode's failure (DF_ERR_NETWORK when none is configured or left)
   */
  async register (taskKey: string, peer: RegisterPeerRequest, task: RegisterTaskRequest, options: { skip?: ReadonlySet<string>, signal?: AbortSignal } = {}): Promise<SupernodeRegistration> {
    const tried = new Set(options.skip)
    const first = await this.#tryInOrder(await this.#resolver.current(), tried, taskKey, peer, task, options.signal)
    if (first.registration !== undefined) return first.registration
    let lastError = first.lastError
    if (this.#resolver.hasNames) {
      const again = await this.#tryInOrder(await this.#resolver.refresh(), tried, taskKey, peer, task, options.signal)
      if (again.registration !== undefined) return again.registration
      lastError = again.lastError ?? lastError
    }
    if (lastError instanceof Error) throw lastError
    throw new DfError('DF_ERR_NETWORK', 'no supernode is configured or left to try', { cause: lastError })
  }

  /** Tries the supernodes of `list` not in `tried` (adding them), in `taskKey` order. @throws final errors */
  async #tryInOrder (list: readonly SupernodeAddress[], tried: Set<string>, taskKey: string, peer: RegisterPeerRequest, task: RegisterTaskRequest, signal: AbortSignal | undefined): Promise<{ registration?: SupernodeRegistration, lastError?: unknown }> {
    let lastError: unknown
    for (const address of orderSupernodes(list, taskKey)) {
      if (tried.has(address.baseUrl)) continue
      tried.add(address.baseUrl)
      signal?.throwIfAborted()
      const client = this.clientFor(address)
      try {
        await client.registerPeer(peer)
        const registered = await client.registerTask(task, signal)
        return { registration: { address, client, task: registered } }
      } catch (err) {
        // Final answers: the source's own error, a refused source, a wrong or missing token
        // (every supernode of a deployment shares it); another supernode would say the same.
        if (isCode(err, 'DF_ERR_SOURCE_STATUS') || isCode(err, 'DF_ERR_SOURCE_FORBIDDEN') || isCode(err, 'DF_ERR_ARG_UNAUTHORIZED') || signal?.aborted === true) throw err
        this.#logger.warn({ url: address.baseUrl, err }, 'supernode registration failed; trying the next')
        lastError = err
      }
    }
    return { lastError }
  }

  /** The client of one supernode (created once). */
  clientFor (address: SupernodeAddress): SupernodeClient {
    let client = this.#clients.get(address.baseUrl)
    if (client === undefined) {
      client = new SupernodeClient({
        baseUrl: address.baseUrl,
        timeoutMs: this.#requestTimeoutMs,
        connectTimeoutMs: 3_000,
        ...(this.#token === undefined ? {} : { token: this.#token }),
        ...(this.#caCert === undefined ? {} : { caCert: this.#caCert }),
      })
      this.#clients.set(address.baseUrl, client)
    }
    return client
  }

  async close (): Promise<void> {
    this.#resolver.close()
    const clients = [...this.#clients.values()]
    this.#clients.clear()
    await Promise.all(clients.map(async (client) => { await client.close() }))
  }
}
