/**
 * PieceStore: the peer server's in-memory store of stream mode (DESIGN.md §5). A streaming
 * dfget writes nothing to disk, so it hands the pieces of its window to its host's peer
 * server, which keeps them here, keyed by (taskId, cid, pieceNum), and serves them to other
 * peers by Range like a data file. The dfget decides what leaves the window (it drops
 * pieces and tells the supernode); the store only enforces the bounds.
 *
 * Invariants: a stream holds at most `windowPieces + STREAM_GRACE_PIECES` pieces, every one
 * exactly its piece's length; the bytes of every stream together stay under `maxBytes`
 * (a stream is refused at open when its window would pass it). Memory is therefore bounded
 * by the windows, never by the files.
 *
 * Pooled pieces (a dfget in this process: SharedBytes) are held while they are stored and,
 * for every read, until that upload is done (`StoreRead.release`), so their buffer goes back
 * to the pool only when no upload is sending from it.
 */
import type { KeyObject } from 'node:crypto'
import type { Clock } from '../../common/clock.js'
import { sliceChunks } from '../../common/buffer-chunks.js'
import type { SharedBytes } from '../../common/buffer-pool.js'
import { DfError } from '../../protocol/errors.js'
import type { ClientId, TaskId } from '../../protocol/ids.js'
import { pieceCount, rangeOfPiece, type ByteRange } from '../../protocol/piece-range.js'

/**
 * Pieces a stream may hold beyond its window: the dfget drops a piece from the store a few
 * pieces after it told the supernode, so that a peer the supernode sent just before still
 * finds it.
 */
export const STREAM_GRACE_PIECES = 4

/** Default cap of all streams' pieces together. */
export const DEFAULT_STREAM_STORE_BYTES = 512 * 1024 * 1024

/** One open stream. */
export interface StreamSpec {
  readonly taskId: TaskId
  readonly cid: ClientId
  readonly fileLengthBytes: number
  readonly pieceSizeBytes: number
  readonly windowPieces: number
  readonly supernodes: readonly string[]
  /** A private task: the keys its piece grants are verified with (empty: public, no grant needed). */
  readonly grantKeys?: readonly KeyObject[] | undefined
}

interface StoredPiece {
  readonly chunks: readonly Buffer[]
  readonly length: number
  /** The store's hold of pooled chunks. */
  readonly shared: SharedBytes | undefined
}

/** Bytes read from the store: `release` once they were sent. */
export interface StoreRead {
  readonly bytes: Buffer
  /** True when the bytes are pooled (they do not become garbage). */
  readonly pooled: boolean
  readonly release: () => void
}

interface StreamEntry {
  readonly spec: StreamSpec
  readonly pieceCount: number
  /** A piece's bytes as they were put (one buffer over HTTP; the fetch's chunks in process). */
  readonly pieces: Map<number, StoredPiece>
  /** Bytes reserved for this stream: (window + grace) pieces. */
  readonly reservedBytes: number
  lastUsedMs: number
}

export class PieceStore {
  readonly #clock: Clock
  readonly #maxBytes: number
  readonly #streams = new Map<string, StreamEntry>()
  #reservedBytes = 0

