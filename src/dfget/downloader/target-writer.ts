/**
 * The target of one download: a data file written at piece offsets (positional writes
 * through one file handle), the set of pieces verified in it, and the final publication to
 * the output path. The output path never holds a partial or corrupt file: the data file is
 * hard-linked (or copied, when linking fails, e.g. across filesystems) to a temp path beside
 * the output, fsynced, and renamed onto it; every failure path removes the temp.
 *
 * A piece is marked verified only after its bytes were checked against its digest and
 * written; bytes from the source (back-source) mark the pieces they complete.
 */
import { copyFile, link, open, rename, rm, stat, type FileHandle } from 'node:fs/promises'
import { createHash } from 'node:crypto'
import { pipeline } from 'node:stream/promises'
import type { Writable } from 'node:stream'
import { tempPathFor } from '../../common/fs/atomic-write.js'
import { DfError } from '../../protocol/errors.js'
import { pieceCount, rangeOfPiece, type ByteRange } from '../../protocol/piece-range.js'

/** The geometry of a task file, when the supernode told it. */
export interface FileGeometry {
  readonly fileLengthBytes: number
  readonly pieceSizeBytes: number
}

export interface TargetWriterOptions {
  /** The data file. */
  readonly dataPath: string
  /** Known geometry; without it only `writeAt` is usable (a whole-file source download). */
  readonly geometry?: FileGeometry | undefined
}

export class TargetWriter {
  readonly dataPath: string
  #geometry: FileGeometry | undefined
  #verified: Uint8Array
  #verifiedCount = 0
  #handle: FileHandle | undefined
  #closed = false

  constructor (options: TargetWriterOptions) {
    this.dataPath = options.dataPath
    this.#geometry = options.geometry
    this.#verified = new Uint8Array(options.geometry === undefined ? 0 : pieceCount(options.geometry.fileLengthBytes, options.geometry.pieceSizeBytes))
  }

