/**
 * One dfget run's registration of its data file with the host's peer server. It is
 * refreshed on a timer while the download runs (the peer server expires files untouched
 * for --expiretime and stops after --alivetime without work, so a long download keeps
 * both from happening under it). `release()` stops refreshing and leaves the file served
 * until it expires; `withdraw()` also unregisters it (failure paths).
 */
import type { Clock, TimerHandle } from '../../common/clock.js'
import type { Logger } from '../../common/log.js'
import type { RegisterUploadRequest } from '../../protocol/messages/peer-upload.js'
import type { PeerClient } from './peer-client.js'

export class UploadLease {
  readonly #peerClient: PeerClient
  readonly #clock: Clock
  readonly #logger: Logger
  readonly #refreshIntervalMs: number
  #request: RegisterUploadRequest
  #timer: TimerHandle | undefined
  #active = false

  constructor (deps: { peerClient: PeerClient, clock: Clock, logger: Logger }, options: { request: RegisterUploadRequest, refreshIntervalMs: number }) {
    this.#peerClient = deps.peerClient
    this.#clock = deps.clock
    this.#logger = deps.logger
    this.#request = options.request
    this.#refreshIntervalMs = Math.max(20, options.refreshIntervalMs)
  }

  /** Registers the file and starts refreshing. @throws DfError when the peer server does not answer */
  async start (): Promise<void> {
    await this.#peerClient.registerUpload(this.#request)
    this.#active = true
    this.#schedule()
  }

  /** Another supernode took the task over: the peer server must know whom to tell when it goes. */
  setSupernodes (urls: readonly string[]): void {
    this.#request = { ...this.#request, supernodes: [...new Set([...this.#request.supernodes, ...urls])] }
    if (this.#active) this.#refresh()
  }

  /** Stops refreshing; the file stays served until it expires. */
  release (): void {
    this.#active = false
    this.#timer?.cancel()
  }

  /** Stops refreshing and unregisters the file. Never throws. */
  async withdraw (): Promise<void> {
    const wasActive = this.#active
    this.release()
    if (!wasActive) return
    try {
      await this.#peerClient.unregisterUpload(this.#request.taskId, this.#request.cid)
    } catch (err) {
      this.#logger.debug({ err }, 'could not withdraw the upload')
    }
  }

  #schedule (): void {
    this.#timer = this.#clock.setTimeout(() => {
      if (!this.#active) return
      this.#refresh()
      this.#schedule()
    }, this.#refreshIntervalMs)
  }

  #refresh (): void {
    this.#peerClient.registerUpload(this.#request).catch((err: unknown) => {
      this.#logger.warn({ err }, 'could not refresh the upload registration')
    })
  }
}
