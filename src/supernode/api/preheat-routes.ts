/**
 * Preheat routes: start a preheat (POST, 201 with its record), list them, show one — thin
 * handlers over PreheatManager. Requests are validated by fastify against the protocol
 * schemas, which also feed the OpenAPI document.
 */
import type { FastifyInstance } from 'fastify'
import { ErrorSchema } from '../../protocol/messages/common-schemas.js'
import { PreheatInfoSchema, PreheatListSchema, PreheatParamsSchema, PreheatRequestSchema, type PreheatParams, type PreheatRequest } from '../../protocol/messages/preheat.js'
import { SUPERNODE_PATHS } from '../../protocol/paths.js'
import type { PreheatManager } from '../preheat/preheat-manager.js'

const ERRORS = { '4xx': ErrorSchema, '5xx': ErrorSchema }

export function registerPreheatRoutes (app: FastifyInstance, deps: { preheats: Pick<PreheatManager, 'create' | 'describe' | 'list'> }): void {
  const { preheats } = deps
  app.post<{ Body: PreheatRequest }>(SUPERNODE_PATHS.preheats, {
    schema: {
      tags: ['preheats'],
      summary: 'Warm the CDN cache with a file (type file: a URL) or every layer of an image (type image: a manifest URL); answers at once, GET shows progress',
      body: PreheatRequestSchema,
      response: { 201: PreheatInfoSchema, ...ERRORS },
    },
  }, async (request, reply) => await reply.status(201).send(preheats.create(request.body)))

  app.get(SUPERNODE_PATHS.preheats, {
    schema: { tags: ['preheats'], summary: 'List preheats', response: { 200: PreheatListSchema, ...ERRORS } },
  }, async () => ({ preheats: preheats.list() }))

  app.get<{ Params: PreheatParams }>(SUPERNODE_PATHS.preheat, {
    schema: { tags: ['preheats'], summary: 'Show a preheat: status (waiting, running, success, failed), its tasks, the error when it failed', params: PreheatParamsSchema, response: { 200: PreheatInfoSchema, ...ERRORS } },
  }, async (request) => preheats.describe(request.params.preheatId))
}
