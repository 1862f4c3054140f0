/**
 * One dfget run's registration of its data file with the host's peer server. It is
 * refreshed on a timer while the download runs (the peer server expires files untouched
 * for --expiretime and stops after --alivetime without work, so a long download keeps
 * both from happening under it). `release()` stops refreshing and leaves the file served
 * until it expires; `withdraw()` also unregisters it (failure paths).
 *
 * Control protocol v2: the lease also announces the file's verified pieces to the peer
 * server (which tells this host's children through its have feed), one request at a time
 * with the pieces verified meanwhile together; pieces announced before the registration
 * go with the first announcement after it.
 */
import type { Clock, TimerHandle } from '../../common/clock.js'
import type { Logger } from '../../common/log.js'
import type { RegisterUploadRequest } from '../../protocol/messages/peer-upload.js'
import type { PeerClient, PieceAnnouncer } from './peer-client.js'

export class UploadLease {
  readonly #peerClient: PeerClient
  readonly #announcer: PieceAnnouncer
  #toAnnounce: number[] = []
  #announcing = false
  /** Registered and not withdrawn: announcements go on after `release()` (the file stays served). */
  #registered = false
  readonly #clock: Clock
  readonly #logger: Logger
  readonly #refreshIntervalMs: number
  #request: RegisterUploadRequest
  #timer: TimerHandle | undefined
  #active = false

  constructor (deps: { peerClient: PeerClient, announcer?: PieceAnnouncer, clock: Clock, logger: Logger }, options: { request: RegisterUploadRequest, refreshIntervalMs: number }) {
    this.#peerClient = deps.peerClient
    this.#announcer = deps.announcer ?? deps.peerClient
    this.#clock = deps.clock
    this.#logger = deps.logger
    this.#request = options.request
    this.#refreshIntervalMs = Math.max(20, options.refreshIntervalMs)
  }

  /** Registers the file and starts refreshing. @throws DfError when the peer server does not answer */
  async start (): Promise<void> {
    await this.#peerClient.registerUpload(this.#request)
    this.#active = true
    this.#registered = true
    this.#schedule()
    this.#flushAnnouncements()
  }

  /** Verified pieces of the file, servable now (v2). Never throws; a failed announcement is logged. */
  announce (pieceNums: readonly number[]): void {
    if (pieceNums.length === 0) return
    for (const pieceNum of pieceNums) this.#toAnnounce.push(pieceNum)
    this.#flushAnnouncements()
  }

  #flushAnnouncements (): void {
    if (!this.#registered || this.#announcing || this.#toAnnounce.length === 0) return
    const batch = this.#toAnnounce
    this.#toAnnounce = []
    this.#announcing = true
    this.#announcer.announcePieces(this.#request.taskId, this.#request.cid, batch).catch((err: unknown) => {
      this.#logger.debug({ err, pieces: batch.length }, 'could not announce verified pieces')
    }).finally(() => {
      this.#announcing = false
      this.#flushAnnouncements()
    })
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
    this.#registered = false
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
