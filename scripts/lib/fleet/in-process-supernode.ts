/**
 * The real supernode's control plane, in the fleet simulator's process: TaskEvents,
 * ProgressManager, PeerManager, DfgetTaskManager, TaskManager, Scheduler, PieceGrants and
 * the metrics, wired as `src/supernode/supernode.ts` wires them, on the simulation's
 * clock — with the CDN replaced by SimulatedCdn (no source socket, no cache file) and no
 * HTTP server: hosts reach it through `SimulatedSupernodeClient`, which does what the API
 * routes do (api/peer-routes.ts, task-routes.ts, piece-routes.ts) after the network's
 * latency each way, and counts every request.
 *
 * The supernode's CPU: every call into the real code is synchronous up to its first await,
 * and is timed around it (`performance.now()`), scaled by the share of the wall time this
 * process had the CPU over the last fifth of a second (`process.cpuUsage()`, read at most
 * that often: it is a system call that costs more than most calls measured), so that a
 * machine busy with other work does not inflate it. A pull's long-poll is
 * the same loop as Scheduler.pull — evaluate; on wait or limited, wait for the task's next
 * event and evaluate again — run here with `waitMs: 0` evaluations, so that each
 * evaluation is one measured call. Registrations waiting for the CDN's first answer are
 * measured up to that wait.
 *
 * Control protocol v2: TaskSync and ParentScheduler, wired as supernode.ts wires them (its
 * parents per client and sync interval). A sync's long-poll is TaskSync's own loop on the
 * task's events; its CPU is measured in spans: the synchronous part of the call (the sync
 * applied, the first evaluation, an answer at once) as above, and after each wake-up from
 * the moment the woken sync looks its task up until it waits again or issues its answer's
 * grant (the last call of an answer), so that no other code's time is counted.
 *
 * Service time (`serviceTime: 'measured'`): the supernode is one thread. Each call waits
 * until the supernode is free (in a queue, in the order of asking; a woken sync's span too),
 * runs, and answers after the CPU it used, in simulated time;
 * so a supernode that has more work than time falls behind as the real one would (its
 * queue grows, every host waits longer). 'none' answers at once (deterministic: the test's
 * mode).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { performance } from 'node:perf_hooks'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ManualClock, TimerHandle } from '../../../src/common/clock.js'
import type { Logger } from '../../../src/common/log.js'
import { DfError } from '../../../src/protocol/errors.js'
import { parseClientId, parseTaskId, type TaskId } from '../../../src/protocol/ids.js'
import type { PeerInfo, RegisterPeerRequest } from '../../../src/protocol/messages/register-peer.js'
import type { RegisterTaskRequest, RegisterTaskResponse } from '../../../src/protocol/messages/register-task.js'
import type { PullPieceTasksResponse } from '../../../src/protocol/messages/pull-piece-task.js'
import type { ReportPieceRequest, ReportPiecesRequest } from '../../../src/protocol/messages/report-piece.js'
import { formatPieceRange, type ByteRange } from '../../../src/protocol/piece-range.js'
import type { SupernodeClient } from '../../../src/supernode/client.js'
import { PieceGrants } from '../../../src/supernode/access/piece-grants.js'
import { DfgetTaskManager } from '../../../src/supernode/dfget-task/dfget-task-manager.js'
import { SupernodeMetrics } from '../../../src/supernode/metrics.js'
import { PeerManager } from '../../../src/supernode/peer/peer-manager.js'
import { ProgressManager } from '../../../src/supernode/progress/progress-manager.js'
import { TaskEvents } from '../../../src/supernode/progress/task-events.js'
import type { Random } from '../../../src/supernode/scheduler/random.js'
import { ParentScheduler } from '../../../src/supernode/scheduler/parent-scheduler.js'
import { Scheduler } from '../../../src/supernode/scheduler/scheduler.js'
import { TaskSync } from '../../../src/supernode/scheduler/task-sync.js'
import { PARENTS_PER_CLIENT, SYNC_INTERVAL_MS } from '../../../src/supernode/supernode.js'
import type { SyncTaskRequest, SyncTaskResponse } from '../../../src/protocol/messages/sync-task.js'
import type { WakeReason } from '../../../src/supernode/progress/task-events.js'
import { TaskManager } from '../../../src/supernode/task/task-manager.js'
import type { FlowNetwork } from './flow-network.js'
import { SimulatedCdn } from './simulated-cdn.js'

/** How often the process's CPU share is read again. */
const CPU_SAMPLE_INTERVAL_MS = 200

