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

/** Most reports in one batch. */
export const MAX_REPORTS_PER_BATCH = 1024

/**
 * Several reports of one cid at once (`PUT /api/v1/tasks/{taskId}/pieces`, 204): a client
 * that verifies pieces faster than one request each sends the results gathered meanwhile
 * together. They are applied in order; the first invalid one answers 4xx naming its index
 * (`details.index`), the ones before it stay applied.
 */
export const ReportPiecesRequestSchema = Type.Object({
  cid: ClientIdSchema,
  reports: Type.Array(Type.Object({
    pieceRange: Type.String({ maxLength: 64, description: 'the piece, "start-end" (inclusive bytes)' }),
    result: ReportPieceRequestSchema.properties.result,
    sourcePeerId: ReportPieceRequestSchema.properties.sourcePeerId,
    costMs: ReportPieceRequestSchema.properties.costMs,
    reason: ReportPieceRequestSchema.properties.reason,
  }, { additionalProperties: false }), { minItems: 1, maxItems: MAX_REPORTS_PER_BATCH }),
}, { additionalProperties: false })
export type ReportPiecesRequest = Static<typeof ReportPiecesRequestSchema>
