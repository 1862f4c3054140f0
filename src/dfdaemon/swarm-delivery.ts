/**
 * Serving one download through the swarm: the GET of a registry blob
 * (`/v2/<name>/blobs/sha256:<hex>`) or of any file a rule routes to the swarm.
 *
 * For a blob, a HEAD to the registry with the engine's own headers comes first: it checks
 * the engine's credentials (a private layer is never served from the swarm to a client the
 * registry would refuse: a 401/403/404 is passed through with its real body), learns the
 * length, and resolves the registry's redirect to object storage (the URL the swarm then
 * fetches; credentials are dropped when that leaves the registry's origin). The blob digest
 * is the task's identity, so the same layer from two registries is one task.
 *
 * Bytes are streamed to the engine as the fetcher yields them, through a DigestVerifier: a
 * blob that does not match its digest is never served as good (the connection is aborted
 * before its last bytes). When the swarm cannot start, the file comes from the source; when
 * it fails part-way, the rest comes from the source by Range, and the engine sees one
 * response (unless back-source is off: then the request fails).
 *
 * A blob GET with one byte range (`Range: bytes=first-last`, `first-` or `-suffix`: what
 * lazy-pulling snapshotters send) is served from the swarm too: the blob's swarm download
 * is started or joined (the same task, keyed by the digest), the bytes before the range
 * pass by, the range is sent as a 206 with Content-Range as soon as its pieces arrive (each
 * verified against the piece digest the supernode's CDN computed), and the download is
 * left once the range is sent. The whole-blob digest cannot be checked on a part. A range
 * the length cannot satisfy is answered 416; several ranges go to the registry. Answers
 * from the swarm carry the registry's `Docker-Distribution-Api-Version` and
 * `Accept-Ranges: bytes`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { once } from 'node:events'
import type { Readable, Writable } from 'node:stream'
import { finished as streamFinished, pipeline } from 'node:stream/promises'
import { DfError, isCode } from '../protocol/errors.js'
import { redactUrl } from '../common/http/redact-url.js'
import type { Logger } from '../common/log.js'
import type { P2pFetcher, P2pStream } from './p2p-fetcher.js'
import type { UpstreamClient } from './upstream-client.js'
import type { ProxyMetrics, BlobSource } from './proxy-metrics.js'
import { DigestVerifier } from './digest-verifier.js'
import { formatContentRange, parseRangeHeader, resolveRange, type ByteRange, type RangeHeader } from './byte-range.js'
import { clientResponseHeaders, sourceFetchHeaders } from './forwarded-headers.js'
import { passThrough } from './pass-through.js'
import { releasingWriter } from '../common/releasing-writer.js'
import { sendErrorResponse } from './error-response.js'

export interface SwarmDeliveryDeps {
  readonly upstream: Pick<UpstreamClient, 'exchange'>
  readonly fetcher: P2pFetcher
  readonly metrics: ProxyMetrics
  readonly logger: Logger
}

export interface SwarmDeliveryOptions {
  /** Fetch from the source when the swarm cannot deliver. */
  readonly backSource: boolean
  /** Redirects followed on direct fetches. Default 10. */
  readonly maxRedirects?: number
}

/** One swarm-routed GET. */
export interface SwarmTarget {
  /** The upstream URL (after rules). */
  readonly url: URL
  /** End-to-end headers of the engine's request. */
  readonly headers: Readonly<Record<string, string | string[]>>
  /** "sha256:<hex>" for registry blobs; undefined for other files (no verification). */
  readonly digest: string | undefined
  /**
   * What the caller already learned of the file (a Hub's LFS file, from its HEAD): no HEAD
   * is sent, the swarm reads `url`, and the answers carry `headers`.
   */
  readonly probed?: { readonly lengthBytes: number | undefined, readonly headers: Readonly<Record<string, string>> }
}

