/**
 * DashboardFeed: pushes swarm snapshots to the dashboard's subscribers (server-sent
 * events), coalesced so that its cost does not grow with piece reports. A task change
 * (TaskEvents.notify, one per cached piece, report or release) only adds the task id to a
 * dirty set. While at least one subscriber is connected, a timer ticks every `intervalMs`;
 * a tick rebuilds the overview when a task is dirty, a download is active, or the heartbeat
 * is due, rebuilds each selected task's detail when that task is dirty or active, and sends
 * a subscriber a snapshot only when its content changed. With no subscriber there is no
 * timer and no listener.
 *
 * A subscriber whose socket is backed up is skipped (its snapshot is sent at a later tick),
 * so a slow browser costs memory of one snapshot at most.
 */
import type { Clock, TimerHandle } from '../../common/clock.js'
import type { Logger } from '../../common/log.js'
import type { TaskId } from '../../protocol/ids.js'
import type { DashboardSnapshot, DashboardTaskDetail } from '../../protocol/messages/dashboard.js'
import type { TaskEvents } from '../progress/task-events.js'
import type { DashboardOverview, SnapshotBuilder } from './snapshot-builder.js'

export interface DashboardFeedOptions {
  /** At most one snapshot per subscriber per interval. Default 300 ms. */
  readonly intervalMs?: number
  /** Rebuild at least this often while subscribed (peers joining, ages). Default 2 s. */
  readonly heartbeatMs?: number
  /** An SSE comment at least this often keeps proxies from closing the stream. Default 15 s. */
  readonly keepAliveMs?: number
}

/** Where a subscriber's events go. */
export interface DashboardSink {
  /** Writes SSE text; returns false when the socket is backed up. */
  write(text: string): boolean
  /** Ends the stream (the feed is closing). */
  end(): void
}

interface Subscriber {
  readonly selection: TaskId | undefined
  readonly sink: DashboardSink
  lastKey: string | undefined
  lastWriteMs: number
}

export class DashboardFeed {
  readonly #builder: Pick<SnapshotBuilder, 'buildOverview' | 'buildDetail'>
  readonly #events: Pick<TaskEvents, 'onNotify'>
  readonly #clock: Clock
  readonly #log: Logger
  readonly intervalMs: number
  readonly #heartbeatMs: number
  readonly #keepAliveMs: number
  readonly #subscribers = new Set<Subscriber>()
  readonly #dirty = new Set<TaskId>()
  #isAllDirty = true
  #stopListening: (() => void) | undefined
  #timer: TimerHandle | undefined
  #isTicking = false
  #overview: DashboardOverview | undefined
  #overviewAtMs = 0
  readonly #details = new Map<TaskId, DashboardTaskDetail | undefined>()
  #isClosed = false

