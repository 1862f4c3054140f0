/**
 * Pulling work (`GET /api/v1/tasks/{taskId}/pieces?cid=…&max=…&waitMs=…`). The answer is a
 * typed outcome, never an error for normal flow: `pieces` (each with where to fetch it and
 * its digest), `wait` (nothing available now; the request already long-polled up to
 * `waitMs`), `limited` (pieces exist but every source is at its upload limit), `finished`.
 */
import { Type, type Static } from '@sinclair/typebox'
import { createParser } from '../schema-parser.js'
import { ClientIdSchema, PieceRangeSchema } from './common-schemas.js'
import { PIECE_DIGEST_PATTERN } from '../piece-digest.js'

export const PullPieceTasksQuerySchema = Type.Object({
  cid: ClientIdSchema,
  max: Type.Optional(Type.Integer({ minimum: 1, maximum: 64, description: 'most pieces to hand out (the client\'s free fetch slots); default 4' })),
  waitMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 30000, description: 'long-poll: how long to hold the request when nothing is available; default 0' })),
}, { additionalProperties: false })
export type PullPieceTasksQuery = Static<typeof PullPieceTasksQuerySchema>

/** Where a handed-out piece comes from: the supernode's CDN cache, or a peer. */
export const PIECE_SOURCE_KINDS = ['supernode', 'peer'] as const
export type PieceSourceKind = typeof PIECE_SOURCE_KINDS[number]
/** The `sourcePeerId` of a piece from the supernode (in hand-outs, reports and blacklists). */
export const SUPERNODE_SOURCE_ID = 'supernode'
/** Where a client's bytes came from, in metrics and per-download byte counts: a piece source, or the origin itself (back-source). */
export const PIECE_ORIGINS = ['supernode', 'peer', 'source'] as const
export type PieceOrigin = typeof PIECE_ORIGINS[number]

export const PieceTaskSchema = Type.Object({
  pieceNum: Type.Integer({ minimum: 0 }),
  pieceRange: PieceRangeSchema,
  digest: Type.String({ pattern: PIECE_DIGEST_PATTERN }),
  sourceKind: Type.Union(PIECE_SOURCE_KINDS.map((kind) => Type.Literal(kind))),
  sourcePeerId: Type.String({ description: `peer id of the source, or "${SUPERNODE_SOURCE_ID}"` }),
  url: Type.String({ description: 'GET this with Range: bytes=<pieceRange>' }),
  grant: Type.Optional(Type.String({ maxLength: 2048, description: 'the piece grant: send it as the x-damselfly-grant header of the GET (docs/security.md)' })),
})
export type PieceTask = Static<typeof PieceTaskSchema>

export const PullPieceTasksResponseSchema = Type.Union([
  Type.Object({ result: Type.Literal('pieces'), pieces: Type.Array(PieceTaskSchema, { minItems: 1 }) }),
  Type.Object({ result: Type.Literal('wait'), retryAfterMs: Type.Integer({ minimum: 0 }), reason: Type.String() }),
  Type.Object({ result: Type.Literal('limited'), retryAfterMs: Type.Integer({ minimum: 0 }), reason: Type.String() }),
  Type.Object({ result: Type.Literal('finished') }),
])
export type PullPieceTasksResponse = Static<typeof PullPieceTasksResponseSchema>

export const parsePullPieceTasksResponse = createParser(PullPieceTasksResponseSchema, 'response')
