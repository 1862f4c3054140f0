/**
 * SupernodeControl: a download's hold on the supernode in charge of its task — the
 * registration, the v2 sync with it (ControlPort), and the move to another supernode when
 * it stops answering or forgot the task. A move registers again with the pieces held and
 * is refused when the new supernode has another geometry for the task, or another version
 * of the source (then the pieces held must not be completed with new ones: the typed
 * `sourceChanged`, and the new supernode is told we left, so nobody is sent to our old
 * pieces). Both piece loops (v1 and v2) move through it.
 */
import type { Logger } from '../../common/log.js'
import { DfError } from '../../protocol/errors.js'
import type { RegisterPeerRequest } from '../../protocol/messages/register-peer.js'
import type { RegisterTaskRequest } from '../../protocol/messages/register-task.js'
import type { SyncTaskRequest, SyncTaskResponse } from '../../protocol/messages/sync-task.js'
import type { SupernodeLocator, SupernodeRegistration } from '../supernode-locator.js'
import type { ControlPort, SupernodeMove } from './piece-loop.js'

export interface SupernodeControlOptions {
  readonly registration: SupernodeRegistration
  /** The key the supernode order is computed from (the task id the client computed). */
  readonly taskKey: string
  readonly peerRequest: RegisterPeerRequest
  readonly taskRequest: RegisterTaskRequest
}

export class SupernodeControl implements ControlPort {
  readonly #locator: Pick<SupernodeLocator, 'register'>
  readonly #logger: Logger
  readonly #onSupernodeChange: ((registration: SupernodeRegistration) => void) | undefined
  readonly #options: SupernodeControlOptions
  #registration: SupernodeRegistration
  #peerRequest: RegisterPeerRequest

  constructor (deps: { locator: Pick<SupernodeLocator, 'register'>, logger: Logger, onSupernodeChange?: ((registration: SupernodeRegistration) => void) | undefined }, options: SupernodeControlOptions) {
    this.#locator = deps.locator
    this.#logger = deps.logger
    this.#onSupernodeChange = deps.onSupernodeChange
    this.#options = options
    this.#registration = options.registration
    this.#peerRequest = options.peerRequest
  }

  /** The supernode in charge now. */
  get registration (): SupernodeRegistration {
    return this.#registration
  }

  /** The peer registration to repeat on a move, once it changed (the peer server's port became known). */
  setPeerRequest (peerRequest: RegisterPeerRequest): void {
    this.#peerRequest = peerRequest
  }

  async sync (request: SyncTaskRequest, signal: AbortSignal): Promise<SyncTaskResponse> {
    const { client, task } = this.#registration
    return await client.syncTask(task.taskId, request, signal)
  }

  async moveToNextSupernode (heldPieces: readonly number[], skipCurrent: boolean, signal: AbortSignal): Promise<SupernodeMove> {
    const logger = this.#logger
    const skip = new Set(skipCurrent ? [this.#registration.address.baseUrl] : [])
    let registration: SupernodeRegistration
    try {
      registration = await this.#locator.register(this.#options.taskKey, this.#peerRequest, { ...this.#options.taskRequest, heldPieces: [...heldPieces] }, { skip, signal })
    } catch (err) {
      signal.throwIfAborted()
      logger.warn({ err }, 'no other supernode took the task over')
      return { kind: 'none', cause: err instanceof DfError ? err : new DfError('DF_ERR_NETWORK', 'no supernode took the task over', { cause: err }) }
    }
    const held = this.#registration.task
    if (held.sourceVersion !== undefined && registration.task.sourceVersion !== undefined && registration.task.sourceVersion !== held.sourceVersion) {
      logger.warn({ url: registration.address.baseUrl }, 'the new supernode has another version of the source')
      // It registered our old pieces as held: take them back so nobody is sent to them.
      await registration.client.deleteTask(registration.task.taskId, this.#options.taskRequest.cid).catch((err: unknown) => {
        logger.debug({ err }, 'could not leave the new supernode\'s task')
      })
      return { kind: 'sourceChanged', cause: new DfError('DF_ERR_SOURCE_CHANGED', 'the source changed while moving to another supernode') }
    }
    if (registration.task.fileLengthBytes !== held.fileLengthBytes || registration.task.pieceSizeBytes !== held.pieceSizeBytes) {
      logger.warn({ url: registration.address.baseUrl }, 'the new supernode has another geometry for the task')
      return { kind: 'none', cause: new DfError('DF_ERR_TASK_SWARM_FAILED', 'the new supernode has another geometry for the task') }
    }
    logger.info({ url: registration.address.baseUrl, heldPieces: heldPieces.length }, 'moved to another supernode')
    this.#registration = registration
    this.#onSupernodeChange?.(registration)
    return { kind: 'moved', task: registration.task }
  }
}
