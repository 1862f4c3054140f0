/**
 * A swarm of simulated dfget clients against one supernode, for the control-plane benchmark.
 * Each simulated client is a peer and a cid on the same task; it registers (peer, then task)
 * and then runs dfget's piece loop through the real SupernodeClient: pull work, "fetch" the
 * pieces handed out (no data moves), report each as a success from the source it was given,
 * until the supernode answers `finished`. At most `concurrency` requests are in flight at
 * once over the whole swarm (a FIFO queue, RequestSlots), the way a fleet's requests arrive spread out;
 * latencies are measured from sending a request to its answer, not while queued here.
 */
import { setMaxListeners } from 'node:events'
import { SupernodeClient } from '../../../src/supernode/client.js'
import type { PieceTask, PullPieceTasksResponse } from '../../../src/protocol/messages/pull-piece-task.js'
import { parsePieceRange } from '../../../src/protocol/piece-range.js'

/** Latency samples of one request kind, in milliseconds. */
export class LatencyRecorder {
  readonly #samplesMs: number[] = []

  record (ms: number): void {
    this.#samplesMs.push(ms)
  }

  get count (): number {
    return this.#samplesMs.length
  }

  /** The q-quantile (0..1), nearest rank; NaN without samples. */
  quantile (q: number): number {
    if (this.#samplesMs.length === 0) return Number.NaN
    const sorted = [...this.#samplesMs].sort((a, b) => a - b)
    return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN
  }

  summary (): LatencySummary {
    return { count: this.count, p50Ms: this.quantile(0.5), p99Ms: this.quantile(0.99), maxMs: this.quantile(1) }
  }
}

export interface LatencySummary {
  readonly count: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly maxMs: number
}

/**
 * At most `slots` requests in flight, the rest waiting in FIFO order as plain closures. The
 * queue is an array read from a moving head, so taking the next one is O(1) (with 20,000
 * clients queued, `Array#shift` copied the whole queue each time and was a quarter of the
 * load generator's CPU).
 */
export class RequestSlots {
  readonly #slots: number
  #queue: ((() => Promise<void>) | undefined)[] = []
  #head = 0
  #inFlight = 0

  constructor (slots: number) {
    this.#slots = slots
  }

  /** Starts `request` once a slot is free. */
  submit (request: () => Promise<void>): void {
    this.#queue.push(request)
    this.#pump()
  }

  #pump (): void {
    while (this.#inFlight < this.#slots && this.#head < this.#queue.length) {
      const request = this.#queue[this.#head] as () => Promise<void>
      this.#queue[this.#head++] = undefined
      // Drop the consumed front once it is most of the array (amortised O(1)).
      if (this.#head >= 1024 && this.#head * 2 >= this.#queue.length) {
        this.#queue = this.#queue.slice(this.#head)
        this.#head = 0
      }
      this.#inFlight++
      void request().finally(() => {
        this.#inFlight--
        this.#pump()
      })
    }
  }
}


export interface SimulatedSwarmOptions {
  readonly apiUrl: string
  readonly taskUrl: string
  readonly peers: number
  /** Most requests in flight over the whole swarm. */
  readonly concurrency: number
  /** Pieces asked for per pull (dfget's free fetch slots). */
  readonly maxPiecesPerPull: number
  /** Longest pause after a `wait` or `limited` answer. */
  readonly maxBackoffMs: number
  /**
   * Long-poll: each pull waits up to this long for work (dfget's waitMs). Pulls then hold a
   * connection of their own each (like a fleet of hosts) and no slot of `concurrency`.
   */
  readonly waitMs?: number | undefined
  readonly signal: AbortSignal
}

export interface SimulatedSwarmResult {
  readonly peers: number
  readonly registrationMs: number
  readonly registrationsPerSec: number
  readonly registerPeer: LatencySummary
  readonly registerTask: LatencySummary
  readonly pieceLoopMs: number
  readonly pullsPerSec: number
  readonly reportsPerSec: number
  readonly pull: LatencySummary
  readonly report: LatencySummary
  readonly outcomes: Readonly<Record<PullPieceTasksResponse['result'], number>>
  readonly pieceCount: number
  readonly finishedClients: number
  readonly errors: number
  readonly firstError?: string
}

/** Runs the whole simulated swarm to completion (every client finished, or the signal fires). */
export async function runSimulatedSwarm (options: SimulatedSwarmOptions): Promise<SimulatedSwarmResult> {
  // Every registration and long-poll in flight listens on the signal (the queued pulls and reports do not).
  setMaxListeners(0, options.signal)
  const client = new SupernodeClient({ baseUrl: options.apiUrl, connectionsPerOrigin: options.concurrency, timeoutMs: 120_000, keepAliveTimeoutMs: 30_000 })
  const slots = new RequestSlots(options.concurrency)
  const waitMs = options.waitMs ?? 0
  const longPolls = waitMs > 0 ? new SupernodeClient({ baseUrl: options.apiUrl, connectionsPerOrigin: options.peers, timeoutMs: 120_000, keepAliveTimeoutMs: 30_000 }) : undefined
  const recorders = { registerPeer: new LatencyRecorder(), registerTask: new LatencyRecorder(), pull: new LatencyRecorder(), report: new LatencyRecorder() }
  const outcomes: Record<PullPieceTasksResponse['result'], number> = { pieces: 0, wait: 0, limited: 0, finished: 0 }
  let errors = 0
  let firstError: string | undefined
  const timed = async <T>(recorder: LatencyRecorder, call: () => Promise<T>): Promise<T> => await new Promise<T>((resolve, reject) => {
    slots.submit(async () => {
      const start = performance.now()
      await call().then(resolve, reject).finally(() => { recorder.record(performance.now() - start) })
    })
  })
  const noteError = (err: unknown): void => {
    errors++
    firstError ??= `${(err as { code?: string }).code ?? 'error'}: ${(err as Error).message}`
  }

  try {
    // Registration: every client registers its peer, then its cid on the task.
    const registrationStart = performance.now()
    const taskIds: (string | undefined)[] = new Array<string | undefined>(options.peers)
    let pieceCount = 0
    await Promise.all(Array.from({ length: options.peers }, async (_, i) => {
      try {
        const peer = await timed(recorders.registerPeer, async () => await client.registerPeer({ peerId: `sim-peer-${i}`, ip: '127.0.0.1', port: 20_000 + (i % 40_000), hostName: `sim-${i}` }))
        const task = await timed(recorders.registerTask, async () => await client.registerTask({ peerId: peer.peerId, cid: `sim-cid-${i}`, url: options.taskUrl }, options.signal))
        taskIds[i] = task.taskId
        pieceCount = task.pieceCount
      } catch (err) {
        noteError(err)
      }
    }))
    const registrationMs = performance.now() - registrationStart

    // The piece loop of every registered client, all at once.
    const loopStart = performance.now()
    const loop = new PieceLoops({ ...options, client, slots, longPolls, recorders, outcomes, noteError })
    await loop.run(taskIds)
    const finishedClients = loop.finishedClients
    const pieceLoopMs = performance.now() - loopStart
    return {
      peers: options.peers,
      registrationMs,
      registrationsPerSec: options.peers / (registrationMs / 1000),
      registerPeer: recorders.registerPeer.summary(),
      registerTask: recorders.registerTask.summary(),
      pieceLoopMs,
      pullsPerSec: recorders.pull.count / (pieceLoopMs / 1000),
      reportsPerSec: recorders.report.count / (pieceLoopMs / 1000),
      pull: recorders.pull.summary(),
      report: recorders.report.summary(),
      outcomes,
      pieceCount,
      finishedClients,
      errors,
      ...(firstError === undefined ? {} : { firstError }),
    }
  } finally {
    await client.close()
    await longPolls?.close()
  }
}

/** One simulated client's state between its requests. */
interface LoopClient {
  readonly taskId: string
  readonly cid: string
  failuresInARow: number
  /** Reports of the last pull still unanswered: the next pull waits for them. */
  reportsLeft: number
}

interface PieceLoopDeps extends SimulatedSwarmOptions {
  readonly client: SupernodeClient
  readonly slots: RequestSlots
  readonly longPolls: SupernodeClient | undefined
  readonly recorders: { readonly pull: LatencyRecorder, readonly report: LatencyRecorder }
  readonly outcomes: Record<PullPieceTasksResponse['result'], number>
  readonly noteError: (err: unknown) => void
}

/**
 * Every client's piece loop — pull, report each piece handed out, pull again, pause after
 * `wait`/`limited` — as requests submitted to the shared RequestSlots. A waiting client is a
 * closure in that queue, not a suspended async function: with 20,000
 * clients queued for seconds behind 64 slots, a promise chain per waiting client survived
 * every young-generation collection of the load generator, which then spent about a fifth
 * of its CPU in the garbage collector and paused for ~10 ms per collection, time that the
 * latencies it measures (same process) and the supernode (same two cores) paid for.
 */
class PieceLoops {
  readonly #deps: PieceLoopDeps
  #active = 0
  #finished = 0
  #done: () => void = () => {}

