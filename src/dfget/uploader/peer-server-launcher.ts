/**
 * Finding or starting this host's peer server. One peer server runs per --home: dfget reads
 * `<home>/peer-server.json`, pings the server it names and reuses it; otherwise it takes the
 * start lock, starts `dfget server` as a detached child (output to
 * `<home>/logs/peer-server.log`) and waits, up to a deadline, for the child's state file.
 * A dfget that finds the lock held by a live process waits for that start instead, so two
 * dfgets of one home starting at once share one server.
 */
import { spawn } from 'node:child_process'
import { closeSync, openSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { basename, dirname, join } from 'node:path'
import type { Logger } from '../../common/log.js'
import { DfError } from '../../protocol/errors.js'
import { parsePeerId, type PeerId } from '../../protocol/ids.js'
import { createHomeLayout, ensureHomeDirs, type HomeLayout } from '../home-layout.js'
import { PeerClient, type PieceAnnouncer, type StreamStoreClient } from './peer-client.js'
import { readPeerServerState, releaseStartLock, tryAcquireStartLock } from './peer-server-state.js'

/** A running peer server of this host. */
/**
 * glibc malloc settings for the peer server (the caller's environment wins): stream mode
 * passes every piece through its memory, and with the default per-thread arenas and the
 * self-raising mmap threshold the freed piece buffers stay in the process (about 30 MB more
 * at peak in the 4-streamer test). A fixed 128 KiB threshold returns each piece's memory
 * to the system when it is freed.
 */
const PEER_SERVER_MALLOC_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072' }

export interface PeerServerHandle {
  readonly peerId: PeerId
  readonly port: number
  /** Where this host reaches it (loopback). */
  readonly localUrl: string
  /** The server runs in this process: stream pieces go to its store directly, not over HTTP. */
  readonly localStreams?: StreamStoreClient
  /** The server runs in this process: verified pieces are announced to it directly (v2). */
  readonly localPieces?: PieceAnnouncer
}

/** Finds (or starts) this host's peer server. The seam a test uses to hand dfget an in-process server. */
export interface PeerServerLocator {
  locate(signal?: AbortSignal): Promise<PeerServerHandle>
  /** The server when one runs already, without starting one (undefined: `locate` would have to start it). */
  findRunning?(): Promise<PeerServerHandle | undefined>
}

/** How to run `dfget server`: the program and its leading arguments. */
export interface ServerCommand {
  readonly execPath: string
  readonly args: readonly string[]
}

export interface PeerServerLauncherOptions {
  readonly homeDir: string
  /** Flags for a started server (`--port`, `--alivetime` ...), already as argv. */
  readonly serverArgs?: readonly string[]
  /** Default: this Node running dfget's main module. */
  readonly command?: ServerCommand
  /** How long to wait for a started server. Default 15 s. */
  readonly startTimeoutMs?: number
  /** Extra environment of a started server (the shared token travels here, not in argv). */
  readonly env?: Readonly<Record<string, string>>
  /**
   * Start the server in this process instead of spawning `dfget server` (a long-lived
   * process such as dfdaemon hosts it). Called under the start lock, at most once at a time;
   * the handle it returns is reused while it lives (`isRunning`).
   */
  readonly hostInProcess?: () => Promise<HostedPeerServer>
}

/** A peer server this process hosts. */
export interface HostedPeerServer {
  readonly handle: PeerServerHandle
  /** False once the server stopped. */
  isRunning(): boolean
}

const POLL_INTERVAL_MS = 25

/**
 * A small young generation for the peer server: its JS objects are few and short-lived,
 * and the default 16 MiB semi-spaces only hold more dead piece-buffer handles between
 * collections (about 25 MB less at peak in stream mode).
 */
const PEER_SERVER_NODE_FLAGS = ['--max-semi-space-size=2']

/** The default command: this Node and dfget's main module beside this file's area. */
export function defaultServerCommand (): ServerCommand {
  const self = fileURLToPath(import.meta.url)
  if (self.endsWith('.ts')) {
    // Running from sources (tests under tsx): the child needs the loader too.
    return { execPath: process.execPath, args: ['--import', 'tsx', fileURLToPath(new URL('../main.ts', import.meta.url))] }
  }
  // Bundled (dist/dfget-bundle/, what bin/dfget runs): this code is a chunk beside the entry.
  if (basename(dirname(self)) === 'dfget-bundle') return { execPath: process.execPath, args: [...PEER_SERVER_NODE_FLAGS, join(dirname(self), 'dfget.js')] }
  return { execPath: process.execPath, args: [...PEER_SERVER_NODE_FLAGS, fileURLToPath(new URL('../main.js', import.meta.url))] }
}

export class PeerServerLauncher implements PeerServerLocator {
  readonly #logger: Logger
  readonly #layout: HomeLayout
  readonly #options: PeerServerLauncherOptions
  #hosted: HostedPeerServer | undefined

  constructor (deps: { logger: Logger }, options: PeerServerLauncherOptions) {
    this.#logger = deps.logger.child({ component: 'peer-server-launcher' })
    this.#layout = createHomeLayout(options.homeDir)
    this.#options = options
  }

  /** Returns the running server of this home, starting one when none answers. @throws DfError */
  async locate (signal?: AbortSignal): Promise<PeerServerHandle> {
    await ensureHomeDirs(this.#layout)
    const deadline = Date.now() + (this.#options.startTimeoutMs ?? 15_000)
    let started = false
    while (Date.now() < deadline) {
      signal?.throwIfAborted()
      const running = await this.findRunning()
      if (running !== undefined) return running
      if (await tryAcquireStartLock(this.#layout, process.pid)) {
        try {
          // Someone may have finished starting one between our look and the lock.
          const raced = await this.#findRunning()
          if (raced !== undefined) return raced
          if (this.#options.hostInProcess !== undefined) {
            this.#hosted = await this.#options.hostInProcess()
            return this.#hosted.handle
          }
          if (!started) {
            this.#spawnServer()
            started = true
          }
          return await this.#waitForServer(deadline, signal)
        } finally {
          await releaseStartLock(this.#layout, process.pid)
        }
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS))
    }
    throw new DfError('DF_ERR_TIMEOUT', `the peer server of ${this.#layout.homeDir} did not start in time (see ${this.#layout.peerServerLogPath})`)
  }

  async #waitForServer (deadline: number, signal: AbortSignal | undefined): Promise<PeerServerHandle> {
    while (Date.now() < deadline) {
      signal?.throwIfAborted()
      const running = await this.#findRunning()
      if (running !== undefined) return running
      await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS))
    }
    throw new DfError('DF_ERR_TIMEOUT', `the peer server of ${this.#layout.homeDir} did not start in time (see ${this.#layout.peerServerLogPath})`)
  }

  /** The server of this home when one runs (hosted here, or named by the state file and answering). */
  async findRunning (): Promise<PeerServerHandle | undefined> {
    if (this.#hosted?.isRunning() === true) return this.#hosted.handle
    return await this.#findRunning()
  }

  /** The server named by the state file, when it answers as that server. */
  async #findRunning (): Promise<PeerServerHandle | undefined> {
    const state = await readPeerServerState(this.#layout)
    if (state === undefined) return undefined
    const localUrl = `http://127.0.0.1:${state.port}`
    const client = new PeerClient({ baseUrl: localUrl, connectTimeoutMs: 1_000 })
    try {
      const status = await client.ping(2_000)
      if (status.peerId !== state.peerId || status.pid !== state.pid) return undefined
      return { peerId: parsePeerId(status.peerId), port: status.port, localUrl }
    } catch {
      return undefined
    } finally {
      await client.close()
    }
  }

  #spawnServer (): void {
    const command = this.#options.command ?? defaultServerCommand()
    const args = [...command.args, 'server', '--home', this.#layout.homeDir, ...(this.#options.serverArgs ?? [])]
    // The descriptor must exist before spawn; the child keeps its own copy.
    const logFd = openSync(this.#layout.peerServerLogPath, 'a', 0o644)
    try {
      const child = spawn(command.execPath, args, { detached: true, stdio: ['ignore', logFd, logFd], env: { ...PEER_SERVER_MALLOC_ENV, ...process.env, ...this.#options.env } })
      child.unref()
      this.#logger.debug({ pid: child.pid, args }, 'peer server started')
    } finally {
      closeSync(logFd)
    }
  }
}