export interface InProcessSupernodeOptions {
  readonly fileLengthBytes: number
  readonly originHost: number
  readonly supernodeHost: number
  /** As the supernode's settings of the same names (config.ts); defaults are theirs. */
  readonly maxUploadsPerPeer: number
  readonly supernodeMaxUploads: number
  readonly pieceTimeoutMs: number
  /** Whether the supernode's work takes simulated time (see the module header). */
  readonly serviceTime: 'measured' | 'none'
}

/** The control calls a host makes (the slice of SupernodeClient the piece loop uses). */
export type ControlClient = Pick<SupernodeClient, 'registerPeer' | 'registerTask' | 'pullPieceTasks' | 'reportPiece' | 'reportPieces' | 'deleteTask' | 'syncTask'>

export class InProcessSupernode {
  readonly cdn: SimulatedCdn
  readonly #clock: ManualClock
  readonly #network: FlowNetwork
  readonly #options: InProcessSupernodeOptions
  readonly #events: TaskEvents
  readonly #progress: ProgressManager
  readonly #peers: PeerManager
  readonly #tasks: TaskManager
  readonly #scheduler: Scheduler
  readonly #grants: PieceGrants
  readonly #taskSync: TaskSync
  /** When the open span of v2 sync work began (performance.now()), if one is open. */
  #spanStartedMs: number | undefined
  /** Service time: a woken sync holds the thread (its span opens when it looks its task up). */
  #wokenHolds = false
  /** The span that ended with the last answer (its grant issued), for the answer's delay. */
  #answerSpanMs = 0
  /** Inside #measured: a span does not open (the call is measured as a whole). */
  #measuring = false
  #syncs = 0
  #syncWakeups = 0
  #syncWakeupCpuMs = 0
  #keyDir: string | undefined
  #cpuMs = 0
  #requests = 0
  #evaluations = 0
  /** Simulated time until which the supernode is busy. */
  #busyUntilMs = 0
  /** Service time: the thread is taken (a call runs, or a sync's span is open). */
  #held = false
  /** Service time: the calls waiting for the thread, in order, and the timer that hands it to the first. */
  readonly #waiting: (() => void)[] = []
  #handOver: TimerHandle | undefined
  /** The share of wall time this process had a CPU lately, and when it was sampled. */
  #cpuShare = 1
  #sampledAtMs = performance.now()
  #sampledCpu = process.cpuUsage()

