/**
 * The piece loop (DESIGN.md §4.2): pull work from the supernode (a long-poll, with `max` =
 * free fetch slots), fetch the pieces in parallel from peers or the supernode, verify, write,
 * and report each result — success only after the write, so the piece is served by this
 * host's peer server the moment others are sent to it; failure naming the source, which
 * this client then never uses again. A piece that failed is pulled again later.
 *
 * The loop ends `complete` when every piece is verified, or asks for back-source with a
 * numbered reason: the task failed at the supernode, or the supernode said finished with
 * pieces missing (downloadError); no verified piece for `stallTimeoutMs` (swarmStalled); the
 * supernode stopped answering and no other one took the task over (supernodeLost). When a
 * supernode stops answering the loop first registers with the next one (SupernodeControl),
 * telling it which pieces are already held, and goes on; a new supernode with another
 * version of the source ends the loop `sourceChanged`.
 *
 * This is control protocol v1 (a pull per few pieces, a report per piece); new clients use
 * v2 (ParentDownloader) and this loop serves supernodes without it and pattern cdn.
 */
import type { Logger } from '../../common/log.js'
import type { Clock } from '../../common/clock.js'
import { DfError, isCode } from '../../protocol/errors.js'
import type { BackSourceReason } from '../../protocol/result-codes.js'
import { SUPERNODE_SOURCE_ID, type PieceTask, type PullPieceTasksResponse } from '../../protocol/messages/pull-piece-task.js'
import { MAX_REPORTS_PER_BATCH, type ReportPieceRequest } from '../../protocol/messages/report-piece.js'
import { formatPieceRange } from '../../protocol/piece-range.js'
import type { SupernodeRegistration } from '../supernode-locator.js'
import { pieceFailureCode, type PieceLoopOutcome, type PieceFetchPort } from './piece-loop.js'
import type { SupernodeControl } from './supernode-control.js'
import type { TargetWriter } from './target-writer.js'
import type { TransferStats } from './transfer-stats.js'

export interface P2pDownloaderDeps {
  readonly logger: Logger
  readonly clock: Clock
  /** The supernode in charge, and the move to another one. */
  readonly control: Pick<SupernodeControl, 'registration' | 'moveToNextSupernode'>
  readonly writer: Pick<TargetWriter, 'isComplete' | 'pieceCount' | 'verifiedCount' | 'isVerified' | 'rangeOf' | 'verifiedPieces' | 'geometry'>
  /**
   * Stream mode: the window's room. The loop holds no more pieces (in flight, queued) than
   * `freeSlots()`, and a full window is the reader's pause, not a stalled swarm.
   */
  readonly window?: { freeSlots(): number, whenFreed(): Promise<void> }
  readonly fetcher: PieceFetchPort
  readonly stats: TransferStats
}

export interface P2pDownloaderOptions {
  readonly cid: string
  /** Fetches in flight. Default 6. */
  readonly maxInFlightPieces?: number
  /** Long-poll of a pull. Default 5000. */
  readonly pullWaitMs?: number
  /** Back-source after this long without a verified piece. Default 20 s. */
  readonly stallTimeoutMs?: number
  /** Consecutive failed pulls before moving to the next supernode. Default 3. */
  readonly maxSupernodeErrors?: number
}

interface QueuedReport {
  readonly registration: SupernodeRegistration
  readonly pieceNum: number
  readonly pieceRange: string
  readonly report: Omit<ReportPieceRequest, 'cid'>
}

type PullStep = { readonly ok: true, readonly response: PullPieceTasksResponse, readonly tookMs: number } | { readonly ok: false, readonly err: unknown }


export class P2pDownloader {
  readonly #deps: P2pDownloaderDeps
  readonly #options: P2pDownloaderOptions
  readonly #maxInFlight: number
  readonly #stallTimeoutMs: number
  readonly #inflight = new Map<number, Promise<void>>()
  /** Pieces handed out to us and not yet started: pulled ahead so a free slot never waits for a pull. */
  readonly #queue: PieceTask[] = []
  readonly #pendingReports = new Set<Promise<void>>()
  /** Reports waiting for the one in flight to finish: sent together next (reportPieces). */
  #queuedReports: QueuedReport[] = []
  #reportInFlight = false
  /** Supernodes without the batch route (an older version): their reports go one by one. */
  readonly #noBatchReports = new Set<string>()
  readonly #badSources = new Set<string>()
  readonly #failuresBySource = new Map<string, number>()
  /** Which registration handed each piece out: a hand-out of a supernode we left is not reported to the next one. */
  readonly #registrationOf = new WeakMap<PieceTask, SupernodeRegistration>()
  /** Aborts the fetches handed out by the current supernode when we move to another. */
  #registrationFetches = new AbortController()
  #lastProgressMs = 0
  #fatal: Error | undefined