  constructor (deps: { builder: Pick<SnapshotBuilder, 'buildOverview' | 'buildDetail'>, events: Pick<TaskEvents, 'onNotify'>, clock: Clock, logger: Logger }, options: DashboardFeedOptions = {}) {
    this.#builder = deps.builder
    this.#events = deps.events
    this.#clock = deps.clock
    this.#log = deps.logger
    this.intervalMs = options.intervalMs ?? 300
    this.#heartbeatMs = options.heartbeatMs ?? 2_000
    this.#keepAliveMs = options.keepAliveMs ?? 15_000
    for (const [name, value] of [['intervalMs', this.intervalMs], ['heartbeatMs', this.#heartbeatMs], ['keepAliveMs', this.#keepAliveMs]] as const) {
      if (!Number.isFinite(value) || value < 1) throw new RangeError(`dashboard feed ${name} must be at least 1, got ${value}`)
    }
  }

  /** Number of connected subscribers. */
  get subscriberCount (): number {
    return this.#subscribers.size
  }

  /** One snapshot now, built fresh (the JSON endpoint). */
  async fetchSnapshot (selection: TaskId | undefined): Promise<DashboardSnapshot> {
    const overview = await this.#builder.buildOverview()
    const selected = selection === undefined ? undefined : this.#builder.buildDetail(selection, overview.rates)
    return { generatedAt: new Date(this.#clock.now()).toISOString(), ...this.#body(overview, selected) }
  }

  /**
   * Adds a subscriber: it gets a snapshot at the next tick (at once for the first), then
   * one whenever what it sees changed. Returns the function that removes it.
   */
  subscribe (selection: TaskId | undefined, sink: DashboardSink): () => void {
    if (this.#isClosed) { sink.end(); return () => {} }
    const subscriber: Subscriber = { selection, sink, lastKey: undefined, lastWriteMs: this.#clock.now() }
    this.#subscribers.add(subscriber)
    if (this.#stopListening === undefined) {
      // Nothing was tracked while nobody watched: everything counts as changed.
      this.#isAllDirty = true
      this.#stopListening = this.#events.onNotify((taskId) => { this.#dirty.add(taskId) })
    }
    this.#schedule(0)
    return () => { this.#unsubscribe(subscriber) }
  }

  /** Ends every subscriber's stream and stops the timer. Idempotent. */
  close (): void {
    if (this.#isClosed) return
    this.#isClosed = true
    for (const subscriber of [...this.#subscribers]) {
      this.#unsubscribe(subscriber)
      subscriber.sink.end()
    }
  }

  #unsubscribe (subscriber: Subscriber): void {
    if (!this.#subscribers.delete(subscriber) || this.#subscribers.size > 0) return
    this.#stopListening?.()
    this.#stopListening = undefined
    this.#timer?.cancel()
    this.#timer = undefined
    this.#overview = undefined
    this.#details.clear()
    this.#dirty.clear()
  }

  #schedule (delayMs: number): void {
    if (this.#timer !== undefined || this.#isClosed || this.#subscribers.size === 0) return
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined
      this.#tick().then(
        () => { this.#schedule(this.intervalMs) },
        (err: unknown) => { this.#log.error({ err }, 'dashboard snapshot failed'); this.#schedule(this.intervalMs) },
      )
    }, delayMs)
  }

  async #tick (): Promise<void> {
    if (this.#isTicking) return
    this.#isTicking = true
    try {
      const nowMs = this.#clock.now()
      const wasActive = this.#overview?.isActive === true
      const isHeartbeat = nowMs - this.#overviewAtMs >= this.#heartbeatMs
      const isRebuild = this.#overview === undefined || this.#isAllDirty || this.#dirty.size > 0 || wasActive || isHeartbeat
      const changed = new Set(this.#dirty)
      const isAllChanged = this.#isAllDirty || this.#overview === undefined
      let overview = this.#overview
      if (isRebuild || overview === undefined) {
        this.#dirty.clear()
        this.#isAllDirty = false
        overview = await this.#builder.buildOverview()
        if (this.#subscribers.size === 0) return
        this.#overview = overview
        this.#overviewAtMs = this.#clock.now()
      }
      const selections = new Set<TaskId>()
      for (const subscriber of this.#subscribers) if (subscriber.selection !== undefined) selections.add(subscriber.selection)
      for (const taskId of [...this.#details.keys()]) if (!selections.has(taskId)) this.#details.delete(taskId)
      for (const taskId of selections) {
        const isTaskActive = overview.tasks.some((task) => task.taskId === taskId && (task.rateBytesPerSec > 0 || task.clients > task.clientsDone + task.clientsFailed))
        if (!this.#details.has(taskId) || isAllChanged || changed.has(taskId) || isTaskActive || isHeartbeat) {
          this.#details.set(taskId, this.#builder.buildDetail(taskId, overview.rates))
        }
      }
      const sentAtMs = this.#clock.now()
      const cache = new Map<TaskId | undefined, { key: string, text: string }>()
      for (const subscriber of this.#subscribers) {
        let message = cache.get(subscriber.selection)
        if (message === undefined) {
          const detail = subscriber.selection === undefined ? undefined : this.#details.get(subscriber.selection)
          message = this.#serialize(overview, detail, sentAtMs)
          cache.set(subscriber.selection, message)
        }
        if (message.key === subscriber.lastKey) {
          if (sentAtMs - subscriber.lastWriteMs >= this.#keepAliveMs && subscriber.sink.write(': keep-alive\n\n')) subscriber.lastWriteMs = sentAtMs
          continue
        }
        if (subscriber.sink.write(`event: snapshot\ndata: ${message.text}\n\n`)) {
          subscriber.lastKey = message.key
          subscriber.lastWriteMs = sentAtMs
        } else {
          // Backed up: the next tick tries again with whatever is newest then.
          subscriber.lastKey = undefined
        }
      }
    } finally {
      this.#isTicking = false
    }
  }

  /** The snapshot's JSON, and a key that is the same whenever the content is (time left out). */
  #serialize (overview: DashboardOverview, selected: DashboardTaskDetail | undefined, atMs: number): { key: string, text: string } {
    const key = JSON.stringify(this.#body(overview, selected))
    return { key, text: `{"generatedAt":${JSON.stringify(new Date(atMs).toISOString())},${key.slice(1)}` }
  }

  #body (overview: DashboardOverview, selected: DashboardTaskDetail | undefined): Omit<DashboardSnapshot, 'generatedAt'> {
    return {
      intervalMs: this.intervalMs,
      peers: overview.peers,
      totals: overview.totals,
      tasks: overview.tasks,
      ...(selected === undefined ? {} : { selected }),
    }
  }
}
