/**
 * The peer server's stream-mode control routes (loopback callers only): open and close a
 * stream's window store, put and drop pieces (see protocol/messages/peer-stream.ts). Thin
 * HTTP handlers over the same store calls a dfget in the server's own process makes
 * (`PeerServer.localStreams()`); the pieces are served by the ordinary data route.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { DfError } from '../../protocol/errors.js'
import { PEER_PATHS } from '../../protocol/paths.js'
import { parseOpenStreamRequest } from '../../protocol/messages/peer-stream.js'
import type { StreamStoreClient } from './peer-client.js'

/** Largest piece body accepted (the supernode's largest piece size, with room). */
const MAX_PIECE_BODY_BYTES = 64 * 1024 * 1024

type PieceRequest = FastifyRequest<{ Params: { taskId: string, pieceNum: string }, Querystring: { cid?: string } }>

export function addStreamRoutes (app: FastifyInstance, deps: { streams: StreamStoreClient, requireLoopback: (request: FastifyRequest) => void }): void {
  const { streams, requireLoopback } = deps
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: MAX_PIECE_BODY_BYTES }, (_request, body, done) => { done(null, body) })

  app.post(PEER_PATHS.streams, async (request, reply) => {
    requireLoopback(request)
    await streams.openStream(parseOpenStreamRequest(request.body))
    return reply.status(204).send()
  })

  app.delete(PEER_PATHS.stream, async (request: FastifyRequest<{ Params: { taskId: string }, Querystring: { cid?: string } }>, reply) => {
    requireLoopback(request)
    await streams.closeStream(request.params.taskId, request.query.cid ?? '')
    return reply.status(204).send()
  })

  app.put(PEER_PATHS.streamPiece, { bodyLimit: MAX_PIECE_BODY_BYTES }, async (request: PieceRequest, reply) => {
    requireLoopback(request)
    if (!Buffer.isBuffer(request.body)) throw new DfError('DF_ERR_ARG_INVALID', 'body: the piece bytes, as application/octet-stream', { details: { field: 'body' } })
    await streams.putStreamPiece(request.params.taskId, request.query.cid ?? '', parsePieceNum(request.params.pieceNum), request.body)
    return reply.status(204).send()
  })

  app.delete(PEER_PATHS.streamPiece, async (request: PieceRequest, reply) => {
    requireLoopback(request)
    await streams.dropStreamPiece(request.params.taskId, request.query.cid ?? '', parsePieceNum(request.params.pieceNum))
    return reply.status(204).send()
  })
}

function parsePieceNum (value: string): number {
  const pieceNum = /^\d{1,9}$/.test(value) ? Number(value) : Number.NaN
  if (!Number.isInteger(pieceNum)) throw new DfError('DF_ERR_ARG_INVALID', 'pieceNum: must be a piece number', { details: { field: 'pieceNum' } })
  return pieceNum
}