  constructor (deps: { clock: Clock }, options: { maxBytes?: number } = {}) {
    this.#clock = deps.clock
    this.#maxBytes = options.maxBytes ?? DEFAULT_STREAM_STORE_BYTES
    if (!Number.isInteger(this.#maxBytes) || this.#maxBytes < 1) throw new RangeError('maxBytes must be a positive integer')
  }

  /** Opens (or reopens, keeping its pieces) a stream. @throws DF_ERR_UPLOAD_STORE_FULL */
  open (spec: StreamSpec): void {
    const key = keyOf(spec.taskId, spec.cid)
    const existing = this.#streams.get(key)
    const reservedBytes = Math.min(spec.fileLengthBytes, (spec.windowPieces + STREAM_GRACE_PIECES) * spec.pieceSizeBytes)
    const others = this.#reservedBytes - (existing?.reservedBytes ?? 0)
    if (others + reservedBytes > this.#maxBytes) {
      throw new DfError('DF_ERR_UPLOAD_STORE_FULL', `a window of ${reservedBytes} bytes would pass the stream store's cap of ${this.#maxBytes} bytes`, { details: { reservedBytes, maxBytes: this.#maxBytes } })
    }
    const entry: StreamEntry = {
      spec,
      pieceCount: pieceCount(spec.fileLengthBytes, spec.pieceSizeBytes),
      pieces: existing !== undefined && existing.spec.pieceSizeBytes === spec.pieceSizeBytes && existing.spec.fileLengthBytes === spec.fileLengthBytes ? existing.pieces : new Map<number, StoredPiece>(),
      reservedBytes,
      lastUsedMs: this.#clock.now(),
    }
    this.#reservedBytes = others + reservedBytes
    this.#streams.set(key, entry)
  }

  /** Closes a stream, freeing its pieces; false when it was not open. */
  close (taskId: string, cid: string): boolean {
    const key = keyOf(taskId, cid)
    const entry = this.#streams.get(key)
    if (entry === undefined) return false
    this.#streams.delete(key)
    this.#reservedBytes -= entry.reservedBytes
    for (const piece of entry.pieces.values()) piece.shared?.release()
    entry.pieces.clear()
    return true
  }

  /**
   * Stores a piece's bytes. @throws DF_ERR_UPLOAD_TASK_NOT_FOUND (no such stream),
   * DF_ERR_ARG_INVALID (wrong piece number or length), DF_ERR_UPLOAD_STORE_FULL (more
   * pieces than the window and its grace)
   */
  put (taskId: string, cid: string, pieceNum: number, bytes: Buffer | readonly Buffer[], shared?: SharedBytes): void {
    const chunks = Buffer.isBuffer(bytes) ? [bytes] : bytes
    const length = chunks.reduce((sum, chunk) => sum + chunk.length, 0)
    const entry = this.#mustGet(taskId, cid)
    if (!Number.isInteger(pieceNum) || pieceNum < 0 || pieceNum >= entry.pieceCount) {
      throw new DfError('DF_ERR_ARG_INVALID', `pieceNum: ${pieceNum} is not a piece of the task`, { details: { field: 'pieceNum' } })
    }
    const range = rangeOfPiece(pieceNum, entry.spec.pieceSizeBytes, entry.spec.fileLengthBytes)
    if (length !== range.end - range.start + 1) {
      throw new DfError('DF_ERR_ARG_INVALID', `body: piece ${pieceNum} has ${range.end - range.start + 1} bytes, got ${length}`, { details: { field: 'body' } })
    }
    if (!entry.pieces.has(pieceNum) && entry.pieces.size >= entry.spec.windowPieces + STREAM_GRACE_PIECES) {
      throw new DfError('DF_ERR_UPLOAD_STORE_FULL', `the stream already holds ${entry.pieces.size} pieces (window ${entry.spec.windowPieces})`)
    }
    shared?.hold()
    entry.pieces.get(pieceNum)?.shared?.release()
    entry.pieces.set(pieceNum, { chunks, length, shared })
    entry.lastUsedMs = this.#clock.now()
  }

  /** Drops a piece; false when it was not held. @throws DF_ERR_UPLOAD_TASK_NOT_FOUND */
  drop (taskId: string, cid: string, pieceNum: number): boolean {
    const pieces = this.#mustGet(taskId, cid).pieces
    const piece = pieces.get(pieceNum)
    if (piece === undefined) return false
    pieces.delete(pieceNum)
    piece.shared?.release()
    return true
  }

  /** The stream of (taskId, cid), touched by the read; undefined when none is open. */
  getForRead (taskId: string, cid: string): StreamSpec | undefined {
    const entry = this.#streams.get(keyOf(taskId, cid))
    if (entry === undefined) return undefined
    entry.lastUsedMs = this.#clock.now()
    return entry.spec
  }

  /**
   * The bytes of `range` when one held piece contains it all, held until `release`;
   * undefined otherwise (a range across pieces, or a piece not held: it left the window or
   * never came).
   */
  read (taskId: string, cid: string, range: ByteRange): StoreRead | undefined {
    const entry = this.#streams.get(keyOf(taskId, cid))
    if (entry === undefined) return undefined
    const pieceNum = Math.floor(range.start / entry.spec.pieceSizeBytes)
    const piece = entry.pieces.get(pieceNum)
    if (piece === undefined) return undefined
    const offset = range.start - pieceNum * entry.spec.pieceSizeBytes
    const length = range.end - range.start + 1
    if (offset + length > piece.length) return undefined
    const views = sliceChunks(piece.chunks, offset, length)
    if (views.length !== 1 || views[0] === undefined) return { bytes: Buffer.concat(views, length), pooled: false, release: () => {} }
    const shared = piece.shared
    if (shared === undefined) return { bytes: views[0], pooled: false, release: () => {} }
    shared.hold()
    let released = false
    return {
      bytes: views[0],
      pooled: true,
      release: () => {
        if (released) return
        released = true
        shared.release()
      },
    }
  }

  /** Removes and returns the streams untouched for `idleMs` (their dfget is gone). */
  takeExpired (idleMs: number): StreamSpec[] {
    const now = this.#clock.now()
    const expired: StreamSpec[] = []
    for (const entry of [...this.#streams.values()]) {
      if (now - entry.lastUsedMs < idleMs) continue
      this.close(entry.spec.taskId, entry.spec.cid)
      expired.push(entry.spec)
    }
    return expired
  }

  /** Open streams. */
  get size (): number {
    return this.#streams.size
  }

  /** Bytes of pieces held now, across streams. */
  get heldBytes (): number {
    let bytes = 0
    for (const entry of this.#streams.values()) for (const piece of entry.pieces.values()) bytes += piece.length
    return bytes
  }

  /** Every open stream (copies of the specs). */
  streams (): StreamSpec[] {
    return [...this.#streams.values()].map((entry) => entry.spec)
  }

  #mustGet (taskId: string, cid: string): StreamEntry {
    const entry = this.#streams.get(keyOf(taskId, cid))
    if (entry === undefined) throw new DfError('DF_ERR_UPLOAD_TASK_NOT_FOUND', 'no stream of that task and cid is open here')
    entry.lastUsedMs = this.#clock.now()
    return entry
  }
}

function keyOf (taskId: string, cid: string): string {
  return `${taskId}/${cid}`
}
