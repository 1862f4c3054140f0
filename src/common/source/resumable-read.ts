/**
 * A ranged read of a source that survives a broken connection: bytes `startBytes`..`endBytes`
 * are handed to the consumer in order, exactly once each, and a read that fails part-way is
 * resumed from the last good byte with a new Range request (through the source reader, so
 * with its redirects, policy and credential rules). A resumed answer must be the same
 * version (validators, total length) and start exactly where the last one stopped, else the
 * read fails with DF_ERR_SOURCE_CHANGED rather than mixing two versions.
 *
 * Retries: `attempts` bounds the reads that brought no byte; a read that made progress does
 * not count, up to `attempts` × 4 reads in all. Only transient failures are retried
 * (source-errors.ts); the consumer's own failures (a write) end the read at once.
 */
import { DfError } from '../../protocol/errors.js'
import { isTransientSourceFailure, sourceTransportError } from './source-errors.js'
import type { SourceRequestHeaders } from './source-headers.js'
import { discardBody, type SourceReader } from './source-reader.js'
import { hasVersionChanged, type SourceValidators } from './source-validators.js'

/** How long a refused read waits for a newer source from the caller before it gives up. */
const REFUSAL_WAIT_MS = 2_000
/** Reads that made progress may repeat this many times per allowed attempt. */
const PROGRESSING_READS_PER_ATTEMPT = 4

export interface ResumableRangeRead {
  readonly url: string
  readonly headers: SourceRequestHeaders
  /**
   * Where each (re)opened read goes, when it can change during the read: the supernode's
   * CDN reads with the most recent registration's URL, as a signed URL of an earlier one
   * may have expired. Default: `url` and `headers`.
   */
  readonly currentSource?: (() => { readonly url: string, readonly headers: SourceRequestHeaders }) | undefined
  readonly startBytes: number
  /** Last byte to read (inclusive). */
  readonly endBytes: number
  /** The file's length when known: an answer naming another total is a changed source. */
  readonly totalBytes?: number | undefined
  /** The version being read: an answer with other validators is a changed source. */
  readonly validators?: SourceValidators | undefined
  /** `If-Range` value pinning the version (a source that lost it answers 200: `range-ignored`). */
  readonly ifRange?: string | undefined
  readonly attempts: number
  readonly signal: AbortSignal
}

/** `complete`: every byte was handed over. `range-ignored`: the source answered 200 (whole file) and nothing more was read. */
export type ResumableReadOutcome = 'complete' | 'range-ignored'

/** Receives the bytes in order; `offsetBytes` is the file offset of `chunk`'s first byte. */
export type ChunkConsumer = (chunk: Buffer, offsetBytes: number) => Promise<void> | void

/** Marks a failure of the consumer, which is never retried. */
class ConsumerFailure extends Error {
  constructor (readonly failure: unknown) {
    super('the consumer of a source read failed')
  }
}

/**
 * Reads the range, resuming after failures. Bytes already handed over before a 200
 * (`range-ignored` after a resume) stay handed over: the caller decides what to do.
 * @throws DF_ERR_SOURCE_CHANGED, the source reader's codes, and the consumer's failures as they are
 */
export async function readRangeResuming (reader: Pick<SourceReader, 'openRange'>, read: ResumableRangeRead, consume: ChunkConsumer): Promise<ResumableReadOutcome> {
  const { endBytes, signal } = read
  let url = read.url
  let offset = read.startBytes
  let lastError: unknown
  let readsLeft = read.attempts * PROGRESSING_READS_PER_ATTEMPT
  let refusedSource: { readonly url: string, readonly headers: SourceRequestHeaders } | undefined
  for (let attempt = 0; attempt < read.attempts && readsLeft > 0; attempt++, readsLeft--) {
    const offsetBefore = offset
    const source = read.currentSource?.() ?? read
    try {
      url = source.url
      const answer = await reader.openRange(url, source.headers, offset, endBytes, signal, read.ifRange)
      if (answer.status !== 206) {
        discardBody(answer.body)
        return 'range-ignored'
      }
      if (read.totalBytes !== undefined && answer.totalBytes !== undefined && answer.totalBytes !== read.totalBytes) {
        discardBody(answer.body)
        throw new DfError('DF_ERR_SOURCE_CHANGED', `the source's length is now ${answer.totalBytes}, it was ${read.totalBytes}`)
      }
      if (read.validators !== undefined && hasVersionChanged(read.validators, answer.validators)) {
        discardBody(answer.body)
        throw new DfError('DF_ERR_SOURCE_CHANGED', 'the source file changed during the download')
      }
      for await (const chunk of answer.body) {
        let buffer = chunk as Buffer
        if (offset + buffer.length > endBytes + 1) buffer = buffer.subarray(0, endBytes + 1 - offset)
        try {
          await consume(buffer, offset)
        } catch (err) {
          throw new ConsumerFailure(err)
        }
        offset += buffer.length
        if (offset > endBytes) break
      }
      if (offset > endBytes) return 'complete'
      lastError = new DfError('DF_ERR_SOURCE_UNREACHABLE', `the source ended the range ${offsetBefore}-${endBytes} at byte ${offset}`)
    } catch (err) {
      if (err instanceof ConsumerFailure) throw err.failure
      const mapped = sourceTransportError(err, url, signal)
      if (!signal.aborted && isRefusal(mapped) && read.currentSource !== undefined && refusedSource !== source &&
        await sourceChanges(read.currentSource, source, signal)) {
        // The source refused this URL or credential (a signed URL expired when a newer one
        // was used, a token was rotated) and the caller has a newer one: once more with it.
        refusedSource = source
        lastError = mapped
        continue
      }
      if (signal.aborted || !isTransientSourceFailure(mapped)) throw mapped
      lastError = mapped
    }
    if (offset > offsetBefore) attempt--
  }
  throw lastError
}

/** An answer refusing the request's URL or credentials (401, 403). */
function isRefusal (err: unknown): boolean {
  const status = err instanceof DfError ? err.details?.status : undefined
  return err instanceof DfError && err.code === 'DF_ERR_SOURCE_STATUS' && (status === 401 || status === 403)
}

/** Waits (up to REFUSAL_WAIT_MS) for the caller's source to be another than `tried`: the newer one may be a moment away. */
async function sourceChanges (current: () => unknown, tried: unknown, signal: AbortSignal): Promise<boolean> {
  const deadline = Date.now() + REFUSAL_WAIT_MS
  while (current() === tried && Date.now() < deadline && !signal.aborted) await new Promise((resolve) => { setTimeout(resolve, 50) })
  return current() !== tried && !signal.aborted
}
