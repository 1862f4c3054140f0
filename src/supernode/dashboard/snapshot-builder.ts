/**
 * Builds the dashboard's snapshots (src/protocol/messages/dashboard.ts) by reading the
 * managers through narrow read-only views: it never changes their state and holds none of
 * it, apart from the rate samples it takes itself. An overview (every task, the totals)
 * costs O(tasks × cids); a task's detail adds O(cids × pieces / 8) for its piece maps. Neither
 * depends on how many piece reports there were.
 */
import type { Clock } from '../../common/clock.js'
import { parseTaskId, type ClientId, type TaskId } from '../../protocol/ids.js'
import type { DashboardBytes, DashboardClient, DashboardTask, DashboardTaskDetail } from '../../protocol/messages/dashboard.js'
import type { DfgetTaskManager, DfgetTaskView } from '../dfget-task/dfget-task-manager.js'
import type { PeerManager } from '../peer/peer-manager.js'
import type { ProgressManager } from '../progress/progress-manager.js'
import type { TaskProgressView } from '../progress/task-progress.js'
import type { TaskManager } from '../task/task-manager.js'
import { encodePieceBytes, encodePieceList, encodePieceMap } from './piece-map.js'
import { RateMeter } from './rate-meter.js'

/** Supernode-wide byte counters since start (the metrics' values). */
export interface SwarmByteTotals {
  readonly fromSupernodeBytes: number
  readonly fromPeersBytes: number
  readonly fromSourceBytes: number
  /** Bytes the CDN read from sources. */
  readonly cdnReadBytes: number
}

export interface SnapshotBuilderDeps {
  readonly clock: Clock
  readonly tasks: Pick<TaskManager, 'list' | 'getTask'>
  readonly dfgetTasks: Pick<DfgetTaskManager, 'listOfTask'>
  readonly progress: Pick<ProgressManager, 'getTask'>
  readonly peers: Pick<PeerManager, 'getPeer' | 'count'>
  /** Reads the supernode-wide counters. */
  readonly fetchTotals: () => Promise<SwarmByteTotals>
}

/** Everything but the selected task's detail; `rates` feeds the details built from it. */
export interface DashboardOverview {
  readonly peers: number
  readonly totals: DashboardBytes
  readonly tasks: DashboardTask[]
  /** Download rate of every cid, in bytes per second. */
  readonly rates: ReadonlyMap<ClientId, number>
  /** True while some task has a running cid or a non-zero rate (worth rebuilding soon). */
  readonly isActive: boolean
}

/** How far back a download rate looks. */
const RATE_WINDOW_MS = 3_000

export class SnapshotBuilder {
  readonly #deps: SnapshotBuilderDeps
  readonly #rates = new RateMeter<ClientId>(RATE_WINDOW_MS)

  constructor (deps: SnapshotBuilderDeps) {
    this.#deps = deps
  }

