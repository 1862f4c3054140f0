/**
 * Wake-ups for long-polls. Whenever something a waiting client might care about changes in
 * a task (a piece cached by the CDN, a piece reported, a hand-out released, a peer leaving,
 * the task failing), the owner of that change calls `notify(taskId)`; every waiter of the
 * task is woken once and re-evaluates. It carries no data: waiters read the state they need.
 */
import type { Clock } from '../../common/clock.js'
import type { TaskId } from '../../protocol/ids.js'

/** Why a wait ended. */
export type WakeReason = 'notified' | 'timeout' | 'aborted' | 'closed'

/** The wake-up bus of one supernode. */
export class TaskEvents {
  readonly #clock: Clock
  readonly #waiters = new Map<TaskId, Set<(reason: WakeReason) => void>>()
  readonly #listeners = new Set<(taskId: TaskId) => void>()
  #closed = false

  constructor (deps: { clock: Clock }) {
    this.#clock = deps.clock
  }

  /** Wakes every waiter of `taskId`. */
  notify (taskId: TaskId): void {
    for (const listener of this.#listeners) listener(taskId)
    const waiters = this.#waiters.get(taskId)
    if (waiters === undefined) return
    this.#waiters.delete(taskId)
    for (const wake of waiters) wake('notified')
  }

  /**
   * Calls `listener` with the task id on every `notify` (the dashboard marks the task
   * changed). It runs inside the notifier's synchronous state change, so it must be O(1)
   * and must not throw. Returns the function that removes it.
   */
  onNotify (listener: (taskId: TaskId) => void): () => void {
    this.#listeners.add(listener)
    return () => { this.#listeners.delete(listener) }
  }

  /** Number of requests waiting on `taskId` (for tests and task info). */
  countWaiters (taskId: TaskId): number {
    return this.#waiters.get(taskId)?.size ?? 0
  }

  /** Number of requests waiting on any task (a gauge for operators). */
  countAllWaiters (): number {
    let count = 0
    for (const waiters of this.#waiters.values()) count += waiters.size
    return count
  }

  /**
   * Resolves at the next `notify(taskId)`, after `timeoutMs`, when `signal` aborts, or when
   * the bus closes — whichever comes first. Never rejects.
   */
  async waitFor (taskId: TaskId, timeoutMs: number, signal?: AbortSignal): Promise<WakeReason> {
    if (this.#closed) return 'closed'
    if (signal?.aborted === true) return 'aborted'
    return await new Promise<WakeReason>((resolve) => {
      let waiters = this.#waiters.get(taskId)
      if (waiters === undefined) { waiters = new Set(); this.#waiters.set(taskId, waiters) }
      const timer = this.#clock.setTimeout(() => { finish('timeout') }, Math.max(0, timeoutMs))
      const onAbort = (): void => { finish('aborted') }
      const finish = (reason: WakeReason): void => {
        timer.cancel()
        signal?.removeEventListener('abort', onAbort)
        const current = this.#waiters.get(taskId)
        current?.delete(finish)
        if (current?.size === 0) this.#waiters.delete(taskId)
        resolve(reason)
      }
      waiters.add(finish)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /** Wakes every waiter with 'closed'; later waits return at once. Idempotent. */
  close (): void {
    this.#closed = true
    const all = [...this.#waiters.values()]
    this.#waiters.clear()
    for (const waiters of all) for (const wake of waiters) wake('closed')
  }
}