/** What the registry said of the blob (its HEAD). */
interface Source {
  readonly url: URL
  readonly headers: Readonly<Record<string, string | string[]>>
  readonly lengthBytes: number | undefined
  readonly contentType: string | undefined
  /** The registry's Docker-Distribution-Api-Version. */
  readonly apiVersion: string | undefined
  /** Headers of every answer, over the blob's own (SwarmTarget.probed). */
  readonly answerHeaders?: Readonly<Record<string, string>>
}

/** The range of a blob request to serve from the swarm. */
type SwarmRange = Extract<RangeHeader, { kind: 'single' | 'suffix' }>

/** Serves swarm-routed downloads. Stateless between requests. */
export class SwarmDelivery {
  readonly #deps: SwarmDeliveryDeps
  readonly #backSource: boolean
  readonly #maxRedirects: number

  constructor (deps: SwarmDeliveryDeps, options: SwarmDeliveryOptions) {
    this.#deps = deps
    this.#backSource = options.backSource
    this.#maxRedirects = options.maxRedirects ?? 10
  }

  /**
   * Serves `req` (a GET; with a Range only for blobs) from the swarm. Never rejects:
   * failures are answered or abort `res`.
   */
  async deliver (req: IncomingMessage, res: ServerResponse, request: SwarmTarget): Promise<void> {
    const range = wantedRange(req, request)
    // A Range not served as one (ignored: the whole blob is sent) is not sent on either.
    const target = range === undefined ? { ...request, headers: withoutRange(request.headers) } : request
    const log = this.#deps.logger.child({ url: redactUrl(target.url.href), ...(target.digest === undefined ? {} : { digest: target.digest }) })
    const abort = new AbortController()
    const onClose = (): void => { if (!res.writableFinished) abort.abort() }
    res.once('close', onClose)
    const started = performance.now()
    try {
      if (range === 'registry') {
        await passThrough(this.#deps.upstream, req, res, { url: target.url, headers: target.headers, maxRedirects: this.#maxRedirects })
        return
      }
      const source = target.probed !== undefined
        ? { url: target.url, headers: target.headers, lengthBytes: target.probed.lengthBytes, contentType: undefined, apiVersion: undefined, answerHeaders: target.probed.headers }
        : target.digest === undefined
          ? { url: target.url, headers: target.headers, lengthBytes: undefined, contentType: undefined, apiVersion: undefined }
          : await this.#probe(req, res, target, abort.signal)
      if (source === undefined) return // the registry refused: its answer was passed through
      if (range !== undefined) {
        await this.#deliverRange(req, res, target, source, range, abort.signal, log)
        return
      }
      let stream: P2pStream | undefined
      try {
        stream = await this.#deps.fetcher.fetch({ url: source.url.href, headers: sourceFetchHeaders(source.headers), ...(target.digest === undefined ? {} : { digest: target.digest }), signal: abort.signal })
      } catch (err) {
        if (abort.signal.aborted) return
        if (!this.#backSource) {
          log.warn({ reason: swarmFailureReason(err) }, 'swarm cannot deliver and back-source is off')
          sendErrorResponse(res, err)
          return
        }
        log.warn({ reason: swarmFailureReason(err) }, 'swarm cannot deliver: fetching from the source')
        this.#deps.metrics.countFallback('start')
      }
      // The body errors when the engine goes away (the signal aborts the download), maybe
      // before #pump listens or after it stopped: its error is read there, never thrown here.
      stream?.body.on('error', () => undefined)
      if (stream === undefined) {
        await this.#deliverDirect(req, res, target, source, abort.signal, log)
      } else {
        await this.#deliverSwarm(res, target, source, stream, abort.signal, log)
      }
      log.debug({ durationMs: Math.round(performance.now() - started) }, 'swarm download served')
    } catch (err) {
      if (!abort.signal.aborted) {
        if (isCode(err, 'DF_ERR_PROXY_DIGEST_MISMATCH')) {
          this.#deps.metrics.countDigestMismatch()
          log.error({ err: summary(err) }, 'blob does not match its digest: response aborted')
        } else {
          log.warn({ err: summary(err) }, 'swarm download failed')
        }
      }
      sendErrorResponse(res, err)
    } finally {
      res.off('close', onClose)
    }
  }

  /** HEAD at the registry with the engine's headers; undefined when its refusal was relayed. */
  async #probe (req: IncomingMessage, res: ServerResponse, target: SwarmTarget, signal: AbortSignal): Promise<Source | undefined> {
    // Without the engine's Range: a registry answers a ranged HEAD with the range's length.
    const probe = await this.#deps.upstream.exchange({ method: 'HEAD', url: target.url, headers: withoutRange(target.headers), maxRedirects: this.#maxRedirects, signal })
    probe.body.resume()
    const ok = probe.status >= 200 && probe.status < 300
    if (probe.url.href !== target.url.href) {
      // Redirected to storage. A presigned URL may refuse HEAD (its signature covers the
      // method): the swarm still fetches it, learning the length from its GET.
      return { url: probe.url, headers: withoutRange(probe.sentHeaders), lengthBytes: ok ? contentLength(probe.headers) : undefined, contentType: undefined, apiVersion: undefined }
    }
    if (!ok) {
      await passThrough(this.#deps.upstream, req, res, { url: target.url, headers: target.headers })
      return undefined
    }
    const contentType = probe.headers['content-type']
    const apiVersion = probe.headers['docker-distribution-api-version']
    return {
      url: target.url,
      headers: target.headers,
      lengthBytes: contentLength(probe.headers),
      contentType: typeof contentType === 'string' ? contentType : undefined,
      apiVersion: typeof apiVersion === 'string' ? apiVersion : undefined,
    }
  }

  /**
   * A blob's byte range from the swarm: start or join the blob's download, let the bytes
   * before the range pass, send the range, leave the download. When the swarm cannot start,
   * the engine's ranged request goes to the registry as it is; when it fails part-way, the
   * rest of the range comes from the registry (unless back-source is off).
   */
  async #deliverRange (req: IncomingMessage, res: ServerResponse, target: SwarmTarget, source: Source, range: SwarmRange, signal: AbortSignal, log: Logger): Promise<void> {
    const toRegistry = async (): Promise<void> => {
      await passThrough(this.#deps.upstream, req, res, { url: target.url, headers: target.headers, maxRedirects: this.#maxRedirects })
    }
    // A range the known length cannot satisfy (docker-registry 2.8 drops the connection on one).
    if (source.lengthBytes !== undefined && resolveRange(range, source.lengthBytes) === undefined) {
      res.writeHead(416, { ...responseHeaders(target.digest, 0, source), 'content-range': `bytes */${source.lengthBytes}` }).end()
      return
    }
    // The swarm download ends with the range: its own signal, under the response's.
    const leave = new AbortController()
    let stream: P2pStream
    try {
      stream = await this.#deps.fetcher.fetch({ url: source.url.href, headers: sourceFetchHeaders(source.headers), ...(target.digest === undefined ? {} : { digest: target.digest }), signal: AbortSignal.any([signal, leave.signal]) })
    } catch (err) {
      if (signal.aborted) return
      if (!this.#backSource) {
        log.warn({ reason: swarmFailureReason(err) }, 'swarm cannot deliver and back-source is off')
        sendErrorResponse(res, err)
        return
      }
      log.warn({ reason: swarmFailureReason(err) }, 'swarm cannot deliver: fetching the range from the source')
      this.#deps.metrics.countFallback('start')
      await toRegistry()
      return
    }
    const body = stream.body
    body.on('error', () => {}) // read below; an error after the range was sent is no one's concern
    try {
      const lengthBytes = stream.lengthBytes ?? source.lengthBytes
      const bytes = lengthBytes === undefined ? undefined : resolveRange(range, lengthBytes)
      if (lengthBytes === undefined || bytes === undefined) {
        leave.abort()
        await toRegistry()
        return
      }
      const rangeBytes = bytes.end - bytes.start + 1
      res.writeHead(206, { ...responseHeaders(target.digest, rangeBytes, source), 'content-range': formatContentRange(bytes, lengthBytes) })
      let sent = 0
      try {
        sent = await this.#pump(body, res, 'swarm', signal, 0, { skip: bytes.start, take: rangeBytes })
        if (sent !== rangeBytes) throw Object.assign(new DfError('DF_ERR_TASK_SWARM_FAILED', `the swarm stream ended at byte ${bytes.start + sent} of ${lengthBytes}`), { offsetBytes: sent })
      } catch (err) {
        if (signal.aborted || !this.#backSource) throw err
        sent = (err as { offsetBytes?: number }).offsetBytes ?? sent
        log.warn({ reason: swarmFailureReason(err), offsetBytes: bytes.start + sent }, 'swarm failed part-way: continuing the range from the source')
        this.#deps.metrics.countFallback('continue')
        await this.#continueFromSource(res, target, { start: bytes.start + sent, end: bytes.end }, signal)
      }
      res.end()
      await once(res, 'finish')
    } finally {
      leave.abort()
      body.destroy()
    }
  }

  /** Sends bytes [range.start, range.end] of the blob from the registry (a 206 it must answer for exactly that start). */
  async #continueFromSource (res: Writable, target: SwarmTarget, range: ByteRange, signal: AbortSignal): Promise<void> {
    const rest = await this.#deps.upstream.exchange({
      method: 'GET', url: target.url, headers: { ...withoutRange(target.headers), range: `bytes=${range.start}-${range.end}` }, maxRedirects: this.#maxRedirects, signal,
    })
    const answered = rest.headers['content-range']
    const startsAt = typeof answered === 'string' ? /^bytes (\d+)-/.exec(answered)?.[1] : undefined
    if (!(rest.status === 206 && Number(startsAt) === range.start)) {
      rest.body.destroy()
      throw new DfError('DF_ERR_PROXY_UPSTREAM_UNREACHABLE', `cannot continue ${redactUrl(target.url.href)} at byte ${range.start}: HTTP ${rest.status}`)
    }
    const take = range.end - range.start + 1
    rest.body.on('error', () => {}) // read below; destroyed once the range is sent
    try {
      const sent = await this.#pump(rest.body, res, 'direct', signal, 0, { skip: 0, take })
      if (sent !== take) throw new DfError('DF_ERR_PROXY_UPSTREAM_UNREACHABLE', `the registry sent ${sent} of ${take} bytes from byte ${range.start}`)
    } finally {
      rest.body.destroy()
    }
  }

  async #deliverSwarm (res: ServerResponse, target: SwarmTarget, source: Source, stream: P2pStream, signal: AbortSignal, log: Logger): Promise<void> {
    const lengthBytes = stream.lengthBytes ?? source.lengthBytes
    res.writeHead(200, responseHeaders(target.digest, lengthBytes, source))
    // The swarm's pieces are pooled: each goes back to the pool once the response wrote it out.
    const writer = releasingWriter(res, { endTarget: true, gone: () => new DfError('DF_ERR_INTERNAL', 'the client went away') })
    const sink = target.digest === undefined ? undefined : new DigestVerifier(target.digest, lengthBytes)
    const output: Writable = sink ?? writer
    const finished = sink === undefined ? streamFinished(writer) : pipeline(sink, writer)
    finished.catch(() => undefined) // observed below; avoids an unhandled rejection meanwhile
    let offset = 0
    try {
      offset = await this.#pump(stream.body, output, 'swarm', signal, 0)
    } catch (err) {
      if (signal.aborted) throw err
      if (!this.#backSource) throw err
      offset = (err as { offsetBytes?: number }).offsetBytes ?? offset
      log.warn({ reason: swarmFailureReason(err), offsetBytes: offset }, 'swarm failed part-way: continuing from the source')
      this.#deps.metrics.countFallback('continue')
      const rest = await this.#deps.upstream.exchange({
        method: 'GET', url: target.url, headers: { ...target.headers, range: `bytes=${offset}-` }, maxRedirects: this.#maxRedirects, signal,
      })
      const range = rest.headers['content-range']
      const startsAt = typeof range === 'string' ? /^bytes (\d+)-/.exec(range)?.[1] : undefined
      if (!(rest.status === 206 && Number(startsAt) === offset) && !(offset === 0 && rest.status === 200)) {
        rest.body.destroy()
        throw new DfError('DF_ERR_PROXY_UPSTREAM_UNREACHABLE', `cannot continue ${redactUrl(target.url.href)} at byte ${offset}: HTTP ${rest.status}`)
      }
      await this.#pump(rest.body, output, 'direct', signal, offset)
    }
    output.end()
    await finished
  }

  async #deliverDirect (req: IncomingMessage, res: ServerResponse, target: SwarmTarget, source: Source, signal: AbortSignal, _log: Logger): Promise<void> {
    if (target.digest === undefined) {
      await passThrough(this.#deps.upstream, req, res, { url: target.url, headers: target.headers, maxRedirects: this.#maxRedirects })
      return
    }
    const answer = await this.#deps.upstream.exchange({ method: 'GET', url: target.url, headers: target.headers, maxRedirects: this.#maxRedirects, signal })
    if (answer.status !== 200) {
      res.writeHead(answer.status, clientResponseHeaders(answer.headers))
      await pipeline(answer.body, res)
      return
    }
    const lengthBytes = contentLength(answer.headers) ?? source.lengthBytes
    res.writeHead(200, responseHeaders(target.digest, lengthBytes, source))
    const sink = new DigestVerifier(target.digest, lengthBytes)
    const finished = pipeline(sink, res)
    finished.catch(() => undefined)
    await this.#pump(answer.body, sink, 'direct', signal, 0)
    sink.end()
    await finished
  }

  /**
   * Copies `from` into `to` with back-pressure (with `part`, only `take` bytes after the
   * first `skip`); returns the offset reached (startOffset + bytes written). On failure the
   * error carries `offsetBytes`.
   */
  async #pump (from: Readable, to: Writable, source: BlobSource, signal: AbortSignal, startOffset: number, part?: CopyPart): Promise<number> {
    let offset = startOffset
    try {
      await copyChunks(from, to, signal, (bytes) => {
        offset += bytes
        this.#deps.metrics.countBytes(source, bytes)
      }, part)
    } catch (err) {
      from.destroy()
      throw Object.assign(new DfError(source === 'swarm' ? 'DF_ERR_TASK_SWARM_FAILED' : 'DF_ERR_PROXY_UPSTREAM_UNREACHABLE', `${source} stream failed at byte ${offset}`, { cause: err }), { offsetBytes: offset })
    }
    return offset
  }
}

