/**
 * The download port: `GET /tasks/{taskId}/data` with a Range header serves bytes of the
 * CDN cache file, streamed from disk — only when every piece covering the range is cached
 * (else 404 DF_ERR_PIECE_NOT_AVAILABLE, retryable); 416 for an unsatisfiable range. Bytes
 * actually sent are counted into dragonfly_supernode_pieces_downloaded_size_bytes_total
 * when the response ends. A private task's bytes (task-manager.ts: its source is not known
 * to answer without credentials) need a piece grant for that task (`x-damselfly-grant`,
 * verified here with the supernode's own key): 401 DF_ERR_PIECE_GRANT_REQUIRED without,
 * 403 DF_ERR_PIECE_GRANT_INVALID for a grant of another task, expired or not ours.
 */
import type { FastifyInstance } from 'fastify'
import { formatContentRange, parseRangeHeader } from '../../common/http/range-header.js'
import { sendFileRange } from '../../common/http/file-range-sender.js'
import type { BufferPool } from '../../common/buffer-pool.js'
import type { ReadHandles } from '../../common/fs/read-handles.js'
import { DfError, toWire } from '../../protocol/errors.js'
import { parseTaskId } from '../../protocol/ids.js'
import { TaskParamsSchema, type TaskParams } from '../../protocol/messages/route-params.js'
import { SUPERNODE_DATA_PATHS } from '../../protocol/paths.js'
import { rangeLength } from '../../protocol/piece-range.js'
import { PIECE_GRANT_HEADER } from '../../protocol/piece-grant.js'
import type { PieceGrants } from '../access/piece-grants.js'
import type { CacheStore } from '../cdn/cache-store.js'
import type { HotPieces } from '../cdn/hot-pieces.js'
import type { SupernodeMetrics } from '../metrics.js'
import type { ProgressManager } from '../progress/progress-manager.js'
import type { TaskManager } from '../task/task-manager.js'

export interface DataRoutesDeps {
  readonly tasks: Pick<TaskManager, 'getTask'>
  readonly progress: Pick<ProgressManager, 'getTask'>
  readonly store: Pick<CacheStore, 'dataPath'>
  readonly metrics: Pick<SupernodeMetrics, 'piecesDownloadedBytes'>
  /** Pieces just cached, still in memory: served without reading the file. */
  readonly hotPieces?: Pick<HotPieces, 'read'>
  /** The buffers file reads go through (reused: see file-range-sender.ts). */
  readonly buffers: BufferPool
  /** Cache files kept open between requests (common/fs/read-handles.ts). */
  readonly readHandles: Pick<ReadHandles, 'acquire'>
  readonly grants: Pick<PieceGrants, 'verify'>
}

/** Read size from the cache file: large reads keep the data path lean. */
const READ_CHUNK_BYTES = 512 * 1024

export function registerDataRoutes (app: FastifyInstance, deps: DataRoutesDeps): void {
  app.get<{ Params: TaskParams }>(SUPERNODE_DATA_PATHS.taskData, {
    exposeHeadRoute: false,
    schema: { tags: ['data'], summary: 'Bytes of a task file from the CDN cache (Range: bytes=start-end)', params: TaskParamsSchema },
  }, async (request, reply) => {
    const taskId = parseTaskId(request.params.taskId)
    const task = deps.tasks.getTask(taskId)
    const geometry = task?.geometry
    const progress = deps.progress.getTask(taskId)
    if (task === undefined || geometry === undefined || progress === undefined) throw new DfError('DF_ERR_TASK_NOT_FOUND', `no task ${taskId}`, { details: { taskId } })
    if (!task.isPublic) deps.grants.verify(request.headers[PIECE_GRANT_HEADER], taskId)
    const lengthBytes = geometry.fileLengthBytes
    const parsed = parseRangeHeader(request.headers.range, lengthBytes)
    if (parsed === 'unsatisfiable') {
      return await reply.status(416).header('content-range', `bytes */${lengthBytes}`)
        .send(toWire(new DfError('DF_ERR_PIECE_RANGE_INVALID', `range ${request.headers.range ?? ''} is outside the file of ${lengthBytes} bytes`, { details: { field: 'range' } })))
    }
    if (lengthBytes === 0) return await reply.status(200).header('content-type', 'application/octet-stream').send(Buffer.alloc(0))
    const range = parsed ?? { start: 0, end: lengthBytes - 1 }
    const firstPiece = Math.floor(range.start / geometry.pieceSizeBytes)
    const lastPiece = Math.floor(range.end / geometry.pieceSizeBytes)
    for (let pieceNum = firstPiece; pieceNum <= lastPiece; pieceNum++) {
      if (!progress.isCached(pieceNum)) throw new DfError('DF_ERR_PIECE_NOT_AVAILABLE', `piece ${pieceNum} is not cached yet`, { details: { pieceNum } })
    }
    const expectedBytes = rangeLength(range)
    const headers = {
      'content-type': 'application/octet-stream',
      'content-length': expectedBytes,
      'accept-ranges': 'bytes',
      ...(parsed === undefined ? {} : { 'content-range': formatContentRange(range, lengthBytes) }),
    }
    const hot = deps.hotPieces?.read(taskId, geometry.pieceSizeBytes, range)
    if (hot !== undefined) {
      // The bytes are in memory already: written straight to the socket, no stream or copy.
      reply.hijack()
      const res = reply.raw
      res.once('close', () => { deps.metrics.piecesDownloadedBytes.inc(res.writableFinished ? expectedBytes : 0) })
      for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) res.setHeader(name, value)
      res.writeHead(parsed === undefined ? 200 : 206, headers)
      res.cork()
      for (const chunk of hot) res.write(chunk)
      res.end()
      res.uncork()
      return reply
    }
    let lent
    try {
      lent = await deps.readHandles.acquire(deps.store.dataPath(taskId))
    } catch (err) {
      throw new DfError('DF_ERR_PIECE_NOT_AVAILABLE', `the cache file of ${taskId} is gone`, { cause: err, details: { taskId } })
    }
    reply.hijack()
    const res = reply.raw
    for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) res.setHeader(name, value)
    res.writeHead(parsed === undefined ? 200 : 206, headers)
    try {
      deps.metrics.piecesDownloadedBytes.inc(await sendFileRange(res, lent.handle, range, { pool: deps.buffers, chunkBytes: READ_CHUNK_BYTES }))
    } finally {
      lent.release()
    }
    return reply
  })
}
