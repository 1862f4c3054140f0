/**
 * Fetching one piece from a peer or the supernode: a Range GET of exactly the piece, the
 * sha256 digest checked against the one the supernode gave, then a positional write into
 * the target. A piece whose bytes do not match is never written (DF_ERR_PIECE_DIGEST_MISMATCH).
 *
 * Over plain http the body is read straight into one buffer of the data plane's pool
 * (RangeReader), hashed there (a digest worker reads the pool's shared memory in place) and
 * written with one positional write; the buffer goes back to the pool. A target that keeps
 * the bytes (stream mode's window) gets them as SharedBytes and holds them as long as it
 * needs: the buffer goes back when the last holder lets go.
 */
import type { SharedBytes } from '../../common/buffer-pool.js'
import type { RateLimiter } from '../../common/rate-limiter.js'
import { DfError } from '../../protocol/errors.js'
import { parsePieceRange } from '../../protocol/piece-range.js'
import { PIECE_GRANT_HEADER } from '../../protocol/piece-grant.js'
import type { PieceTask } from '../../protocol/messages/pull-piece-task.js'
import type { TargetWriter } from './target-writer.js'
import type { DataPlane } from '../data-plane.js'

export interface PieceFetcherOptions {
  /** Deadline for the headers and for each gap in the body. */
  readonly pieceTimeoutMs: number
  /** Pattern cdn: fetch every piece from this URL (the supernode's task data) instead. */
  readonly cdnDataUrl?: string | undefined
  /** Sent with every piece request (the shared token); never sent to the source. */
  readonly headers?: Readonly<Record<string, string>>
}

/** Where verified pieces go: the data file (TargetWriter) or stream mode's window (StreamWindow). */
export type PieceTarget = Pick<TargetWriter, 'rangeOf'> & {
  /** Takes a verified piece; `shared`, when given, holds `chunks` (the target holds it while it keeps them). */
  writePieceChunks: (pieceNum: number, chunks: readonly Buffer[], shared?: SharedBytes) => Promise<void>
  /** True when the target keeps the buffers it is given (they come as SharedBytes). */
  readonly retainsPieceBytes?: boolean
}

/** A fetched and written piece. */
export interface FetchedPiece {
  readonly bytes: number
  readonly costMs: number
  /** Where the bytes came from in fact. */
  readonly fromSupernode: boolean
}

export class PieceFetcher {
  readonly #plane: Pick<DataPlane, 'http' | 'reader' | 'buffers' | 'digests'>
  readonly #writer: PieceTarget
  readonly #limiter: RateLimiter
  readonly #options: PieceFetcherOptions

  constructor (deps: { plane: Pick<DataPlane, 'http' | 'reader' | 'buffers' | 'digests'>, writer: PieceTarget, limiter: RateLimiter }, options: PieceFetcherOptions) {
    this.#plane = deps.plane
    this.#writer = deps.writer
    this.#limiter = deps.limiter
    this.#options = options
  }

  /**
   * Fetches, verifies and writes one piece.
   * @throws DfError: DF_ERR_PIECE_DIGEST_MISMATCH, DF_ERR_PIECE_RANGE_INVALID, network codes
   * of the source, DF_ERR_TASK_WRITE_FAILED
   */
  async fetch (piece: PieceTask, signal: AbortSignal): Promise<FetchedPiece> {
    const startedMs = Date.now()
    const range = parsePieceRange(piece.pieceRange)
    const expected = this.#writer.rangeOf(piece.pieceNum)
    if (expected.start !== range.start || expected.end !== range.end) {
      throw new DfError('DF_ERR_PIECE_RANGE_INVALID', `piece ${piece.pieceNum} has range ${piece.pieceRange}, expected ${expected.start}-${expected.end}`)
    }
    const length = range.end - range.start + 1
    await this.#limiter.take(length, signal)
    const url = this.#options.cdnDataUrl ?? piece.url
    // The piece's grant (its supernode's permission for this task) goes with the shared headers.
    const headers = piece.grant === undefined
      ? (this.#options.headers === undefined ? {} : { headers: this.#options.headers })
      : { headers: { ...this.#options.headers, [PIECE_GRANT_HEADER]: piece.grant } }
    const { reader, buffers, http } = this.#plane
    if (!reader.supports(url)) {
      const chunks = await http.fetchRangeChunks({ url, start: range.start, end: range.end, signal, timeoutMs: this.#options.pieceTimeoutMs, ...headers })
      await this.#verifyAndWrite(piece, chunks)
    } else if (this.#writer.retainsPieceBytes === true) {
      const shared = buffers.acquireShared(length)
      try {
        await reader.readInto({ url, start: range.start, target: shared.bytes, signal, timeoutMs: this.#options.pieceTimeoutMs, ...headers })
        await this.#verifyAndWrite(piece, [shared.bytes], shared)
      } finally {
        shared.release()
      }
    } else {
      const target = buffers.acquire(length)
      try {
        await reader.readInto({ url, start: range.start, target, signal, timeoutMs: this.#options.pieceTimeoutMs, ...headers })
        await this.#verifyAndWrite(piece, [target])
      } finally {
        buffers.release(target)
      }
    }
    return { bytes: length, costMs: Date.now() - startedMs, fromSupernode: this.#options.cdnDataUrl !== undefined || piece.sourceKind === 'supernode' }
  }

  async #verifyAndWrite (piece: PieceTask, chunks: Buffer[], shared?: SharedBytes): Promise<void> {
    if (`sha256:${await this.#plane.digests.sha256Hex(chunks)}` !== piece.digest) {
      throw new DfError('DF_ERR_PIECE_DIGEST_MISMATCH', `piece ${piece.pieceNum} from ${piece.sourcePeerId} does not match its digest`, { details: { pieceNum: piece.pieceNum, sourcePeerId: piece.sourcePeerId } })
    }
    await this.#writer.writePieceChunks(piece.pieceNum, chunks, shared)
  }
}
