/**
 * Back-source: fetching from the source (origin) itself, with the request headers passed
 * through. When the geometry is known it fetches only the pieces not yet verified, as
 * parallel Range requests over runs of missing pieces, and keeps the verified ones (it does
 * not restart the file, unlike Dragonfly 1.x). When the geometry is unknown (registration
 * never succeeded), or the source ignores Range, it fetches the whole file.
 *
 * Source failures get clear codes: an error status is DF_ERR_SOURCE_STATUS naming the
 * status and the URL (`details.status`), a refused or reset connection
 * DF_ERR_SOURCE_UNREACHABLE.
 */
import type { Readable } from 'node:stream'
import type { Logger } from '../../common/log.js'
import { redactUrl, type HttpClient } from '../../common/http/client.js'
import { parseContentRange } from '../../common/http/range-header.js'
import type { RateLimiter } from '../../common/rate-limiter.js'
import { DfError, isCode } from '../../protocol/errors.js'
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
  #ifRange: string | undefined

  constructor (deps: SourceDownloaderDeps, options: SourceDownloaderOptions) {
    this.#deps = deps
    this.#options = options
  }

  /**
   * Names the source version the pieces already held are of (the registration's
   * `sourceVersion`: an ETag or a Last-Modified date). Ranged requests then carry
   * `If-Range`, so a source that changed answers with the whole new file (200), which
   * replaces every held piece instead of being mixed with them. A weak ETag cannot be used
   * for If-Range and is ignored.
   */
  pinVersion (sourceVersion: string | undefined): void {
    this.#ifRange = sourceVersion === undefined || sourceVersion.startsWith('W/') ? undefined : sourceVersion
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
        const response = await this.#request(undefined, signal)
        const length = await this.#copyBody(response.body, writer, 0, undefined, signal)
        const expected = writer.geometry?.fileLengthBytes
        const declared = Number(response.headers['content-length'] ?? Number.NaN)
        if (Number.isFinite(declared) && declared !== length) {
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
    return await this.#request(undefined, signal)
  }

  /** A failure while reading a source body, as the DfError the downloader itself would throw. */
  mapError (err: unknown): Error {
    const mapped = this.#mapSourceError(err)
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

  async #fetchSegmentWithRetry (writer: SourceTarget, segment: ByteRange, signal: AbortSignal): Promise<void> {
    const attempts = this.#options.attempts ?? 3
    let start = segment.start
    for (let attempt = 1; ; attempt++) {
      try {
        const response = await this.#request({ start, end: segment.end }, signal)
        if (response.status === 200) {
          response.body.destroy()
          throw new RangeIgnoredSignal()
        }
        const contentRange = parseContentRange(typeof response.headers['content-range'] === 'string' ? response.headers['content-range'] : undefined)
        const total = writer.geometry?.fileLengthBytes
        if (contentRange === undefined || contentRange.range.start !== start || contentRange.range.end !== segment.end || (contentRange.totalBytes !== undefined && contentRange.totalBytes !== total)) {
          response.body.destroy()
          throw new DfError('DF_ERR_SOURCE_CHANGED', `source answered range ${String(response.headers['content-range'])} for ${start}-${segment.end} of ${total ?? '?'}`)
        }
        await this.#copyBody(response.body, writer, start, segment.end, signal, (doneEnd) => { start = doneEnd + 1 })
        return
      } catch (err) {
        if (err instanceof RangeIgnoredSignal || !this.#shouldRetry(err, attempt, attempts, signal)) throw err
        this.#deps.logger.warn({ err, attempt, start, end: segment.end }, 'source segment failed; retrying the rest')
      }
    }
  }

  /**
   * Copies a body into the writer from `offset`; with `end`, stops there and marks every
   * piece completed on the way (reporting progress through `onPieceEdge` so a retry resumes
   * at the first incomplete piece). Returns the bytes copied.
   */
  async #copyBody (body: Readable, writer: SourceTarget, offset: number, end: number | undefined, signal: AbortSignal, onPieceEdge?: (doneEnd: number) => void): Promise<number> {
    let position = offset
    const pieceSize = writer.geometry?.pieceSizeBytes
    try {
      for await (const chunk of body) {
        signal.throwIfAborted()
        let buffer = chunk as Buffer
        if (end !== undefined && position + buffer.length > end + 1) buffer = buffer.subarray(0, end + 1 - position)
        await this.#deps.limiter.take(buffer.length, signal)
        await writer.writeAt(position, buffer)
        const before = position
        position += buffer.length
        this.#deps.stats.addFromSource(buffer.length)
        if (end !== undefined && pieceSize !== undefined) {
          // Mark the pieces that this chunk completed.
          const firstEdge = Math.floor(before / pieceSize)
          const lastComplete = Math.floor(position / pieceSize) - 1
          if (lastComplete >= firstEdge || position === end + 1) {
            const doneEnd = position === end + 1 ? end : (lastComplete + 1) * pieceSize - 1
            writer.markRangeVerified({ start: offset, end: doneEnd })
            onPieceEdge?.(doneEnd)
          }
        }
        if (end !== undefined && position > end) break
      }
    } catch (err) {
      body.destroy()
      throw this.#mapSourceError(err)
    }
    if (end !== undefined && position !== end + 1) {
      throw new DfError('DF_ERR_SOURCE_UNREACHABLE', `source closed the range ${offset}-${end} after ${position - offset} bytes`)
    }
    return position - offset
  }

  async #request (range: ByteRange | undefined, signal: AbortSignal): Promise<{ status: number, headers: Readonly<Record<string, string | string[] | undefined>>, body: Readable }> {
    const headers: Record<string, string> = { ...this.#options.headers }
    if (range !== undefined) headers.range = `bytes=${range.start}-${range.end}`
    if (range !== undefined && this.#ifRange !== undefined) headers['if-range'] = this.#ifRange
    try {
      return await this.#deps.http.stream({ url: this.#options.url, headers, signal, foreignStatusCode: 'DF_ERR_SOURCE_STATUS' })
    } catch (err) {
      throw this.#mapSourceError(err)
    }
  }

  #mapSourceError (err: unknown): unknown {
    const url = redactUrl(this.#options.url)
    if (err instanceof DfError && err.remote !== undefined && err.remote.status >= 300) {
      return new DfError('DF_ERR_SOURCE_STATUS', `source answered ${err.remote.status} for ${url}`, { cause: err, details: { status: err.remote.status, url } })
    }
    if (isCode(err, 'DF_ERR_NETWORK')) {
      return new DfError('DF_ERR_SOURCE_UNREACHABLE', `source unreachable: ${err.message}`, { cause: err, details: { url } })
    }
    if (!(err instanceof DfError) && !(err instanceof Error && err.name === 'AbortError')) {
      // A failure while reading the body (reset, closed early) comes from the socket as is.
      const reason = (err as { code?: string } | undefined)?.code ?? (err instanceof Error ? err.message : 'failed')
      return new DfError('DF_ERR_SOURCE_UNREACHABLE', `source connection failed while reading ${url}: ${reason}`, { cause: err, details: { url } })
    }
    return err
  }

  #shouldRetry (err: unknown, attempt: number, attempts: number, signal: AbortSignal): boolean {
    if (signal.aborted || attempt >= attempts) return false
    return err instanceof DfError && err.retryable && err.code !== 'DF_ERR_SOURCE_CHANGED'
  }
}
