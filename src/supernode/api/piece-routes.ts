/**
 * Piece routes: pull work (GET …/pieces, long-polling up to waitMs) and report a piece
 * (PUT …/pieces/{pieceRange}, 204) — thin handlers over the Scheduler. A pull whose client
 * disconnects stops waiting and hands nothing out.
 */
import type { FastifyInstance } from 'fastify'
import { parseClientId, parseTaskId } from '../../protocol/ids.js'
import { ErrorSchema } from '../../protocol/messages/common-schemas.js'
import { PullPieceTasksQuerySchema, PullPieceTasksResponseSchema, type PullPieceTasksQuery } from '../../protocol/messages/pull-piece-task.js'
import { ReportPieceRequestSchema, ReportPiecesRequestSchema, type ReportPieceRequest, type ReportPiecesRequest } from '../../protocol/messages/report-piece.js'
import { DfError } from '../../protocol/errors.js'
import { PieceParamsSchema, TaskParamsSchema, type PieceParams, type TaskParams } from '../../protocol/messages/route-params.js'
import { SUPERNODE_PATHS } from '../../protocol/paths.js'
import type { Scheduler } from '../scheduler/scheduler.js'

const ERRORS = { '4xx': ErrorSchema, '5xx': ErrorSchema }

export function registerPieceRoutes (app: FastifyInstance, deps: { scheduler: Scheduler }): void {
  const { scheduler } = deps
  app.get<{ Params: TaskParams, Querystring: PullPieceTasksQuery }>(SUPERNODE_PATHS.taskPieces, {
    schema: {
      tags: ['pieces'],
      summary: 'Pull work: pieces (each with its source and digest), wait, limited or finished; long-polls up to waitMs',
      params: TaskParamsSchema,
      querystring: PullPieceTasksQuerySchema,
      response: { 200: PullPieceTasksResponseSchema, ...ERRORS },
    },
  }, async (request, reply) => {
    const taskId = parseTaskId(request.params.taskId)
    const cid = parseClientId(request.query.cid, 'querystring.cid')
    // Only a long-poll can outlive its client; a pull without waitMs is answered before any
    // 'close' could be seen, so it skips the controller and listener (most of a busy swarm's pulls).
    const disconnected = (request.query.waitMs ?? 0) > 0 ? new AbortController() : undefined
    const onClose = (): void => { if (!reply.raw.writableFinished) disconnected?.abort() }
    if (disconnected !== undefined) reply.raw.once('close', onClose)
    try {
      const outcome = await scheduler.pull(taskId, cid, request.query, disconnected?.signal)
      if (outcome.result === 'pieces') {
        // The client left while we held its pull, or the answer never reached it: nobody
        // will fetch these pieces, so they go back at once instead of at the piece timeout.
        const cancel = (): void => { scheduler.cancelHandOuts(taskId, cid, outcome.pieces.map((piece) => piece.pieceNum)) }
        if (disconnected?.signal.aborted === true || reply.raw.destroyed) cancel()
        else reply.raw.once('close', () => { if (!reply.raw.writableFinished) cancel() })
      }
      return outcome
    } finally {
      if (disconnected !== undefined) reply.raw.off('close', onClose)
    }
  })

  app.put<{ Params: PieceParams, Body: ReportPieceRequest }>(SUPERNODE_PATHS.taskPiece, {
    schema: {
      tags: ['pieces'],
      summary: 'Report a piece: success, failed (naming the source at fault), cached/evicted (stream mode); answers 204',
      params: PieceParamsSchema,
      body: ReportPieceRequestSchema,
      response: ERRORS,
    },
  }, async (request, reply) => {
    scheduler.report(parseTaskId(request.params.taskId), request.params.pieceRange, parseClientId(request.body.cid, 'body.cid'), request.body)
    return await reply.status(204).send()
  })

  app.put<{ Params: TaskParams, Body: ReportPiecesRequest }>(SUPERNODE_PATHS.taskPieces, {
    schema: {
      tags: ['pieces'],
      summary: 'Report several pieces of one cid at once, in order; answers 204 (a 4xx names the index of the first invalid report, the ones before it are applied)',
      params: TaskParamsSchema,
      body: ReportPiecesRequestSchema,
      response: ERRORS,
    },
  }, async (request, reply) => {
    const taskId = parseTaskId(request.params.taskId)
    const cid = parseClientId(request.body.cid, 'body.cid')
    for (const [index, { pieceRange, ...report }] of request.body.reports.entries()) {
      try {
        scheduler.report(taskId, pieceRange, cid, { cid, ...report })
      } catch (err) {
        if (err instanceof DfError) throw new DfError(err.code, `reports[${index}]: ${err.message}`, { details: { ...err.details, index } })
        throw err
      }
    }
    return await reply.status(204).send()
  })
}
