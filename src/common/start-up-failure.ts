/**
 * Why a program could not start, said in the words of its flags. The system errors of a
 * start-up — a port already in use, a certificate file missing, a home directory that cannot
 * be created or written — become one DF_ERR_CONFIG_UNUSABLE naming the resource and the flag
 * that chose it (`port 8002 is already in use (--port)`), which the composition roots print
 * as their one-line error with exit status 2, instead of a stack. The supernode, dfget and
 * dfdaemon all check their resources and map their start-up failures here.
 */
import { constants } from 'node:fs'
import { access, mkdir } from 'node:fs/promises'
import { resolve, sep } from 'node:path'
import { DfError } from '../protocol/errors.js'

/** Something a program takes at start-up, named by the flag that chose it. */
export type StartupResource =
  | { readonly kind: 'port', readonly flag: string, readonly port: number }
  | { readonly kind: 'address', readonly flag: string, readonly host: string }
  /** A file read at start-up (`what`: "TLS certificate") or a directory it must write (`what`: "home directory"). */
  | { readonly kind: 'file' | 'directory', readonly flag: string, readonly path: string, readonly what: string }

/** A system error as Node reports it (fs, net). */
interface SystemError {
  readonly code: string
  readonly syscall?: string
  readonly path?: string
  readonly port?: number
  readonly address?: string
}

const PATH_REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'read-only file system',
  ENOTDIR: 'a part of the path is not a directory',
  EISDIR: 'it is a directory',
  EEXIST: 'it exists and is not a directory',
  ENOSPC: 'no space left on the device',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'the name is too long',
}

/**
 * The DF_ERR_CONFIG_UNUSABLE that names which of `resources` could not be used and why, when
 * `err` (or one of its causes) is a system error about one of them; otherwise `err` as it is.
 */
export function describeStartupFailure (err: unknown, resources: readonly StartupResource[]): unknown {
  const system = findSystemError(err)
  if (system === undefined) return err
  const message = system.syscall === 'listen' || system.syscall === 'bind' ? describeListenFailure(system, resources) : describePathFailure(system, resources)
  return message === undefined ? err : new DfError('DF_ERR_CONFIG_UNUSABLE', message, { cause: err, details: { errno: system.code } })
}

/**
 * Checks, before anything starts, that every directory of `resources` exists or can be
 * created and can be written, and every file can be read: a home or a certificate the
 * program cannot use then fails the start, not the first download.
 * @throws the system error (ENOENT, ENOTDIR, EACCES, EROFS ...), for describeStartupFailure
 */
export async function checkStartupResources (resources: readonly StartupResource[]): Promise<void> {
  for (const resource of resources) {
    if (resource.kind === 'directory') {
      await mkdir(resource.path, { recursive: true })
      await access(resource.path, constants.W_OK)
    } else if (resource.kind === 'file') {
      await access(resource.path, constants.R_OK)
    }
  }
}

function describeListenFailure (system: SystemError, resources: readonly StartupResource[]): string | undefined {
  const port = system.port
  const portFlag = resources.find((r) => r.kind === 'port' && r.port === port)?.flag
  const named = (flag: string | undefined): string => flag === undefined ? '' : ` (${flag})`
  switch (system.code) {
    case 'EADDRINUSE': return `port ${port ?? '?'} is already in use${named(portFlag)}`
    case 'EACCES': return `no permission to listen on port ${port ?? '?'}${named(portFlag)}`
    case 'EADDRNOTAVAIL': return `${system.address ?? 'the address'} is not an address of this host${named(resources.find((r) => r.kind === 'address')?.flag)}`
    default: return undefined
  }
}

function describePathFailure (system: SystemError, resources: readonly StartupResource[]): string | undefined {
  const reason = PATH_REASONS[system.code]
  if (reason === undefined || system.path === undefined) return undefined
  const failed = resolve(system.path)
  // The resource whose path is the failed one, contains it (a subdirectory of the home) or
  // lies under it (mkdir of a parent); the most specific one wins.
  const resource = resources
    .filter((r): r is Extract<StartupResource, { path: string }> => r.kind === 'file' || r.kind === 'directory')
    .filter((r) => isSameOrInside(failed, resolve(r.path)) || isSameOrInside(resolve(r.path), failed))
    .sort((a, b) => resolve(b.path).length - resolve(a.path).length)[0]
  if (resource === undefined) return undefined
  const verb = resource.kind === 'file' ? 'read' : 'use'
  const where = failed === resolve(resource.path) ? '' : ` (${system.syscall ?? 'at'} ${failed})`
  return `cannot ${verb} the ${resource.what} ${resource.path} (${resource.flag}): ${reason}${where}`
}

function isSameOrInside (path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith(sep) ? dir : `${dir}${sep}`)
}

/** The first system error in `err` and its causes. */
function findSystemError (err: unknown): SystemError | undefined {
  let current: unknown = err
  for (let depth = 0; depth < 8 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return current as unknown as SystemError
    current = current.cause
  }
  return undefined
}