  /** Creates (truncates) the data file, sized to the file length when known. @throws DF_ERR_TASK_WRITE_FAILED */
  async open (): Promise<void> {
    try {
      this.#handle = await open(this.dataPath, 'w+', 0o644)
      if (this.#geometry !== undefined) await this.#handle.truncate(this.#geometry.fileLengthBytes)
    } catch (err) {
      throw writeFailed(`cannot create ${this.dataPath}`, err)
    }
  }

  get geometry (): FileGeometry | undefined {
    return this.#geometry
  }

  get pieceCount (): number {
    return this.#verified.length
  }

  get verifiedCount (): number {
    return this.#verifiedCount
  }

  get isComplete (): boolean {
    return this.#geometry !== undefined && this.#verifiedCount === this.#verified.length
  }

  isVerified (pieceNum: number): boolean {
    return this.#verified[pieceNum] === 1
  }

  /** Piece numbers not yet verified, ascending. */
  missingPieces (): number[] {
    const missing: number[] = []
    for (let i = 0; i < this.#verified.length; i++) if (this.#verified[i] !== 1) missing.push(i)
    return missing
  }

  /** Verified piece numbers, ascending. */
  verifiedPieces (): number[] {
    const held: number[] = []
    for (let i = 0; i < this.#verified.length; i++) if (this.#verified[i] === 1) held.push(i)
    return held
  }

  /** The byte range of a piece. */
  rangeOf (pieceNum: number): ByteRange {
    const geometry = this.#requireGeometry()
    return rangeOfPiece(pieceNum, geometry.pieceSizeBytes, geometry.fileLengthBytes)
  }

  /** Writes a verified piece at its offset and marks it. @throws DF_ERR_TASK_WRITE_FAILED */
  async writePiece (pieceNum: number, data: Uint8Array): Promise<void> {
    const range = this.rangeOf(pieceNum)
    if (data.length !== range.end - range.start + 1) throw new DfError('DF_ERR_INTERNAL_INVARIANT', `piece ${pieceNum} has ${data.length} bytes, expected ${range.end - range.start + 1}`)
    await this.writeAt(range.start, data)
    this.markVerified(pieceNum)
  }

  /**
   * Writes a verified piece given as the chunks it arrived in (one vectored write, no
   * copy into a single buffer) and marks it. @throws DF_ERR_TASK_WRITE_FAILED
   */
  async writePieceChunks (pieceNum: number, chunks: readonly Buffer[]): Promise<void> {
    const range = this.rangeOf(pieceNum)
    const length = chunks.reduce((sum, chunk) => sum + chunk.length, 0)
    if (length !== range.end - range.start + 1) throw new DfError('DF_ERR_INTERNAL_INVARIANT', `piece ${pieceNum} has ${length} bytes, expected ${range.end - range.start + 1}`)
    const handle = this.#requireHandle()
    try {
      let pending = [...chunks]
      let position = range.start
      while (pending.length > 0) {
        const { bytesWritten } = await handle.writev(pending, position)
        position += bytesWritten
        pending = dropBytes(pending, bytesWritten)
      }
    } catch (err) {
      throw writeFailed(`cannot write ${this.dataPath}`, err)
    }
    this.markVerified(pieceNum)
  }

  /** Writes bytes at an offset without marking anything. @throws DF_ERR_TASK_WRITE_FAILED */
  async writeAt (offset: number, data: Uint8Array): Promise<void> {
    const handle = this.#requireHandle()
    try {
      let written = 0
      while (written < data.length) {
        const { bytesWritten } = await handle.write(data, written, data.length - written, offset + written)
        written += bytesWritten
      }
    } catch (err) {
      throw writeFailed(`cannot write ${this.dataPath}`, err)
    }
  }

  /** Marks a piece verified (its bytes are in the file). */
  markVerified (pieceNum: number): void {
    if (pieceNum < 0 || pieceNum >= this.#verified.length) throw new DfError('DF_ERR_INTERNAL_INVARIANT', `no piece ${pieceNum}`)
    if (this.#verified[pieceNum] === 1) return
    this.#verified[pieceNum] = 1
    this.#verifiedCount += 1
  }

  /** Marks every piece wholly inside `range` verified. */
  markRangeVerified (range: ByteRange): void {
    const geometry = this.#requireGeometry()
    const first = Math.ceil(range.start / geometry.pieceSizeBytes)
    for (let pieceNum = first; pieceNum < this.#verified.length; pieceNum++) {
      const piece = this.rangeOf(pieceNum)
      if (piece.end > range.end) break
      this.markVerified(pieceNum)
    }
  }

  /**
   * After a whole-file source download: sets the length, truncates the file to it and marks
   * every piece. Without known geometry a single-piece geometry of that length is assumed.
   */
  async completeWhole (lengthBytes: number): Promise<void> {
    const handle = this.#requireHandle()
    try {
      await handle.truncate(lengthBytes)
    } catch (err) {
      throw writeFailed(`cannot size ${this.dataPath}`, err)
    }
    if (this.#geometry === undefined || this.#geometry.fileLengthBytes !== lengthBytes) {
      this.#geometry = { fileLengthBytes: lengthBytes, pieceSizeBytes: Math.max(1, lengthBytes) }
      this.#verified = new Uint8Array(pieceCount(lengthBytes, this.#geometry.pieceSizeBytes))
      this.#verifiedCount = 0
    }
    for (let i = 0; i < this.#verified.length; i++) this.markVerified(i)
  }

  /** Forgets every verified piece (before a whole-file download replaces the bytes). */
  resetVerified (): void {
    this.#verified.fill(0)
    this.#verifiedCount = 0
  }

  /** The data file's length on disk. */
  async fetchLengthOnDisk (): Promise<number> {
    return (await this.#requireHandle().stat()).size
  }

  /** md5 hex of the data file. */
  async computeMd5Hex (): Promise<string> {
    const hash = createHash('md5')
    const stream = this.#requireHandle().createReadStream({ start: 0, autoClose: false, highWaterMark: 1024 * 1024 })
    for await (const chunk of stream) hash.update(chunk as Buffer)
    return hash.digest('hex')
  }

  /**
   * Publishes the complete file. `output` "-" streams it to `stdout`. With `keepData` the
   * data file stays (the peer server goes on serving it) and the output gets a hard link or
   * a copy; without, the data file itself is renamed onto the output.
   * @throws DF_ERR_TASK_WRITE_FAILED
   */
  async publish (output: string, options: { keepData: boolean, stdout?: Writable }): Promise<void> {
    const handle = this.#requireHandle()
    try {
      await handle.sync()
    } catch (err) {
      throw writeFailed(`cannot sync ${this.dataPath}`, err)
    }
    if (output === '-') {
      const stdout = options.stdout ?? process.stdout
      try {
        await pipeline(handle.createReadStream({ start: 0, autoClose: false, highWaterMark: 1024 * 1024 }), stdout, { end: false })
      } catch (err) {
        throw writeFailed('cannot write to stdout', err)
      }
      if (!options.keepData) await this.discard()
      return
    }
    if (!options.keepData) {
      await this.close()
      try {
        await rename(this.dataPath, output)
      } catch (err) {
        throw writeFailed(`cannot rename onto ${output}`, err)
      }
      return
    }
    const temp = tempPathFor(output)
    try {
      try {
        await link(this.dataPath, temp)
      } catch {
        await copyFile(this.dataPath, temp)
      }
      const tempHandle = await open(temp, 'r+')
      try {
        await tempHandle.sync()
      } finally {
        await tempHandle.close()
      }
      await rename(temp, output)
    } catch (err) {
      await rm(temp, { force: true })
      throw writeFailed(`cannot publish ${output}`, err)
    }
  }

  /** Closes the file handle. Idempotent. */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const handle = this.#handle
    this.#handle = undefined
    await handle?.close()
  }

  /** Closes and deletes the data file (every failure path). Idempotent. */
  async discard (): Promise<void> {
    await this.close()
    await rm(this.dataPath, { force: true })
  }

  #requireHandle (): FileHandle {
    if (this.#handle === undefined) throw new DfError('DF_ERR_INTERNAL_INVARIANT', 'target file is not open')
    return this.#handle
  }

  #requireGeometry (): FileGeometry {
    if (this.#geometry === undefined) throw new DfError('DF_ERR_INTERNAL_INVARIANT', 'file geometry unknown')
    return this.#geometry
  }
}

/** The length of a published file (for the final check). */
export async function fetchFileLength (path: string): Promise<number> {
  return (await stat(path)).size
}

function writeFailed (message: string, cause: unknown): DfError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code
  return new DfError('DF_ERR_TASK_WRITE_FAILED', code === undefined ? message : `${message}: ${code}`, { cause })
}

/** The chunks left after the first `bytes` bytes were written (a short vectored write). */
function dropBytes (chunks: readonly Buffer[], bytes: number): Buffer[] {
  const rest: Buffer[] = []
  let skip = bytes
  for (const chunk of chunks) {
    if (skip >= chunk.length) { skip -= chunk.length; continue }
    rest.push(skip === 0 ? chunk : chunk.subarray(skip))
    skip = 0
  }
  return rest
}
