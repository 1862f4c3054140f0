/**
 * The peer server's local control exchange: a dfget on the same host tells its peer server
 * which file holds a task's pieces (`POST /peer/uploads`), so the peer server serves only
 * registered tasks. `DELETE /peer/uploads/{taskId}?cid=` withdraws it.
 */
import { Type, type Static } from '@sinclair/typebox'
import { createParser } from '../schema-parser.js'
import { ClientIdSchema, TaskIdSchema } from './common-schemas.js'
import { GRANT_KEY_PATTERN } from '../piece-grant.js'

export const RegisterUploadRequestSchema = Type.Object({
  taskId: TaskIdSchema,
  cid: ClientIdSchema,
  path: Type.String({ minLength: 1, maxLength: 4096, description: 'absolute path of the data file under the peer\'s --home' }),
  fileLengthBytes: Type.Integer({ minimum: 0 }),
  pieceSizeBytes: Type.Integer({ minimum: 1 }),
  supernodes: Type.Array(Type.String({ maxLength: 512 }), { maxItems: 64, description: 'supernode base URLs to tell when this peer goes down' }),
  grantKeys: Type.Optional(Type.Array(Type.String({ pattern: GRANT_KEY_PATTERN }), { maxItems: 8, description: 'private task: the keys of its piece grants (the registration answer\'s grantKey); a piece request is then served only with a grant one of them verifies' })),
}, { additionalProperties: false })
export type RegisterUploadRequest = Static<typeof RegisterUploadRequestSchema>

export const PeerStatusSchema = Type.Object({
  peerId: Type.String(),
  port: Type.Integer(),
  pid: Type.Integer(),
  uploads: Type.Integer(),
})
export type PeerStatus = Static<typeof PeerStatusSchema>

export const parseRegisterUploadRequest = createParser(RegisterUploadRequestSchema, 'body')
export const parsePeerStatus = createParser(PeerStatusSchema, 'status')
