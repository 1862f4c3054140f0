/**
 * Scheduler (the seed's SchedulerManager): answers a cid's pull for work and applies its
 * piece reports — the two halves of the piece loop (DESIGN.md §4 workflow 2).
 *
 * A pull evaluates the piece policy once; when nothing can be handed out it long-polls:
 * it waits for a change in the task that it can use (TaskEvents, told which pieces the cid
 * needs and whether it was limited: a piece it lacks cached or reported, an upload slot
 * freed, its own progress, a peer leaving, the task failing), re-evaluates, and at `waitMs`
 * answers 'wait' or 'limited'. A wake-up it cannot use goes on to the next waiter. Normal
 * flow is never an error; only an unknown task or cid, or a failed task, is. Every
 * hand-out is recorded in ProgressManager (which releases it after the piece timeout);
 * every report updates progress, the cid's byte counts, the serving peer's upload count
 * and the metrics. Every piece handed out carries the cid's piece grant for the task
 * (access/piece-grants.ts), which its source checks.
 */
import { performance } from 'node:perf_hooks'
import type { Clock } from '../../common/clock.js'
import { formatBaseUrl } from '../../common/http/server.js'
import type { Logger } from '../../common/log.js'
import { invalidArgument } from '../../protocol/errors.js'
import { parsePeerId, type ClientId, type PeerId, type TaskId } from '../../protocol/ids.js'
import type { PieceTask, PullPieceTasksResponse } from '../../protocol/messages/pull-piece-task.js'
import type { ReportPieceRequest } from '../../protocol/messages/report-piece.js'
import { fillPath, PEER_PATHS } from '../../protocol/paths.js'
import { formatPieceRange, parsePieceRange, pieceNumOfRange, rangeLength, rangeOfPiece } from '../../protocol/piece-range.js'
import type { DfgetTaskManager } from '../dfget-task/dfget-task-manager.js'
import type { PieceSourceLabel, SupernodeMetrics } from '../metrics.js'
import type { PieceGrants } from '../access/piece-grants.js'
import type { PeerManager } from '../peer/peer-manager.js'
import type { ProgressManager } from '../progress/progress-manager.js'
import { waitInterestOf, type TaskEvents, type WaitInterest } from '../progress/task-events.js'
import type { ClientProgressView, PieceSource, TaskProgressView } from '../progress/task-progress.js'
import { SUPERNODE_SOURCE_ID } from '../../protocol/messages/pull-piece-task.js'
import type { TaskManager, TaskView } from '../task/task-manager.js'
import { choosePieces } from './piece-policy.js'
import { mustGetClient, mustGetSchedulableTask } from './task-lookup.js'
import type { Random } from './random.js'

export interface SchedulerOptions {
  /** Most uploads in flight from one peer, across tasks. */
  readonly maxUploadsPerPeer: number
  /** Most uploads in flight from the supernode, per task. */
  readonly supernodeMaxUploads: number
  /** Pieces per pull when the client does not say. */
  readonly defaultMaxPieces: number
  /** Failures of the supernode after which a cid is not sent to it again. */
  readonly supernodeFailureLimit: number
  /** Scheme of peers' piece URLs: https when the fleet's data ports serve TLS. Default http. */
  readonly peerDataProtocol?: 'http' | 'https'
}

export interface SchedulerDeps {
  readonly logger: Logger
  readonly clock: Clock
  readonly random: Random
  readonly tasks: Pick<TaskManager, 'getTask' | 'touch'>
  readonly progress: Pick<ProgressManager, 'getTask' | 'recordHandOut' | 'applyReport' | 'uploadsInFlightOf' | 'releaseHandOut'>
  readonly peers: Pick<PeerManager, 'isServing' | 'getPeer' | 'addUploadedBytes'>
  readonly dfgetTasks: Pick<DfgetTaskManager, 'addBytes' | 'finish'>
  readonly events: Pick<TaskEvents, 'waitFor' | 'decline'>
  readonly metrics: Pick<SupernodeMetrics, 'scheduleDurationMs' | 'pieceReports' | 'pieceReportBytes' | 'pullOutcomes'>
  /** The task file's URL on the supernode's download port. */
  readonly dataUrlOf: (taskId: TaskId) => string
  readonly grants: Pick<PieceGrants, 'issue'>
}

