/**
 * Task registration (`POST /api/v1/tasks`): a cid of a peer asks for a URL. The answer
 * names the task and its geometry; the supernode has started (or reused) the CDN fetch.
 */
import { Type, type Static } from '@sinclair/typebox'
import { CONTENT_DIGEST_PATTERN } from '../content-digest.js'
import { GRANT_KEY_PATTERN } from '../piece-grant.js'
import { createParser } from '../schema-parser.js'
import { ClientIdSchema, HttpUrlSchema, PeerIdSchema, TaskIdSchema } from './common-schemas.js'

export const RegisterTaskRequestSchema = Type.Object({
  peerId: PeerIdSchema,
  cid: ClientIdSchema,
  url: HttpUrlSchema,
  headers: Type.Optional(Type.Record(Type.String({ minLength: 1, maxLength: 256 }), Type.String({ maxLength: 8192 }), { description: 'headers sent to the source: token names, values without CR, LF or other control characters, no connection headers (else 400 DF_ERR_ARG_INVALID naming the header)' })),
  md5: Type.Optional(Type.String({ pattern: '^[0-9a-fA-F]{32}$' })),
  identifier: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
  filter: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 256 }), { maxItems: 64, description: 'query parameters left out of the task identity' })),
  digest: Type.Optional(Type.String({ pattern: CONTENT_DIGEST_PATTERN, description: 'content digest; when given it alone identifies the task' })),
  windowPieces: Type.Optional(Type.Integer({ minimum: 1, maximum: 4096, description: 'stream mode: window size in pieces' })),
  heldPieces: Type.Optional(Type.Array(Type.Integer({ minimum: 0 }), { maxItems: 1048576, description: 'pieces this cid already holds (resume after a supernode change)' })),
}, { additionalProperties: false })
export type RegisterTaskRequest = Static<typeof RegisterTaskRequestSchema>

export const CdnStatusSchema = Type.Union([Type.Literal('running'), Type.Literal('success'), Type.Literal('failed')])
export type CdnStatus = Static<typeof CdnStatusSchema>

export const RegisterTaskResponseSchema = Type.Object({
  taskId: TaskIdSchema,
  fileLengthBytes: Type.Integer({ minimum: 0 }),
  pieceSizeBytes: Type.Integer({ minimum: 1 }),
  pieceCount: Type.Integer({ minimum: 0 }),
  cdnStatus: CdnStatusSchema,
  dataUrl: Type.String({ description: 'the task file on the supernode\'s download port; GET it with Range (pattern cdn, and pieces the supernode serves)' }),
  sourceVersion: Type.Optional(Type.String({ maxLength: 1024, description: 'the version of the source file the pieces come from (its ETag, else Last-Modified); a client moving to another supernode checks that it did not change' })),
  grantKey: Type.Optional(Type.String({ pattern: GRANT_KEY_PATTERN, description: 'present when the task is private (its source is not known to answer without credentials): the Ed25519 public key (JWK x) that signs its piece grants; the client\'s peer server serves the task only against a grant it verifies with this key' })),
})
export type RegisterTaskResponse = Static<typeof RegisterTaskResponseSchema>

export const TaskClientSchema = Type.Object({
  cid: ClientIdSchema,
  peerId: PeerIdSchema,
  status: Type.Union([Type.Literal('running'), Type.Literal('success'), Type.Literal('failed')]),
  donePieces: Type.Integer(),
  bytesFromSupernode: Type.Number(),
  bytesFromPeers: Type.Number(),
})

export const TaskInfoSchema = Type.Object({
  taskId: TaskIdSchema,
  url: Type.String(),
  fileLengthBytes: Type.Integer(),
  pieceSizeBytes: Type.Integer(),
  pieceCount: Type.Integer(),
  cdnStatus: CdnStatusSchema,
  urls: Type.Optional(Type.Array(Type.String(), { description: 'the URLs the task was reached by (redacted: no query), up to 16 (docs/identity.md)' })),
  digest: Type.Optional(Type.String({ description: 'the content digest that identifies the task: given by the registration, or stated by the source (docs/identity.md)' })),
  aliases: Type.Optional(Type.Array(TaskIdSchema, { description: 'other task ids that lead to this task: the stated digest\'s, other URLs\' of the same content (docs/identity.md)' })),
  cachedPieces: Type.Integer({ description: 'pieces in the CDN cache' }),
  createdAt: Type.String(),
  clients: Type.Array(TaskClientSchema),
})
export type TaskInfo = Static<typeof TaskInfoSchema>

export const TaskListSchema = Type.Object({ tasks: Type.Array(TaskInfoSchema) })
export type TaskList = Static<typeof TaskListSchema>

export const parseRegisterTaskRequest = createParser(RegisterTaskRequestSchema, 'body')
export const parseRegisterTaskResponse = createParser(RegisterTaskResponseSchema, 'response')
export const parseTaskInfo = createParser(TaskInfoSchema, 'task')
export const parseTaskList = createParser(TaskListSchema, 'tasks')
