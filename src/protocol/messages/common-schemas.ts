/** Schemas shared by several exchanges. */
import { Type } from '@sinclair/typebox'
import { ID_PATTERNS } from '../ids.js'
import { ERROR_CODES } from '../errors.js'

export const TaskIdSchema = Type.String({ pattern: ID_PATTERNS.taskId, description: 'task id: sha256 hex of the task identity' })
export const ClientIdSchema = Type.String({ pattern: ID_PATTERNS.name, description: 'cid: one dfget run' })
export const PeerIdSchema = Type.String({ pattern: ID_PATTERNS.name, description: 'peer id: one host\'s peer server' })
export const PieceRangeSchema = Type.String({ pattern: '^\\d{1,15}-\\d{1,15}$', description: 'inclusive byte range "start-end"' })
export const HttpUrlSchema = Type.String({ pattern: '^[hH][tT][tT][pP][sS]?://[^\\s]+$', maxLength: 8192, description: 'an http or https URL' })

/** The body of every error response. */
export const ErrorSchema = Type.Object({
  code: Type.Union(Object.keys(ERROR_CODES).map((code) => Type.Literal(code))),
  message: Type.String(),
  details: Type.Optional(Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()]))),
}, { $id: 'Error', description: 'error: a stable code and a human message' })