/** How long a client should wait before pulling again after 'wait' / 'limited'. */
const WAIT_RETRY_AFTER_MS = 100
const LIMITED_RETRY_AFTER_MS = 50

export class Scheduler {
  readonly #deps: SchedulerDeps
  readonly #options: SchedulerOptions

  constructor (deps: SchedulerDeps, options: SchedulerOptions) {
    this.#deps = deps
    this.#options = options
  }

  /**
   * Pulls work for `cid`: pieces, finished, or — after long-polling up to `waitMs` — wait
   * or limited. @throws DF_ERR_TASK_NOT_FOUND, DF_ERR_TASK_CLIENT_NOT_FOUND, DF_ERR_TASK_FAILED
   */
  async pull (taskId: TaskId, cid: ClientId, query: { max?: number | undefined, waitMs?: number | undefined }, signal?: AbortSignal): Promise<PullPieceTasksResponse> {
    const maxPieces = query.max ?? this.#options.defaultMaxPieces
    const deadlineMs = this.#deps.clock.now() + (query.waitMs ?? 0)
    let interest: WaitInterest | undefined
    for (;;) {
      const outcome = this.#evaluate(taskId, cid, maxPieces)
      if (interest !== undefined && outcome.result !== 'pieces') this.#deps.events.decline(taskId, interest)
      const remainingMs = deadlineMs - this.#deps.clock.now()
      if (outcome.result === 'pieces' || outcome.result === 'finished' || remainingMs <= 0 || signal?.aborted === true) {
        this.#deps.metrics.pullOutcomes.inc({ result: outcome.result })
        return outcome
      }
      interest = waitInterestOf(this.#mustGetClient(this.#mustGetTask(taskId).progress, taskId, cid), outcome.result === 'limited')
      const reason = await this.#deps.events.waitFor(taskId, remainingMs, signal, interest)
      if (reason === 'closed' || reason === 'aborted') {
        this.#deps.metrics.pullOutcomes.inc({ result: outcome.result })
        return outcome
      }
    }
  }

  /** Takes back pieces handed out in an answer that never reached its client. */
  cancelHandOuts (taskId: TaskId, cid: ClientId, pieceNums: readonly number[]): void {
    for (const pieceNum of pieceNums) this.#deps.progress.releaseHandOut(taskId, cid, pieceNum)
  }

  /**
   * Applies a piece report. @throws DF_ERR_TASK_NOT_FOUND, DF_ERR_TASK_CLIENT_NOT_FOUND,
   * DF_ERR_ARG_INVALID (pieceRange is not exactly one piece of the task)
   */
  report (taskId: TaskId, pieceRangeText: string, cid: ClientId, report: ReportPieceRequest): void {
    const { task, progress } = this.#mustGetTask(taskId)
    this.#mustGetClient(progress, taskId, cid)
    const geometry = task.geometry
    const range = parsePieceRange(pieceRangeText, 'pieceRange')
    const pieceNum = geometry === undefined ? undefined : pieceNumOfRange(range, geometry.pieceSizeBytes, geometry.fileLengthBytes)
    if (pieceNum === undefined) throw invalidArgument('pieceRange', 'is not exactly one piece of the task')
    const applied = this.#deps.progress.applyReport(taskId, cid, pieceNum, report.result, report.sourcePeerId, this.#options.supernodeFailureLimit, report.reason)
    const label = sourceLabelOf(applied.handOut?.source, report.sourcePeerId)
    const { metrics, dfgetTasks, peers } = this.#deps
    metrics.pieceReports.inc({ source: label, result: report.result })
    if (report.result === 'success') {
      const bytes = rangeLength(range)
      metrics.pieceReportBytes.inc({ source: label }, bytes)
      dfgetTasks.addBytes(taskId, cid, label, bytes)
      const servingPeer = servingPeerOf(applied.handOut?.source, report.sourcePeerId)
      if (label === 'peer' && servingPeer !== undefined) peers.addUploadedBytes(servingPeer, bytes)
      if (progress.getClient(cid)?.done.isFull === true) dfgetTasks.finish(taskId, cid)
    } else if (report.result === 'failed') {
      this.#deps.logger.debug({ taskId, cid, pieceNum, peerId: report.sourcePeerId, reason: report.reason }, 'piece failed at its source')
    }
    this.#deps.tasks.touch(taskId)
  }

  /** One synchronous evaluation: finished, pieces (recorded as hand-outs), wait or limited. */
  #evaluate (taskId: TaskId, cid: ClientId, maxPieces: number): PullPieceTasksResponse {
    const { task, progress } = this.#mustGetTask(taskId)
    const client = this.#mustGetClient(progress, taskId, cid)
    this.#deps.tasks.touch(taskId)
    if (client.done.isFull) return { result: 'finished' }
    const geometry = task.geometry
    if (geometry === undefined) return { result: 'wait', retryAfterMs: WAIT_RETRY_AFTER_MS, reason: 'the task file length is not known yet' }
    const startedMs = performance.now()
    const decision = choosePieces({
      progress,
      client,
      maxPieces,
      maxUploadsPerPeer: this.#options.maxUploadsPerPeer,
      supernodeMaxUploads: this.#options.supernodeMaxUploads,
      // Streams read the same few pieces at the same time: a piece on its way to another
      // streamer is fetched from it a moment later rather than sent twice by the supernode.
      allowSupernodeDuplicates: task.state === 'success' && client.windowPieces === undefined,
      // A peer whose peer server is still starting holds pieces but cannot serve them yet.
      isPeerLive: (peerId) => this.#deps.peers.isServing(peerId),
      uploadsInFlightOf: (peerId) => this.#deps.progress.uploadsInFlightOf(peerId),
      random: this.#deps.random,
    })
    const pieces: PieceTask[] = []
    let grant: string | undefined
    for (const choice of decision.choices) {
      const digest = progress.digestOf(choice.pieceNum)
      const url = this.#urlOf(taskId, choice.source)
      if (digest === undefined || url === undefined) continue
      this.#deps.progress.recordHandOut(taskId, cid, choice.pieceNum, choice.source)
      grant ??= this.#deps.grants.issue(taskId, client.peerId, cid)
      pieces.push({
        pieceNum: choice.pieceNum,
        pieceRange: formatPieceRange(rangeOfPiece(choice.pieceNum, geometry.pieceSizeBytes, geometry.fileLengthBytes)),
        digest,
        sourceKind: choice.source.kind,
        sourcePeerId: choice.source.kind === 'supernode' ? SUPERNODE_SOURCE_ID : choice.source.peerId,
        url,
        grant,
      })
    }
    this.#deps.metrics.scheduleDurationMs.observe(performance.now() - startedMs)
    if (pieces.length > 0) return { result: 'pieces', pieces }
    if (decision.blocked === 'limited') return { result: 'limited', retryAfterMs: LIMITED_RETRY_AFTER_MS, reason: 'every source of the pieces you need is at its upload limit' }
    return { result: 'wait', retryAfterMs: WAIT_RETRY_AFTER_MS, reason: 'no piece you need is available yet' }
  }