  /** Every task with its progress and bytes, and the totals. Samples every cid's rate. */
  async buildOverview (): Promise<DashboardOverview> {
    const totals = await this.#deps.fetchTotals()
    // Everything below is synchronous: one consistent view of the managers.
    const nowMs = this.#deps.clock.now()
    const rates = new Map<ClientId, number>()
    let isActive = false
    const tasks = this.#deps.tasks.list().map((info) => {
      const taskId = parseTaskId(info.taskId)
      const view = this.#deps.tasks.getTask(taskId)
      const progress = this.#deps.progress.getTask(taskId)
      const records = this.#deps.dfgetTasks.listOfTask(taskId)
      let donePieces = 0
      let rateBytesPerSec = 0
      const sums = { supernode: 0, peers: 0, source: 0 }
      let clientsDone = 0
      let clientsFailed = 0
      for (const record of records) {
        const received = record.bytesFromSupernode + record.bytesFromPeers + record.bytesFromSource
        const rate = this.#rates.sample(record.cid, received, nowMs)
        rates.set(record.cid, rate)
        rateBytesPerSec += rate
        sums.supernode += record.bytesFromSupernode
        sums.peers += record.bytesFromPeers
        sums.source += record.bytesFromSource
        donePieces += progress?.getClient(record.cid)?.done.count ?? 0
        if (record.status === 'success') clientsDone += 1
        else if (record.status === 'failed') clientsFailed += 1
        else isActive = true
      }
      if (rateBytesPerSec > 0) isActive = true
      const pieceCount = info.pieceCount
      const task: DashboardTask = {
        taskId: info.taskId,
        url: info.url,
        state: view?.state ?? 'pending',
        ...(view?.failure === undefined ? {} : { failure: view.failure.message }),
        fileLengthBytes: info.fileLengthBytes,
        pieceSizeBytes: info.pieceSizeBytes,
        pieceCount,
        cachedPieces: info.cachedPieces,
        createdAt: info.createdAt,
        clients: records.length,
        clientsDone,
        clientsFailed,
        progress: records.length === 0 || pieceCount === 0 ? (records.length > 0 && clientsDone === records.length ? 1 : 0) : donePieces / (pieceCount * records.length),
        rateBytesPerSec,
        bytes: bytesOf(sums.supernode, sums.peers, sums.source, cachedBytesOf(progress, info.pieceSizeBytes, info.fileLengthBytes)),
      }
      return task
    })
    this.#rates.retain(new Set(rates.keys()))
    return {
      peers: this.#deps.peers.count,
      totals: bytesOf(totals.fromSupernodeBytes, totals.fromPeersBytes, totals.fromSourceBytes, totals.cdnReadBytes),
      tasks,
      rates,
      isActive,
    }
  }

  /** One task's cids with their piece maps, or undefined for an unknown task. */
  buildDetail (taskId: TaskId, rates: ReadonlyMap<ClientId, number>): DashboardTaskDetail | undefined {
    const view = this.#deps.tasks.getTask(taskId)
    if (view === undefined) return undefined
    const progress = this.#deps.progress.getTask(taskId)
    const clients = this.#deps.dfgetTasks.listOfTask(taskId).map((record) => this.#client(record, progress, rates.get(record.cid) ?? 0, view.failure?.message))
    return {
      taskId,
      cachedMap: progress === undefined ? '' : encodePieceMap(progress.pieceCount, (pieceNum) => progress.isCached(pieceNum)),
      clients,
    }
  }

  #client (record: DfgetTaskView, progress: TaskProgressView | undefined, rateBytesPerSec: number, taskFailure: string | undefined): DashboardClient {
    const peer = this.#deps.peers.getPeer(record.peerId)
    const client = progress?.getClient(record.cid)
    const pieceCount = progress?.pieceCount ?? 0
    const excluded = [...client?.blacklisted ?? []].map(([sourceId, reason]) => ({ sourceId, reason }))
    const problem = record.status === 'failed'
      ? `failed: ${taskFailure ?? 'the task failed at the supernode'}`
      : peer === undefined
        ? 'its peer left (service down); nobody is sent to it'
        : progress?.isDistrusted(record.peerId) === true ? 'its peer served a corrupt piece: no longer a source of this task' : undefined
    return {
      cid: record.cid,
      peerId: record.peerId,
      hostName: peer?.hostName ?? '',
      address: peer === undefined ? '' : `${peer.ip.includes(':') ? `[${peer.ip}]` : peer.ip}:${peer.port}`,
      isPeerLive: peer !== undefined,
      status: record.status,
      ...(problem === undefined ? {} : { problem }),
      donePieces: client?.done.count ?? 0,
      fetchingPieces: client?.fetchingCount ?? 0,
      // Copies of the bits and the hand-out list: O(pieces / 8 + in flight) per cid.
      doneMap: client === undefined ? '' : encodePieceBytes(client.done.toBytes()),
      fetchingMap: client === undefined ? '' : encodePieceList(pieceCount, client.fetchingPieceNums()),
      rateBytesPerSec,
      fromSupernodeBytes: record.bytesFromSupernode,
      fromPeersBytes: record.bytesFromPeers,
      fromSourceBytes: record.bytesFromSource,
      uploadedBytes: peer?.uploadedBytes ?? 0,
      createdAt: new Date(record.createdAtMs).toISOString(),
      excluded,
    }
  }
}

/** The byte breakdown: delivered by source, what the origin served, what it was spared. */
export function bytesOf (fromSupernodeBytes: number, fromPeersBytes: number, fromSourceBytes: number, cdnReadBytes: number): DashboardBytes {
  const deliveredBytes = fromSupernodeBytes + fromPeersBytes + fromSourceBytes
  const originBytes = cdnReadBytes + fromSourceBytes
  return {
    deliveredBytes,
    fromSupernodeBytes,
    fromPeersBytes,
    fromSourceBytes,
    originBytes,
    originSparedBytes: Math.max(0, deliveredBytes - originBytes),
    peerShare: deliveredBytes === 0 ? 0 : fromPeersBytes / deliveredBytes,
  }
}

/**
 * Bytes of the task's pieces in the CDN cache: what the CDN read from the origin for it
 * (each piece once). A task served from a cache file of an earlier run read less; the
 * supernode-wide total uses the real counter.
 */
function cachedBytesOf (progress: TaskProgressView | undefined, pieceSizeBytes: number, fileLengthBytes: number): number {
  if (progress === undefined || progress.pieceCount === 0) return 0
  const lastPiece = progress.pieceCount - 1
  const lastPieceBytes = fileLengthBytes - lastPiece * pieceSizeBytes
  return progress.isCached(lastPiece)
    ? (progress.cachedCount - 1) * pieceSizeBytes + lastPieceBytes
    : progress.cachedCount * pieceSizeBytes
}
