/**
 * Task aliases: other ids under which a task is reached (docs/identity.md). A task is
 * created under the id its first registration computes (task-id.ts); when its source states
 * the content's digest (common/source/stated-digest.ts), the digest's id becomes an alias
 * of it, and a registration of another URL whose source states the same digest joins it:
 * that URL's id becomes an alias too. Later registrations of any alias id (a URL, or the
 * digest itself, as dfdaemon registers blobs) meet in the one task without asking the
 * source again. Aliases live as long as their task (`dropTask` when it leaves memory).
 */
import type { TaskId } from '../../protocol/ids.js'

export class TaskAliases {
  readonly #taskOf = new Map<TaskId, TaskId>()
  readonly #aliasesOf = new Map<TaskId, Set<TaskId>>()

  /** The task `id` is an alias of, else `id` itself. */
  resolve (id: TaskId): TaskId {
    return this.#taskOf.get(id) ?? id
  }

  /** Makes `alias` lead to `taskId` (replacing where it led before). An id is never an alias of itself. */
  link (alias: TaskId, taskId: TaskId): void {
    if (alias === taskId) return
    this.#unlink(alias)
    this.#taskOf.set(alias, taskId)
    let aliases = this.#aliasesOf.get(taskId)
    if (aliases === undefined) { aliases = new Set(); this.#aliasesOf.set(taskId, aliases) }
    aliases.add(alias)
  }

  /** The aliases of `taskId`. */
  aliasesOf (taskId: TaskId): TaskId[] {
    return [...this.#aliasesOf.get(taskId) ?? []]
  }

  /** Forgets every alias of `taskId` (the task left memory), and `taskId` as an alias. */
  dropTask (taskId: TaskId): void {
    for (const alias of this.#aliasesOf.get(taskId) ?? []) this.#taskOf.delete(alias)
    this.#aliasesOf.delete(taskId)
    this.#unlink(taskId)
  }

  get size (): number {
    return this.#taskOf.size
  }

  #unlink (alias: TaskId): void {
    const previous = this.#taskOf.get(alias)
    if (previous === undefined) return
    this.#taskOf.delete(alias)
    this.#aliasesOf.get(previous)?.delete(alias)
  }
}
