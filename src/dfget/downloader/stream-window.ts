/**
 * StreamWindow: stream mode's target (DESIGN.md §5). Instead of a data file it keeps the
 * verified pieces that the reader has not taken yet, in memory, and hands them to a Node
 * Readable strictly in order. `una` is the next piece the reader gets; the window is the
 * pieces the client may hold at once (`windowPieces`), so memory is the window, never the
 * file.
 *
 * It is the writer of both downloaders: the piece loop writes whole verified pieces
 * (`writePieceChunks`; the loop asks `freeSlots()` before pulling, so it never holds more
 * than the window), and back-source writes byte ranges (`writeAt`), which wait until their
 * piece is inside [una, una + windowPieces) and complete a piece when its last byte came.
 * A slow reader therefore slows the download (back-pressure) instead of growing memory.
 *
 * The whole stream is hashed as it goes out; with an expected digest (sha256:<hex>) or md5
 * the stream errors with DF_ERR_TASK_DIGEST_MISMATCH / DF_ERR_TASK_MD5_MISMATCH instead of
 * ending cleanly. Any failure (`fail`) errors the stream, so a reader can always tell a
 * complete stream from one cut short.
 */
import { Readable } from 'node:stream'
import { createHash, type Hash } from 'node:crypto'
import { DfError } from '../../protocol/errors.js'
import { pieceCount, rangeOfPiece, type ByteRange } from '../../protocol/piece-range.js'
import { holdForReader, type SharedBytes } from '../../common/buffer-pool.js'
import type { FileGeometry } from './target-writer.js'

export interface StreamWindowOptions {
  readonly geometry: FileGeometry
  /** Pieces held at most (verified and not yet read, plus in flight). */
  readonly windowPieces: number
  /** Expected content digest of the whole file, "sha256:<hex>". */
  readonly digest?: string | undefined
  /** Expected md5 (hex) of the whole file. */
  readonly md5?: string | undefined
}

export interface StreamWindowDeps {
  /** Called with each verified piece from the swarm before it counts as held (stream mode's sharing); `shared` holds the chunks when they are pooled. */
  readonly onPieceVerified?: (pieceNum: number, chunks: readonly Buffer[], shared: SharedBytes | undefined) => Promise<void>
  /** Called after the reader was handed pieces: `una` is the next piece it will get. */
  readonly onDelivered?: (una: number) => void
  /** Called when the reader went away before the end (the download should stop). */
  readonly onCancel?: () => void
}

interface Assembly { readonly bytes: Buffer, filled: number }

/** A piece waiting for the reader; `shared` is the window's hold of pooled chunks. */
interface PendingPiece { readonly chunks: readonly Buffer[], readonly shared: SharedBytes | undefined }

export class StreamWindow {
  readonly geometry: FileGeometry
  /** The window keeps the buffers of its pieces until the reader took them (PieceTarget). */
  readonly retainsPieceBytes = true
  readonly body: Readable
  readonly #deps: StreamWindowDeps
  readonly #windowPieces: number
  readonly #options: StreamWindowOptions
  readonly #received: Uint8Array
  readonly #pending = new Map<number, PendingPiece>()
  readonly #assembling = new Map<number, Assembly>()
  /** Only with an expected digest: every piece was checked already, and hashing costs the event loop. */
  readonly #sha256: Hash | undefined
  readonly #md5: Hash | undefined
  #receivedCount = 0
  #una = 0
  #wantsData = false
  #ended = false
  #failure: DfError | undefined
  #waiters: (() => void)[] = []
  readonly #delivered: Promise<void>
  #resolveDelivered: () => void = () => {}
  #rejectDelivered: (err: DfError) => void = () => {}

