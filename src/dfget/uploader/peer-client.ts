/**
 * PeerClient: typed calls to one peer server (STYLE.md B3: the client lives next to its
 * server, and the server's tests go through it). dfget uses it for the local control
 * exchange (ping, register/withdraw a data file); tests also read piece data with it.
 */
import type { SharedBytes } from '../../common/buffer-pool.js'
import { HttpClient, type HttpClientOptions } from '../../common/http/client.js'
import { fillPath, PEER_PATHS } from '../../protocol/paths.js'
import type { ByteRange } from '../../protocol/piece-range.js'
import type { OpenStreamRequest } from '../../protocol/messages/peer-stream.js'
import { parsePeerStatus, type PeerStatus, type RegisterUploadRequest } from '../../protocol/messages/peer-upload.js'
import { parsePeerHavesResponse } from '../../protocol/messages/peer-haves.js'
import type { ParentPort } from '../downloader/piece-loop.js'
import { PIECE_GRANT_HEADER } from '../../protocol/piece-grant.js'

export interface PeerClientOptions extends HttpClientOptions {
  /** The peer server's base URL, e.g. "http://127.0.0.1:40123". */
  readonly baseUrl: string
}

export class PeerClient {
  readonly baseUrl: string
  readonly #http: HttpClient

  constructor (options: PeerClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '')
    this.#http = new HttpClient(options)
  }

  /** The server's status. @throws DfError (DF_ERR_NETWORK when nothing listens) */
  async ping (timeoutMs = 2_000): Promise<PeerStatus> {
    return await this.#http.requestJson({ url: `${this.baseUrl}${PEER_PATHS.ping}`, timeoutMs }, parsePeerStatus)
  }

  /** Registers (or refreshes) a data file this host serves. */
  async registerUpload (request: RegisterUploadRequest): Promise<void> {
    await this.#http.requestVoid({ method: 'POST', url: `${this.baseUrl}${PEER_PATHS.uploads}`, json: request, timeoutMs: 5_000 })
  }

  /** Withdraws a data file. @throws DF_ERR_UPLOAD_TASK_NOT_FOUND when it was not registered */
  async unregisterUpload (taskId: string, cid: string): Promise<void> {
    await this.#http.requestVoid({ method: 'DELETE', url: `${this.baseUrl}${fillPath(PEER_PATHS.upload, { taskId })}`, query: { cid }, timeoutMs: 5_000 })
  }

  /** v2: tells the peer server which pieces of a registered data file are verified now. @throws DF_ERR_UPLOAD_TASK_NOT_FOUND */
  async announcePieces (taskId: string, cid: string, pieceNums: readonly number[]): Promise<void> {
    await this.#http.requestVoid({ method: 'POST', url: `${this.baseUrl}${fillPath(PEER_PATHS.uploadPieces, { taskId })}`, query: { cid }, json: { pieces: pieceNums }, timeoutMs: 5_000 })
  }

  /** Stream mode: opens (or refreshes) this cid's window store. @throws DF_ERR_UPLOAD_STORE_FULL */
  async openStream (request: OpenStreamRequest): Promise<void> {
    await this.#http.requestVoid({ method: 'POST', url: `${this.baseUrl}${PEER_PATHS.streams}`, json: request, timeoutMs: 5_000 })
  }

  /**
   * Stream mode: puts one verified piece into the window store (a copy goes over loopback;
   * the store in the peer server's own process holds `shared` instead). @throws
   * DF_ERR_UPLOAD_STORE_FULL, DF_ERR_UPLOAD_TASK_NOT_FOUND
   */
  async putStreamPiece (taskId: string, cid: string, pieceNum: number, bytes: Buffer | readonly Buffer[], _shared?: SharedBytes): Promise<void> {
    await this.#http.requestVoid({ method: 'PUT', url: `${this.baseUrl}${fillPath(PEER_PATHS.streamPiece, { taskId, pieceNum: String(pieceNum) })}`, query: { cid }, bytes, timeoutMs: 10_000 })
  }

  /** Stream mode: drops a piece that left the window. */
  async dropStreamPiece (taskId: string, cid: string, pieceNum: number): Promise<void> {
    await this.#http.requestVoid({ method: 'DELETE', url: `${this.baseUrl}${fillPath(PEER_PATHS.streamPiece, { taskId, pieceNum: String(pieceNum) })}`, query: { cid }, timeoutMs: 5_000 })
  }

  /** Stream mode: closes the window store. @throws DF_ERR_UPLOAD_TASK_NOT_FOUND when it was not open */
  async closeStream (taskId: string, cid: string): Promise<void> {
    await this.#http.requestVoid({ method: 'DELETE', url: `${this.baseUrl}${fillPath(PEER_PATHS.stream, { taskId })}`, query: { cid }, timeoutMs: 5_000 })
  }

  /** Reads bytes of a task's data file. @throws DfError (404 DF_ERR_UPLOAD_TASK_NOT_FOUND, 416 DF_ERR_PIECE_RANGE_INVALID) */
  async fetchTaskData (taskId: string, cid: string, range: ByteRange): Promise<Buffer> {
    return await this.#http.fetchRange({ url: `${this.baseUrl}${fillPath(PEER_PATHS.taskData, { taskId })}`, query: { cid }, start: range.start, end: range.end })
  }

  /** The Prometheus text of the server's /metrics. */
  async fetchMetricsText (): Promise<string> {
    const response = await this.#http.stream({ url: `${this.baseUrl}${PEER_PATHS.metrics}` })
    let text = ''
    for await (const chunk of response.body) text += (chunk as Buffer).toString('utf8')
    return text
  }

  async close (): Promise<void> {
    await this.#http.close()
  }
}

/**
 * v2: the have feeds of a download's parents over HTTP (the `havesUrl` the supernode's sync
 * gives): a request answers at once when `since` is older than the parent's bitmap, else
 * when it changes or after `waitMs`. The grant is the child's piece grant; `headers` (the
 * shared token) go with every request. Errors are DfErrors (DF_ERR_UPLOAD_TASK_NOT_FOUND
 * when the parent no longer serves the download).
 */
export function createHttpParentPort (http: Pick<HttpClient, 'requestJson'>, headers: Readonly<Record<string, string>> = {}): ParentPort {
  return {
    fetchHaves: async (parent, since, waitMs, grant, signal) => await http.requestJson({
      url: parent.havesUrl,
      query: { since, waitMs },
      headers: grant === undefined ? headers : { ...headers, [PIECE_GRANT_HEADER]: grant },
      timeoutMs: waitMs + 10_000,
      signal,
    }, parsePeerHavesResponse),
  }
}

/** v2: how a dfget announces its verified pieces to its host's peer server (PeerClient over loopback, or `PeerServer.localPieces()` in process). */
export type PieceAnnouncer = Pick<PeerClient, 'announcePieces'>

/**
 * The stream-store calls of a streaming dfget. Over loopback HTTP that is a PeerClient; a
 * dfget running in the process that hosts the peer server uses `PeerServer.localStreams()`
 * instead, which shares the piece buffers instead of copying them through a socket.
 */
export type StreamStoreClient = Pick<PeerClient, 'openStream' | 'putStreamPiece' | 'dropStreamPiece' | 'closeStream'>
