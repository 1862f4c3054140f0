/**
 * Control protocol v2 between hosts (docs/protocol.md): a child reads the bitmap of what
 * its parent holds for a task (`GET /peer/tasks/{taskId}/haves?cid=…&since=…&waitMs=…`,
 * with the piece grant like a piece request). The answer carries a sequence number; a
 * request with `since` = the last one seen is held until the bitmap changes ("have"
 * updates, or a stream-mode piece leaving the window) or `waitMs` passes. A dfget tells its
 * own peer server which pieces it verified (`POST /peer/uploads/{taskId}/pieces?cid=…`,
 * loopback only, in batches).
 */
import { Type, type Static } from '@sinclair/typebox'
import { createParser } from '../schema-parser.js'

/** Longest hold of a have request. */
export const MAX_HAVES_WAIT_MS = 60_000

export const PeerHavesResponseSchema = Type.Object({
  seq: Type.Integer({ minimum: 0, description: 'grows with every change of the bitmap' }),
  held: Type.String({ description: 'base64 bitmap of the pieces the parent can serve now (piece-bitset.ts)' }),
  complete: Type.Boolean({ description: 'the parent holds every piece and will not lose any (a finished file)' }),
})
export type PeerHavesResponse = Static<typeof PeerHavesResponseSchema>

export const AnnouncePiecesRequestSchema = Type.Object({
  pieces: Type.Array(Type.Integer({ minimum: 0 }), { minItems: 1, maxItems: 1_048_576, description: 'verified pieces of the data file, now servable' }),
}, { additionalProperties: false })
export type AnnouncePiecesRequest = Static<typeof AnnouncePiecesRequestSchema>

export const parsePeerHavesResponse = createParser(PeerHavesResponseSchema, 'response')
export const parseAnnouncePiecesRequest = createParser(AnnouncePiecesRequestSchema, 'body')