/** A part of a stream: `take` bytes after the first `skip`. */
interface CopyPart { readonly skip: number, readonly take: number }

/**
 * Writes `from`'s chunks to `to` as they come ('data' events, pausing while `to` is full)
 * until `from` ends — or, with `part`, until its `take` bytes are written (then `from` is
 * left paused); `to` is not ended. Not `for await`: an async iterator reads a byte
 * stream with read(), which joins every buffered chunk into a new buffer (a copy of the
 * blob, and allocations that cost the collector); flowing mode hands over the chunks as
 * they were pushed. Rejects when `from` fails or `signal` aborts.
 */
async function copyChunks (from: Readable, to: Writable, signal: AbortSignal, onChunk: (bytes: number) => void, part?: CopyPart): Promise<void> {
  signal.throwIfAborted()
  if (part !== undefined && part.take <= 0) return
  let skip = part?.skip ?? 0
  let left = part?.take ?? Number.POSITIVE_INFINITY
  await new Promise<void>((resolve, reject) => {
    const onData = (whole: Buffer): void => {
      let chunk = whole
      if (skip > 0) {
        if (chunk.length <= skip) {
          skip -= chunk.length
          return
        }
        chunk = chunk.subarray(skip)
        skip = 0
      }
      if (chunk.length > left) chunk = chunk.subarray(0, left)
      left -= chunk.length
      onChunk(chunk.length)
      const writable = to.write(chunk)
      if (left === 0) {
        from.pause()
        finish()
        return
      }
      if (!writable && !from.isPaused()) {
        from.pause()
        to.once('drain', onDrain)
      }
    }
    const onDrain = (): void => { from.resume() }
    const finish = (err?: Error): void => {
      from.off('data', onData)
      from.off('end', onEnd)
      from.off('error', onError)
      from.off('close', onClose)
      to.off('drain', onDrain)
      signal.removeEventListener('abort', onAbort)
      if (err === undefined) resolve()
      else reject(err)
    }
    const onEnd = (): void => { finish() }
    const onError = (err: Error): void => { finish(err) }
    // A stream destroyed without an error or an end did not deliver everything.
    const onClose = (): void => { finish(new Error('the stream closed before its end')) }
    const onAbort = (): void => { finish(signal.reason instanceof Error ? signal.reason : new Error('aborted')) }
    from.on('end', onEnd)
    from.on('error', onError)
    from.on('close', onClose)
    signal.addEventListener('abort', onAbort, { once: true })
    from.on('data', onData)
  })
}

