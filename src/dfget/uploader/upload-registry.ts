/**
 * Which task files this host serves, and until when. Owned by the peer server: an entry
 * is added when a dfget on this host registers a data file (`POST /peer/uploads`), touched
 * whenever a peer reads from it or the dfget registers it again (its heartbeat), and
 * expired when untouched for `expireTimeMs` (the file is then deleted). The registry also
 * remembers every supernode it was told about, so the server can say "service down" to
 * each of them, and when the host last did any work, for `--alivetime`.
 */
import { resolve, sep } from 'node:path'
import type { KeyObject } from 'node:crypto'
import type { Clock } from '../../common/clock.js'
import type { ClientId, TaskId } from '../../protocol/ids.js'
import type { RegisterUploadRequest } from '../../protocol/messages/peer-upload.js'

/** One served file. */
export interface UploadEntry {
  readonly taskId: TaskId
  readonly cid: ClientId
  readonly path: string
  readonly fileLengthBytes: number
  readonly pieceSizeBytes: number
  readonly supernodes: readonly string[]
  /** A private task: the keys its piece grants are verified with (empty: public, no grant needed). */
  readonly grantKeys: readonly KeyObject[]
  /** Last registration or read, ms since the epoch. */
  readonly lastUsedMs: number
}

export class UploadRegistry {
  readonly #clock: Clock
  readonly #dataDir: string
  readonly #entries = new Map<string, UploadEntry>()
  readonly #supernodes = new Set<string>()
  #lastActivityMs: number

  /** `dataDir`: the only directory whose files may be registered. */
  constructor (deps: { clock: Clock }, options: { dataDir: string }) {
    this.#clock = deps.clock
    this.#dataDir = resolve(options.dataDir)
    this.#lastActivityMs = deps.clock.now()
  }

  /** True when `path` is a file inside the data directory (no traversal out of it). */
  isServablePath (path: string): boolean {
    const resolved = resolve(path)
    return resolved.startsWith(this.#dataDir + sep) && resolved.length > this.#dataDir.length + 1
  }

  /** Adds or refreshes an entry. The caller checked `isServablePath`. */
  register (request: Omit<RegisterUploadRequest, 'grantKeys'> & { taskId: TaskId, cid: ClientId, grantKeys?: readonly KeyObject[] }): UploadEntry {
    const now = this.#clock.now()
    const entry: UploadEntry = {
      taskId: request.taskId,
      cid: request.cid,
      path: resolve(request.path),
      fileLengthBytes: request.fileLengthBytes,
      pieceSizeBytes: request.pieceSizeBytes,
      supernodes: [...request.supernodes],
      grantKeys: request.grantKeys ?? [],
      lastUsedMs: now,
    }
    this.#entries.set(keyOf(request.taskId, request.cid), entry)
    for (const url of request.supernodes) this.#supernodes.add(url)
    this.#lastActivityMs = now
    return entry
  }

  /** Removes an entry; returns it, or undefined when it was not there. */
  unregister (taskId: string, cid: string): UploadEntry | undefined {
    const key = keyOf(taskId, cid)
    const entry = this.#entries.get(key)
    this.#entries.delete(key)
    this.#lastActivityMs = this.#clock.now()
    return entry
  }

  /** The entry for a read, touching it (a read keeps the file and the server alive). */
  getForRead (taskId: string, cid: string): UploadEntry | undefined {
    const key = keyOf(taskId, cid)
    const entry = this.#entries.get(key)
    if (entry === undefined) return undefined
    const now = this.#clock.now()
    const touched = { ...entry, lastUsedMs: now }
    this.#entries.set(key, touched)
    this.#lastActivityMs = now
    return touched
  }

  /** Removes and returns the entries untouched for `expireTimeMs`. */
  takeExpired (expireTimeMs: number): UploadEntry[] {
    const now = this.#clock.now()
    const expired: UploadEntry[] = []
    for (const [key, entry] of this.#entries) {
      if (now - entry.lastUsedMs >= expireTimeMs) {
        expired.push(entry)
        this.#entries.delete(key)
      }
    }
    return expired
  }

  /** Records work that is not about a registered file (stream mode's puts and reads), for --alivetime. */
  touchActivity (): void {
    this.#lastActivityMs = this.#clock.now()
  }

  /** Milliseconds since the last registration or read. */
  idleMs (): number {
    return this.#clock.now() - this.#lastActivityMs
  }

  get size (): number {
    return this.#entries.size
  }

  /** Every supernode base URL any dfget registered with. */
  supernodeUrls (): string[] {
    return [...this.#supernodes]
  }

  /** Every entry (a copy). */
  entries (): UploadEntry[] {
    return [...this.#entries.values()]
  }
}

function keyOf (taskId: string, cid: string): string {
  return `${taskId}/${cid}`
}
