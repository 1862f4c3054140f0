/**
 * Control protocol v2 routes (`/api/v2/...`, docs/protocol.md): a download's sync — a thin
 * handler over TaskSync. A sync whose client disconnects stops waiting.
 */
import type { FastifyInstance } from 'fastify'
import { parseClientId, parseTaskId } from '../../protocol/ids.js'
import { ErrorSchema } from '../../protocol/messages/common-schemas.js'
import { TaskParamsSchema, type TaskParams } from '../../protocol/messages/route-params.js'
import { SyncTaskRequestSchema, SyncTaskResponseSchema, type SyncTaskRequest } from '../../protocol/messages/sync-task.js'
import { SUPERNODE_PATHS } from '../../protocol/paths.js'
import type { TaskSync } from '../scheduler/task-sync.js'

const ERRORS = { '4xx': ErrorSchema, '5xx': ErrorSchema }

export function registerSyncRoutes (app: FastifyInstance, deps: { taskSync: TaskSync }): void {
  const { taskSync } = deps
  app.post<{ Params: TaskParams, Body: SyncTaskRequest }>(SUPERNODE_PATHS.taskSync, {
    schema: {
      tags: ['pieces'],
      summary: 'v2: sync a download — its bitmap, failed parents and received bytes in; its parents, CDN slots, grant and missing digests out; long-polls up to waitMs',
      params: TaskParamsSchema,
      body: SyncTaskRequestSchema,
      response: { 200: SyncTaskResponseSchema, ...ERRORS },
    },
  }, async (request, reply) => {
    const disconnected = new AbortController()
    const onClose = (): void => { if (!reply.raw.writableFinished) disconnected.abort() }
    reply.raw.once('close', onClose)
    try {
      return await taskSync.sync(parseTaskId(request.params.taskId), parseClientId(request.body.cid, 'body.cid'), request.body, disconnected.signal)
    } finally {
      reply.raw.off('close', onClose)
    }
  })
}
