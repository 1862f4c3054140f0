/**
 * The v2 piece loop (docs/protocol.md, control protocol v2): the supernode gives this
 * download a few parents, the CDN's upload slots and the piece digests (ControlPort.sync);
 * the loop reads each parent's have feed (ParentPort) and chooses the pieces itself —
 * rarest first among what its parents hold, at most `maxInFlightPerParent` from one parent,
 * and from the CDN (within its slots) the pieces of its CDN share: the supernode leases
 * each piece the swarm does not have yet to one host, so each piece leaves the CDN about
 * once and the hosts trade the rest. A piece no parent holds and outside the share waits
 * for the parents, unless the parents could not help for `cdnFallbackMs` once the CDN holds
 * the file (a lessee that died, a parent graph that does not reach it), or for 300 ms in a
 * stream (its reader waits): then the CDN serves it. When the share is
 * used up and pieces no parent holds remain, the next sync says `cdnWanted` (the supernode
 * answers it when the share can grow). A supernode that sends no share (before shares, or
 * a stream) leaves the host to walk the CDN's pieces from a place of its own, as before.
 * Every verified piece is
 * announced to this host's peer server (`onPieceVerified`), which tells this host's own
 * children through its have feed; the supernode hears about it only in the next sync.
 *
 * Syncs: one long-poll is kept open (the supernode answers it with a batch of digests, new
 * parents when this host has none, or at the sync interval); failures of parents or of the
 * CDN are sent at once (the open sync is replaced); the final sync says complete. So the
 * supernode sees a number of requests per download that does not grow with the pieces.
 *
 * Ends as v1 does: complete; back-source with a reason (the task failed at the supernode:
 * downloadError; no verified piece for `stallTimeoutMs`: swarmStalled; no supernode took
 * the task over: supernodeLost); or sourceChanged (a typed outcome, not an error). Every
 * wait goes through the Clock (work timers, referenced).
 */
import type { Clock, TimerHandle } from '../../common/clock.js'
import type { Logger } from '../../common/log.js'
import { DfError, isCode } from '../../protocol/errors.js'
import { PieceBitset } from '../../protocol/piece-bitset.js'
import { formatPieceRange } from '../../protocol/piece-range.js'
import type { BackSourceReason } from '../../protocol/result-codes.js'
import { SUPERNODE_SOURCE_ID, type PieceTask } from '../../protocol/messages/pull-piece-task.js'
import type { Parent, SyncTaskRequest, SyncTaskResponse } from '../../protocol/messages/sync-task.js'
import { pieceFailureCode, type ControlPort, type ParentPort, type PieceFetchPort, type PieceLoopOutcome } from './piece-loop.js'
import type { TargetWriter } from './target-writer.js'
import type { TransferStats } from './transfer-stats.js'

export interface ParentDownloaderDeps {
  readonly logger: Logger
  readonly clock: Clock
  readonly control: ControlPort
  readonly parents: ParentPort
  readonly fetcher: PieceFetchPort
  readonly writer: Pick<TargetWriter, 'isComplete' | 'pieceCount' | 'isVerified' | 'rangeOf' | 'verifiedPieces'>
  /** Stream mode: the window's room, and the next piece the reader needs. Only pieces in [una, una + windowPieces) are chosen. */
  readonly window?: { freeSlots(): number, whenFreed(): Promise<void>, readonly una: number }
  readonly stats: TransferStats
  /** A float in [0, 1) (Math.random's contract); seeded in tests and the simulator. */
  readonly random?: () => number
  /** A piece was verified and written: this host can serve it now. */
  readonly onPieceVerified?: (pieceNum: number) => void
}

