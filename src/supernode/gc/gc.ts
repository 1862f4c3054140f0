/**
 * Garbage collection of the supernode, on the injected clock: tasks that nobody uses (no
 * running cid, no long-poll, no CDN fetch) and that were idle past `taskExpireTimeMs`
 * leave memory (their last use is written to the cache metadata); cache files unused past
 * `cacheExpireTimeMs`, or left incomplete by an earlier run, are deleted. A task in use
 * is never touched: the check is made synchronously right before each deletion. Each run
 * ends with the cache budget (cache-budget.ts), whose evictions are reported with the rest.
 */
import type { Clock, TimerHandle } from '../../common/clock.js'
import type { Logger } from '../../common/log.js'
import type { TaskId } from '../../protocol/ids.js'
import type { CacheStore } from '../cdn/cache-store.js'
import type { CdnManager } from '../cdn/cdn-manager.js'
import type { CacheBudget } from './cache-budget.js'
import type { TaskManager } from '../task/task-manager.js'

export interface GarbageCollectorOptions {
  readonly intervalMs: number
  readonly taskExpireTimeMs: number
  readonly cacheExpireTimeMs: number
}

export interface GarbageCollectorDeps {
  readonly clock: Clock
  readonly logger: Logger
  readonly tasks: Pick<TaskManager, 'collectIdle' | 'isInUse'>
  readonly cdn: Pick<CdnManager, 'recordAccess' | 'removeCached'>
  readonly store: Pick<CacheStore, 'listTaskIds' | 'loadMeta'>
  /** The disk budget, enforced at the end of each run. */
  readonly budget?: Pick<CacheBudget, 'makeRoom'>
  /** Called for each expired cache file deleted (metrics). */
  readonly onExpired?: (taskId: TaskId) => void
}

/** What one run removed. */
export interface GcReport {
  readonly tasksRemoved: readonly TaskId[]
  readonly cacheFilesRemoved: readonly TaskId[]
}

export class GarbageCollector {
  readonly #deps: GarbageCollectorDeps
  readonly #options: GarbageCollectorOptions
  #timer: TimerHandle | undefined
  #running: Promise<GcReport> | undefined
  #closed = false

  constructor (deps: GarbageCollectorDeps, options: GarbageCollectorOptions) {
    this.#deps = deps
    this.#options = options
  }

  /** Runs GC every `intervalMs` until closed. */
  start (): void {
    if (this.#closed || this.#timer !== undefined) return
    this.#timer = this.#deps.clock.setTimeout(() => {
      this.#timer = undefined
      this.runOnce()
        .catch((err: unknown) => { this.#deps.logger.error({ err }, 'GC run failed') })
        .finally(() => { this.start() })
    }, this.#options.intervalMs)
  }

  /** One GC run (runs do not overlap: a call during a run joins it). */
  async runOnce (): Promise<GcReport> {
    this.#running ??= this.#run().finally(() => { this.#running = undefined })
    return await this.#running
  }

  /** Stops the timer and waits for a running GC. Idempotent. */
  async close (): Promise<void> {
    this.#closed = true
    this.#timer?.cancel()
    this.#timer = undefined
    await this.#running?.catch(() => undefined)
  }

  async #run (): Promise<GcReport> {
    const { tasks, cdn, store, clock, logger } = this.#deps
    const collected = tasks.collectIdle(this.#options.taskExpireTimeMs)
    for (const { taskId, lastAccessMs } of collected) {
      await cdn.recordAccess(taskId, lastAccessMs).catch((err: unknown) => { logger.warn({ taskId, err }, 'cannot record last access') })
    }
    const cacheFilesRemoved: TaskId[] = []
    for (const taskId of await store.listTaskIds()) {
      if (tasks.isInUse(taskId)) continue
      const meta = await store.loadMeta(taskId)
      const isExpired = meta === undefined || !meta.complete || clock.now() - meta.lastAccessMs > this.#options.cacheExpireTimeMs
      if (!isExpired || tasks.isInUse(taskId)) continue
      await cdn.removeCached(taskId)
      cacheFilesRemoved.push(taskId)
      this.#deps.onExpired?.(taskId)
    }
    if (this.#deps.budget !== undefined) cacheFilesRemoved.push(...(await this.#deps.budget.makeRoom(0)).evicted)
    const tasksRemoved = collected.map((entry) => entry.taskId)
    if (tasksRemoved.length > 0 || cacheFilesRemoved.length > 0) logger.info({ tasksRemoved: tasksRemoved.length, cacheFilesRemoved: cacheFilesRemoved.length }, 'GC')
    return { tasksRemoved, cacheFilesRemoved }
  }
}
