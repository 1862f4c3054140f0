/**
 * What every `dfdaemon setup` command configures: the mirror's address (dfdaemon on this
 * host) and the registries it mirrors; what the engine-specific modules share (the
 * commands they run, the check's outcome).
 */
import { execFile } from 'node:child_process'
import { isIP } from 'node:net'
import { DfError } from '../../protocol/errors.js'

/** A registry dfdaemon mirrors, as engines name it. */
export interface MirroredRegistry {
  /** How image references name it, and containerd's hosts directory: "docker.io", "registry.example:5000". */
  readonly host: string
  /** Where the registry itself answers: "https://registry-1.docker.io", "http://127.0.0.1:5000". */
  readonly serverUrl: string
}

export interface MirrorSetup {
  /** dfdaemon as engines reach it: "http://127.0.0.1:65001". */
  readonly mirrorUrl: string
  readonly registries: readonly MirroredRegistry[]
}

/** One line per file: what the command did. */
export interface SetupReport {
  readonly lines: readonly string[]
}

/** Runs a program: its exit status and output (never rejects; a missing program is status 127). */
export type CommandRunner = (command: string, args: readonly string[]) => Promise<{ code: number, stdout: string, stderr: string }>

/** What a check may use besides files: programs, and dfdaemon's /_ping. */
export interface CheckTools {
  readonly run: CommandRunner
  /** True when dfdaemon answers at the mirror URL. */
  readonly ping: (mirrorUrl: string) => Promise<boolean>
}

const DOCKER_HUB_NAMES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io'])

/**
 * A registry given as a URL (`https://registry.example`, `http://127.0.0.1:5000`) or as
 * `host[:port]` (HTTPS). Docker Hub's names become `docker.io`.
 * @throws DF_ERR_CONFIG_INVALID
 */
export function parseMirroredRegistry (value: string, field = 'registry'): MirroredRegistry {
  const text = value.trim()
  let url: URL
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `https://${text}`)
  } catch {
    throw new DfError('DF_ERR_CONFIG_INVALID', `--${field}: not a registry URL or host[:port] (got "${value}")`, { details: { field } })
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.host === '' || (url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.username !== '') {
    throw new DfError('DF_ERR_CONFIG_INVALID', `--${field}: not a registry URL or host[:port] (got "${value}")`, { details: { field } })
  }
  if (DOCKER_HUB_NAMES.has(url.host)) return { host: 'docker.io', serverUrl: 'https://registry-1.docker.io' }
  return { host: url.host, serverUrl: url.origin }
}

/** dfdaemon's URL for engines: its listen address (loopback when it listens on every address) and port. */
export function mirrorUrlOf (listen: string, port: number): string {
  const host = listen === '0.0.0.0' || listen === '::' || listen === '' ? '127.0.0.1' : listen
  return `http://${isIP(host) === 6 ? `[${host}]` : host}:${port}`
}

/** The same mirror URL whatever the trailing slash or case of the scheme and host. */
export function sameMirrorUrl (a: string, b: string): boolean {
  const normal = (u: string): string => {
    try {
      const url = new URL(u)
      return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`
    } catch {
      return u
    }
  }
  return normal(a) === normal(b)
}

/** The check's finding: in effect, or one line naming what is missing. */
export type CheckOutcome = { readonly inEffect: true, readonly detail: string } | { readonly inEffect: false, readonly missing: string }

/** Runs programs with execFile (20 s at most each). */
export const runProgram: CommandRunner = async (command, args) => await new Promise((resolve) => {
  execFile(command, [...args], { timeout: 20_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
    const code = err === null ? 0 : (err as NodeJS.ErrnoException).code === 'ENOENT' ? 127 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1
    resolve({ code, stdout: String(stdout), stderr: String(stderr) })
  })
})

/** True when dfdaemon answers `GET /_ping` at `mirrorUrl` (3 s at most). */
export async function pingDfdaemon (mirrorUrl: string): Promise<boolean> {
  try {
    const response = await fetch(`${mirrorUrl.replace(/\/+$/, '')}/_ping`, { signal: AbortSignal.timeout(3_000) })
    await response.arrayBuffer()
    return response.status === 200
  } catch {
    return false
  }
}

/** The first line of a program's complaint, for a one-line finding. */
export function firstLine (text: string): string {
  return text.split('\n').map((line) => line.trim()).find((line) => line !== '') ?? ''
}