  constructor (deps: { clock: ManualClock, network: FlowNetwork, random: Random, logger: Logger }, options: InProcessSupernodeOptions) {
    const { clock, logger, random } = deps
    this.#clock = clock
    this.#network = deps.network
    this.#options = options
    const metrics = new SupernodeMetrics({ countPeers: () => this.#peers.count, countTasks: () => this.#tasks.count, countWaitingPulls: () => this.#events.countAllWaiters() })
    this.#events = new TaskEvents({ clock })
    this.#progress = new ProgressManager({ clock, events: this.#events, logger }, { pieceTimeoutMs: options.pieceTimeoutMs, maxUploadsPerPeer: options.maxUploadsPerPeer, supernodeMaxUploads: options.supernodeMaxUploads })
    this.#peers = new PeerManager({ clock, logger, progress: this.#progress })
    const dfgetTasks = new DfgetTaskManager({ clock })
    this.cdn = new SimulatedCdn({ network: deps.network, progress: this.#progress }, options)
    this.#grants = new PieceGrants({ clock }, { lifetimeMs: 3_600_000 })
    const dataUrlOf = (taskId: TaskId): string => `http://supernode.sim:8001/tasks/${taskId}`
    this.#tasks = new TaskManager({
      logger, clock, cdn: this.cdn, progress: this.#progress, dfgetTasks, peers: this.#peers, events: this.#events, metrics, dataUrlOf,
      // The simulated origin answers anonymous requests: the first registration's CDN probe makes the task public.
      access: { prove: async () => 'cached' as const, remember: () => undefined },
      grantKey: () => this.#grants.publicKeyText,
    })
    this.#scheduler = new Scheduler(
      { logger, clock, random, tasks: this.#tasks, progress: this.#progress, peers: this.#peers, dfgetTasks, events: this.#events, metrics, dataUrlOf, grants: this.#grants },
      { maxUploadsPerPeer: options.maxUploadsPerPeer, supernodeMaxUploads: options.supernodeMaxUploads, defaultMaxPieces: 4, supernodeFailureLimit: 3 },
    )
    const parents = new ParentScheduler({ random }, { parentsPerClient: PARENTS_PER_CLIENT, maxChildrenPerParent: options.maxUploadsPerPeer + 3 })
    // TaskSync's long-poll, measured in spans (see the module header): a woken sync waits for the
    // thread; its span opens when it looks its task up and closes when it waits again or issues its answer's grant.
    const events = {
      decline: (...args: Parameters<TaskEvents['decline']>) => { this.#events.decline(...args) },
      waitFor: async (taskId: TaskId, timeoutMs: number, signal?: AbortSignal, interest?: Parameters<TaskEvents['waitFor']>[3]): Promise<WakeReason> => {
        this.#chargeSpan()
        const reason = await this.#events.waitFor(taskId, timeoutMs, signal, interest)
        if (options.serviceTime === 'measured') {
          await this.#acquire()
          this.#wokenHolds = true
        }
        return reason
      },
    }
    const tasks = {
      getTask: (taskId: TaskId) => {
        if (!this.#measuring && this.#spanStartedMs === undefined) {
          this.#syncWakeups++
          this.#spanStartedMs = performance.now()
        }
        return this.#tasks.getTask(taskId)
      },
      touch: (taskId: TaskId) => { this.#tasks.touch(taskId) },
    }
    const grants = {
      issue: (...args: Parameters<PieceGrants['issue']>) => {
        const grant = this.#grants.issue(...args)
        this.#answerSpanMs = this.#chargeSpan()
        return grant
      },
    }
    this.#taskSync = new TaskSync(
      { logger, clock, tasks, progress: this.#progress, peers: this.#peers, dfgetTasks, events, metrics, dataUrlOf, grants, parents, random },
      { supernodeMaxUploads: options.supernodeMaxUploads, supernodeFailureLimit: 3, syncIntervalMs: SYNC_INTERVAL_MS },
    )
    this.#progress.onRemoved((taskId, cid) => {
      if (cid === undefined) { parents.removeTask(taskId); this.#taskSync.forgetTask(taskId) }
      else { parents.removeClient(taskId, cid); this.#taskSync.forgetClient(taskId, cid) }
    })
  }

  /** Loads a new grant key (a temporary file, removed by close()). */
  async start (): Promise<void> {
    this.#keyDir = await mkdtemp(join(tmpdir(), 'damselfly-fleet-'))
    await this.#grants.load(join(this.#keyDir, 'grant-key.pem'))
  }

  async close (): Promise<void> {
    this.#events.close()
    this.#progress.close()
    if (this.#keyDir !== undefined) await rm(this.#keyDir, { recursive: true, force: true })
  }

  /** Milliseconds spent in the real supernode code so far. */
  get cpuMs (): number { return this.#cpuMs }
  /** Pull evaluations so far (a long-poll evaluates again at each event of its task). */
  get evaluations (): number { return this.#evaluations }
  /** Service time: the thread's state, for a run that stopped early. */
  get queueState (): string {
    return `${this.#held ? 'busy' : 'free'}, ${this.#waiting.length} calls waiting, busy until ${Math.max(0, this.#busyUntilMs - this.#clock.now()).toFixed(1)} ms from now`
  }

  /** v2 syncs received so far. */
  get syncs (): number { return this.#syncs }
  /** v2 evaluations of waiting syncs woken by their task's events, and their CPU (part of cpuMs). */
  get syncWakeups (): number { return this.#syncWakeups }
  get syncWakeupCpuMs (): number { return this.#syncWakeupCpuMs }
  /** Control requests received so far. */
  get requests (): number { return this.#requests }
  /** Hand-outs released because nobody reported them in time. */
  get timedOutHandOuts (): number { return this.#progress.timedOutHandOuts }

  /** A client for the host at `host` (the network's index); `onRequest` counts its requests. */
  clientFor (host: number, onRequest: () => void): ControlClient {
    return new SimulatedSupernodeClient(this, host, onRequest)
  }

  /** Runs one request after its trip to the supernode; answers after the trip back. */
  async call<T>(host: number, onRequest: () => void, run: () => T | Promise<T>, signal?: AbortSignal): Promise<T> {
    onRequest()
    this.#requests++
    const tripMs = this.#network.latencyOf(host) + this.#network.latencyOf(this.#options.supernodeHost)
    await this.#network.delay(tripMs, signal)
    const result = await run()
    await this.#network.delay(tripMs)
    return result
  }

  async registerPeer (request: RegisterPeerRequest): Promise<PeerInfo> {
    return await this.#serve(() => this.#peers.register(request, request.ip ?? ''))
  }

  async registerTask (request: RegisterTaskRequest): Promise<RegisterTaskResponse> {
    return await this.#serve(async () => await this.#tasks.register(request))
  }

  /** The pull route's work, with Scheduler.pull's long-poll (see the module header). */
  async pull (taskIdText: string, query: { cid: string, max?: number, waitMs?: number }, signal?: AbortSignal): Promise<PullPieceTasksResponse> {
    const taskId = parseTaskId(taskIdText)
    const cid = parseClientId(query.cid, 'querystring.cid')
    const deadlineMs = this.#clock.now() + (query.waitMs ?? 0)
    for (;;) {
      this.#evaluations++
      const outcome = await this.#serve(async () => await this.#scheduler.pull(taskId, cid, { max: query.max, waitMs: 0 }))
      const remainingMs = deadlineMs - this.#clock.now()
      if (outcome.result === 'pieces' || outcome.result === 'finished' || remainingMs <= 0 || signal?.aborted === true) {
        if (outcome.result === 'pieces' && signal?.aborted === true) {
          this.#measured(() => { this.#scheduler.cancelHandOuts(taskId, cid, outcome.pieces.map((piece) => piece.pieceNum)) })
        }
        return outcome
      }
      const reason = await this.#events.waitFor(taskId, remainingMs, signal)
      if (reason === 'closed' || reason === 'aborted') return outcome
    }
  }

  /** The v2 sync route's work (api/sync-routes.ts): TaskSync's sync, its long-poll measured in spans (see the module header). */
  async sync (taskIdText: string, request: SyncTaskRequest, signal?: AbortSignal): Promise<SyncTaskResponse> {
    this.#syncs++
    const answer = this.#serve(() => this.#taskSync.sync(parseTaskId(taskIdText), parseClientId(request.cid, 'body.cid'), request, signal))
    try {
      return await answer
    } finally {
      // The span of the wake-up that answered (none when it answered at once: #serve measured it).
      const usedMs = this.#chargeSpan() + this.#answerSpanMs
      this.#answerSpanMs = 0
      if (usedMs > 0 && this.#options.serviceTime === 'measured') await this.#network.delay(usedMs)
    }
  }

  /** Closes the open span of v2 sync work, if any: adds its CPU to the supernode's and keeps the supernode busy that long. Returns its CPU. */
  #chargeSpan (): number {
    const startedMs = this.#spanStartedMs
    const holds = this.#wokenHolds
    this.#spanStartedMs = undefined
    this.#wokenHolds = false
    const ms = startedMs === undefined ? 0 : (performance.now() - startedMs) * this.#cpuShare
    this.#cpuMs += ms
    this.#syncWakeupCpuMs += ms
    if (this.#options.serviceTime === 'measured' && (startedMs !== undefined || holds)) {
      this.#busyUntilMs = Math.max(this.#busyUntilMs, this.#clock.now()) + ms
      this.#release()
    }
    return ms
  }

  async report (taskIdText: string, range: ByteRange, report: ReportPieceRequest): Promise<void> {
    await this.#serve(() => { this.#reportOne(taskIdText, range, report) })
  }

  #reportOne (taskIdText: string, range: ByteRange, report: ReportPieceRequest): void {
    this.#scheduler.report(parseTaskId(taskIdText), formatPieceRange(range), parseClientId(report.cid, 'body.cid'), report)
  }

  /** The batch report route's work (piece-routes.ts): in order, naming the first bad one. */
  async reportMany (taskIdText: string, request: ReportPiecesRequest): Promise<void> {
    await this.#serve(() => { this.#reportMany(taskIdText, request) })
  }

  #reportMany (taskIdText: string, request: ReportPiecesRequest): void {
    const taskId = parseTaskId(taskIdText)
    const cid = parseClientId(request.cid, 'body.cid')
    for (const [index, { pieceRange, ...report }] of request.reports.entries()) {
      try {
        this.#scheduler.report(taskId, pieceRange, cid, { cid, ...report })
      } catch (err) {
        if (err instanceof DfError) throw new DfError(err.code, `reports[${index}]: ${err.message}`, { details: { ...err.details, index } })
        throw err
      }
    }
  }

  async deleteTask (taskIdText: string, cid?: string): Promise<void> {
    await this.#serve(() => {
      const taskId = parseTaskId(taskIdText)
      if (cid === undefined) this.#tasks.removeTask(taskId)
      else this.#tasks.removeClient(taskId, parseClientId(cid))
    })
  }

  /**
   * Runs `run` when the supernode is free; with service time, answers after the CPU its
   * synchronous part used (see the module header).
   */
  async #serve<T>(run: () => T): Promise<Awaited<T>> {
    if (this.#options.serviceTime === 'none') return await this.#measured(run)
    await this.#acquire()
    let usedMs = 0
    let result: T
    try {
      result = this.#measured(run, (ms) => { usedMs = ms })
    } finally {
      this.#busyUntilMs = this.#clock.now() + usedMs
      this.#release()
    }
    await this.#network.delay(usedMs)
    return await result
  }

  /** Service time: waits for the supernode's one thread, in the order of asking (see the module header). */
  async #acquire (): Promise<void> {
    if (!this.#held && this.#waiting.length === 0 && this.#clock.now() >= this.#busyUntilMs) {
      this.#held = true
      return
    }
    await new Promise<void>((resolve) => {
      this.#waiting.push(resolve)
      this.#scheduleHandOver()
    })
  }

  /** Service time: the thread is free from #busyUntilMs on; the first waiting call gets it then. */
  #release (): void {
    this.#held = false
    this.#scheduleHandOver()
  }

  #scheduleHandOver (): void {
    if (this.#held || this.#handOver !== undefined || this.#waiting.length === 0) return
    this.#handOver = this.#clock.setTimeout(() => {
      this.#handOver = undefined
      const next = this.#waiting.shift()
      if (next === undefined) return
      this.#held = true
      next()
    }, Math.max(0, this.#busyUntilMs - this.#clock.now()))
  }

  /** Runs `run`, adding the CPU of its synchronous part to the supernode's (see the module header). */
  #measured<T>(run: () => T, onUsed?: (ms: number) => void): T {
    this.#chargeSpan()
    const startedMs = performance.now()
    if (startedMs - this.#sampledAtMs >= CPU_SAMPLE_INTERVAL_MS) {
      const used = process.cpuUsage(this.#sampledCpu)
      this.#cpuShare = Math.min(1, (used.user + used.system) / 1000 / (startedMs - this.#sampledAtMs))
      this.#sampledAtMs = startedMs
      this.#sampledCpu = process.cpuUsage()
    }
    this.#measuring = true
    try {
      return run()
    } finally {
      this.#measuring = false
      const ms = (performance.now() - startedMs) * this.#cpuShare
      this.#cpuMs += ms
      onUsed?.(ms)
    }
  }
}

/** SupernodeClient's calls, in process (see the module header). */
class SimulatedSupernodeClient implements ControlClient {
  readonly #supernode: InProcessSupernode
  readonly #host: number
  readonly #onRequest: () => void

  constructor (supernode: InProcessSupernode, host: number, onRequest: () => void) {
    this.#supernode = supernode
    this.#host = host
    this.#onRequest = onRequest
  }

  async registerPeer (request: RegisterPeerRequest): Promise<PeerInfo> {
    return await this.#supernode.call(this.#host, this.#onRequest, async () => await this.#supernode.registerPeer(request))
  }

  async registerTask (request: RegisterTaskRequest, signal?: AbortSignal): Promise<RegisterTaskResponse> {
    return await this.#supernode.call(this.#host, this.#onRequest, async () => await this.#supernode.registerTask(request), signal)
  }

  async pullPieceTasks (taskId: string, query: { cid: string, max?: number, waitMs?: number }, signal?: AbortSignal): Promise<PullPieceTasksResponse> {
    return await this.#supernode.call(this.#host, this.#onRequest, async () => await this.#supernode.pull(taskId, query, signal), signal)
  }

  async reportPiece (taskId: string, range: ByteRange, report: ReportPieceRequest, signal?: AbortSignal): Promise<void> {
    await this.#supernode.call(this.#host, this.#onRequest, async () => { await this.#supernode.report(taskId, range, report) }, signal)
  }

  async reportPieces (taskId: string, request: ReportPiecesRequest, signal?: AbortSignal): Promise<void> {
    await this.#supernode.call(this.#host, this.#onRequest, async () => { await this.#supernode.reportMany(taskId, request) }, signal)
  }

  async deleteTask (taskId: string, cid?: string): Promise<void> {
    await this.#supernode.call(this.#host, this.#onRequest, async () => { await this.#supernode.deleteTask(taskId, cid) })
  }

  async syncTask (taskId: string, request: SyncTaskRequest, signal?: AbortSignal): Promise<SyncTaskResponse> {
    return await this.#supernode.call(this.#host, this.#onRequest, async () => await this.#supernode.sync(taskId, request, signal), signal)
  }
}
