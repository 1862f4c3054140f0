/**
 * The peer server's control protocol v2 routes: the have feed its children long-poll
 * (`GET /peer/tasks/{taskId}/haves?cid=&since=&waitMs=`, authorised like a piece request:
 * the task's piece grant when it is private), and the local announcement of verified
 * pieces by a dfget of this host (`POST /peer/uploads/{taskId}/pieces?cid=`, loopback
 * only). Thin handlers over PieceAvailability.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { DfError } from '../../protocol/errors.js'
import { PEER_PATHS } from '../../protocol/paths.js'
import { MAX_HAVES_WAIT_MS, parseAnnouncePiecesRequest } from '../../protocol/messages/peer-haves.js'
import type { PieceAvailability } from './piece-availability.js'

type HavesRequest = FastifyRequest<{ Params: { taskId: string }, Querystring: { cid?: string, since?: string, waitMs?: string } }>

export interface HaveRoutesDeps {
  readonly availability: PieceAvailability
  /** Checks the request may read the task's pieces here (a served download, its grant). @throws DfError */
  readonly authorize: (request: FastifyRequest<{ Params: { taskId: string }, Querystring: { cid?: string } }>) => void
  readonly requireLoopback: (request: FastifyRequest) => void
}

export function addHaveRoutes (app: FastifyInstance, deps: HaveRoutesDeps): void {
  const { availability, authorize, requireLoopback } = deps
  app.get(PEER_PATHS.taskHaves, async (request: HavesRequest, reply) => {
    authorize(request)
    const since = parseCount(request.query.since, 'querystring.since', Number.MAX_SAFE_INTEGER)
    const waitMs = parseCount(request.query.waitMs, 'querystring.waitMs', MAX_HAVES_WAIT_MS)
    const closed = new AbortController()
    const onClose = (): void => { if (!reply.raw.writableFinished) closed.abort() }
    reply.raw.once('close', onClose)
    try {
      const answer = await availability.waitForChange(request.params.taskId, request.query.cid ?? '', since, waitMs, closed.signal)
      if (answer === undefined) throw new DfError('DF_ERR_UPLOAD_TASK_NOT_FOUND', 'this peer does not serve that task for that cid (any more)')
      return answer
    } finally {
      reply.raw.off('close', onClose)
    }
  })

  app.post(PEER_PATHS.uploadPieces, async (request: FastifyRequest<{ Params: { taskId: string }, Querystring: { cid?: string } }>, reply) => {
    requireLoopback(request)
    const body = parseAnnouncePiecesRequest(request.body)
    if (!availability.has(request.params.taskId, request.query.cid ?? '')) throw new DfError('DF_ERR_UPLOAD_TASK_NOT_FOUND', 'register the upload first')
    availability.add(request.params.taskId, request.query.cid ?? '', body.pieces)
    return reply.status(204).send()
  })
}

/** A non-negative integer query parameter (absent: 0), at most `max`. @throws DF_ERR_ARG_INVALID */
function parseCount (text: string | undefined, field: string, max: number): number {
  if (text === undefined) return 0
  const value = /^\d{1,16}$/.test(text) ? Number(text) : Number.NaN
  if (!Number.isSafeInteger(value) || value > max) throw new DfError('DF_ERR_ARG_INVALID', `${field}: must be an integer from 0 to ${max}`, { details: { field } })
  return value
}
