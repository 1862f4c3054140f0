/**
 * Reporting a piece (`PUT /api/v1/tasks/{taskId}/pieces/{pieceRange}`): success makes the
 * piece available from this cid's peer at once; failure names the source at fault, which is
 * then not offered to this cid again; cached/evicted are stream mode's window moves.
 * Answer: 204.
 */
import { Type, type Static } from '@sinclair/typebox'
import { createParser } from '../schema-parser.js'
import { ClientIdSchema } from './common-schemas.js'

export const ReportPieceRequestSchema = Type.Object({
  cid: ClientIdSchema,
  result: Type.Union([Type.Literal('success'), Type.Literal('failed'), Type.Literal('cached'), Type.Literal('evicted')]),
  sourcePeerId: Type.Optional(Type.String({ maxLength: 128, description: 'the peer (or "supernode") the piece came from, or failed at' })),
  costMs: Type.Optional(Type.Integer({ minimum: 0 })),
  reason: Type.Optional(Type.String({ maxLength: 512, description: 'why it failed (an error code)' })),
}, { additionalProperties: false })
export type ReportPieceRequest = Static<typeof ReportPieceRequestSchema>

export const parseReportPieceRequest = createParser(ReportPieceRequestSchema, 'body')
