/**
 * DfgetTaskManager: the supernode's record of each cid downloading a task (a "dfget task"):
 * its peer, its status, and how many piece bytes it got from the supernode, from peers and
 * from the source. A cid downloads exactly one task. Status is a small state machine:
 * running → success | failed, and any state → running when the cid registers again.
 */
import type { Clock } from '../../common/clock.js'
import { DfError } from '../../protocol/errors.js'
import type { ClientId, PeerId, TaskId } from '../../protocol/ids.js'
import type { PieceOrigin } from '../../protocol/messages/pull-piece-task.js'

export type DfgetTaskStatus = 'running' | 'success' | 'failed'
export type DfgetTaskEvent = 'register' | 'finish' | 'fail'

/** The transition table: status × event → next status (missing = illegal). */
export const DFGET_TASK_TRANSITIONS: Readonly<Record<DfgetTaskStatus, Partial<Record<DfgetTaskEvent, DfgetTaskStatus>>>> = {
  running: { register: 'running', finish: 'success', fail: 'failed' },
  success: { register: 'running', finish: 'success' },
  failed: { register: 'running', fail: 'failed' },
}

/** Where a reported piece came from, for byte accounting (declared in protocol/). */
export type { PieceOrigin }

/** A dfget task, read-only. */
export interface DfgetTaskView {
  readonly taskId: TaskId
  readonly cid: ClientId
  readonly peerId: PeerId
  readonly status: DfgetTaskStatus
  readonly createdAtMs: number
  readonly bytesFromSupernode: number
  readonly bytesFromPeers: number
  readonly bytesFromSource: number
}

interface DfgetTask {
  taskId: TaskId
  cid: ClientId
  peerId: PeerId
  status: DfgetTaskStatus
  createdAtMs: number
  bytesFromSupernode: number
  bytesFromPeers: number
  bytesFromSource: number
}

export class DfgetTaskManager {
  readonly #clock: Clock
  readonly #byCid = new Map<ClientId, DfgetTask>()
  readonly #byTask = new Map<TaskId, Map<ClientId, DfgetTask>>()

  constructor (deps: { clock: Clock }) {
    this.#clock = deps.clock
  }

  /**
   * Records that `cid` of `peerId` downloads `taskId` (again: restarts it as running).
   * @throws DF_ERR_TASK_CONFLICT when the cid already downloads another task
   */
  register (taskId: TaskId, cid: ClientId, peerId: PeerId): DfgetTaskView {
    const existing = this.#byCid.get(cid)
    if (existing !== undefined && existing.taskId !== taskId) {
      throw new DfError('DF_ERR_TASK_CONFLICT', `cid ${cid} already downloads task ${existing.taskId}`, { details: { cid, taskId: existing.taskId } })
    }
    if (existing !== undefined) {
      existing.peerId = peerId
      this.#apply(existing, 'register')
      return existing
    }
    const record: DfgetTask = { taskId, cid, peerId, status: 'running', createdAtMs: this.#clock.now(), bytesFromSupernode: 0, bytesFromPeers: 0, bytesFromSource: 0 }
    this.#byCid.set(cid, record)
    let clients = this.#byTask.get(taskId)
    if (clients === undefined) { clients = new Map(); this.#byTask.set(taskId, clients) }
    clients.set(cid, record)
    return record
  }

  get (taskId: TaskId, cid: ClientId): DfgetTaskView | undefined {
    return this.#byTask.get(taskId)?.get(cid)
  }

  /** Every dfget task of `taskId`. */
  listOfTask (taskId: TaskId): DfgetTaskView[] {
    return [...this.#byTask.get(taskId)?.values() ?? []]
  }

  /** Number of cids of `taskId` still downloading. */
  countRunning (taskId: TaskId): number {
    let running = 0
    for (const record of this.#byTask.get(taskId)?.values() ?? []) if (record.status === 'running') running += 1
    return running
  }

  /** Counts piece bytes a cid reported received, by where they came from. */
  addBytes (taskId: TaskId, cid: ClientId, origin: PieceOrigin, bytes: number): void {
    const record = this.#byTask.get(taskId)?.get(cid)
    if (record === undefined) return
    if (origin === 'supernode') record.bytesFromSupernode += bytes
    else if (origin === 'peer') record.bytesFromPeers += bytes
    else record.bytesFromSource += bytes
  }

  /** The cid holds every piece. */
  finish (taskId: TaskId, cid: ClientId): void {
    const record = this.#byTask.get(taskId)?.get(cid)
    if (record !== undefined && record.status !== 'success') this.#apply(record, 'finish')
  }

  /** Marks every running cid of the task failed (the task failed at the supernode). */
  failTask (taskId: TaskId): void {
    for (const record of this.#byTask.get(taskId)?.values() ?? []) if (record.status === 'running') this.#apply(record, 'fail')
  }

  /** Forgets one cid's download. Returns true when it existed. */
  remove (taskId: TaskId, cid: ClientId): boolean {
    const clients = this.#byTask.get(taskId)
    if (clients?.delete(cid) !== true) return false
    this.#byCid.delete(cid)
    if (clients.size === 0) this.#byTask.delete(taskId)
    return true
  }

  /** Forgets every download of a task. */
  removeTask (taskId: TaskId): void {
    for (const cid of this.#byTask.get(taskId)?.keys() ?? []) this.#byCid.delete(cid)
    this.#byTask.delete(taskId)
  }

  #apply (record: DfgetTask, event: DfgetTaskEvent): void {
    const next = DFGET_TASK_TRANSITIONS[record.status][event]
    if (next === undefined) throw new DfError('DF_ERR_INTERNAL_INVARIANT', `dfget task ${record.cid}: ${event} is illegal in ${record.status}`)
    record.status = next
  }
}
