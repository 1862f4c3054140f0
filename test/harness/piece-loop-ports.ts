/**
 * What the ManualClock tests of both piece loops (v1 P2pDownloader, v2 ParentDownloader)
 * drive the real loop with, in process: the download's target in memory, piece fetches the
 * test completes or fails, a promise the test settles, and `settle()` to let the loop react
 * between steps. Time moves only when the test advances its ManualClock.
 */
import assert from 'node:assert/strict'
import { DfError } from '../../src/protocol/errors.js'
import { PieceBitset } from '../../src/protocol/piece-bitset.js'
import { rangeLength, rangeOfPiece, type ByteRange } from '../../src/protocol/piece-range.js'
import type { PieceTask } from '../../src/protocol/messages/pull-piece-task.js'
import type { PieceFetchPort } from '../../src/dfget/downloader/piece-loop.js'
import type { FetchedPiece } from '../../src/dfget/downloader/piece-fetcher.js'
import type { FileGeometry } from '../../src/dfget/downloader/target-writer.js'

/** The download's target, in memory: the slice of TargetWriter the piece loops read. */
export class MemoryTarget {
  readonly pieceCount: number
  readonly geometry: FileGeometry
  readonly #verified: PieceBitset
  constructor (pieceCount: number, pieceSizeBytes = 16) {
    this.pieceCount = pieceCount
    this.geometry = { fileLengthBytes: pieceCount * pieceSizeBytes, pieceSizeBytes }
    this.#verified = new PieceBitset(pieceCount)
  }

  get isComplete (): boolean { return this.#verified.isFull }
  get verifiedCount (): number { return this.#verified.count }
  isVerified (pieceNum: number): boolean { return this.#verified.has(pieceNum) }
  rangeOf (pieceNum: number): ByteRange { return rangeOfPiece(pieceNum, this.geometry.pieceSizeBytes, this.geometry.fileLengthBytes) }
  verifiedPieces (): number[] { return this.#verified.toArray() }
  markVerified (pieceNum: number): void { this.#verified.add(pieceNum) }
}

export interface Pending<T> { readonly resolve: (value: T) => void, readonly reject: (err: unknown) => void }

/** Waits on a promise that settles when the test says, or rejects when `signal` aborts. */
export function pending<T> (signal: AbortSignal | undefined, into: (handle: Pending<T>) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    signal?.addEventListener('abort', () => { reject(new DfError('DF_ERR_INTERNAL', 'aborted', { cause: signal.reason })) }, { once: true })
    into({ resolve, reject })
  })
}

/** Lets promise callbacks run (the loop reacts to every settled promise before the next step). */
export async function settle (): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((resolve) => { setImmediate(resolve) })
}

/**
 * Fetches that the test completes or fails; counts the most in flight from each source. A
 * fetch of a piece in `writing` is past its read: the abort no longer stops it (as
 * PieceFetcher's verify-and-write, which takes no signal), so only the test ends it.
 */
export class ScriptedFetches implements PieceFetchPort {
  readonly calls: { readonly piece: PieceTask, readonly signal: AbortSignal, readonly result: Pending<FetchedPiece> }[] = []
  readonly writing = new Set<number>()
  readonly #running = new Map<string, number>()
  readonly maxRunning = new Map<string, number>()
  constructor (readonly target: MemoryTarget) {}
  async fetch (piece: PieceTask, signal: AbortSignal): Promise<FetchedPiece> {
    const source = piece.sourcePeerId
    const running = (this.#running.get(source) ?? 0) + 1
    this.#running.set(source, running)
    this.maxRunning.set(source, Math.max(running, this.maxRunning.get(source) ?? 0))
    try {
      return await pending(this.writing.has(piece.pieceNum) ? undefined : signal, (result) => { this.calls.push({ piece, signal, result }) })
    } finally {
      this.#running.set(source, (this.#running.get(source) ?? 1) - 1)
    }
  }

  /** Fetch number `index` verified and wrote its piece. */
  succeed (index: number): void {
    const call = this.calls[index]
    assert.ok(call !== undefined, `no fetch #${index}`)
    this.target.markVerified(call.piece.pieceNum)
    call.result.resolve({ bytes: rangeLength(this.target.rangeOf(call.piece.pieceNum)), costMs: 1, fromSupernode: call.piece.sourceKind === 'supernode' })
  }
}