  constructor (deps: StreamWindowDeps, options: StreamWindowOptions) {
    if (!Number.isInteger(options.windowPieces) || options.windowPieces < 1) throw new DfError('DF_ERR_CONFIG_INVALID', `windowPieces: ${options.windowPieces} must be an integer >= 1`)
    this.#deps = deps
    this.#options = options
    this.geometry = options.geometry
    this.#windowPieces = options.windowPieces
    this.#received = new Uint8Array(pieceCount(options.geometry.fileLengthBytes, options.geometry.pieceSizeBytes))
    this.#sha256 = options.digest === undefined ? undefined : createHash('sha256')
    this.#md5 = options.md5 === undefined ? undefined : createHash('md5')
    this.#delivered = new Promise((resolve, reject) => { this.#resolveDelivered = resolve; this.#rejectDelivered = reject })
    this.#delivered.catch(() => {}) // observed through whenDelivered(); never an unhandled rejection
    this.body = new Readable({
      // One piece buffered inside the Readable at most: the window is the memory.
      highWaterMark: Math.max(64 * 1024, Math.min(options.geometry.pieceSizeBytes, 16 * 1024 * 1024)),
      read: () => {
        this.#wantsData = true
        this.#pump()
      },
      destroy: (err, callback) => {
        for (const piece of this.#pending.values()) piece.shared?.release()
        this.#pending.clear()
        if (!this.#ended) {
          this.#ended = true
          const byReader = this.#failure === undefined
          this.#failure ??= err instanceof DfError ? err : new DfError('DF_ERR_INTERNAL', 'the reader closed the stream before its end')
          this.#rejectDelivered(this.#failure)
          this.#wake()
          if (byReader) this.#deps.onCancel?.()
        }
        callback(err)
      },
    })
  }

  get pieceCount (): number { return this.#received.length }
  get verifiedCount (): number { return this.#receivedCount }
  get isComplete (): boolean { return this.#receivedCount === this.#received.length }
  /** The next piece the reader gets. */
  get una (): number { return this.#una }
  isVerified (pieceNum: number): boolean { return this.#received[pieceNum] === 1 }
  /** Why the stream failed, once it did. */
  get failure (): DfError | undefined { return this.#failure }

  rangeOf (pieceNum: number): ByteRange {
    return rangeOfPiece(pieceNum, this.geometry.pieceSizeBytes, this.geometry.fileLengthBytes)
  }

  /** Pieces received (delivered or waiting for the reader), ascending. */
  verifiedPieces (): number[] {
    const held: number[] = []
    for (let i = 0; i < this.#received.length; i++) if (this.#received[i] === 1) held.push(i)
    return held
  }

  missingPieces (): number[] {
    const missing: number[] = []
    for (let i = 0; i < this.#received.length; i++) if (this.#received[i] !== 1) missing.push(i)
    return missing
  }

  /** Pieces the window can take now: the window less what waits for the reader or is being assembled. */
  freeSlots (): number {
    return this.#windowPieces - this.#pending.size - this.#assembling.size
  }

  /** Resolves at the next delivery to the reader (room freed) or failure. */
  async whenFreed (): Promise<void> {
    if (this.#ended) return
    await new Promise<void>((resolve) => { this.#waiters.push(resolve) })
  }

  /** Resolves when every byte went to the reader and the checks passed; rejects with the failure. */
  async whenDelivered (): Promise<void> {
    await this.#delivered
  }

  /**
   * A verified piece from the swarm. Pooled chunks come with `shared`: the window holds it
   * until the reader was handed the piece, and the reader gets a hold of its own
   * (`holdForReader`). @throws the stream's failure, when it failed
   */
  async writePieceChunks (pieceNum: number, chunks: readonly Buffer[], shared?: SharedBytes): Promise<void> {
    this.#throwIfFailed()
    if (this.isVerified(pieceNum)) return
    const range = this.rangeOf(pieceNum)
    const length = chunks.reduce((sum, chunk) => sum + chunk.length, 0)
    if (length !== range.end - range.start + 1) throw new DfError('DF_ERR_INTERNAL_INVARIANT', `piece ${pieceNum} has ${length} bytes, expected ${range.end - range.start + 1}`)
    await this.#deps.onPieceVerified?.(pieceNum, chunks, shared)
    this.#throwIfFailed()
    shared?.hold()
    this.#complete(pieceNum, chunks, shared)
  }

  /**
   * Bytes from the source at a file offset (back-source). Bytes of pieces already received
   * are dropped; a piece beyond the window waits for the reader. @throws the stream's failure
   */
  async writeAt (offset: number, data: Uint8Array): Promise<void> {
    let position = offset
    let rest = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
    while (rest.length > 0) {
      const pieceNum = Math.floor(position / this.geometry.pieceSizeBytes)
      if (pieceNum >= this.pieceCount) break
      const range = this.rangeOf(pieceNum)
      const take = Math.min(rest.length, range.end + 1 - position)
      while (!this.isVerified(pieceNum) && pieceNum >= this.#una + this.#windowPieces) {
        this.#throwIfFailed()
        await this.whenFreed()
      }
      this.#throwIfFailed()
      if (!this.isVerified(pieceNum)) this.#fill(pieceNum, range, position - range.start, rest.subarray(0, take))
      position += take
      rest = rest.subarray(take)
    }
  }

  /** Pieces complete themselves as their last byte arrives (see writeAt). */
  markRangeVerified (_range: ByteRange): void {}

  /** Forgets partly assembled pieces (a whole-file fetch from offset 0 follows). */
  resetVerified (): void {
    this.#assembling.clear()
    this.#wake()
  }

  /** After a whole-file source fetch: the length must be the task's. @throws DF_ERR_SOURCE_CHANGED */
  async completeWhole (lengthBytes: number): Promise<void> {
    if (lengthBytes !== this.geometry.fileLengthBytes) throw new DfError('DF_ERR_SOURCE_CHANGED', `source length is ${lengthBytes}, the task's is ${this.geometry.fileLengthBytes}`)
    if (!this.isComplete) throw new DfError('DF_ERR_SOURCE_UNREACHABLE', `the source sent the file but ${this.pieceCount - this.#receivedCount} pieces are still missing`)
  }

  /** Errors the stream (once): the reader sees `err`; waiting writers throw it. */
  fail (err: DfError): void {
    if (this.#ended) return
    this.#failure = err
    this.body.destroy(err)
  }

  #fill (pieceNum: number, range: ByteRange, offsetInPiece: number, bytes: Buffer): void {
    let assembly = this.#assembling.get(pieceNum)
    if (assembly === undefined) {
      assembly = { bytes: Buffer.allocUnsafe(range.end - range.start + 1), filled: 0 }
      this.#assembling.set(pieceNum, assembly)
    }
    // A segment writes a piece from its start, in order; a retry rewrites it from its start.
    if (offsetInPiece > assembly.filled) throw new DfError('DF_ERR_INTERNAL_INVARIANT', `piece ${pieceNum}: a write at ${offsetInPiece} after only ${assembly.filled} bytes`)
    bytes.copy(assembly.bytes, offsetInPiece)
    assembly.filled = Math.max(assembly.filled, offsetInPiece + bytes.length)
    if (assembly.filled < assembly.bytes.length) return
    this.#assembling.delete(pieceNum)
    this.#complete(pieceNum, [assembly.bytes], undefined)
  }

  #complete (pieceNum: number, chunks: readonly Buffer[], shared: SharedBytes | undefined): void {
    if (this.#received[pieceNum] === 1) {
      shared?.release()
      return
    }
    this.#received[pieceNum] = 1
    this.#receivedCount += 1
    this.#pending.set(pieceNum, { chunks, shared })
    if (this.#wantsData) this.#pump()
  }

  /** Hands the reader every piece that is next in order, while it wants more. */
  #pump (): void {
    let moved = false
    while (this.#wantsData && !this.#ended) {
      if (this.#una >= this.pieceCount) {
        this.#finish()
        break
      }
      const piece = this.#pending.get(this.#una)
      if (piece === undefined) break
      this.#pending.delete(this.#una)
      this.#una += 1
      moved = true
      let wantsMore = true
      for (const chunk of piece.chunks) {
        this.#sha256?.update(chunk)
        this.#md5?.update(chunk)
        if (piece.shared !== undefined) holdForReader(chunk, piece.shared)
        wantsMore = this.body.push(chunk)
      }
      piece.shared?.release()
      this.#wantsData = wantsMore
    }
    if (moved) {
      this.#deps.onDelivered?.(this.#una)
      this.#wake()
    }
  }

  #finish (): void {
    const digest = this.#options.digest
    const sha256 = this.#sha256 === undefined ? undefined : `sha256:${this.#sha256.digest('hex')}`
    if (digest !== undefined && sha256 !== digest) {
      this.fail(new DfError('DF_ERR_TASK_DIGEST_MISMATCH', `the stream's content digest is ${sha256 ?? '?'}, expected ${digest}`, { details: { expected: digest, actual: sha256 ?? null } }))
      return
    }
    const md5 = this.#options.md5
    if (md5 !== undefined && this.#md5?.digest('hex') !== md5) {
      this.fail(new DfError('DF_ERR_TASK_MD5_MISMATCH', `the stream does not match --md5 ${md5}`))
      return
    }
    this.#ended = true
    this.body.push(null)
    this.#resolveDelivered()
    this.#wake()
  }

  #wake (): void {
    const waiters = this.#waiters
    this.#waiters = []
    for (const resolve of waiters) resolve()
  }

  #throwIfFailed (): void {
    if (this.#failure !== undefined) throw this.#failure
  }
}
