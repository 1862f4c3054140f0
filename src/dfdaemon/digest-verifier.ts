/**
 * A pass-through stream that hashes the bytes of a blob and withholds the last chunk until
 * the whole blob is known to match its digest (and expected length). On a mismatch the
 * stream errors with DF_ERR_PROXY_DIGEST_MISMATCH before the final bytes leave, so a client
 * reading a Content-Length response (or a chunked one) sees a broken transfer and can never
 * take a corrupt blob for a good one.
 */
import { createHash, type Hash } from 'node:crypto'
import { Transform, type TransformCallback } from 'node:stream'
import { DfError } from '../protocol/errors.js'

export class DigestVerifier extends Transform {
  readonly #expectedDigest: string
  readonly #expectedLengthBytes: number | undefined
  readonly #hash: Hash
  #held: Buffer | undefined
  #bytesSeen = 0

  /**
   * @param expectedDigest "sha256:<hex>"
   * @param expectedLengthBytes when known, a different length is a mismatch too
   */
  constructor (expectedDigest: string, expectedLengthBytes?: number) {
    super()
    const [algorithm] = expectedDigest.split(':')
    if (algorithm !== 'sha256') throw new DfError('DF_ERR_ARG_INVALID', `digest: unsupported algorithm ${algorithm ?? ''}`, { details: { field: 'digest' } })
    this.#expectedDigest = expectedDigest
    this.#expectedLengthBytes = expectedLengthBytes
    this.#hash = createHash('sha256')
  }

  /** Bytes received so far (the offset from which a source continues). */
  get bytesSeen (): number {
    return this.#bytesSeen
  }

  override _transform (chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#hash.update(chunk)
    this.#bytesSeen += chunk.length
    const previous = this.#held
    this.#held = chunk
    callback(null, previous)
  }

  override _flush (callback: TransformCallback): void {
    const actual = `sha256:${this.#hash.digest('hex')}`
    if (actual !== this.#expectedDigest || (this.#expectedLengthBytes !== undefined && this.#bytesSeen !== this.#expectedLengthBytes)) {
      this.#held = undefined
      callback(new DfError('DF_ERR_PROXY_DIGEST_MISMATCH', `blob ${this.#expectedDigest}: got ${actual} over ${this.#bytesSeen} bytes`, {
        details: { expected: this.#expectedDigest, actual, bytes: this.#bytesSeen },
      }))
      return
    }
    const last = this.#held
    this.#held = undefined
    callback(null, last)
  }
}
