/**
 * ProgressManager: who holds which piece, who is fetching what from whom, which pieces the
 * CDN has cached, and per-cid blacklists — for every task (DESIGN.md §4). It is the single
 * owner of that state: the CDN marks cached pieces, the scheduler records hand-outs and
 * applies reports, the peer manager tells it when a peer leaves. Every change that could
 * unblock a waiting client wakes the task's long-polls through TaskEvents: the common ones
 * (a piece cached or reported, a hand-out ended) say what changed, so that only the waiters
 * that can use it wake (TaskChange); the rare ones wake every waiter.
 *
 * It also owns the upload load of every peer (hand-outs in flight with that peer as
 * source, across tasks) and the hand-out timeout: a hand-out not reported within
 * `pieceTimeoutMs` is released.
 */
import type { Clock } from '../../common/clock.js'
import { DfError } from '../../protocol/errors.js'
import type { Logger } from '../../common/log.js'
import type { ClientId, PeerId, TaskId } from '../../protocol/ids.js'
import type { PieceDigest } from '../../protocol/piece-digest.js'
import type { PieceBitset } from '../../protocol/piece-bitset.js'
import { TaskProgress, type HandOut, type PieceSource, type TaskProgressView } from './task-progress.js'
import type { TaskChange, TaskEvents } from './task-events.js'

export interface ProgressManagerOptions {
  /** A hand-out not reported within this time is released. */
  readonly pieceTimeoutMs: number
  /** Most uploads in flight from one peer (the scheduler's limit): bounds the wake-ups for a new holder. Unbounded when not set. */
  readonly maxUploadsPerPeer?: number | undefined
  /** Upload slots of the supernode per task (the scheduler's limit): bounds the wake-ups for a cached piece. Unbounded when not set. */
  readonly supernodeMaxUploads?: number | undefined
}

/** What a report did to the progress, for accounting. */
export interface AppliedReport {
  /** The hand-out the report closed, when there was one. */
  readonly handOut: HandOut | undefined
}

export class ProgressManager {
  readonly #clock: Clock
  readonly #events: TaskEvents
  readonly #log: Logger
  readonly #pieceTimeoutMs: number
  readonly #maxUploadsPerPeer: number
  readonly #supernodeMaxUploads: number
  readonly #tasks = new Map<TaskId, TaskProgress>()
  readonly #peerUploads = new Map<PeerId, number>()
  #timedOutHandOuts = 0
  readonly #removalListeners: ((taskId: TaskId, cid: ClientId | undefined) => void)[] = []

  constructor (deps: { clock: Clock, events: TaskEvents, logger: Logger }, options: ProgressManagerOptions) {
    this.#clock = deps.clock
    this.#events = deps.events
    this.#log = deps.logger
    this.#pieceTimeoutMs = options.pieceTimeoutMs
    this.#maxUploadsPerPeer = options.maxUploadsPerPeer ?? Number.POSITIVE_INFINITY
    this.#supernodeMaxUploads = options.supernodeMaxUploads ?? Number.POSITIVE_INFINITY
  }

  /** Starts tracking a task of `pieceCount` pieces, replacing any earlier progress of it. */
  createTask (taskId: TaskId, pieceCount: number): void {
    this.removeTask(taskId)
    this.#tasks.set(taskId, new TaskProgress(taskId, pieceCount))
  }

