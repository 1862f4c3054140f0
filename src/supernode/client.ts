/**
 * SupernodeClient: typed calls to every endpoint of one supernode's API. It lives next to
 * the server so that whoever changes a route changes its client in the same change; dfget
 * imports only this file of the supernode area (STYLE.md B3).
 */
import { HttpClient, type HttpClientOptions } from '../common/http/client.js'
import { fillPath, SUPERNODE_PATHS } from '../protocol/paths.js'
import type { ClientId, PeerId, TaskId } from '../protocol/ids.js'
import type { ByteRange } from '../protocol/piece-range.js'
import { formatPieceRange } from '../protocol/piece-range.js'
import { parsePeerInfo, parsePeerList, type PeerInfo, type PeerList, type RegisterPeerRequest } from '../protocol/messages/register-peer.js'
import { parseRegisterTaskResponse, parseTaskInfo, parseTaskList, type RegisterTaskRequest, type RegisterTaskResponse, type TaskInfo, type TaskList } from '../protocol/messages/register-task.js'
import { parsePullPieceTasksResponse, type PullPieceTasksResponse } from '../protocol/messages/pull-piece-task.js'
import type { ReportPieceRequest, ReportPiecesRequest } from '../protocol/messages/report-piece.js'
import { parseSyncTaskResponse, type SyncTaskRequest, type SyncTaskResponse } from '../protocol/messages/sync-task.js'
import { parseDashboardSnapshot, type DashboardSnapshot } from '../protocol/messages/dashboard.js'
import { parsePreheatInfo, parsePreheatList, type PreheatInfo, type PreheatList, type PreheatRequest } from '../protocol/messages/preheat.js'

export interface SupernodeClientOptions extends HttpClientOptions {
  /** API base URL, e.g. "http://127.0.0.1:8002". */
  readonly baseUrl: string
  /** Optional shared API token, sent as `Authorization: Bearer …`. */
  readonly token?: string
}


export class SupernodeClient {
  readonly baseUrl: string
  readonly #http: HttpClient

