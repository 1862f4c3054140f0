/**
 * Peer routes: register (POST), list, show, and service down (DELETE) — thin handlers over
 * PeerManager. Requests are validated by fastify against the protocol schemas.
 */
import type { FastifyInstance } from 'fastify'
import { parsePeerId } from '../../protocol/ids.js'
import { ErrorSchema } from '../../protocol/messages/common-schemas.js'
import { PeerInfoSchema, PeerListSchema, RegisterPeerRequestSchema, type RegisterPeerRequest } from '../../protocol/messages/register-peer.js'
import { PeerParamsSchema, type PeerParams } from '../../protocol/messages/route-params.js'
import { SUPERNODE_PATHS } from '../../protocol/paths.js'
import type { PeerManager } from '../peer/peer-manager.js'
import { normalizeIp } from '../peer/peer-manager.js'

const ERRORS = { '4xx': ErrorSchema, '5xx': ErrorSchema }

export function registerPeerRoutes (app: FastifyInstance, deps: { peers: PeerManager }): void {
  const { peers } = deps
  app.post<{ Body: RegisterPeerRequest }>(SUPERNODE_PATHS.peers, {
    schema: { tags: ['peers'], summary: 'Register a peer (its peer server address)', body: RegisterPeerRequestSchema, response: { 200: PeerInfoSchema, ...ERRORS } },
  }, async (request) => peers.register(request.body, normalizeIp(request.ip)))

  app.get(SUPERNODE_PATHS.peers, {
    schema: { tags: ['peers'], summary: 'List peers', response: { 200: PeerListSchema, ...ERRORS } },
  }, async () => ({ peers: peers.list() }))

  app.get<{ Params: PeerParams }>(SUPERNODE_PATHS.peer, {
    schema: { tags: ['peers'], summary: 'Show a peer', params: PeerParamsSchema, response: { 200: PeerInfoSchema, ...ERRORS } },
  }, async (request) => peers.describe(parsePeerId(request.params.peerId)))

  app.delete<{ Params: PeerParams }>(SUPERNODE_PATHS.peer, {
    schema: { tags: ['peers'], summary: 'Service down: the peer leaves; nobody is sent to it any more', params: PeerParamsSchema, response: ERRORS },
  }, async (request, reply) => {
    peers.remove(parsePeerId(request.params.peerId))
    return await reply.status(204).send()
  })
}
