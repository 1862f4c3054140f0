/**
 * Task routes: register a download (POST), list, show, and remove a task or one cid's
 * download of it (DELETE with ?cid=) — thin handlers over TaskManager.
 */
import type { FastifyInstance } from 'fastify'
import { parseClientId, parseTaskId } from '../../protocol/ids.js'
import { ErrorSchema } from '../../protocol/messages/common-schemas.js'
import { RegisterTaskRequestSchema, RegisterTaskResponseSchema, TaskInfoSchema, TaskListSchema, type RegisterTaskRequest } from '../../protocol/messages/register-task.js'
import { DeleteTaskQuerySchema, TaskParamsSchema, type DeleteTaskQuery, type TaskParams } from '../../protocol/messages/route-params.js'
import { SUPERNODE_PATHS } from '../../protocol/paths.js'
import type { TaskManager } from '../task/task-manager.js'

const ERRORS = { '4xx': ErrorSchema, '5xx': ErrorSchema }

export function registerTaskRoutes (app: FastifyInstance, deps: { tasks: TaskManager }): void {
  const { tasks } = deps
  app.post<{ Body: RegisterTaskRequest }>(SUPERNODE_PATHS.tasks, {
    schema: {
      tags: ['tasks'],
      summary: 'Register a download; answers once the file length is known (the CDN keeps fetching in the background)',
      body: RegisterTaskRequestSchema,
      response: { 200: RegisterTaskResponseSchema, ...ERRORS },
    },
  }, async (request) => await tasks.register(request.body))

  app.get(SUPERNODE_PATHS.tasks, {
    schema: { tags: ['tasks'], summary: 'List tasks', response: { 200: TaskListSchema, ...ERRORS } },
  }, async () => ({ tasks: tasks.list() }))

  app.get<{ Params: TaskParams }>(SUPERNODE_PATHS.task, {
    schema: { tags: ['tasks'], summary: 'Show a task: CDN status, cached pieces, clients and their progress', params: TaskParamsSchema, response: { 200: TaskInfoSchema, ...ERRORS } },
  }, async (request) => tasks.describe(parseTaskId(request.params.taskId)))

  app.delete<{ Params: TaskParams, Querystring: DeleteTaskQuery }>(SUPERNODE_PATHS.task, {
    schema: {
      tags: ['tasks'],
      summary: 'Remove a task; with ?cid= only that cid\'s download (its holdings and in-flight pieces are released)',
      params: TaskParamsSchema,
      querystring: DeleteTaskQuerySchema,
      response: ERRORS,
    },
  }, async (request, reply) => {
    const taskId = parseTaskId(request.params.taskId)
    if (request.query.cid === undefined) tasks.removeTask(taskId)
    else tasks.removeClient(taskId, parseClientId(request.query.cid))
    return await reply.status(204).send()
  })
}