/** The distribution API's version header, when the registry's HEAD did not give one (a redirect to storage). */
const REGISTRY_API_VERSION = 'registry/2.0'

/** Headers of a swarm answer: a blob's carry the registry's (digest, ETag, API version, byte ranges). */
function responseHeaders (digest: string | undefined, lengthBytes: number | undefined, source: Pick<Source, 'contentType' | 'apiVersion' | 'answerHeaders'>): Record<string, string | number> {
  const headers: Record<string, string | number> = { 'content-type': source.contentType ?? 'application/octet-stream' }
  if (lengthBytes !== undefined) headers['content-length'] = lengthBytes
  if (digest !== undefined) {
    headers['docker-content-digest'] = digest
    headers.etag = `"${digest}"`
    headers['docker-distribution-api-version'] = source.apiVersion ?? REGISTRY_API_VERSION
    headers['accept-ranges'] = 'bytes'
  }
  return { ...headers, ...source.answerHeaders }
}

/**
 * How to serve a GET's Range: undefined for the whole blob (no Range, not a blob, a Range
 * that is not a bytes range — RFC 9110 says to ignore it — or an If-Range that does not
 * name this blob), 'registry' for several ranges, else the one range.
 */
function wantedRange (req: IncomingMessage, target: SwarmTarget): SwarmRange | 'registry' | undefined {
  const header = req.headers.range
  if (header === undefined || target.digest === undefined) return undefined
  const ifRange = req.headers['if-range']
  if (ifRange !== undefined && ifRange !== `"${target.digest}"` && ifRange !== target.digest) return undefined
  const range = parseRangeHeader(header)
  if (range.kind === 'multi') return 'registry'
  if (range.kind === 'invalid') return undefined
  return range
}