  constructor (options: SupernodeClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '')
    this.#http = new HttpClient({
      ...options,
      ...(options.token === undefined ? {} : { defaultHeaders: { ...options.defaultHeaders, authorization: `Bearer ${options.token}` } }),
    })
  }

  async ping (signal?: AbortSignal): Promise<void> {
    await this.#http.requestVoid({ url: this.#url(SUPERNODE_PATHS.ping), timeoutMs: 3_000, ...(signal === undefined ? {} : { signal }) })
  }

  async registerPeer (request: RegisterPeerRequest): Promise<PeerInfo> {
    return await this.#http.requestJson({ method: 'POST', url: this.#url(SUPERNODE_PATHS.peers), json: request }, parsePeerInfo)
  }

  async listPeers (): Promise<PeerList> {
    return await this.#http.requestJson({ url: this.#url(SUPERNODE_PATHS.peers) }, parsePeerList)
  }

  async getPeer (peerId: PeerId | string): Promise<PeerInfo> {
    return await this.#http.requestJson({ url: this.#url(fillPath(SUPERNODE_PATHS.peer, { peerId })) }, parsePeerInfo)
  }

  /** Service down: the peer is going away; nobody is sent to it any more. */
  async deletePeer (peerId: PeerId | string): Promise<void> {
    await this.#http.requestVoid({ method: 'DELETE', url: this.#url(fillPath(SUPERNODE_PATHS.peer, { peerId })) })
  }

  /** Registers a download; waits until the supernode knows the file's length. */
  async registerTask (request: RegisterTaskRequest, signal?: AbortSignal): Promise<RegisterTaskResponse> {
    return await this.#http.requestJson({ method: 'POST', url: this.#url(SUPERNODE_PATHS.tasks), json: request, timeoutMs: 120_000, ...(signal === undefined ? {} : { signal }) }, parseRegisterTaskResponse)
  }

  async listTasks (): Promise<TaskList> {
    return await this.#http.requestJson({ url: this.#url(SUPERNODE_PATHS.tasks) }, parseTaskList)
  }

  async getTask (taskId: TaskId | string): Promise<TaskInfo> {
    return await this.#http.requestJson({ url: this.#url(fillPath(SUPERNODE_PATHS.task, { taskId })) }, parseTaskInfo)
  }

  /** Removes the task, or with `cid` only that cid's download of it (the client is leaving). */
  async deleteTask (taskId: TaskId | string, cid?: ClientId | string): Promise<void> {
    await this.#http.requestVoid({ method: 'DELETE', url: this.#url(fillPath(SUPERNODE_PATHS.task, { taskId })), ...(cid === undefined ? {} : { query: { cid } }) })
  }

  /** Pulls work; with `waitMs` the supernode holds the request until something is available. */
  async pullPieceTasks (taskId: TaskId | string, query: { cid: ClientId | string, max?: number, waitMs?: number }, signal?: AbortSignal): Promise<PullPieceTasksResponse> {
    return await this.#http.requestJson({
      url: this.#url(fillPath(SUPERNODE_PATHS.taskPieces, { taskId })),
      query: { cid: query.cid, max: query.max, waitMs: query.waitMs },
      timeoutMs: (query.waitMs ?? 0) + 15_000,
      ...(signal === undefined ? {} : { signal }),
    }, parsePullPieceTasksResponse)
  }

  /** Reports one piece's result. */
  async reportPiece (taskId: TaskId | string, range: ByteRange, report: ReportPieceRequest, signal?: AbortSignal): Promise<void> {
    await this.#http.requestVoid({
      method: 'PUT',
      url: this.#url(fillPath(SUPERNODE_PATHS.taskPiece, { taskId, pieceRange: formatPieceRange(range) })),
      json: report,
      ...(signal === undefined ? {} : { signal }),
    })
  }

  /** Several reports of one cid at once (in order). */
  async reportPieces (taskId: TaskId | string, request: ReportPiecesRequest, signal?: AbortSignal): Promise<void> {
    await this.#http.requestVoid({
      method: 'PUT',
      url: this.#url(fillPath(SUPERNODE_PATHS.taskPieces, { taskId })),
      json: request,
      ...(signal === undefined ? {} : { signal }),
    })
  }

  /** v2: syncs a download (bitmap, failures, received bytes) and gets its parents, CDN slots, grant and digests; with `waitMs` the supernode holds the request. */
  async syncTask (taskId: TaskId | string, request: SyncTaskRequest, signal?: AbortSignal): Promise<SyncTaskResponse> {
    return await this.#http.requestJson({
      method: 'POST',
      url: this.#url(fillPath(SUPERNODE_PATHS.taskSync, { taskId })),
      json: request,
      timeoutMs: (request.waitMs ?? 0) + 15_000,
      ...(signal === undefined ? {} : { signal }),
    }, parseSyncTaskResponse)
  }

  /** Starts a preheat (warm the CDN cache with a file or an image's layers); answers at once. */
  async createPreheat (request: PreheatRequest): Promise<PreheatInfo> {
    return await this.#http.requestJson({ method: 'POST', url: this.#url(SUPERNODE_PATHS.preheats), json: request }, parsePreheatInfo)
  }

  async getPreheat (preheatId: string): Promise<PreheatInfo> {
    return await this.#http.requestJson({ url: this.#url(fillPath(SUPERNODE_PATHS.preheat, { preheatId })) }, parsePreheatInfo)
  }

  async listPreheats (): Promise<PreheatList> {
    return await this.#http.requestJson({ url: this.#url(SUPERNODE_PATHS.preheats) }, parsePreheatList)
  }

  /** The Prometheus text of /metrics. */
  /** One dashboard snapshot; with `taskId`, that task's cids and piece maps as `selected`. */
  async fetchDashboard (taskId?: TaskId | string): Promise<DashboardSnapshot> {
    const query = taskId === undefined ? '' : `?taskId=${encodeURIComponent(taskId)}`
    return await this.#http.requestJson({ url: this.#url(SUPERNODE_PATHS.dashboardFeed) + query }, parseDashboardSnapshot)
  }

  async fetchMetricsText (): Promise<string> {
    const response = await this.#http.stream({ url: this.#url(SUPERNODE_PATHS.metrics) })
    let text = ''
    for await (const chunk of response.body) text += (chunk as Buffer).toString('utf8')
    return text
  }

  async close (): Promise<void> {
    await this.#http.close()
  }

  #url (path: string): string {
    return `${this.baseUrl}${path}`
  }
}