  constructor (deps: P2pDownloaderDeps, options: P2pDownloaderOptions) {
    this.#deps = deps
    this.#options = options
    this.#maxInFlight = options.maxInFlightPieces ?? 6
    this.#stallTimeoutMs = options.stallTimeoutMs ?? 20_000
  }

  /** The supernode currently in charge. */
  get #registration (): SupernodeRegistration {
    return this.#deps.control.registration
  }

  /** Failed fetches per source (peer id or "supernode"). */
  failuresBySource (): ReadonlyMap<string, number> {
    return new Map(this.#failuresBySource)
  }

  /** Runs the loop until complete or back-source. @throws DfError on fatal failures (write, abort) */
  async run (signal: AbortSignal): Promise<PieceLoopOutcome> {
    const controller = new AbortController()
    const runSignal = AbortSignal.any([signal, controller.signal])
    try {
      return await this.#loop(runSignal)
    } finally {
      controller.abort()
      await Promise.allSettled([...this.#inflight.values()])
      while (this.#pendingReports.size > 0) await Promise.allSettled([...this.#pendingReports])
    }
  }

  async #loop (signal: AbortSignal): Promise<PieceLoopOutcome> {
    const { clock, writer } = this.#deps
    const pullWaitMs = this.#options.pullWaitMs ?? 5_000
    const maxSupernodeErrors = this.#options.maxSupernodeErrors ?? 3
    let pull: Promise<void> | undefined
    let step: PullStep | undefined
    let supernodeErrors = 0
    let pauseUntilMs = 0
    let finishedSeen = false
    this.#lastProgressMs = clock.now()
    for (;;) {
      if (this.#fatal !== undefined) throw this.#fatal
      signal.throwIfAborted()
      if (writer.isComplete && this.#inflight.size === 0) return { kind: 'complete' }
      if (finishedSeen && this.#inflight.size === 0 && this.#queue.length === 0) {
        return this.#backSource('downloadError', new DfError('DF_ERR_TASK_SWARM_FAILED', `the supernode says finished but ${writer.pieceCount - writer.verifiedCount} pieces are missing`))
      }
      const now = clock.now()
      const room = this.#deps.window === undefined ? Number.POSITIVE_INFINITY : this.#deps.window.freeSlots() - this.#inflight.size - this.#queue.length
      // A window full of verified pieces waits for the reader; that is not a stalled swarm.
      if (this.#deps.window !== undefined && this.#deps.window.freeSlots() <= 0) this.#lastProgressMs = now
      const quietMs = now - this.#lastProgressMs
      if (quietMs >= this.#stallTimeoutMs) {
        return this.#backSource('swarmStalled', new DfError('DF_ERR_TASK_SWARM_FAILED', `no verified piece for ${Math.round(quietMs / 1000)} s`))
      }
      this.#startQueued(signal)
      const wanted = Math.min(2 * this.#maxInFlight - this.#inflight.size - this.#queue.length, room)
      if (pull === undefined && !finishedSeen && !writer.isComplete && wanted > 0 && now >= pauseUntilMs) {
        pull = this.#pull(wanted, pullWaitMs, signal).then((result) => { step = result })
      }
      const wakeMs = Math.max(1, Math.min(this.#stallTimeoutMs - quietMs, pauseUntilMs > now ? pauseUntilMs - now : 1_000))
      const freed = room <= 0 && this.#deps.window !== undefined ? [this.#deps.window.whenFreed()] : []
      await this.#race([...this.#inflight.values(), ...(pull === undefined ? [] : [pull]), ...freed], wakeMs)
      if (step === undefined) continue
      const current = step
      step = undefined
      pull = undefined
      if (current.ok) {
        supernodeErrors = 0
        const response = current.response
        switch (response.result) {
          case 'pieces':
            for (const piece of response.pieces) this.#dispatch(piece)
            this.#startQueued(signal)
            break
          case 'wait':
            // The long-poll already waited; a server that answered at once gets a short pause.
            if (current.tookMs < 100) pauseUntilMs = clock.now() + Math.min(Math.max(response.retryAfterMs, 20), 500)
            break
          case 'limited':
            pauseUntilMs = clock.now() + Math.min(Math.max(response.retryAfterMs, 20), 2_000)
            break
          case 'finished':
            finishedSeen = true
            break
        }
        continue
      }
      const err = current.err
      if (signal.aborted) throw abortError(signal)
      if (isCode(err, 'DF_ERR_TASK_FAILED')) return this.#backSource('downloadError', err)
      if (isCode(err, 'DF_ERR_TASK_NOT_FOUND') || isCode(err, 'DF_ERR_TASK_CLIENT_NOT_FOUND')) {
        // The supernode forgot us (restarted): register again, with the pieces held.
        const moved = await this.#move(false, signal)
        if (moved !== undefined) return moved
        continue
      }
      supernodeErrors += 1
      this.#deps.logger.warn({ err, supernodeErrors }, 'pulling piece tasks failed')
      if (supernodeErrors >= maxSupernodeErrors) {
        const moved = await this.#move(true, signal)
        if (moved !== undefined) return moved
        supernodeErrors = 0
        continue
      }
      pauseUntilMs = clock.now() + 200 * supernodeErrors
    }
  }

  async #pull (max: number, waitMs: number, signal: AbortSignal): Promise<PullStep> {
    const startedMs = this.#deps.clock.now()
    const { client, task } = this.#registration
    try {
      const response = await client.pullPieceTasks(task.taskId, { cid: this.#options.cid, max, waitMs }, signal)
      return { ok: true, response, tookMs: this.#deps.clock.now() - startedMs }
    } catch (err) {
      return { ok: false, err }
    }
  }

  /** Sorts a handed-out piece: re-report a held one, refuse a bad source, else queue it. */
  #dispatch (piece: PieceTask): void {
    const { writer } = this.#deps
    if (piece.pieceNum >= writer.pieceCount || this.#inflight.has(piece.pieceNum) || this.#queue.some((queued) => queued.pieceNum === piece.pieceNum)) return
    if (writer.isVerified(piece.pieceNum)) {
      // Held already (its report was lost, or a new supernode): tell the supernode again.
      this.#report(piece, { result: 'success', sourcePeerId: piece.sourcePeerId, costMs: 0 })
      return
    }
    this.#registrationOf.set(piece, this.#registration)
    if (this.#badSources.has(piece.sourcePeerId)) {
      this.#report(piece, { result: 'failed', sourcePeerId: piece.sourcePeerId, reason: 'DF_ERR_PEER_NOT_FOUND' })
      return
    }
    this.#queue.push(piece)
  }

  /** Starts queued pieces while fetch slots are free. */
  #startQueued (signal: AbortSignal): void {
    while (this.#inflight.size < this.#maxInFlight) {
      const piece = this.#queue.shift()
      if (piece === undefined) return
      if (this.#deps.writer.isVerified(piece.pieceNum) || this.#inflight.has(piece.pieceNum)) continue
      const run = this.#fetchPiece(piece, AbortSignal.any([signal, this.#registrationFetches.signal])).finally(() => { this.#inflight.delete(piece.pieceNum) })
      this.#inflight.set(piece.pieceNum, run)
    }
  }

  async #fetchPiece (piece: PieceTask, signal: AbortSignal): Promise<void> {
    try {
      const fetched = await this.#deps.fetcher.fetch(piece, signal)
      if (fetched.fromSupernode) this.#deps.stats.addFromSupernode(fetched.bytes)
      else this.#deps.stats.addFromPeers(fetched.bytes)
      this.#lastProgressMs = this.#deps.clock.now()
      this.#report(piece, { result: 'success', sourcePeerId: fetched.fromSupernode ? SUPERNODE_SOURCE_ID : piece.sourcePeerId, costMs: fetched.costMs })
    } catch (err) {
      const code = pieceFailureCode(err, signal, (fatal) => { this.#fatal ??= fatal })
      if (code === undefined) return
      const source = piece.sourcePeerId
      if (this.#registrationOf.get(piece) !== this.#registration) {
        // Handed out by a supernode we left (it died with the fetch in flight): the new one
        // never sent us there, so the failure is neither its business nor the source's fault.
        this.#deps.logger.debug({ pieceNum: piece.pieceNum, code }, 'piece of the previous supernode failed')
        return
      }
      this.#failuresBySource.set(source, (this.#failuresBySource.get(source) ?? 0) + 1)
      // A peer that failed this client is not used again (the supernode blacklists it on the
      // report); the supernode itself stays usable, the report still tells it.
      // A stream-mode peer whose window moved on is not a bad source (DF_ERR_PIECE_NOT_AVAILABLE).
      if (source !== SUPERNODE_SOURCE_ID && code !== 'DF_ERR_PIECE_NOT_AVAILABLE') this.#badSources.add(source)
      this.#deps.logger.warn({ pieceNum: piece.pieceNum, sourcePeerId: source, code, err }, 'piece fetch failed')
      this.#report(piece, { result: 'failed', sourcePeerId: source, reason: code })
    }
  }

  /**
   * Sends a report without holding a fetch slot; `run` waits for every report at the end.
   * One report goes out at once; those made while it is in flight go together next, so a
   * client verifying many pieces a second sends a few requests, not one per piece.
   */
  #report (piece: PieceTask, report: Omit<ReportPieceRequest, 'cid'>): void {
    const range = this.#deps.writer.rangeOf(piece.pieceNum)
    // To the supernode that handed the piece out: a fetch of one we left can still end well
    // (the move's abort does not stop a piece being written), and the new one never sent us there.
    const registration = this.#registrationOf.get(piece) ?? this.#registration
    this.#queuedReports.push({ registration, pieceNum: piece.pieceNum, pieceRange: formatPieceRange(range), report })
    this.#flushReports()
  }

  #flushReports (): void {
    if (this.#reportInFlight || this.#queuedReports.length === 0) return
    // One request per supernode: the reports of a supernode we left go to it, not to the next.
    const registration = this.#queuedReports[0]?.registration ?? this.#registration
    const batch = this.#queuedReports.filter((queued) => queued.registration === registration).slice(0, MAX_REPORTS_PER_BATCH)
    const sent = new Set(batch)
    this.#queuedReports = this.#queuedReports.filter((queued) => !sent.has(queued))
    this.#reportInFlight = true
    const sending = this.#sendReports(registration, batch)
      .finally(() => {
        this.#pendingReports.delete(sending)
        this.#reportInFlight = false
        this.#flushReports()
      })
    this.#pendingReports.add(sending)
  }

  async #sendReports (registration: SupernodeRegistration, batch: readonly QueuedReport[]): Promise<void> {
    const { client, task } = registration
    const cid = this.#options.cid
    const baseUrl = registration.address.baseUrl
    if (batch.length > 1 && !this.#noBatchReports.has(baseUrl)) {
      try {
        await client.reportPieces(task.taskId, { cid, reports: batch.map((queued) => ({ pieceRange: queued.pieceRange, ...queued.report })) })
        return
      } catch (err) {
        if (!isCode(err, 'DF_ERR_ARG_ROUTE_NOT_FOUND')) {
          this.#deps.logger.warn({ reports: batch.length, err }, 'piece reports failed')
          return
        }
        this.#noBatchReports.add(baseUrl)
      }
    }
    for (const queued of batch) {
      await client.reportPiece(task.taskId, this.#deps.writer.rangeOf(queued.pieceNum), { cid, ...queued.report }).catch((err: unknown) => {
        this.#deps.logger.warn({ pieceNum: queued.pieceNum, result: queued.report.result, err }, 'piece report failed')
      })
    }
  }

  /** Moves to another supernode (SupernodeControl); the loop's end when none took the task or the source changed. */
  async #move (skipCurrent: boolean, signal: AbortSignal): Promise<PieceLoopOutcome | undefined> {
    const moved = await this.#deps.control.moveToNextSupernode(this.#deps.writer.verifiedPieces(), skipCurrent, signal)
    if (moved.kind === 'sourceChanged') return { kind: 'sourceChanged', cause: moved.cause }
    if (moved.kind === 'none') return this.#backSource('supernodeLost', moved.cause)
    // Pieces queued from the old supernode point at its data server: ask the new one.
    this.#queue.length = 0
    // Its fetches in flight would hold their piece numbers while the new supernode hands
    // the same pieces out again (and would count them as running until they time out).
    this.#registrationFetches.abort()
    this.#registrationFetches = new AbortController()
    return undefined
  }

  #backSource (reason: BackSourceReason, cause: DfError): PieceLoopOutcome {
    this.#deps.logger.warn({ reason, code: cause.code, message: cause.message }, 'the swarm cannot finish the download')
    return { kind: 'backSource', reason, cause }
  }

  async #race (promises: readonly Promise<unknown>[], wakeMs: number): Promise<void> {
    let timer: { cancel(): void } | undefined
    const wake = new Promise<void>((resolve) => { timer = this.#deps.clock.setTimeout(resolve, wakeMs) })
    try {
      await Promise.race([...promises, wake])
    } finally {
      timer?.cancel()
    }
  }
}

function abortError (signal: AbortSignal): Error {
  const reason: unknown = signal.reason
  return reason instanceof Error ? reason : new DfError('DF_ERR_INTERNAL', 'aborted')
}