  /** Forgets a task, releasing its hand-outs and waking its waiters. */
  removeTask (taskId: TaskId): void {
    const task = this.#tasks.get(taskId)
    if (task === undefined) return
    this.#release(task.releaseAll())
    this.#tasks.delete(taskId)
    for (const listener of this.#removalListeners) listener(taskId, undefined)
    this.#events.notify(taskId)
  }

  /** Calls `listener` when a cid leaves a task (`cid`), or the task goes (`cid` undefined). */
  onRemoved (listener: (taskId: TaskId, cid: ClientId | undefined) => void): void {
    this.#removalListeners.push(listener)
  }

  getTask (taskId: TaskId): TaskProgressView | undefined {
    return this.#tasks.get(taskId)
  }

  /** Hand-outs released because nobody reported them in time, since start. */
  get timedOutHandOuts (): number {
    return this.#timedOutHandOuts
  }

  /** The CDN wrote a piece and computed its digest: it can be handed out from now on. */
  markCached (taskId: TaskId, pieceNum: number, digest: PieceDigest): void {
    const task = this.#tasks.get(taskId)
    if (task?.markCached(pieceNum, digest) === true) this.#events.notify(taskId, { piece: { pieceNum, slots: this.#supernodeSlotsOf(task) }, cached: true })
  }

  /** Adds a cid to a task (again: updates it), marking `heldPieces` as held. */
  addClient (taskId: TaskId, cid: ClientId, peerId: PeerId, options: { heldPieces?: readonly number[] | undefined, windowPieces?: number | undefined } = {}): void {
    const task = this.#mustGet(taskId)
    task.addClient(cid, peerId, options.windowPieces)
    for (const pieceNum of options.heldPieces ?? []) task.addHolding(cid, pieceNum, true)
    if ((options.heldPieces?.length ?? 0) > 0) this.#events.notify(taskId)
    else this.#events.notify(taskId, { joined: cid })
  }

  /** Removes a cid's download: its holdings and every hand-out to or from it. */
  removeClient (taskId: TaskId, cid: ClientId): void {
    const task = this.#tasks.get(taskId)
    if (task === undefined) return
    this.#release(task.removeClient(cid))
    for (const listener of this.#removalListeners) listener(taskId, cid)
    this.#events.notify(taskId)
  }

  /**
   * Control protocol v2: `held` is what `cid` holds now (its coarse bitmap sync). Pieces in
   * it become holdings (and received); holdings not in it go (stream mode's window moved).
   */
  syncHoldings (taskId: TaskId, cid: ClientId, held: PieceBitset): void {
    const task = this.#mustGet(taskId)
    const changed = task.setHoldings(cid, held)
    if (changed === undefined) return
    // Pieces added: news for v1's pulls and for syncs without parents only. A complete cid
    // (its leases and children go) or pieces dropped (a stream's window moved: the CDN may
    // lend them again) concern every waiter.
    if (changed === 'added' && task.getClient(cid)?.held.isFull !== true) this.#events.notify(taskId, { holdingsOf: cid })
    else this.#events.notify(taskId)
  }

  /** A peer left (service down): nobody is sent to it any more; its hand-outs are released. */
  removePeer (peerId: PeerId): void {
    for (const task of this.#tasks.values()) {
      const released = task.releaseHandOutsFrom((source) => source.kind === 'peer' && source.peerId === peerId)
      for (const client of [...task.clients()]) {
        if (client.peerId === peerId) released.push(...task.releaseHandOutsTo(client.cid))
      }
      const changed = task.removeHoldingsOfPeer(peerId)
      this.#release(released)
      if (changed || released.length > 0) this.#events.notify(task.taskId)
    }
    this.#peerUploads.delete(peerId)
  }

  /** Uploads in flight with `peerId` as the source, across tasks. */
  uploadsInFlightOf (peerId: PeerId): number {
    return this.#peerUploads.get(peerId) ?? 0
  }

  /** Records that `cid` was told to fetch `pieceNum` from `source`; counts it in the source's load. */
  recordHandOut (taskId: TaskId, cid: ClientId, pieceNum: number, source: PieceSource): void {
    const task = this.#mustGet(taskId)
    const timer = this.#clock.setTimeout(() => { this.#expire(taskId, cid, pieceNum) }, this.#pieceTimeoutMs)
    task.addHandOut({ taskId, cid, pieceNum, source, startedAtMs: this.#clock.now(), timer })
    if (source.kind === 'peer') this.#peerUploads.set(source.peerId, this.uploadsInFlightOf(source.peerId) + 1)
  }

  /**
   * Applies a piece report of `cid`: success makes it a holder (and releases the load);
   * failed releases the load and blacklists the source at fault for this cid (the supernode
   * only after `supernodeFailureLimit` failures: its errors are usually transient and it may
   * be the only source); cached/evicted add or remove a holding (stream mode).
   */
  applyReport (taskId: TaskId, cid: ClientId, pieceNum: number, result: 'success' | 'failed' | 'cached' | 'evicted', sourcePeerId: string | undefined, supernodeFailureLimit: number, reason?: string): AppliedReport {
    const task = this.#mustGet(taskId)
    let handOut: HandOut | undefined
    switch (result) {
      case 'success':
        handOut = task.takeHandOut(cid, pieceNum)
        task.addHolding(cid, pieceNum, true)
        break
      case 'failed': {
        handOut = task.takeHandOut(cid, pieceNum)
        if (reason === 'DF_ERR_PIECE_NOT_AVAILABLE' && handOut?.source.kind === 'peer') {
          // A stream-mode holder let the piece leave its window just as we sent someone
          // there: it no longer holds it, which is no fault of its own.
          task.removeHolding(handOut.source.cid, pieceNum)
          break
        }
        const atFault = sourcePeerId ?? sourceIdOf(handOut?.source)
        const why = reason === undefined ? `piece ${pieceNum} failed` : `piece ${pieceNum} failed: ${reason}`
        if (atFault === 'supernode') {
          const failures = task.countSupernodeFailure(cid)
          if (failures >= supernodeFailureLimit) task.blacklist(cid, atFault, `${failures} failures; last ${why}`)
        } else if (atFault !== undefined) {
          task.blacklist(cid, atFault, why)
          // Corrupt bytes mean corrupt storage, not a passing fault: nobody is sent there again.
          if (reason === 'DF_ERR_PIECE_DIGEST_MISMATCH' && task.distrustPeer(atFault)) {
            this.#log.warn({ taskId, peerId: atFault, cid, pieceNum }, 'peer served a corrupt piece: no longer a source of this task')
          }
        }
        break
      }
      case 'cached':
        task.addHolding(cid, pieceNum, false)
        break
      case 'evicted':
        task.removeHolding(cid, pieceNum)
        break
    }
    if (handOut !== undefined) this.#release([handOut])
    this.#events.notify(taskId, this.#changeOfReport(task, cid, pieceNum, result, handOut))
    return { handOut }
  }

  /** Takes back a hand-out that never reached its cid (the pull's client went away). */
  releaseHandOut (taskId: TaskId, cid: ClientId, pieceNum: number): void {
    const handOut = this.#tasks.get(taskId)?.takeHandOut(cid, pieceNum)
    if (handOut === undefined) return
    this.#release([handOut])
    this.#events.notify(taskId, { cid, freedSlots: 1 })
  }

  /** Cancels every hand-out timer. Idempotent. */
  close (): void {
    for (const task of this.#tasks.values()) this.#release(task.releaseAll())
    this.#tasks.clear()
  }

  #expire (taskId: TaskId, cid: ClientId, pieceNum: number): void {
    const task = this.#tasks.get(taskId)
    const handOut = task?.takeHandOut(cid, pieceNum)
    if (handOut === undefined) return
    this.#timedOutHandOuts += 1
    this.#log.warn({ taskId, cid, pieceNum, peerId: sourceIdOf(handOut.source) }, 'hand-out not reported in time; released')
    this.#release([handOut])
    this.#events.notify(taskId, { cid, freedSlots: 1 })
  }

  /** Cancels the timers of released hand-outs and takes them off their peers' loads. */
  #release (handOuts: readonly HandOut[]): void {
    for (const handOut of handOuts) {
      handOut.timer.cancel()
      if (handOut.source.kind !== 'peer') continue
      const load = this.uploadsInFlightOf(handOut.source.peerId) - 1
      if (load > 0) this.#peerUploads.set(handOut.source.peerId, load)
      else this.#peerUploads.delete(handOut.source.peerId)
    }
  }

  /**
   * Whom a report can give work (TaskEvents): its own cid; for a new holding, the cids that
   * need the piece, up to the holder's free upload slots; for an evicted one, those that
   * need it, up to the supernode's free slots (it steps in for a piece no peer holds); for an
   * ended hand-out, one 'limited' cid per freed slot. A failure (blacklists, distrust) wakes
   * everyone: it is rare and can move many cids to another source.
   */
  #changeOfReport (task: TaskProgress, cid: ClientId, pieceNum: number, result: 'success' | 'failed' | 'cached' | 'evicted', handOut: HandOut | undefined): TaskChange | undefined {
    if (result === 'failed') return undefined
    const freedSlots = handOut === undefined ? 0 : 1
    if (result === 'evicted') return { cid, freedSlots, piece: { pieceNum, slots: this.#supernodeSlotsOf(task) } }
    const holder = task.getClient(cid)
    if (holder === undefined || !holder.held.has(pieceNum)) return { cid, freedSlots }
    const slots = Math.max(1, this.#maxUploadsPerPeer - this.uploadsInFlightOf(holder.peerId))
    return { cid, freedSlots, piece: { pieceNum, slots } }
  }

  /** Free upload slots of the supernode for `task` (at least 1: a woken waiter that cannot use it passes it on). */
  #supernodeSlotsOf (task: TaskProgressView): number {
    return Math.max(1, this.#supernodeMaxUploads - task.supernodeUploads)
  }

  #mustGet (taskId: TaskId): TaskProgress {
    const task = this.#tasks.get(taskId)
    if (task === undefined) throw new DfError('DF_ERR_INTERNAL_INVARIANT', `no progress for task ${taskId}`)
    return task
  }
}

/** The wire id of a source: a peer id, or "supernode". */
export function sourceIdOf (source: PieceSource | undefined): string | undefined {
  if (source === undefined) return undefined
  return source.kind === 'supernode' ? 'supernode' : source.peerId
}
