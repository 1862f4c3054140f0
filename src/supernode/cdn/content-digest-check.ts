/**
 * ContentDigestCheck: a task identified by a content digest ("sha256:<hex>", an OCI blob)
 * is cached only if its bytes are that content. Pieces are hashed in file order as the CDN
 * caches them (a piece that completes early waits for the ones before it), and the last
 * piece is announced only after the whole file matched: no client can finish a download
 * of bytes the source got wrong, and the cache never keeps them under the digest (a task
 * identified by its digest is never revalidated, so a bad copy would be served until it
 * expired). A mismatch is DF_ERR_TASK_DIGEST_MISMATCH.
 */
import { createHash, type Hash } from 'node:crypto'
import type { FileHandle } from 'node:fs/promises'
import { DfError } from '../../protocol/errors.js'
import { isContentDigest } from '../../protocol/content-digest.js'

export class ContentDigestCheck {
  readonly #expected: string
  readonly #lastPieceNum: number
  readonly #hash = createHash('sha256')
  /** The next piece to hash, in file order. */
  #next = 0
  /** Pieces cached before their turn. */
  readonly #early = new Map<number, readonly Buffer[]>()
  #heldAnnouncement: (() => void) | undefined

  /** @param expected "sha256:<hex>" @throws DF_ERR_ARG_INVALID for another algorithm */
  constructor (expected: string, pieceCount: number) {
    if (!isContentDigest(expected)) throw new DfError('DF_ERR_ARG_INVALID', 'digest: not sha256:<64 lowercase hex>', { details: { field: 'digest', value: String(expected) } })
    this.#expected = expected
    this.#lastPieceNum = pieceCount - 1
  }

  /** A piece is cached: hashes it (now or in its turn) and calls `announce`, at once unless it is the last piece. */
  add (pieceNum: number, chunks: readonly Buffer[], announce: () => void): void {
    this.#early.set(pieceNum, chunks)
    for (let ready = this.#early.get(this.#next); ready !== undefined; ready = this.#early.get(this.#next)) {
      for (const chunk of ready) this.#hash.update(chunk)
      this.#early.delete(this.#next)
      this.#next += 1
    }
    if (pieceNum === this.#lastPieceNum) this.#heldAnnouncement = announce
    else announce()
  }

  /**
   * Every piece is cached: compares the digest, then announces the last piece.
   * @throws DF_ERR_TASK_DIGEST_MISMATCH
   */
  finish (): void {
    if (this.#next !== this.#lastPieceNum + 1) throw new DfError('DF_ERR_INTERNAL_INVARIANT', `content digest check finished at piece ${this.#next} of ${this.#lastPieceNum + 1}`)
    compareDigest(this.#expected, this.#hash)
    this.#heldAnnouncement?.()
    this.#heldAnnouncement = undefined
  }
}

/** The whole written file against `expected` (a source that sent no length: checked before any piece is announced). @throws DF_ERR_TASK_DIGEST_MISMATCH */
export async function checkFileDigest (file: FileHandle, lengthBytes: number, expected: string): Promise<void> {
  const buffer = Buffer.allocUnsafe(Math.min(Math.max(lengthBytes, 1), 1024 * 1024))
  const hash = createHash('sha256')
  for (let position = 0; position < lengthBytes;) {
    const { bytesRead } = await file.read(buffer, 0, Math.min(buffer.length, lengthBytes - position), position)
    if (bytesRead === 0) throw new DfError('DF_ERR_CDN_IO', 'cache file is shorter than written')
    hash.update(buffer.subarray(0, bytesRead))
    position += bytesRead
  }
  compareDigest(expected, hash)
}

/** @throws DF_ERR_TASK_DIGEST_MISMATCH unless `hash` (sha256 of the file) is `expected` */
function compareDigest (expected: string, hash: Hash): void {
  const actual = `sha256:${hash.digest('hex')}`
  if (actual !== expected) {
    throw new DfError('DF_ERR_TASK_DIGEST_MISMATCH', `the source's bytes are not ${expected} (got ${actual}): not cached`, { details: { expected, actual } })
  }
}