  #urlOf (taskId: TaskId, source: PieceSource): string | undefined {
    if (source.kind === 'supernode') return this.#deps.dataUrlOf(taskId)
    const peer = this.#deps.peers.getPeer(source.peerId)
    if (peer === undefined) return undefined
    return `${formatBaseUrl(peer.ip, peer.port, this.#options.peerDataProtocol ?? 'http')}${fillPath(PEER_PATHS.taskData, { taskId })}?cid=${encodeURIComponent(source.cid)}`
  }

  #mustGetTask (taskId: TaskId): { task: TaskView, progress: TaskProgressView } {
    return mustGetSchedulableTask(this.#deps.tasks, this.#deps.progress, taskId)
  }

  #mustGetClient (progress: TaskProgressView, taskId: TaskId, cid: ClientId): ClientProgressView {
    return mustGetClient(progress, taskId, cid)
  }
}

/** The metric label of where a reported piece came from: the hand-out's source, else what the client said. */
function sourceLabelOf (source: PieceSource | undefined, sourcePeerId: string | undefined): PieceSourceLabel {
  if (source !== undefined) return source.kind
  if (sourcePeerId === SUPERNODE_SOURCE_ID) return 'supernode'
  if (sourcePeerId === 'source') return 'source'
  return 'peer'
}

function servingPeerOf (source: PieceSource | undefined, sourcePeerId: string | undefined): PeerId | undefined {
  if (source?.kind === 'peer') return source.peerId
  if (sourcePeerId === undefined || sourcePeerId === SUPERNODE_SOURCE_ID) return undefined
  try { return parsePeerId(sourcePeerId) } catch { return undefined }
}
