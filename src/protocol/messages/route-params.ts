/**
 * Path parameters and small query strings of the supernode API, as schemas: fastify
 * validates requests with them and the OpenAPI document is generated from them.
 */
import { Type, type Static } from '@sinclair/typebox'
import { ClientIdSchema, PeerIdSchema, PieceRangeSchema, TaskIdSchema } from './common-schemas.js'

export const TaskParamsSchema = Type.Object({ taskId: TaskIdSchema })
export type TaskParams = Static<typeof TaskParamsSchema>

export const PeerParamsSchema = Type.Object({ peerId: PeerIdSchema })
export type PeerParams = Static<typeof PeerParamsSchema>

export const PieceParamsSchema = Type.Object({ taskId: TaskIdSchema, pieceRange: PieceRangeSchema })
export type PieceParams = Static<typeof PieceParamsSchema>

/** `DELETE /api/v1/tasks/{taskId}?cid=…`: with cid only that cid's download leaves. */
export const DeleteTaskQuerySchema = Type.Object({
  cid: Type.Optional(ClientIdSchema),
}, { additionalProperties: false })
export type DeleteTaskQuery = Static<typeof DeleteTaskQuerySchema>

/** `GET /version`. */
export const VersionInfoSchema = Type.Object({
  name: Type.String(),
  version: Type.String(),
  node: Type.String({ description: 'Node.js version' }),
})
export type VersionInfo = Static<typeof VersionInfoSchema>
