/**
 * ReadHandles: open read-only handles of the files a server sends pieces from, kept open
 * between requests. A swarm asks a host for a file's pieces one range at a time, so opening
 * and closing the file per request was two system calls, a promise and a handle object per
 * piece — a measurable share of a host agent's CPU in the swarm lab.
 *
 * A handle is closed when it was not used for `idleMs`, and at once when its file is
 * `forget`-ten (deleted or replaced: a kept handle would pin a deleted file's space). A
 * handle in use by a read is closed only after that read released it.
 */
import { open, type FileHandle } from 'node:fs/promises'
import type { Clock, TimerHandle } from '../clock.js'

interface Entry {
  readonly opening: Promise<FileHandle>
  users: number
  lastUsedMs: number
  forgotten: boolean
}

/** A handle lent by `acquire`; `release` it when the read is done. */
export interface LentHandle {
  readonly handle: FileHandle
  release(): void
}

export class ReadHandles {
  readonly #clock: Clock
  readonly #idleMs: number
  readonly #entries = new Map<string, Entry>()
  #timer: TimerHandle | undefined

  constructor (deps: { clock: Clock }, options: { idleMs?: number } = {}) {
    this.#clock = deps.clock
    this.#idleMs = options.idleMs ?? 10_000
  }

  /** Handles open now (for tests). */
  get size (): number {
    return this.#entries.size
  }

  /** A handle of `path`, opened or reused. @throws the open's error (ENOENT ...) */
  async acquire (path: string): Promise<LentHandle> {
    let entry = this.#entries.get(path)
    if (entry === undefined) {
      entry = { opening: open(path, 'r'), users: 0, lastUsedMs: this.#clock.now(), forgotten: false }
      this.#entries.set(path, entry)
      entry.opening.catch(() => { if (this.#entries.get(path) === entry) this.#entries.delete(path) })
      this.#schedule()
    }
    const lent = entry
    lent.users += 1
    let handle: FileHandle
    try {
      handle = await lent.opening
    } catch (err) {
      lent.users -= 1
      throw err
    }
    let released = false
    return {
      handle,
      release: () => {
        if (released) return
        released = true
        lent.users -= 1
        lent.lastUsedMs = this.#clock.now()
        if (lent.forgotten && lent.users === 0) void closeQuietly(lent)
      },
    }
  }

  /** The file is gone or changes: close its handle (after the reads in flight). */
  forget (path: string): void {
    const entry = this.#entries.get(path)
    if (entry === undefined) return
    this.#entries.delete(path)
    entry.forgotten = true
    if (entry.users === 0) void closeQuietly(entry)
  }

  /** Closes every handle. */
  async close (): Promise<void> {
    this.#timer?.cancel()
    this.#timer = undefined
    const entries = [...this.#entries.values()]
    this.#entries.clear()
    for (const entry of entries) entry.forgotten = true
    await Promise.all(entries.filter((entry) => entry.users === 0).map(closeQuietly))
  }

  #schedule (): void {
    if (this.#timer !== undefined) return
    // Housekeeping: never keeps a process alive.
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined
      const now = this.#clock.now()
      for (const [path, entry] of this.#entries) {
        if (entry.users === 0 && now - entry.lastUsedMs >= this.#idleMs) this.forget(path)
      }
      if (this.#entries.size > 0) this.#schedule()
    }, this.#idleMs)
  }
}

async function closeQuietly (entry: Entry): Promise<void> {
  try {
    await (await entry.opening).close()
  } catch {
    // It never opened, or is closed already.
  }
}
