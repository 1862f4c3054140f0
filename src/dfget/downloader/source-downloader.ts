/**
 * Back-source: fetching from the source (origin) itself, with the request headers passed
 * through, through the shared source reader (common/source/): redirects are followed (up to
 * 10; a loop or too many is DF_ERR_SOURCE_REDIRECT_LOOP / DF_ERR_SOURCE_TOO_MANY_REDIRECTS),
 * credentials never follow a redirect to another origin, and only http(s) URLs are fetched.
 * When the geometry is known it fetches only the pieces not yet verified, as parallel Range
 * requests over runs of missing pieces, each resumed from its last good byte after a broken
 * connection, and keeps the verified ones (it does not restart the file, unlike Dragonfly
 * 1.x). When the geometry is unknown (registration never succeeded), or the source ignores
 * Range, it fetches the whole file.
 *
 * Source failures get the shared codes (common/source/source-errors.ts): an error status is
 * DF_ERR_SOURCE_STATUS naming the status and the URL (`details.status`), a refused or reset
 * connection DF_ERR_SOURCE_UNREACHABLE.
 */
import type { Readable } from 'node:stream'
import type { Logger } from '../../common/log.js'
import type { HttpClient } from '../../common/http/client.js'
import { redactUrl } from '../../common/http/redact-url.js'
import type { RateLimiter } from '../../common/rate-limiter.js'
import { readRangeResuming } from '../../common/source/resumable-read.js'
import { isTransientSourceFailure, sourceTransportError } from '../../common/source/source-errors.js'
import { createHttpSourceTransport, SourceReader } from '../../common/source/source-reader.js'
import { ifRangeOf } from '../../common/source/source-validators.js'
import { DfError } from '../../protocol/errors.js'
import type { ByteRange } from '../../protocol/piece-range.js'
import type { TargetWriter } from './target-writer.js'
import type { TransferStats } from './transfer-stats.js'

export interface SourceDownloaderOptions {
  readonly url: string
  /** Headers sent to the source (--header). */
  readonly headers: Readonly<Record<string, string>>
  /** Ranged requests in parallel. Default 4. */
  readonly parallelRequests?: number
  /** Largest single ranged request. Default 16 MiB. */
  readonly segmentBytes?: number
  /** Attempts per segment for retryable failures. Default 3. */
  readonly attempts?: number
}

export interface SourceDownloaderDeps {
  readonly http: HttpClient
  readonly logger: Logger
  readonly limiter: RateLimiter
  readonly stats: TransferStats
}

/**
 * What back-source writes into: the data file (TargetWriter) or stream mode's window
 * (StreamWindow, whose writes wait for room and complete pieces as their bytes arrive).
 */
export type SourceTarget = Pick<TargetWriter, 'geometry' | 'missingPieces' | 'rangeOf' | 'writeAt' | 'markRangeVerified' | 'resetVerified' | 'completeWhole' | 'verifiedCount' | 'pieceCount'>

/** Thrown inside when a source answers 200 to a Range request. */
class RangeIgnoredSignal extends Error {}

export class SourceDownloader {
  readonly #deps: SourceDownloaderDeps
  readonly #options: SourceDownloaderOptions
  readonly #reader: SourceReader
  #ifRange: string | undefined

  constructor (deps: SourceDownloaderDeps, options: SourceDownloaderOptions) {
    this.#deps = deps
    this.#options = options
    // dfget has no source policy of its own: any http(s) source the user names, at every hop.
    this.#reader = new SourceReader({ transport: createHttpSourceTransport(deps.http) })
  }

  /**
   * Names the source version the pieces already held are of (the registration's
   * `sourceVersion`: an ETag or a Last-Modified date). Ranged requests then carry
   * `If-Range`, so a source that changed answers with the whole new file (200), which
   * replaces every held piece instead of being mixed with them. A weak ETag cannot be used
   * for If-Range and is ignored.
   */
  pinVersion (sourceVersion: string | undefined): void {
    this.#ifRange = ifRangeOf(sourceVersion)
  }