  constructor (deps: PieceLoopDeps) {
    this.#deps = deps
  }

  get finishedClients (): number {
    return this.#finished
  }

  /** Runs the loops of the registered clients (`undefined`: not registered) until all end or the signal fires. */
  async run (taskIds: readonly (string | undefined)[]): Promise<void> {
    const { signal } = this.#deps
    const ended = new Promise<void>((resolve) => { this.#done = resolve })
    const onAbort = (): void => { this.#done() }
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      for (const [i, taskId] of taskIds.entries()) {
        if (taskId === undefined) continue
        this.#active++
        this.#pull({ taskId, cid: `sim-cid-${i}`, failuresInARow: 0, reportsLeft: 0 })
      }
      if (this.#active === 0) return
      await ended
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
  }

  #pull (client: LoopClient): void {
    const { longPolls, maxPiecesPerPull, signal } = this.#deps
    const waitMs = this.#deps.waitMs ?? 0
    if (signal.aborted) return
    if (longPolls === undefined || waitMs <= 0) {
      this.#deps.slots.submit(async () => { await this.#pullNow(client) })
      return
    }
    // A long-poll holds a connection of its own (no slot), as each host of a fleet does.
    const start = performance.now()
    longPolls.pullPieceTasks(client.taskId, { cid: client.cid, max: maxPiecesPerPull, waitMs }, signal).then(
      (answer) => { this.#deps.recorders.pull.record(performance.now() - start); this.#answered(client, answer) },
      (err: unknown) => { this.#pullFailed(client, err) },
    )
  }

  async #pullNow (client: LoopClient): Promise<void> {
    // No signal per request: an abort ends run() and the caller destroys the client, which
    // fails what is in flight (an 'abort' listener per request on one shared signal cost the
    // load generator a list walk per request).
    const start = performance.now()
    let answer: PullPieceTasksResponse
    try {
      answer = await this.#deps.client.pullPieceTasks(client.taskId, { cid: client.cid, max: this.#deps.maxPiecesPerPull })
    } catch (err) {
      this.#pullFailed(client, err)
      return
    } finally {
      this.#deps.recorders.pull.record(performance.now() - start)
    }
    this.#answered(client, answer)
  }

  async #reportNow (client: LoopClient, piece: PieceTask): Promise<void> {
    const start = performance.now()
    try {
      await this.#deps.client.reportPiece(client.taskId, parsePieceRange(piece.pieceRange), { cid: client.cid, result: 'success', sourcePeerId: piece.sourcePeerId, costMs: 1 })
    } catch (err) {
      this.#deps.noteError(err)
    } finally {
      this.#deps.recorders.report.record(performance.now() - start)
    }
    if (--client.reportsLeft === 0) this.#pull(client)
  }

  #answered (client: LoopClient, answer: PullPieceTasksResponse): void {
    client.failuresInARow = 0
    this.#deps.outcomes[answer.result]++
    if (answer.result === 'finished') {
      this.#finished++
      this.#end()
      return
    }
    if (answer.result !== 'pieces') {
      this.#after(Math.min(Math.max(answer.retryAfterMs, 1), this.#deps.maxBackoffMs), client)
      return
    }
    // Every piece handed out is "fetched" at once and reported, each on its own; the next pull follows the last report.
    client.reportsLeft = answer.pieces.length
    if (client.reportsLeft === 0) this.#pull(client)
    for (const piece of answer.pieces) this.#deps.slots.submit(async () => { await this.#reportNow(client, piece) })
  }

  #pullFailed (client: LoopClient, err: unknown): void {
    this.#deps.noteError(err)
    if (++client.failuresInARow >= 5) {
      this.#end()
      return
    }
    this.#after(this.#deps.maxBackoffMs, client)
  }

  /** Pulls again after `ms`. */
  #after (ms: number, client: LoopClient): void {
    if (this.#deps.signal.aborted) return
    setTimeout(() => { this.#pull(client) }, ms)
  }

  /** A client's loop ended (finished, or gave up). */
  #end (): void {
    if (--this.#active === 0) this.#done()
  }
}