function withoutRange (headers: Readonly<Record<string, string | string[]>>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const [name, value] of Object.entries(headers)) if (name !== 'range' && name !== 'if-range') out[name] = value
  return out
}

function contentLength (headers: Readonly<Record<string, string | string[] | undefined>>): number | undefined {
  const value = headers['content-length']
  if (typeof value !== 'string' || !/^\d+$/.test(value)) return undefined
  return Number(value)
}

/**
 * Why the swarm could not deliver, for the log: the innermost cause under the
 * DF_ERR_TASK_SWARM_FAILED wrappers. dfdaemon runs dfget without back-source of its own
 * (the proxy is the one way to the registry), so dfget's error says "back-source is
 * forbidden (--notbs)" whatever dfdaemon's --notbs: the cause it wraps (a supernode that
 * does not answer, a task that failed) is the real reason.
 */
export function swarmFailureReason (err: unknown): { code?: string, message: string } {
  let reason = err
  for (let depth = 0; depth < 8 && isCode(reason, 'DF_ERR_TASK_SWARM_FAILED'); depth++) {
    const cause = (reason as { cause?: unknown }).cause
    if (cause === undefined) break
    reason = cause
  }
  return summary(reason)
}

/** An error for the log: code and message only (messages never hold credentials). */
function summary (err: unknown): { code?: string, message: string } {
  if (err instanceof DfError) return { code: err.code, message: err.message }
  return { message: err instanceof Error ? err.message : String(err) }
}
