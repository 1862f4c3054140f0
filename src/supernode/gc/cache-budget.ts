/**
 * CacheBudget: keeps the CDN cache within its disk budget — at most `maxSizeBytes` of cache
 * files, and at least `minFreeBytes` free on the cache's filesystem (0 turns a limit off).
 * It runs before a new file enters the cache (making room for it) and on every GC run.
 * Files go least recently used first, files left incomplete by an earlier run before any;
 * a file in use (a running download, a long-poll, a CDN fetch) is never deleted: the task is
 * released from memory synchronously right before its deletion, or skipped. When only files
 * in use are left the cache may stay over budget until they are released. Runs are
 * serialised, so two new files cannot both count the same freed space.
 */
import { stat, statfs } from 'node:fs/promises'
import type { Logger } from '../../common/log.js'
import type { TaskId } from '../../protocol/ids.js'
import type { CacheStore } from '../cdn/cache-store.js'
import type { CdnManager } from '../cdn/cdn-manager.js'
import type { TaskManager } from '../task/task-manager.js'

export interface CacheBudgetOptions {
  /** Most bytes of cache files; 0 = no size limit. */
  readonly maxSizeBytes: number
  /** Least free bytes on the cache's filesystem; 0 = no free-space limit. */
  readonly minFreeBytes: number
}

/** Why a file was evicted, as a metric label. */
export type EvictionReason = 'size' | 'free_space'

export interface CacheBudgetDeps {
  readonly logger: Logger
  readonly homeDir: string
  readonly store: Pick<CacheStore, 'listTaskIds' | 'loadMeta' | 'dataPath'>
  readonly cdn: Pick<CdnManager, 'removeCached'>
  readonly tasks: Pick<TaskManager, 'releaseIfIdle' | 'getTask'>
  /** Free bytes of the filesystem holding `path`; default statfs. Tests inject a fake disk. */
  readonly fetchFreeBytes?: (path: string) => Promise<number>
  readonly onEvicted?: (reason: EvictionReason, bytes: number) => void
}

/** What one run found and did. */
export interface CacheBudgetReport {
  /** Bytes of cache files after the run. */
  readonly usedBytes: number
  /** Free bytes on the filesystem after the run (Infinity when not checked). */
  readonly freeBytes: number
  readonly evicted: readonly TaskId[]
}

interface CacheEntry { readonly taskId: TaskId, readonly sizeBytes: number, readonly lastAccessMs: number, readonly isComplete: boolean }

export class CacheBudget {
  readonly #deps: CacheBudgetDeps
  readonly #options: CacheBudgetOptions
  #queue: Promise<unknown> = Promise.resolve()
  #usedBytes = 0

  constructor (deps: CacheBudgetDeps, options: CacheBudgetOptions) {
    this.#deps = deps
    this.#options = options
  }

  /** True when a limit is set. */
  get isLimited (): boolean {
    return this.#options.maxSizeBytes > 0 || this.#options.minFreeBytes > 0
  }

  /** Bytes of cache files as of the last run. */
  get usedBytes (): number {
    return this.#usedBytes
  }

  /**
   * Evicts until `incomingBytes` more fit in the budget (or nothing more can go). The
   * incoming task itself is never evicted.
   */
  async makeRoom (incomingBytes: number, incomingTaskId?: TaskId): Promise<CacheBudgetReport> {
    const run = this.#queue.then(async () => await this.#run(incomingBytes, incomingTaskId))
    this.#queue = run.catch(() => undefined)
    return await run
  }

  async #run (incomingBytes: number, incomingTaskId: TaskId | undefined): Promise<CacheBudgetReport> {
    const { maxSizeBytes, minFreeBytes } = this.#options
    const entries = (await this.#listEntries()).filter((entry) => entry.taskId !== incomingTaskId)
    let usedBytes = entries.reduce((sum, entry) => sum + entry.sizeBytes, 0)
    let freeBytes = minFreeBytes > 0 ? await this.#fetchFreeBytes() : Number.POSITIVE_INFINITY
    const evicted: TaskId[] = []
    // Leftovers of an earlier run first, then least recently used.
    const candidates = entries.sort((a, b) => Number(a.isComplete) - Number(b.isComplete) || a.lastAccessMs - b.lastAccessMs)
    for (const entry of candidates) {
      const overSize = maxSizeBytes > 0 && usedBytes + incomingBytes > maxSizeBytes
      const shortOfSpace = minFreeBytes > 0 && freeBytes - incomingBytes < minFreeBytes
      if (!overSize && !shortOfSpace) break
      if (!this.#deps.tasks.releaseIfIdle(entry.taskId)) continue // in use: never deleted
      await this.#deps.cdn.removeCached(entry.taskId)
      usedBytes -= entry.sizeBytes
      freeBytes += entry.sizeBytes
      evicted.push(entry.taskId)
      this.#deps.onEvicted?.(overSize ? 'size' : 'free_space', entry.sizeBytes)
      this.#deps.logger.info({ taskId: entry.taskId, sizeBytes: entry.sizeBytes, reason: overSize ? 'size' : 'free_space', usedBytes, incomingBytes }, 'cache file evicted')
    }
    const isOver = (maxSizeBytes > 0 && usedBytes + incomingBytes > maxSizeBytes) || (minFreeBytes > 0 && freeBytes - incomingBytes < minFreeBytes)
    if (isOver) this.#deps.logger.warn({ usedBytes, incomingBytes, freeBytes, maxSizeBytes, minFreeBytes }, 'cache over budget: every remaining file is in use')
    this.#usedBytes = usedBytes + incomingBytes
    return { usedBytes, freeBytes, evicted }
  }

  async #listEntries (): Promise<CacheEntry[]> {
    const { store, tasks } = this.#deps
    const entries: CacheEntry[] = []
    for (const taskId of await store.listTaskIds()) {
      let sizeBytes = 0
      try { sizeBytes = (await stat(store.dataPath(taskId))).size } catch { sizeBytes = 0 }
      const meta = await store.loadMeta(taskId)
      const lastAccessMs = Math.max(tasks.getTask(taskId)?.lastAccessMs ?? 0, meta?.lastAccessMs ?? 0)
      entries.push({ taskId, sizeBytes, lastAccessMs, isComplete: meta?.complete === true })
    }
    return entries
  }

  async #fetchFreeBytes (): Promise<number> {
    if (this.#deps.fetchFreeBytes !== undefined) return await this.#deps.fetchFreeBytes(this.#deps.homeDir)
    const stats = await statfs(this.#deps.homeDir)
    return stats.bavail * stats.bsize
  }
}