export interface ParentDownloaderOptions {
  readonly cid: string
  readonly pieceCount: number
  /** Stream mode: the window in pieces. */
  readonly windowPieces?: number | undefined
  /** Fetches in flight: this many, or 2 per parent with a bitmap when that is more, at most 16. Default 6. */
  readonly maxInFlightPieces?: number
  /**
   * Fetches in flight from one parent. Default: `maxInFlightPieces` over the parents with a
   * bitmap, at least 1 for a file (with many parents, one each: a parent's uplink split among
   * fewer transfers finishes each piece sooner, and its children pass it on sooner; the swarm
   * lab at N=8, v2: last host 14.82 s against 16.16 s with 2, medians of 3; 3 each was worse
   * still) and 2 for a stream (its window wants its next pieces at once). A host with one
   * parent keeps `maxInFlightPieces` from it (one at a time from a lone complete parent on
   * loopback: 2.1 s for 512 MiB against 0.6 s).
   */
  readonly maxInFlightPerParent?: number
  /** Back-source after this long without a verified piece. Default 20 s. */
  readonly stallTimeoutMs?: number
  /** Long-poll of a sync. Default 30 s. */
  readonly syncWaitMs?: number
  /** Long-poll of a have feed. Default 20 s. */
  readonly havesWaitMs?: number
  /** Consecutive failed syncs before moving to the next supernode. Default 3. */
  readonly maxSupernodeErrors?: number
  /** Without work this long, the CDN serves pieces outside this host's share. Default 2 s. */
  readonly cdnFallbackMs?: number
}

/** A parent as this download sees it. */
interface ParentState {
  parent: Parent
  /** What it holds, as of its last have answer (undefined before the first). */
  held: PieceBitset | undefined
  seq: number
  complete: boolean
  inFlight: number
  /** Its feed or a piece failed: not used again. */
  dropped: boolean
  feedErrors: number
  retryAtMs: number
  polling: boolean
  readonly addedAtMs: number
  readonly stop: AbortController
}

type SyncFailure = NonNullable<SyncTaskRequest['failures']>[number]
type SyncStep = { readonly ok: true, readonly response: SyncTaskResponse } | { readonly ok: false, readonly err: unknown }

/** A have feed that found no download this many times in a row is dropped (the first may be a parent still registering its file). */
const MAX_FEED_ERRORS = 3
/**
 * Why a parent's have feed or a long-poll sync was ended: one reason made once (an abort
 * without one builds a DOMException and its stack every time: in the fleet simulator that
 * was 4 % of the process, for errors nobody reads — both are checked by `aborted` only).
 */
const PARENT_STOPPED = new DfError('DF_ERR_INTERNAL', 'the parent is no longer asked')
const SYNC_MADE_WAY = new DfError('DF_ERR_INTERNAL', 'the long-poll made way for a sync')
/**
 * How long a new parent's first bitmap is waited for before the CDN serves the pieces it
 * might hold: a seed's pieces should come from the parents, not the seed, whenever they can.
 */
const FIRST_HAVES_GRACE_MS = 500
/** Most fetches in flight when the parents are many (2 per parent). */
const MAX_IN_FLIGHT_WITH_PARENTS = 16
/** A stream whose parents cannot help this long takes the pieces of its window from the CDN (its reader waits). */
const STREAM_FALLBACK_MS = 300

export class ParentDownloader {
  readonly #deps: ParentDownloaderDeps
  readonly #options: ParentDownloaderOptions
  readonly #random: () => number
  readonly #maxInFlight: number
  /** Fetches in flight from one parent, when the options fix it. */
  readonly #maxPerParent: number | undefined
  readonly #stallTimeoutMs: number
  readonly #pieceCount: number
  readonly #inflight = new Map<number, Promise<void>>()
  readonly #digests: (string | undefined)[]
  #digestsKnown = 0
  #digestsFrom = 0
  readonly #held: PieceBitset
  readonly #parents = new Map<string, ParentState>()
  #supernode: SyncTaskResponse['supernode'] | undefined
  #supernodeInFlight = 0
  /** This host's CDN share (undefined: the supernode sent none, every piece no parent holds may come from the CDN). */
  #cdnShare: PieceBitset | undefined
  /** An answer brought share pieces this host lacked, new to its share (a used-up share then asks for more, once). */
  #shareFresh = false
  /** The share is used up and pieces no parent holds remain. */
  #cdnWanted = false
  /** Since when the parents could not help (none serves this download or holds a piece it needs). */
  #parentsIdleSinceMs: number | undefined
  /** When the CDN serves pieces outside the share, the parents being idle so long. */
  #fallbackAtMs: number | undefined
  #cdnRetryAtMs = 0
  #cdnFailures = 0
  #grant: string | undefined
  #failures: SyncFailure[] = []
  readonly #received = { supernodePieces: 0, supernodeBytes: 0, peerPieces: 0, peerBytes: 0 }
  /** Where this host starts its walk over the pieces it takes from the CDN. */
  readonly #cdnOffset: number
  #sync: { readonly done: Promise<void>, readonly abort: AbortController, readonly urgent: boolean } | undefined
  #syncStep: SyncStep | undefined
  #lastProgressMs = 0
  #fatal: Error | undefined
  #woken = false
  /** The held count at which the supernode hears the bitmap next (a quarter, a half, three quarters). */
  #nextMilestone = 0
  #milestoneDue = false
  #wake: () => void = () => { this.#woken = true }

