/**
 * Control protocol v2, the one exchange of a download with its supernode after
 * registration (`POST /api/v2/tasks/{taskId}/sync`, docs/protocol.md): the client says
 * what it holds (a bitmap, coarse: sent at milestones and intervals, never per piece),
 * which parents failed it, and how many piece digests it knows; the supernode answers with
 * the client's parents (peers to trade pieces with, each with the URL of its pieces and
 * its have feed), itself as the parent of last resort (the CDN, with the client's upload
 * slots there), the piece grant, and the digests the client lacks.
 *
 * With `waitMs` the supernode holds the request until the answer is worth sending: a batch
 * of new digests, a client left without parents, or the end of the wait. A sync naming
 * failed parents, or saying the download is complete, is answered at once.
 */
import { Type, type Static } from '@sinclair/typebox'
import { createParser } from '../schema-parser.js'
import { PIECE_DIGEST_PATTERN } from '../piece-digest.js'
import { ClientIdSchema, PeerIdSchema } from './common-schemas.js'

/** Longest wait of a sync. */
export const MAX_SYNC_WAIT_MS = 60_000
/** Most failed parents named in one sync. */
export const MAX_SYNC_FAILURES = 64

export const SyncTaskRequestSchema = Type.Object({
  cid: ClientIdSchema,
  held: Type.String({ maxLength: 1_500_000, description: 'the pieces this cid holds: base64 of a bitmap, bit p % 8 (least significant first) of byte floor(p / 8) is piece p' }),
  digestsFrom: Type.Integer({ minimum: 0, description: 'the lowest piece number whose digest the client lacks (the answer carries digests from there on)' }),
  digestsKnown: Type.Integer({ minimum: 0, description: 'how many piece digests the client knows' }),
  waitMs: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_SYNC_WAIT_MS, description: 'long-poll: hold the request until a batch of digests, a change of parents the client needs, or this long; default 0' })),
  complete: Type.Optional(Type.Boolean({ description: 'every piece is verified (the final sync of a download)' })),
  cdnWanted: Type.Optional(Type.Boolean({ description: 'the client used up its CDN share and lacks pieces no parent holds: a long-poll is answered as soon as the share can grow' })),
  failures: Type.Optional(Type.Array(Type.Object({
    sourcePeerId: Type.String({ maxLength: 128, description: 'the parent peer (or "supernode") at fault' }),
    pieceNum: Type.Optional(Type.Integer({ minimum: 0, description: 'the piece that failed; absent when the parent\'s have feed failed' })),
    reason: Type.String({ maxLength: 128, description: 'why it failed (an error code); DF_ERR_PIECE_DIGEST_MISMATCH makes the peer nobody\'s parent in this task' }),
  }, { additionalProperties: false }), { maxItems: MAX_SYNC_FAILURES })),
  received: Type.Optional(Type.Object({
    supernodePieces: Type.Integer({ minimum: 0 }),
    supernodeBytes: Type.Integer({ minimum: 0 }),
    peerPieces: Type.Integer({ minimum: 0 }),
    peerBytes: Type.Integer({ minimum: 0 }),
  }, { additionalProperties: false, description: 'what this cid received so far, by source (totals; the supernode counts the growth)' })),
}, { additionalProperties: false })
export type SyncTaskRequest = Static<typeof SyncTaskRequestSchema>

export const ParentSchema = Type.Object({
  peerId: PeerIdSchema,
  cid: ClientIdSchema,
  url: Type.String({ description: 'the parent\'s pieces: GET with Range and the grant' }),
  havesUrl: Type.String({ description: 'the parent\'s have feed (GET, long-poll with since and waitMs; the same grant)' }),
  complete: Type.Boolean({ description: 'the parent held every piece at its last sync' }),
})
export type Parent = Static<typeof ParentSchema>

export const SyncTaskResponseSchema = Type.Object({
  parents: Type.Array(ParentSchema, { description: 'peers to fetch pieces from (never this host, never a peer this cid reported)' }),
  supernode: Type.Object({
    url: Type.String({ description: 'the task file on the supernode\'s download port (the CDN)' }),
    slots: Type.Integer({ minimum: 0, description: 'how many pieces this cid may fetch from the CDN at once' }),
    cachedAll: Type.Boolean({ description: 'the CDN holds the whole file' }),
    cdnPieces: Type.Optional(Type.String({ maxLength: 1_500_000, description: 'this client\'s CDN share, a bitmap as `held`: the pieces nobody in the swarm has yet that this client (and no other) fetches from the CDN; the rest come from parents (the CDN serves them only to a client its parents leave without work)' })),
  }),
  grant: Type.Optional(Type.String({ maxLength: 2048, description: 'the piece grant for every parent and the CDN (x-damselfly-grant)' })),
  digestsFrom: Type.Integer({ minimum: 0 }),
  digests: Type.Array(Type.Union([Type.String({ pattern: PIECE_DIGEST_PATTERN }), Type.Literal('')]), { description: 'digests of pieces digestsFrom, digestsFrom + 1, ...; "" for a piece the CDN does not hold yet' }),
  syncAfterMs: Type.Integer({ minimum: 0, description: 'when to sync again at the latest (with a wait)' }),
})
export type SyncTaskResponse = Static<typeof SyncTaskResponseSchema>

export const parseSyncTaskResponse = createParser(SyncTaskResponseSchema, 'response')
