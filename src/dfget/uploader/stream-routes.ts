/**
 * The peer server's stream-mode control routes (loopback callers only): open and close a
 * stream's window store, put and drop pieces (see protocol/messages/peer-stream.ts). Thin
 * handlers over PieceStore; the pieces are served by the ordinary data route.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { DfError } from '../../protocol/errors.js'
import { parseClientId, parseTaskId } from '../../protocol/ids.js'
import { PEER_PATHS } from '../../protocol/paths.js'
import { parseOpenStreamRequest } from '../../protocol/messages/peer-stream.js'
import type { PieceStore } from './piece-store.js'

/** Largest piece body accepted (the supernode's largest piece size, with room). */
const MAX_PIECE_BODY_BYTES = 64 * 1024 * 1024

type PieceRequest = FastifyRequest<{ Params: { taskId: string, pieceNum: string }, Querystring: { cid?: string } }>

export function addStreamRoutes (app: FastifyInstance, deps: { pieces: PieceStore, requireLoopback: (request: FastifyRequest) => void, onActivity: () => void, onPieceStored: (bytes: number) => void }): void {
  const { pieces, requireLoopback, onActivity, onPieceStored } = deps
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: MAX_PIECE_BODY_BYTES }, (_request, body, done) => { done(null, body) })

  app.post(PEER_PATHS.streams, async (request, reply) => {
    requireLoopback(request)
    const body = parseOpenStreamRequest(request.body)
    pieces.open({ ...body, taskId: parseTaskId(body.taskId, 'body.taskId'), cid: parseClientId(body.cid, 'body.cid') })
    onActivity()
    return reply.status(204).send()
  })

  app.delete(PEER_PATHS.stream, async (request: FastifyRequest<{ Params: { taskId: string }, Querystring: { cid?: string } }>, reply) => {
    requireLoopback(request)
    if (!pieces.close(request.params.taskId, request.query.cid ?? '')) throw new DfError('DF_ERR_UPLOAD_TASK_NOT_FOUND', 'no stream of that task and cid is open here')
    onActivity()
    return reply.status(204).send()
  })

  app.put(PEER_PATHS.streamPiece, { bodyLimit: MAX_PIECE_BODY_BYTES }, async (request: PieceRequest, reply) => {
    requireLoopback(request)
    if (!Buffer.isBuffer(request.body)) throw new DfError('DF_ERR_ARG_INVALID', 'body: the piece bytes, as application/octet-stream', { details: { field: 'body' } })
    pieces.put(request.params.taskId, request.query.cid ?? '', parsePieceNum(request.params.pieceNum), request.body)
    onActivity()
    onPieceStored(request.body.length)
    return reply.status(204).send()
  })

  app.delete(PEER_PATHS.streamPiece, async (request: PieceRequest, reply) => {
    requireLoopback(request)
    pieces.drop(request.params.taskId, request.query.cid ?? '', parsePieceNum(request.params.pieceNum))
    return reply.status(204).send()
  })
}

function parsePieceNum (value: string): number {
  const pieceNum = /^\d{1,9}$/.test(value) ? Number(value) : Number.NaN
  if (!Number.isInteger(pieceNum)) throw new DfError('DF_ERR_ARG_INVALID', 'pieceNum: must be a piece number', { details: { field: 'pieceNum' } })
  return pieceNum
}