  /**
   * Fetches every piece the writer lacks. Falls back to the whole file when the geometry is
   * unknown or the source ignores Range. @throws DfError (SOURCE_*, TASK_WRITE_FAILED, TIMEOUT)
   */
  async fetchMissing (writer: SourceTarget, signal: AbortSignal): Promise<void> {
    if (writer.geometry === undefined) {
      await this.fetchWhole(writer, signal)
      return
    }
    const segments = this.#planSegments(writer)
    if (segments.length === 0) return
    this.#deps.logger.info({ url: redactUrl(this.#options.url), segments: segments.length, missingPieces: writer.pieceCount - writer.verifiedCount }, 'back-source: fetching missing pieces')
    const controller = new AbortController()
    const combined = AbortSignal.any([signal, controller.signal])
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < segments.length) {
        const segment = segments[next++]
        if (segment === undefined) return
        await this.#fetchSegmentWithRetry(writer, segment, combined)
      }
    }
    try {
      await Promise.all(Array.from({ length: Math.min(this.#options.parallelRequests ?? 4, segments.length) }, async () => {
        try {
          await worker()
        } catch (err) {
          controller.abort()
          throw err
        }
      }))
    } catch (err) {
      if (!(err instanceof RangeIgnoredSignal)) throw err
      this.#deps.logger.info({ url: redactUrl(this.#options.url) }, 'the source ignores Range: fetching the whole file')
      writer.resetVerified()
      await this.fetchWhole(writer, signal)
    }
  }

  /** Fetches the whole file from offset 0 and completes the writer. @throws DfError */
  async fetchWhole (writer: SourceTarget, signal: AbortSignal): Promise<void> {
    const attempts = this.#options.attempts ?? 3
    for (let attempt = 1; ; attempt++) {
      try {
        const read = await this.#reader.openWhole(this.#options.url, this.#options.headers, signal)
        const length = await this.#copyBody(read.body, writer, signal)
        const expected = writer.geometry?.fileLengthBytes
        const declared = read.totalBytes
        if (declared !== undefined && declared !== length) {
          throw new DfError('DF_ERR_SOURCE_UNREACHABLE', `source sent ${length} bytes of ${declared} for ${redactUrl(this.#options.url)}`)
        }
        if (expected !== undefined && expected !== length && writer.verifiedCount > 0) {
          throw new DfError('DF_ERR_SOURCE_CHANGED', `source length is ${length}, the task's is ${expected}`)
        }
        await writer.completeWhole(length)
        return
      } catch (err) {
        if (!this.#shouldRetry(err, attempt, attempts, signal)) throw err
        this.#deps.logger.warn({ err, attempt }, 'source fetch failed; retrying')
      }
    }
  }

  /**
   * Opens the whole file (no Range) for a caller that streams it itself (stream mode
   * without the swarm). The caller consumes or destroys the body. @throws DfError (SOURCE_*)
   */
  async openWhole (signal: AbortSignal): Promise<{ headers: Readonly<Record<string, string | string[] | undefined>>, body: Readable }> {
    return await this.#reader.openWhole(this.#options.url, this.#options.headers, signal)
  }

  /** A failure while reading a source body, as the DfError the downloader itself would throw. */
  mapError (err: unknown): Error {
    const mapped = sourceTransportError(err, this.#options.url)
    return mapped instanceof Error ? mapped : new DfError('DF_ERR_SOURCE_UNREACHABLE', `source connection failed while reading ${redactUrl(this.#options.url)}`, { cause: mapped })
  }

  /** Runs of missing pieces, cut into segments of at most `segmentBytes`. */
  #planSegments (writer: SourceTarget): ByteRange[] {
    const maxBytes = this.#options.segmentBytes ?? 16 * 1024 * 1024
    const segments: ByteRange[] = []
    let current: { start: number, end: number } | undefined
    for (const pieceNum of writer.missingPieces()) {
      const range = writer.rangeOf(pieceNum)
      if (current !== undefined && current.end + 1 === range.start && range.end - current.start + 1 <= maxBytes) {
        current.end = range.end
      } else {
        if (current !== undefined) segments.push(current)
        current = { start: range.start, end: range.end }
      }
    }
    if (current !== undefined) segments.push(current)
    return segments
  }

  /** One segment by Range, resumed from its last good byte; pieces are marked as they complete. */
  async #fetchSegmentWithRetry (writer: SourceTarget, segment: ByteRange, signal: AbortSignal): Promise<void> {
    const pieceSize = writer.geometry?.pieceSizeBytes
    const outcome = await readRangeResuming(this.#reader, {
      url: this.#options.url,
      headers: this.#options.headers,
      startBytes: segment.start,
      endBytes: segment.end,
      totalBytes: writer.geometry?.fileLengthBytes,
      ifRange: this.#ifRange,
      attempts: this.#options.attempts ?? 3,
      signal,
    }, async (chunk, offset) => {
      await this.#deps.limiter.take(chunk.length, signal)
      await writer.writeAt(offset, chunk)
      this.#deps.stats.addFromSource(chunk.length)
      if (pieceSize === undefined) return
      // Mark the pieces that this chunk completed.
      const position = offset + chunk.length
      const firstEdge = Math.floor(offset / pieceSize)
      const lastComplete = Math.floor(position / pieceSize) - 1
      if (lastComplete >= firstEdge || position === segment.end + 1) {
        const doneEnd = position === segment.end + 1 ? segment.end : (lastComplete + 1) * pieceSize - 1
        writer.markRangeVerified({ start: segment.start, end: doneEnd })
      }
    })
    if (outcome === 'range-ignored') throw new RangeIgnoredSignal()
  }

  /** Copies a whole-file body into the writer from offset 0. Returns the bytes copied. */
  async #copyBody (body: Readable, writer: SourceTarget, signal: AbortSignal): Promise<number> {
    let position = 0
    try {
      for await (const chunk of body) {
        signal.throwIfAborted()
        const buffer = chunk as Buffer
        await this.#deps.limiter.take(buffer.length, signal)
        await writer.writeAt(position, buffer)
        position += buffer.length
        this.#deps.stats.addFromSource(buffer.length)
      }
    } catch (err) {
      body.destroy()
      throw sourceTransportError(err, this.#options.url, signal)
    }
    return position
  }

  #shouldRetry (err: unknown, attempt: number, attempts: number, signal: AbortSignal): boolean {
    return !signal.aborted && attempt < attempts && isTransientSourceFailure(err)
  }
}
