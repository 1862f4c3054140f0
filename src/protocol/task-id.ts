/**
 * How a task is identified (docs/identity.md). The id is derived from the task URL with its
 * signature parameters (url-signature.ts) and the query parameters named by `filter`
 * removed, plus the md5 or identifier when given, plus a Range header when given. Where a
 * content digest is known (an OCI blob "sha256:…") it alone identifies the task, so the
 * same layer from two registries is one task. Clients and supernodes compute it the same
 * way, so a client can pick its supernode by hashing the id (docs/design-background.md).
 * A digest the source states in its answer is learnt by the supernode, which links the
 * URL's id to the digest's (supernode/task/task-aliases.ts).
 */
import { createHash } from 'node:crypto'
import type { TaskId } from './ids.js'
import { withoutSignature } from './url-signature.js'

/** What identifies a task's content. */
export interface TaskIdentity {
  readonly url: string
  readonly filter?: readonly string[] | undefined
  readonly md5?: string | undefined
  readonly identifier?: string | undefined
  readonly range?: string | undefined
  readonly digest?: string | undefined
}

/** The URL with the filtered query parameters removed (order of the rest kept). */
export function filterUrl (url: string, filter: readonly string[] = []): string {
  if (filter.length === 0) return url
  const parsed = new URL(url)
  for (const name of filter) parsed.searchParams.delete(name)
  return parsed.toString()
}

/** The part of a URL that identifies a task: without its signature parameters and the `filter`ed ones. */
export function identityUrl (url: string, filter: readonly string[] = []): string {
  return withoutSignature(filterUrl(url, filter))
}

/** The task id of a content digest alone ("sha256:<hex>"), as a registration naming that digest gets. */
export function digestTaskId (digest: string): TaskId {
  return computeTaskId({ url: '', digest })
}

/** The task id of an identity. */
export function computeTaskId (identity: TaskIdentity): TaskId {
  const hash = createHash('sha256')
  if (identity.digest !== undefined && identity.digest !== '') {
    hash.update(`digest\n${identity.digest}`)
  } else {
    hash.update(`url\n${identityUrl(identity.url, identity.filter)}`)
    if (identity.md5 !== undefined && identity.md5 !== '') hash.update(`\nmd5\n${identity.md5}`)
    else if (identity.identifier !== undefined && identity.identifier !== '') hash.update(`\nidentifier\n${identity.identifier}`)
  }
  if (identity.range !== undefined && identity.range !== '') hash.update(`\nrange\n${identity.range}`)
  return hash.digest('hex') as TaskId // a sha256 hex digest is a valid TaskId by construction
}
