/**
 * A swarm of simulated dfget clients against one supernode, for the control-plane benchmark.
 * Each simulated client is a peer and a cid on the same task; it registers (peer, then task)
 * and then runs dfget's piece loop through the real SupernodeClient: pull work, "fetch" the
 * pieces handed out (no data moves), report each as a success from the source it was given,
 * until the supernode answers `finished`. At most `concurrency` requests are in flight at
 * once over the whole swarm (a FIFO semaphore), the way a fleet's requests arrive spread out;
 * latencies are measured from sending a request to its answer, not while queued here.
 */
import { SupernodeClient } from '../../../src/supernode/client.js'
import type { PullPieceTasksResponse } from '../../../src/protocol/messages/pull-piece-task.js'
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
 * A FIFO counting semaphore. Its queue is an array read from a moving head, so taking the
 * next waiter is O(1): with every simulated client queued (20,000), `Array#shift` copied the
 * whole queue on each release and was a quarter of the load generator's CPU, delaying the
 * answers it was timing.
 */
class Semaphore {
  #free: number
  #waiting: (() => void)[] = []
  #head = 0

  constructor (slots: number) {
    this.#free = slots
  }

  async acquire (): Promise<void> {
    if (this.#free > 0) {
      this.#free--
      return
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve))
  }

  release (): void {
    const next = this.#waiting[this.#head]
    if (next === undefined) {
      this.#free++
      return
    }
    this.#waiting[this.#head++] = noop
    // Drop the consumed front once it is most of the array (amortised O(1)).
    if (this.#head >= 1024 && this.#head * 2 >= this.#waiting.length) {
      this.#waiting = this.#waiting.slice(this.#head)
      this.#head = 0
    }
    next()
  }
}

function noop (): void {}

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
  const client = new SupernodeClient({ baseUrl: options.apiUrl, connectionsPerOrigin: options.concurrency, timeoutMs: 120_000, keepAliveTimeoutMs: 30_000 })
  const slots = new Semaphore(options.concurrency)
  const waitMs = options.waitMs ?? 0
  const longPolls = waitMs > 0 ? new SupernodeClient({ baseUrl: options.apiUrl, connectionsPerOrigin: options.peers, timeoutMs: 120_000, keepAliveTimeoutMs: 30_000 }) : undefined
  const recorders = { registerPeer: new LatencyRecorder(), registerTask: new LatencyRecorder(), pull: new LatencyRecorder(), report: new LatencyRecorder() }
  const outcomes: Record<PullPieceTasksResponse['result'], number> = { pieces: 0, wait: 0, limited: 0, finished: 0 }
  let errors = 0
  let firstError: string | undefined
  const timed = async <T>(recorder: LatencyRecorder, call: () => Promise<T>): Promise<T> => {
    await slots.acquire()
    const start = performance.now()
    try {
      return await call()
    } finally {
      recorder.record(performance.now() - start)
      slots.release()
    }
  }
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
    let finishedClients = 0
    await Promise.all(taskIds.map(async (taskId, i) => {
      if (taskId === undefined) return
      const cid = `sim-cid-${i}`
      let failuresInARow = 0
      while (!options.signal.aborted) {
        let answer: PullPieceTasksResponse
        try {
          if (longPolls === undefined) {
            answer = await timed(recorders.pull, async () => await client.pullPieceTasks(taskId, { cid, max: options.maxPiecesPerPull }, options.signal))
          } else {
            const start = performance.now()
            answer = await longPolls.pullPieceTasks(taskId, { cid, max: options.maxPiecesPerPull, waitMs }, options.signal)
            recorders.pull.record(performance.now() - start)
          }
          failuresInARow = 0
        } catch (err) {
          noteError(err)
          if (++failuresInARow >= 5) return
          await sleep(options.maxBackoffMs)
          continue
        }
        outcomes[answer.result]++
        if (answer.result === 'finished') {
          finishedClients++
          return
        }
        if (answer.result !== 'pieces') {
          await sleep(Math.min(Math.max(answer.retryAfterMs, 1), options.maxBackoffMs))
          continue
        }
        await Promise.all(answer.pieces.map(async (piece) => {
          try {
            await timed(recorders.report, async () => await client.reportPiece(taskId, parsePieceRange(piece.pieceRange), { cid, result: 'success', sourcePeerId: piece.sourcePeerId, costMs: 1 }, options.signal))
          } catch (err) {
            noteError(err)
          }
        }))
      }
    }))
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

async function sleep (ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms))
}
