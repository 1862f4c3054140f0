/**
 * The peer server's stream-mode control exchange (local callers only): a streaming dfget
 * opens a window store for its download (`POST /peer/streams`), puts each verified piece
 * into it (`PUT /peer/streams/{taskId}/pieces/{pieceNum}?cid=`, the raw piece bytes), drops
 * pieces that left its window (`DELETE` of the same path) and closes the store at the end
 * (`DELETE /peer/streams/{taskId}?cid=`). Other peers read the stored pieces through the
 * ordinary data route, by Range.
 */
import { Type, type Static } from '@sinclair/typebox'
import { createParser } from '../schema-parser.js'
import { ClientIdSchema, TaskIdSchema } from './common-schemas.js'
import { GRANT_KEY_PATTERN } from '../piece-grant.js'

export const OpenStreamRequestSchema = Type.Object({
  taskId: TaskIdSchema,
  cid: ClientIdSchema,
  fileLengthBytes: Type.Integer({ minimum: 0 }),
  pieceSizeBytes: Type.Integer({ minimum: 1 }),
  windowPieces: Type.Integer({ minimum: 1, maximum: 4096, description: 'most pieces the store holds for this stream' }),
  supernodes: Type.Array(Type.String({ maxLength: 512 }), { maxItems: 64, description: 'supernode base URLs to tell when this peer goes down' }),
  grantKeys: Type.Optional(Type.Array(Type.String({ pattern: GRANT_KEY_PATTERN }), { maxItems: 8, description: 'private task: the keys of its piece grants (the registration answer\'s grantKey); a piece request is then served only with a grant one of them verifies' })),
}, { additionalProperties: false })
export type OpenStreamRequest = Static<typeof OpenStreamRequestSchema>

export const parseOpenStreamRequest = createParser(OpenStreamRequestSchema, 'body')
