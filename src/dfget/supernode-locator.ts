/**
 * The supernodes of a dfget (the `-n` list, parsed by common/node-list.ts) and the failover
 * order for one task. A task belongs to one supernode, chosen by weighted
 * rendezvous hashing of the taskId over the list (DESIGN.md §11): every client of the task
 * computes the same order, so they meet in the same place, and when that supernode does not
 * answer each moves on to the same next one.
 */
import { createHash } from 'node:crypto'
import { DfError, isCode } from '../protocol/errors.js'
import type { SupernodeAddress } from '../common/node-list.js'
import type { Logger } from '../common/log.js'
import { SupernodeClient } from '../supernode/client.js'
import type { RegisterPeerRequest } from '../protocol/messages/register-peer.js'
import type { RegisterTaskRequest, RegisterTaskResponse } from '../protocol/messages/register-task.js'

/**
 * The order in which to try the supernodes for `key` (a taskId): weighted rendezvous
 * hashing (highest score first), so an entry of weight 2 is first for about twice as many
 * tasks as one of weight 1, and removing an entry moves only its own tasks.
 */
export function orderSupernodes (supernodes: readonly SupernodeAddress[], key: string): SupernodeAddress[] {
  const scored = supernodes.map((node) => {
    const digest = createHash('sha256').update(`${key}\n${node.host}:${node.port}`).digest()
    // A uniform number in (0, 1) from the first 48 bits of the hash.
    const unit = (digest.readUIntBE(0, 6) + 1) / (2 ** 48 + 2)
    return { node, score: -node.weight / Math.log(unit) }
  })
  return scored.sort((a, b) => b.score - a.score).map((entry) => entry.node)
}

/** A successful registration: with whom, and the task's geometry. */
export interface SupernodeRegistration {
  readonly address: SupernodeAddress
  /** The calls a download makes after registering (an in-process stand-in in the fleet simulator). */
  readonly client: Pick<SupernodeClient, 'registerPeer' | 'pullPieceTasks' | 'reportPiece' | 'reportPieces' | 'deleteTask'>
  readonly task: RegisterTaskResponse
}

/**
 * Registration with failover: tries the supernodes in the task's order and returns the
 * first that registers the peer and the task. A source error (the supernode reached the
 * source and it answered an error status) is final: no other supernode would do better.
 * Owns one SupernodeClient per supernode; `close()` releases them.
 */
export class SupernodeLocator {
  readonly #logger: Logger
  readonly #supernodes: readonly SupernodeAddress[]
  readonly #clients = new Map<string, SupernodeClient>()
  readonly #requestTimeoutMs: number
  readonly #token: string | undefined
  readonly #caCert: Buffer | undefined

  /** `token` is sent to every supernode; `caCert` (PEM) is trusted for https supernodes. */
  constructor (deps: { logger: Logger }, options: { supernodes: readonly SupernodeAddress[], requestTimeoutMs?: number, token?: string | undefined, caCert?: Buffer | undefined }) {
    this.#logger = deps.logger.child({ component: 'supernode-locator' })
    this.#supernodes = options.supernodes
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 15_000
    this.#token = options.token
    this.#caCert = options.caCert
  }

  get supernodes (): readonly SupernodeAddress[] {
    return this.#supernodes
  }

  /**
   * Registers the peer and the task with the first supernode (in `taskKey` order, skipping
   * `skip` base URLs) that answers.
   * @throws DfError: the source error, or the last supernode's failure (DF_ERR_NETWORK when
   * none is configured or left)
   */
  async register (taskKey: string, peer: RegisterPeerRequest, task: RegisterTaskRequest, options: { skip?: ReadonlySet<string>, signal?: AbortSignal } = {}): Promise<SupernodeRegistration> {
    let lastError: unknown
    for (const address of orderSupernodes(this.#supernodes, taskKey)) {
      if (options.skip?.has(address.baseUrl) === true) continue
      options.signal?.throwIfAborted()
      const client = this.clientFor(address)
      try {
        await client.registerPeer(peer)
        const registered = await client.registerTask(task, options.signal)
        return { address, client, task: registered }
      } catch (err) {
        // Final answers: the source's own error, a refused source, a wrong or missing token
        // (every supernode of a deployment shares it); another supernode would say the same.
        if (isCode(err, 'DF_ERR_SOURCE_STATUS') || isCode(err, 'DF_ERR_SOURCE_FORBIDDEN') || isCode(err, 'DF_ERR_ARG_UNAUTHORIZED') || options.signal?.aborted === true) throw err
        this.#logger.warn({ url: address.baseUrl, err }, 'supernode registration failed; trying the next')
        lastError = err
      }
    }
    if (lastError instanceof Error) throw lastError
    throw new DfError('DF_ERR_NETWORK', 'no supernode is configured or left to try', { cause: lastError })
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
    const clients = [...this.#clients.values()]
    this.#clients.clear()
    await Promise.all(clients.map(async (client) => { await client.close() }))
  }
}
