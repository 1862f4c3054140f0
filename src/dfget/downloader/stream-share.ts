/**
 * StreamShare: how a streaming dfget serves its window to other peers. Each verified piece
 * is put into the host's peer server's in-memory stream store before the piece is reported
 * (the supernode may send peers for it at once): over loopback when the peer server is its
 * own process, directly when this process hosts it (dfdaemon).
 *
 * The store holds at most `windowPieces` pieces for the supernode: pieces the reader has
 * not taken yet, plus the most recently read ones, which stay while there is room so that
 * peers a little behind can still fetch them. When a new piece needs room, the oldest read
 * piece leaves the window: the supernode is told (report `evicted`) and, a few pieces later
 * (STREAM_GRACE_PIECES, for peers sent there just before), the store drops it.
 *
 * Sharing is best effort: when the peer server refuses the stream (its store is full) or
 * fails, the download goes on without it.
 */
import type { SharedBytes } from '../../common/buffer-pool.js'
import type { Logger } from '../../common/log.js'
import type { TimerHandle, Clock } from '../../common/clock.js'
import type { OpenStreamRequest } from '../../protocol/messages/peer-stream.js'
import type { StreamStoreClient } from '../uploader/peer-client.js'
import { STREAM_GRACE_PIECES } from '../uploader/piece-store.js'

export interface StreamShareDeps {
  /** This host's peer server's stream store (over loopback, or in process). */
  readonly store: StreamStoreClient
  readonly logger: Logger
  readonly clock: Clock
  /** Tells the supernode that this cid no longer holds the piece. */
  readonly reportEvicted: (pieceNum: number) => Promise<void>
}

/** The stream store is refreshed this often, so the peer server knows its dfget is alive while the reader pauses. */
const REFRESH_INTERVAL_MS = 20_000

export class StreamShare {
  readonly #deps: StreamShareDeps
  readonly #request: OpenStreamRequest
  /** Pieces in the store that the supernode counts as held, by piece number. */
  readonly #stored = new Set<number>()
  /** Pieces reported evicted but not yet dropped from the store, oldest first. */
  readonly #evicted: { pieceNum: number, reported: Promise<void> }[] = []
  readonly #pending = new Set<Promise<void>>()
  /** Pieces that could not be put (reported held all the same): reported evicted at the next put. */
  #unshared: number[] = []
  /** Puts on their way to the store (they count against the window). */
  #putting = 0
  #una = 0
  #isOpen = false
  #timer: TimerHandle | undefined

  constructor (deps: StreamShareDeps, request: OpenStreamRequest) {
    this.#deps = deps
    this.#request = request
  }

  /** Opens the stream store; false (logged) when the peer server refused it. */
  async open (): Promise<boolean> {
    try {
      await this.#deps.store.openStream(this.#request)
      this.#isOpen = true
      this.#scheduleRefresh()
    } catch (err) {
      this.#deps.logger.warn({ err }, 'the peer server did not open a stream store; this host will not serve the stream')
    }
    return this.#isOpen
  }

  get isOpen (): boolean {
    return this.#isOpen
  }

  /** The reader took every piece before `una`: those may leave the window when room is needed. */
  setDelivered (una: number): void {
    this.#una = una
  }

  /** Puts a verified piece into the store, making room first (a store in this process holds `shared`); false when it could not be shared. */
  async put (pieceNum: number, chunks: readonly Buffer[], shared?: SharedBytes): Promise<boolean> {
    // The piece loop reports a piece right after this returns, shared or not; a piece that
    // could not be shared is reported evicted one put later, when that report is long in.
    for (const unshared of this.#unshared.splice(0)) void this.#reportEvicted(unshared)
    if (!this.#isOpen) return this.#notShared(pieceNum)
    // Room is made synchronously: puts run concurrently, and together they must stay in the window.
    while (this.#stored.size + this.#putting >= this.#request.windowPieces) {
      if (!this.#evictOldestRead()) return this.#notShared(pieceNum)
    }
    const drops: Promise<void>[] = []
    while (this.#evicted.length > STREAM_GRACE_PIECES) drops.push(this.#dropOldestEvicted())
    this.#putting += 1
    try {
      await Promise.all(drops)
      await this.#deps.store.putStreamPiece(this.#request.taskId, this.#request.cid, pieceNum, chunks, shared)
      this.#stored.add(pieceNum)
      return true
    } catch (err) {
      this.#deps.logger.warn({ err, pieceNum }, 'could not put a piece into the stream store')
      return this.#notShared(pieceNum)
    } finally {
      this.#putting -= 1
    }
  }

  /** Stops refreshing and closes the store (every piece leaves it). Idempotent. */
  async close (): Promise<void> {
    this.#timer?.cancel()
    this.#timer = undefined
    if (!this.#isOpen) return
    this.#isOpen = false
    await Promise.allSettled([...this.#pending])
    try {
      await this.#deps.store.closeStream(this.#request.taskId, this.#request.cid)
    } catch (err) {
      this.#deps.logger.debug({ err }, 'could not close the stream store')
    }
  }

  /** The oldest stored piece the reader already took leaves the window; false when there is none. */
  #evictOldestRead (): boolean {
    let oldest: number | undefined
    for (const pieceNum of this.#stored) if (pieceNum < this.#una && (oldest === undefined || pieceNum < oldest)) oldest = pieceNum
    if (oldest === undefined) return false
    this.#stored.delete(oldest)
    this.#evicted.push({ pieceNum: oldest, reported: this.#reportEvicted(oldest) })
    return true
  }

  #notShared (pieceNum: number): false {
    this.#unshared.push(pieceNum)
    return false
  }

  #reportEvicted (pieceNum: number): Promise<void> {
    const reported = this.#deps.reportEvicted(pieceNum).catch((err: unknown) => {
      this.#deps.logger.warn({ err, pieceNum }, 'could not report an evicted piece')
    })
    this.#track(reported)
    return reported
  }

  async #dropOldestEvicted (): Promise<void> {
    const oldest = this.#evicted.shift()
    if (oldest === undefined) return
    // The supernode must know before the bytes go, or it could still send a peer for them.
    await oldest.reported
    await this.#deps.store.dropStreamPiece(this.#request.taskId, this.#request.cid, oldest.pieceNum)
  }

  #track (promise: Promise<void>): void {
    this.#pending.add(promise)
    void promise.finally(() => { this.#pending.delete(promise) })
  }

  #scheduleRefresh (): void {
    this.#timer = this.#deps.clock.setTimeout(() => {
      if (!this.#isOpen) return
      const refreshed = this.#deps.store.openStream(this.#request).catch((err: unknown) => {
        this.#deps.logger.debug({ err }, 'could not refresh the stream store')
      })
      this.#track(refreshed)
      this.#scheduleRefresh()
    }, REFRESH_INTERVAL_MS)
  }
}
