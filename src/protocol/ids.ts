/**
 * Branded identifiers. A TaskId cannot be passed where a ClientId is expected; each is
 * built only by its parse function, which rejects malformed input with DF_ERR_ARG_INVALID.
 */
import { invalidArgument } from './errors.js'

declare const brand: unique symbol
type Brand<T, B extends string> = T & { readonly [brand]: B }

/** A task: one file in the swarm (64 lowercase hex chars, a sha256). */
export type TaskId = Brand<string, 'TaskId'>
/** A cid: one dfget run. */
export type ClientId = Brand<string, 'ClientId'>
/** A peer: one host's peer server. */
export type PeerId = Brand<string, 'PeerId'>

const TASK_ID = /^[0-9a-f]{64}$/
const NAME_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/

/** Pattern strings for JSON schemas, so the schema and the parse function agree. */
export const ID_PATTERNS = { taskId: TASK_ID.source, name: NAME_ID.source } as const

/** @throws DF_ERR_ARG_INVALID */
export function parseTaskId (value: unknown, field = 'taskId'): TaskId {
  if (typeof value !== 'string' || !TASK_ID.test(value)) throw invalidArgument(field, 'must be 64 lowercase hex characters')
  return value as TaskId // checked by the pattern above
}

/** @throws DF_ERR_ARG_INVALID */
export function parseClientId (value: unknown, field = 'cid'): ClientId {
  if (typeof value !== 'string' || !NAME_ID.test(value)) throw invalidArgument(field, 'must be 1-128 characters of [A-Za-z0-9._:-]')
  return value as ClientId // checked by the pattern above
}

/** @throws DF_ERR_ARG_INVALID */
export function parsePeerId (value: unknown, field = 'peerId'): PeerId {
  if (typeof value !== 'string' || !NAME_ID.test(value)) throw invalidArgument(field, 'must be 1-128 characters of [A-Za-z0-9._:-]')
  return value as PeerId // checked by the pattern above
}
