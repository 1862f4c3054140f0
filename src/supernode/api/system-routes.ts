/**
 * System routes: health (/_ping), version, Prometheus metrics, and the OpenAPI document
 * generated from the route schemas (/openapi.json).
 */
import type { FastifyInstance } from 'fastify'
import type {} from '@fastify/swagger' // brings the route-schema fields (tags, summary, hide) and app.swagger() into fastify's types
import { Type } from '@sinclair/typebox'
import { VersionInfoSchema, type VersionInfo } from '../../protocol/messages/route-params.js'
import { SUPERNODE_PATHS } from '../../protocol/paths.js'
import type { SupernodeMetrics } from '../metrics.js'

export function registerSystemRoutes (app: FastifyInstance, deps: { metrics: SupernodeMetrics, version: VersionInfo }): void {
  app.get(SUPERNODE_PATHS.ping, {
    schema: { tags: ['system'], summary: 'Health: 200 OK', response: { 200: Type.String() } },
  }, async (_request, reply) => await reply.type('text/plain; charset=utf-8').send('OK'))

  app.get(SUPERNODE_PATHS.version, {
    schema: { tags: ['system'], summary: 'Build and version info', response: { 200: VersionInfoSchema } },
  }, async () => deps.version)

  app.get(SUPERNODE_PATHS.metrics, {
    schema: { tags: ['system'], summary: 'Prometheus metrics (text exposition format)' },
  }, async (_request, reply) => {
    const { contentType, text } = await deps.metrics.render()
    return await reply.type(contentType).send(text)
  })

  app.get(SUPERNODE_PATHS.openapi, { schema: { hide: true } }, async () => app.swagger())
}
