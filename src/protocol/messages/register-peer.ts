/**
 * Peer registration (`POST /api/v1/peers`) and the peer record (`GET /api/v1/peers[/{id}]`).
 * Service down is `DELETE /api/v1/peers/{id}`.
 */
import { Type, type Static } from '@sinclair/typebox'
import { createParser } from '../schema-parser.js'
import { PeerIdSchema } from './common-schemas.js'

export const RegisterPeerRequestSchema = Type.Object({
  peerId: Type.Optional(PeerIdSchema),
  ip: Type.Optional(Type.String({ minLength: 2, maxLength: 64, description: 'address other peers reach this peer server at; default: the address the request came from' })),
  port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'the peer server\'s port. Absent while the host\'s peer server is still starting (then peerId is required): the peer may download and report pieces, but nobody is sent to it until it registers again with its port' })),
  hostName: Type.Optional(Type.String({ maxLength: 255 })),
}, { additionalProperties: false })
export type RegisterPeerRequest = Static<typeof RegisterPeerRequestSchema>

export const PeerInfoSchema = Type.Object({
  peerId: PeerIdSchema,
  ip: Type.String(),
  port: Type.Integer({ description: '0 while the peer server is not up yet (not a source)' }),
  hostName: Type.String(),
  registeredAt: Type.String({ description: 'ISO time' }),
  uploadsInFlight: Type.Integer({ description: 'piece uploads scheduled from this peer and not yet reported' }),
  uploadedBytes: Type.Number({ description: 'piece bytes other clients reported fetched from this peer' }),
})
export type PeerInfo = Static<typeof PeerInfoSchema>

export const PeerListSchema = Type.Object({ peers: Type.Array(PeerInfoSchema) })
export type PeerList = Static<typeof PeerListSchema>

export const parseRegisterPeerRequest = createParser(RegisterPeerRequestSchema, 'body')
export const parsePeerInfo = createParser(PeerInfoSchema, 'peer')
export const parsePeerList = createParser(PeerListSchema, 'peers')
