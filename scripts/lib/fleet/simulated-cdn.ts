/**
 * The supernode's CDN in the fleet simulator: the slice of CdnManager that TaskManager
 * uses, reading the task's file from the simulated origin over the flow network instead
 * of a socket and a cache file. Like the real CDN with its default settings it probes the
 * source (one round trip), then reads the file as one stream in order, and each piece is
 * announced to ProgressManager (markCached) the moment its bytes arrived; the pieces'
 * digests are made up (no bytes exist: receivers' verification is simulated).
 */
import type { CdnManager, CdnTaskGeometry, CdnTaskSpec } from '../../../src/supernode/cdn/cdn-manager.js'
import type { ProgressManager } from '../../../src/supernode/progress/progress-manager.js'
import { computePieceSizeBytes, pieceCount, rangeLength, rangeOfPiece } from '../../../src/protocol/piece-range.js'
import type { TaskId } from '../../../src/protocol/ids.js'
import type { FlowNetwork } from './flow-network.js'

export interface SimulatedCdnOptions {
  /** The file's length (every task of the simulation is the one file). */
  readonly fileLengthBytes: number
  readonly originHost: number
  readonly supernodeHost: number
}

export class SimulatedCdn implements Pick<CdnManager, 'prepareTask' | 'abortTask' | 'isBusy' | 'isSourceUnchanged'> {
  readonly #network: FlowNetwork
  readonly #progress: Pick<ProgressManager, 'createTask' | 'markCached'>
  readonly #options: SimulatedCdnOptions
  readonly #preparing = new Map<TaskId, Promise<CdnTaskGeometry>>()
  readonly #downloads = new Map<TaskId, AbortController>()
  #originReadBytes = 0
  #cachedAllAtMs: number | undefined

  constructor (deps: { network: FlowNetwork, progress: Pick<ProgressManager, 'createTask' | 'markCached'> }, options: SimulatedCdnOptions) {
    this.#network = deps.network
    this.#progress = deps.progress
    this.#options = options
  }

  /** When the CDN held the whole file (undefined before). */
  get cachedAllAtMs (): number | undefined {
    return this.#cachedAllAtMs
  }

  /** Bytes the origin has sent to the CDN (the origin's reads). */
  get originReadBytes (): number {
    return this.#originReadBytes
  }

  async prepareTask (spec: CdnTaskSpec): Promise<CdnTaskGeometry> {
    let preparing = this.#preparing.get(spec.taskId)
    if (preparing === undefined) {
      preparing = this.#start(spec.taskId)
      this.#preparing.set(spec.taskId, preparing)
    }
    return await preparing
  }

  isBusy (taskId: TaskId): boolean {
    return this.#downloads.has(taskId)
  }

  abortTask (taskId: TaskId): void {
    this.#downloads.get(taskId)?.abort()
  }

  async isSourceUnchanged (): Promise<boolean> {
    return true
  }

  async #start (taskId: TaskId): Promise<CdnTaskGeometry> {
    const { originHost, supernodeHost, fileLengthBytes } = this.#options
    // The probe: a request to the origin and its answer's headers.
    await this.#network.delay(2 * (this.#network.latencyOf(originHost) + this.#network.latencyOf(supernodeHost)))
    const pieceSizeBytes = computePieceSizeBytes(fileLengthBytes)
    const count = pieceCount(fileLengthBytes, pieceSizeBytes)
    this.#progress.createTask(taskId, count)
    const controller = new AbortController()
    this.#downloads.set(taskId, controller)
    const completion = (async () => {
      try {
        // One stream in order: the probe's response is the body (no second round trip).
        for (let pieceNum = 0; pieceNum < count; pieceNum++) {
          const bytes = rangeLength(rangeOfPiece(pieceNum, pieceSizeBytes, fileLengthBytes))
          await this.#network.transfer(originHost, supernodeHost, bytes, controller.signal, { noRoundTrip: true })
          this.#originReadBytes += bytes
          this.#progress.markCached(taskId, pieceNum, simulatedDigest(pieceNum))
        }
        this.#cachedAllAtMs = this.#network.now()
      } finally {
        this.#downloads.delete(taskId)
      }
    })()
    completion.catch(() => undefined)
    return { fileLengthBytes, pieceSizeBytes, pieceCount: count, isFromCache: false, completion }
  }
}

/** A well-formed digest for a piece of the simulated file (receivers do not hash anything). */
export function simulatedDigest (pieceNum: number): string {
  return `sha256:${pieceNum.toString(16).padStart(64, '0')}`
}