  constructor (deps: ParentDownloaderDeps, options: ParentDownloaderOptions) {
    this.#deps = deps
    this.#options = options
    this.#random = deps.random ?? Math.random
    this.#pieceCount = options.pieceCount
    this.#maxInFlight = options.maxInFlightPieces ?? 6
    this.#maxPerParent = options.maxInFlightPerParent
    this.#stallTimeoutMs = options.stallTimeoutMs ?? 20_000
    this.#digests = new Array<string | undefined>(options.pieceCount).fill(undefined)
    this.#held = new PieceBitset(options.pieceCount)
    this.#cdnOffset = Math.floor(this.#random() * options.pieceCount)
    this.#nextMilestone = Math.max(1, Math.ceil(options.pieceCount / 4))
  }

  /** Failed fetches so far, by source. */
  get failureCount (): number {
    return this.#cdnFailures + [...this.#parents.values()].filter((state) => state.dropped).length
  }

  /** Runs the loop until complete, back-source or source change. @throws DfError on fatal failures (write, abort) */
  async run (signal: AbortSignal): Promise<PieceLoopOutcome> {
    const controller = new AbortController()
    const runSignal = AbortSignal.any([signal, controller.signal])
    // A parent's have requests listen to its own stop only (one signal per parent, not one
    // combined signal per request: AbortSignal.any per have answer was 7 % of the fleet
    // simulator's CPU, and its garbage more); the run's end stops every parent.
    const stopParents = (): void => { for (const state of this.#parents.values()) state.stop.abort(PARENT_STOPPED) }
    runSignal.addEventListener('abort', stopParents, { once: true })
    for (const pieceNum of this.#deps.writer.verifiedPieces()) this.#held.add(pieceNum)
    try {
      return await this.#loop(runSignal)
    } finally {
      runSignal.removeEventListener('abort', stopParents)
      controller.abort()
      stopParents()
      this.#sync?.abort.abort(SYNC_MADE_WAY)
      await Promise.allSettled([...this.#inflight.values(), ...(this.#sync === undefined ? [] : [this.#sync.done])])
    }
  }

  async #loop (signal: AbortSignal): Promise<PieceLoopOutcome> {
    const { clock, writer } = this.#deps
    const maxSupernodeErrors = this.#options.maxSupernodeErrors ?? 3
    let supernodeErrors = 0
    let syncPauseUntilMs = 0
    this.#lastProgressMs = clock.now()
    for (;;) {
      if (this.#fatal !== undefined) throw this.#fatal
      signal.throwIfAborted()
      if (writer.isComplete && this.#inflight.size === 0) {
        await this.#finalSync(signal)
        return { kind: 'complete' }
      }
      const now = clock.now()
      const window = this.#deps.window
      if (window !== undefined && window.freeSlots() <= 0) this.#lastProgressMs = now
      const quietMs = now - this.#lastProgressMs
      if (quietMs >= this.#stallTimeoutMs) {
        return this.#backSource('swarmStalled', new DfError('DF_ERR_TASK_SWARM_FAILED', `no verified piece for ${Math.round(quietMs / 1000)} s`))
      }
      const step = this.#syncStep
      if (step !== undefined) {
        this.#syncStep = undefined
        if (step.ok) {
          supernodeErrors = 0
          this.#applySync(step.response)
        } else if (!signal.aborted) {
          const err = step.err
          if (isCode(err, 'DF_ERR_TASK_FAILED')) return this.#backSource('downloadError', err as DfError)
          // A supernode of before v2: the caller runs the v1 loop instead.
          if (isCode(err, 'DF_ERR_ARG_ROUTE_NOT_FOUND') && this.#digestsKnown === 0 && this.#inflight.size === 0) throw err
          const forgotten = isCode(err, 'DF_ERR_TASK_NOT_FOUND') || isCode(err, 'DF_ERR_TASK_CLIENT_NOT_FOUND')
          supernodeErrors += 1
          if (!forgotten) this.#deps.logger.warn({ err, supernodeErrors }, 'sync with the supernode failed')
          if (forgotten || supernodeErrors >= maxSupernodeErrors) {
            const moved = await this.#deps.control.moveToNextSupernode(writer.verifiedPieces(), !forgotten, signal)
            if (moved.kind === 'sourceChanged') return { kind: 'sourceChanged', cause: moved.cause }
            if (moved.kind === 'none') return this.#backSource('supernodeLost', moved.cause)
            this.#resetAfterMove()
            supernodeErrors = 0
          } else {
            syncPauseUntilMs = clock.now() + 200 * supernodeErrors
          }
        }
      }
      // Failures go at once, and the bitmap at its milestones: the open long-poll makes way for a sync that carries them.
      if ((this.#failures.length > 0 || this.#milestoneDue) && this.#sync !== undefined && !this.#sync.urgent) this.#sync.abort.abort(SYNC_MADE_WAY)
      if (this.#sync === undefined && clock.now() >= syncPauseUntilMs) this.#startSync(signal)
      this.#pollParents(signal)
      this.#schedule(signal)
      const wakeMs = Math.max(1, Math.min(this.#stallTimeoutMs - quietMs, this.#nextTimerMs(clock.now(), syncPauseUntilMs)))
      await this.#waitForEvent(wakeMs, window !== undefined && window.freeSlots() - this.#inflight.size <= 0 ? window.whenFreed() : undefined)
    }
  }

  /** Starts a sync: a long-poll, or (with failures to tell) one answered at once. */
  #startSync (signal: AbortSignal): void {
    const failures = this.#failures.splice(0)
    this.#milestoneDue = false
    const abort = new AbortController()
    const urgent = failures.length > 0
    const request: SyncTaskRequest = {
      cid: this.#options.cid,
      held: this.#held.toBase64(),
      digestsFrom: this.#digestsFrom,
      digestsKnown: this.#digestsKnown,
      // Another supernode took the task over: its first answer (parents, slots, share) is due at once, not at its next batch of digests.
      waitMs: urgent || (this.#supernode === undefined && this.#digestsKnown > 0) ? 0 : (this.#options.syncWaitMs ?? 30_000),
      received: { ...this.#received },
      // While the CDN fills, every long-poll asks for more: the supernode answers with a batch
      // of newly cached pieces when this host's share runs low (no extra sync per batch).
      ...(this.#cdnWanted || this.#supernode?.cachedAll === false ? { cdnWanted: true } : {}),
      ...(urgent ? { failures } : {}),
    }
    const done = this.#deps.control.sync(request, AbortSignal.any([signal, abort.signal])).then(
      (response) => { this.#syncStep = { ok: true, response } },
      (err: unknown) => {
        // A long-poll that made way for an urgent sync is no failure; its failures (none) are not lost.
        if (abort.signal.aborted && !signal.aborted) return
        if (urgent) this.#failures.unshift(...failures)
        this.#syncStep = { ok: false, err }
      },
    ).finally(() => {
      if (this.#sync?.abort === abort) this.#sync = undefined
      this.#wake()
    })
    this.#sync = { done, abort, urgent }
  }

  /** The last sync: complete. Its failure is logged, not the download's. */
  async #finalSync (signal: AbortSignal): Promise<void> {
    this.#sync?.abort.abort(SYNC_MADE_WAY)
    await this.#sync?.done
    try {
      await this.#deps.control.sync({
        cid: this.#options.cid,
        held: this.#held.toBase64(),
        digestsFrom: this.#pieceCount,
        digestsKnown: this.#digestsKnown,
        complete: true,
        received: { ...this.#received },
        ...(this.#failures.length > 0 ? { failures: this.#failures.splice(0) } : {}),
      }, signal)
    } catch (err) {
      if (signal.aborted) throw err
      this.#deps.logger.debug({ err }, 'the final sync failed')
    }
  }

  #applySync (response: SyncTaskResponse): void {
    this.#grant = response.grant
    this.#supernode = response.supernode
    const share = response.supernode.cdnPieces === undefined ? undefined : PieceBitset.fromBase64(response.supernode.cdnPieces, this.#pieceCount)
    const before = this.#cdnShare
    this.#cdnShare = share
    // Only a share that grew may ask for more when used up (an answer with the same share must not start a round of syncs).
    if (share !== undefined && share.toArray().some((pieceNum) => !this.#held.has(pieceNum) && before?.has(pieceNum) !== true)) this.#shareFresh = true
    for (const [index, digest] of response.digests.entries()) {
      const pieceNum = response.digestsFrom + index
      if (digest === '' || pieceNum >= this.#pieceCount || this.#digests[pieceNum] !== undefined) continue
      this.#digests[pieceNum] = digest
      this.#digestsKnown += 1
    }
    while (this.#digestsFrom < this.#pieceCount && this.#digests[this.#digestsFrom] !== undefined) this.#digestsFrom += 1
    const current = new Set<string>()
    for (const parent of response.parents) {
      current.add(parent.cid)
      const state = this.#parents.get(parent.cid)
      if (state !== undefined) { state.parent = parent; continue }
      this.#parents.set(parent.cid, { parent, held: undefined, seq: 0, complete: false, inFlight: 0, dropped: false, feedErrors: 0, retryAtMs: 0, polling: false, addedAtMs: this.#deps.clock.now(), stop: new AbortController() })
    }
    for (const [cid, state] of this.#parents) {
      if (current.has(cid)) continue
      state.stop.abort(PARENT_STOPPED)
      this.#parents.delete(cid)
    }
  }

  /** Another supernode took the task over: its parents, slots and grant come with its first sync. */
  #resetAfterMove (): void {
    for (const state of this.#parents.values()) state.stop.abort(PARENT_STOPPED)
    this.#parents.clear()
    this.#supernode = undefined
    this.#cdnShare = undefined
    this.#grant = undefined
    this.#failures = []
  }

  /** Keeps one have request open per parent that may still gain pieces. */
  #pollParents (signal: AbortSignal): void {
    const now = this.#deps.clock.now()
    for (const state of this.#parents.values()) {
      if (state.polling || state.dropped || state.complete || now < state.retryAtMs) continue
      state.polling = true
      const waitMs = this.#options.havesWaitMs ?? 20_000
      this.#deps.parents.fetchHaves(state.parent, state.seq, state.seq === 0 ? 0 : waitMs, this.#grant, state.stop.signal).then((answer) => {
        const held = PieceBitset.fromBase64(answer.held, this.#pieceCount)
        if (held === undefined) throw new DfError('DF_ERR_ARG_INVALID', `the parent's bitmap is not one of ${this.#pieceCount} pieces`)
        state.held = held
        state.seq = answer.seq
        state.complete = answer.complete
        state.feedErrors = 0
      }).catch((err: unknown) => {
        if (signal.aborted || state.stop.signal.aborted) return
        state.feedErrors += 1
        state.retryAtMs = this.#deps.clock.now() + 250 * state.feedErrors
        // Only a parent still registering its file is asked again; one that cannot be reached,
        // refuses the grant or times out is dropped at once (a dead parent held a lone host
        // back for the 2 s of the CDN's fallback).
        if (isCode(err, 'DF_ERR_UPLOAD_TASK_NOT_FOUND') && state.feedErrors < MAX_FEED_ERRORS) return
        this.#dropParent(state, undefined, err)
      }).finally(() => {
        state.polling = false
        this.#wake()
      })
    }
  }

  /** Starts fetches while slots are free: rarest first from parents, then the CDN. */
  #schedule (signal: AbortSignal): void {
    const window = this.#deps.window
    const live: ParentState[] = []
    for (const state of this.#parents.values()) if (!state.dropped && state.held !== undefined) live.push(state)
    // In a random order: a piece goes to the holder with the fewest of this host's fetches, and
    // ties went to the parent given first, the same for every child (in the swarm lab two
    // hosts uploaded 154 and 169 MiB, others 82-89 MiB, and the last host waited on them).
    for (let i = live.length - 1; i > 0; i--) {
      const j = Math.floor(this.#random() * (i + 1))
      const other = live[j]
      const here = live[i]
      if (other !== undefined && here !== undefined) { live[i] = other; live[j] = here }
    }
    // With many parents, fetches in flight grow with them: slots all taken by the one or two
    // parents holding the rarest pieces leave the others' uplinks idle (the swarm lab at N=8:
    // 2 of 8 hosts uploading at full rate, the rest idle, the last host at 2.4x the bound).
    let room = Math.max(this.#maxInFlight, Math.min(MAX_IN_FLIGHT_WITH_PARENTS, 2 * live.length)) - this.#inflight.size
    if (window !== undefined) room = Math.min(room, window.freeSlots() - this.#inflight.size)
    if (room <= 0) return
    // One fetch at a time from each parent when the parents are many (a file); more when they
    // are few, so that a host with one or two parents still keeps `maxInFlight` fetches going.
    const perParent = this.#maxPerParent ?? Math.max(window === undefined ? 1 : 2, Math.ceil(this.#maxInFlight / Math.max(1, live.length)))
    const low = window === undefined ? 0 : window.una
    const high = window === undefined ? this.#pieceCount : Math.min(this.#pieceCount, window.una + (this.#options.windowPieces ?? this.#pieceCount))
    // Buckets by rarity (how many parents hold the piece); bucket 0 is for the CDN.
    const buckets: number[][] = Array.from({ length: live.length + 1 }, () => [])
    const { writer } = this.#deps
    for (let pieceNum = low; pieceNum < high; pieceNum++) {
      if (this.#digests[pieceNum] === undefined || this.#inflight.has(pieceNum) || writer.isVerified(pieceNum)) continue
      let holders = 0
      for (const state of live) if (state.held?.has(pieceNum) === true) holders += 1
      buckets[holders]?.push(pieceNum)
    }
    // A stream takes its parents' pieces lowest first (the reader waits for una); a file rarest first.
    const order = window === undefined ? buckets.slice(1) : [buckets.slice(1).flat().sort((a, b) => a - b)]
    for (const bucket of order) {
      if (room <= 0) break
      const start = window === undefined ? Math.floor(this.#random() * bucket.length) : 0
      for (let i = 0; i < bucket.length && room > 0; i++) {
        const pieceNum = bucket[(start + i) % bucket.length] ?? 0
        let best: ParentState | undefined
        for (const state of live) {
          if (state.inFlight >= perParent || state.held?.has(pieceNum) !== true) continue
          if (best === undefined || state.inFlight < best.inFlight) best = state
        }
        if (best === undefined) continue
        this.#start(pieceNum, best, signal)
        room -= 1
      }
    }
    const now = this.#deps.clock.now()
    // The parents can help while one of them serves this download or holds a piece it needs.
    let fromParents = 0
    for (const state of live) fromParents += state.inFlight
    if (fromParents > 0 || buckets.slice(1).some((bucket) => bucket.length > 0)) this.#parentsIdleSinceMs = undefined
    else this.#parentsIdleSinceMs ??= now
    const supernode = this.#supernode
    if (supernode === undefined || now < this.#cdnRetryAtMs || this.#awaitsFirstHaves(now)) return
    let cdn = buckets[0] ?? []
    const share = this.#cdnShare
    if (share !== undefined) {
      const mine = cdn.filter((pieceNum) => share.has(pieceNum))
      // Starved: the parents could not help for a while — a file once the CDN holds it (before, a
      // slow CDN is why, and the digest batches bring more share); a stream, whose reader waits, soon.
      const fallbackMs = window !== undefined ? STREAM_FALLBACK_MS : supernode.cachedAll ? this.#options.cdnFallbackMs ?? 2_000 : Number.POSITIVE_INFINITY
      const idleSinceMs = this.#parentsIdleSinceMs
      // Every parent it was given failed it: none is left to wait for.
      const orphaned = this.#parents.size > 0 && [...this.#parents.values()].every((state) => state.dropped)
      const starved = (orphaned && (supernode.cachedAll || window !== undefined)) || (idleSinceMs !== undefined && now - idleSinceMs >= fallbackMs)
      this.#fallbackAtMs = idleSinceMs !== undefined && !starved && cdn.length > mine.length && Number.isFinite(fallbackMs) ? idleSinceMs + fallbackMs : undefined
      this.#cdnWanted = mine.length === 0 && cdn.length > 0
      if (this.#cdnWanted && this.#shareFresh && supernode.cachedAll) {
        // The share is used up: the bitmap goes now, with the wish for more.
        this.#shareFresh = false
        this.#milestoneDue = true
      }
      // A file takes its share first; a stream what its reader needs first (the window, lowest first).
      cdn = !starved ? mine : window === undefined && mine.length > 0 ? mine : cdn
    }
    // Each host walks the CDN's pieces from a place of its own (a file: anywhere in it; a
    // stream without a share: that far into its window), so hosts starting together take
    // different pieces from the seed and trade them, instead of all fetching the same ones.
    const from = window === undefined ? this.#cdnOffset : share !== undefined ? low : low + this.#cdnOffset % Math.max(1, high - low)
    let first = 0
    while (first < cdn.length && (cdn[first] ?? 0) < from) first += 1
    for (let i = 0; i < cdn.length && room > 0 && this.#supernodeInFlight < supernode.slots; i++) {
      const pieceNum = cdn[(first + i) % cdn.length] ?? 0
      this.#start(pieceNum, undefined, signal)
      room -= 1
    }
  }

  /** True while a new parent's first bitmap is due (within its grace). */
  #awaitsFirstHaves (now: number): boolean {
    for (const state of this.#parents.values()) if (!state.dropped && state.held === undefined && now - state.addedAtMs < FIRST_HAVES_GRACE_MS) return true
    return false
  }

  #start (pieceNum: number, parent: ParentState | undefined, signal: AbortSignal): void {
    const digest = this.#digests[pieceNum] ?? ''
    const piece: PieceTask = {
      pieceNum,
      pieceRange: formatPieceRange(this.#deps.writer.rangeOf(pieceNum)),
      digest,
      sourceKind: parent === undefined ? 'supernode' : 'peer',
      sourcePeerId: parent === undefined ? SUPERNODE_SOURCE_ID : parent.parent.peerId,
      url: parent === undefined ? this.#supernode?.url ?? '' : parent.parent.url,
      ...(this.#grant === undefined ? {} : { grant: this.#grant }),
    }
    if (parent === undefined) this.#supernodeInFlight += 1
    else parent.inFlight += 1
    const run = this.#fetch(piece, parent, signal).finally(() => {
      this.#inflight.delete(pieceNum)
      if (parent === undefined) this.#supernodeInFlight -= 1
      else parent.inFlight -= 1
      this.#wake()
    })
    this.#inflight.set(pieceNum, run)
  }

  async #fetch (piece: PieceTask, parent: ParentState | undefined, signal: AbortSignal): Promise<void> {
    try {
      const fetched = await this.#deps.fetcher.fetch(piece, signal)
      if (fetched.fromSupernode) {
        this.#deps.stats.addFromSupernode(fetched.bytes)
        this.#received.supernodePieces += 1
        this.#received.supernodeBytes += fetched.bytes
      } else {
        this.#deps.stats.addFromPeers(fetched.bytes)
        this.#received.peerPieces += 1
        this.#received.peerBytes += fetched.bytes
      }
      this.#lastProgressMs = this.#deps.clock.now()
      this.#held.add(piece.pieceNum)
      if (this.#held.count >= this.#nextMilestone && !this.#held.isFull) {
        this.#milestoneDue = true
        this.#nextMilestone += Math.max(1, Math.ceil(this.#pieceCount / 4))
      }
      this.#deps.onPieceVerified?.(piece.pieceNum)
    } catch (err) {
      const code = pieceFailureCode(err, signal, (fatal) => { this.#fatal ??= fatal })
      if (code === undefined) return
      if (parent === undefined) {
        this.#cdnFailures += 1
        this.#cdnRetryAtMs = this.#deps.clock.now() + 200 * Math.min(this.#cdnFailures, 10)
        this.#deps.logger.warn({ pieceNum: piece.pieceNum, sourcePeerId: SUPERNODE_SOURCE_ID, code, err }, 'piece fetch failed')
        this.#failures.push({ sourcePeerId: SUPERNODE_SOURCE_ID, pieceNum: piece.pieceNum, reason: code })
      } else if (code === 'DF_ERR_PIECE_NOT_AVAILABLE') {
        // A stream-mode parent whose window moved on: it no longer holds the piece, no fault of its own.
        parent.held?.delete(piece.pieceNum)
      } else {
        this.#deps.logger.warn({ pieceNum: piece.pieceNum, sourcePeerId: parent.parent.peerId, code, err }, 'piece fetch failed')
        this.#dropParent(parent, piece.pieceNum, err)
      }
    }
  }

  /** A parent failed this download: not used again, and the supernode hears it at once. */
  #dropParent (state: ParentState, pieceNum: number | undefined, err: unknown): void {
    if (state.dropped) return
    state.dropped = true
    state.stop.abort(PARENT_STOPPED)
    const reason = err instanceof DfError ? err.code : 'DF_ERR_INTERNAL'
    this.#failures.push({ sourcePeerId: state.parent.peerId, ...(pieceNum === undefined ? {} : { pieceNum }), reason })
  }

  /** How long until the next timer of the loop (a sync pause, a feed retry, the CDN's retry). */
  #nextTimerMs (now: number, syncPauseUntilMs: number): number {
    let next = 1_000
    if (this.#sync === undefined && syncPauseUntilMs > now) next = Math.min(next, syncPauseUntilMs - now)
    if (this.#cdnRetryAtMs > now) next = Math.min(next, this.#cdnRetryAtMs - now)
    if (this.#fallbackAtMs !== undefined) next = Math.min(next, Math.max(1, this.#fallbackAtMs - now))
    for (const state of this.#parents.values()) {
      if (!state.polling && !state.dropped && !state.complete && state.retryAtMs > now) next = Math.min(next, state.retryAtMs - now)
      if (!state.dropped && state.held === undefined) next = Math.min(next, Math.max(1, state.addedAtMs + FIRST_HAVES_GRACE_MS - now))
    }
    return next
  }

  /** Waits for a fetch, a sync, a have answer, room in the window, or `wakeMs` (a work timer). */
  async #waitForEvent (wakeMs: number, freed: Promise<void> | undefined): Promise<void> {
    if (this.#woken) { this.#woken = false; return }
    let timer: TimerHandle | undefined
    await new Promise<void>((resolve) => {
      this.#wake = resolve
      timer = this.#deps.clock.setTimeout(resolve, wakeMs, { ref: true })
      freed?.then(resolve, resolve)
    })
    timer?.cancel()
    this.#woken = false
    this.#wake = () => { this.#woken = true }
  }

  #backSource (reason: BackSourceReason, cause: DfError): PieceLoopOutcome {
    this.#deps.logger.warn({ reason, code: cause.code, message: cause.message }, 'the swarm cannot finish the download')
    return { kind: 'backSource', reason, cause }
  }
}
