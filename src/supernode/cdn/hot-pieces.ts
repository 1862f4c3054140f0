/**
 * HotPieces: the pieces the CDN cached most recently, kept in memory up to a byte budget,
 * so the swarm's first requests for a new task (every peer wants the same fresh pieces at
 * once) are served from the bytes the source just sent, without reading the cache file
 * back or allocating for it. The oldest piece leaves first; a task whose cache files are
 * removed or fetched again leaves entirely. The disk cache stays the source of truth:
 * whatever is not here is read from the file.
 */
import type { TaskId } from '../../protocol/ids.js'
import type { ByteRange } from '../../protocol/piece-range.js'
import { sliceChunks } from '../../common/buffer-chunks.js'

interface HotPiece {
  readonly taskId: TaskId
  readonly startBytes: number
  readonly lengthBytes: number
  readonly chunks: readonly Buffer[]
}

export class HotPieces {
  readonly #maxBytes: number
  /** In insertion order: the first entry is the oldest. */
  readonly #pieces = new Map<string, HotPiece>()
  #bytes = 0

  /** @param maxBytes 0 keeps nothing */
  constructor (maxBytes: number) {
    if (!Number.isInteger(maxBytes) || maxBytes < 0) throw new RangeError('maxBytes must be an integer >= 0')
    this.#maxBytes = maxBytes
  }

  /** Bytes held now. */
  get heldBytes (): number {
    return this.#bytes
  }

  /** Keeps a freshly cached piece (its bytes start at `startBytes` of the file), dropping the oldest ones past the budget. */
  add (taskId: TaskId, pieceNum: number, startBytes: number, chunks: readonly Buffer[]): void {
    const lengthBytes = chunks.reduce((sum, chunk) => sum + chunk.length, 0)
    if (lengthBytes > this.#maxBytes) return
    const key = keyOf(taskId, pieceNum)
    this.#delete(key)
    this.#pieces.set(key, { taskId, startBytes, lengthBytes, chunks })
    this.#bytes += lengthBytes
    for (const oldest of this.#pieces.keys()) {
      if (this.#bytes <= this.#maxBytes) break
      this.#delete(oldest)
    }
  }

  /** The bytes of `range` when one held piece covers it (views, no copy); undefined otherwise. */
  read (taskId: TaskId, pieceSizeBytes: number, range: ByteRange): Buffer[] | undefined {
    const piece = this.#pieces.get(keyOf(taskId, Math.floor(range.start / pieceSizeBytes)))
    if (piece === undefined || range.end >= piece.startBytes + piece.lengthBytes) return undefined
    return sliceChunks(piece.chunks, range.start - piece.startBytes, range.end - range.start + 1)
  }

  /** Forgets every piece of a task (its cache files go, or it is fetched again). */
  dropTask (taskId: TaskId): void {
    for (const [key, piece] of this.#pieces) if (piece.taskId === taskId) this.#delete(key)
  }

  #delete (key: string): void {
    const piece = this.#pieces.get(key)
    if (piece === undefined) return
    this.#pieces.delete(key)
    this.#bytes -= piece.lengthBytes
  }
}

function keyOf (taskId: string, pieceNum: number): string {
  return `${taskId}:${pieceNum}`
}
