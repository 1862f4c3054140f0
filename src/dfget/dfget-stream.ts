/**
 * One dfget run in stream mode (DESIGN.md §5): the same register → piece loop → back-source
 * pipeline as dfget.ts, but the target is a StreamWindow, not a data file. Nothing of the
 * file is written to disk. `start()` resolves once the task is registered (the length is
 * known) with the body — a Readable of the file's bytes in order — and a `result` promise
 * that settles when the body has been delivered.
 *
 * Registration carries the window (`windowPieces`), so the supernode schedules only pieces
 * inside [una, una + wnd) for this cid. Verified pieces go into this host's peer server's
 * stream store (StreamShare) before they are reported, so other peers fetch them from here;
 * pieces that leave the window are reported `evicted`. When the swarm cannot deliver, the
 * missing pieces come from the source by Range, still through the window; with --notbs the
 * stream errors instead. Every failure errors the body with a DfError (a reader can always
 * tell a stream cut short) and rejects `result`; the task is left at the supernode at the end.
 */
import { Transform, type Readable } from 'node:stream'
import { createHash } from 'node:crypto'
import type { Logger } from '../common/log.js'
import { createSilentLogger } from '../common/log.js'
import { systemClock, type Clock } from '../common/clock.js'
import { redactUrl } from '../common/http/redact-url.js'
import { DfError } from '../protocol/errors.js'
import type { BackSourceReason } from '../protocol/result-codes.js'
import type { DfgetConfig } from './config.js'
import type { DfgetDeps, DfgetResult } from './dfget.js'
import { createCid } from './cid.js'
import { abortReason, createPieceLoop, mapRunFailure, openRun, runResult, type RunTools } from './download-run.js'
import type { SupernodeLocator, SupernodeRegistration } from './supernode-locator.js'
import { createPeerServerLauncher, isFinalRegistrationError, registerWithSupernodes, swarmFailed, type SwarmRegistration } from './swarm-join.js'
import { resolveControlProtocol } from './downloader/piece-loop-runner.js'
import { SourceDownloader } from './downloader/source-downloader.js'
import { StreamShare } from './downloader/stream-share.js'
import { StreamWindow } from './downloader/stream-window.js'
import { TransferStats } from './downloader/transfer-stats.js'
import { PeerClient } from './uploader/peer-client.js'

/** A started stream: the length, the bytes in order, and how the run ended. */
export interface DfgetStream {
  /** File length in bytes; -1 when the source did not say (a whole-file source stream without Content-Length). */
  readonly lengthBytes: number
  /** The file's bytes in order; errors with a DfError when the download fails part-way. */
  readonly body: Readable
  /** Settles after the body was delivered (every byte handed to the reader and verified). */
  readonly result: Promise<DfgetResult>
}

export class DfgetStreamRun {
  readonly #config: DfgetConfig
  readonly #deps: DfgetDeps
  readonly #logger: Logger
  readonly #clock: Clock
  readonly #stats: TransferStats
  readonly #cid = createCid()
  readonly #startedMs = Date.now()
  #backSource: BackSourceReason = 'none'
  #taskId: string | undefined

  constructor (config: DfgetConfig, deps: DfgetDeps = {}) {
    this.#config = config
    this.#deps = deps
    this.#clock = deps.clock ?? systemClock
    this.#stats = deps.stats ?? new TransferStats()
    this.#logger = (deps.logger ?? createSilentLogger()).child({ component: 'dfget', cid: this.#cid, stream: true })
  }

  /** Registers and starts the download. @throws DfError when it cannot start */
  async start (): Promise<DfgetStream> {
    const config = this.#config
    const cancel = new AbortController()
    const tools = await openRun(config, this.#deps, cancel.signal)
    const { signal, resources } = tools
    try {
      const started = config.pattern === 'source'
        ? await this.#startFromSource(tools, 'userSpecified', signal)
        : await this.#startThroughSwarm(tools, signal, cancel)
      const result = started.done.then(() => runResult(config, { taskId: this.#taskId, cid: this.#cid, lengthBytes: started.lengthBytes, startedMs: this.#startedMs, stats: this.#stats, backSource: this.#backSource }), (err: unknown) => { throw mapRunFailure(err, signal, config) })
        .finally(async () => { await resources.close() })
      result.catch(() => {}) // the body carries the failure too; a caller may read only the body
      return { lengthBytes: started.lengthBytes, body: started.body, result }
    } catch (err) {
      await resources.close()
      throw mapRunFailure(err, signal, config)
    }
  }

  async #startThroughSwarm (tools: RunTools, signal: AbortSignal, cancel: AbortController): Promise<{ lengthBytes: number, body: Readable, done: Promise<void> }> {
    const config = this.#config
    const locator = this.#deps.peerServerLocator ?? createPeerServerLauncher(config, this.#logger)
    const peerServer = await locator.locate(signal)
    let supernodes: SupernodeLocator
    let registration: SupernodeRegistration
    let request: SwarmRegistration['request']
    try {
      ({ supernodes, registration, request } = await registerWithSupernodes({ config, logger: this.#logger, cid: this.#cid, peerServer, windowPieces: config.windowPieces, resources: tools.resources, locator: this.#deps.supernodeLocator }, signal))
    } catch (err) {
      if (isFinalRegistrationError(err, signal)) throw err
      if (!config.backSourceAllowed) throw swarmFailed(err)
      this.#logger.warn({ err }, 'no supernode registered the task: streaming from the source')
      return await this.#startFromSource(tools, 'registerFailed', signal)
    }
    const { task } = registration
    this.#taskId = task.taskId
    this.#stats.expectedLengthBytes = task.fileLengthBytes
    // A peer server hosted by this process (dfdaemon) takes the pieces without a copy.
    const streamStore = peerServer.localStreams ?? tools.resources.push(new PeerClient({ baseUrl: peerServer.localUrl }))
    // v2: a piece leaving the window leaves this host's have feed (the stream store); the
    // supernode hears of it at the next sync, not per piece.
    const protocol = config.pattern === 'cdn' ? 'v1' : resolveControlProtocol()
    const share = new StreamShare({
      store: streamStore,
      logger: this.#logger,
      clock: this.#clock,
      reportEvicted: async (pieceNum) => {
        if (protocol === 'v2') return
        await registration.client.reportPiece(task.taskId, window.rangeOf(pieceNum), { cid: this.#cid, result: 'evicted' })
      },
    }, {
      taskId: task.taskId,
      cid: this.#cid,
      fileLengthBytes: task.fileLengthBytes,
      pieceSizeBytes: task.pieceSizeBytes,
      windowPieces: config.windowPieces,
      supernodes: [registration.address.baseUrl],
      ...(task.grantKey === undefined ? {} : { grantKeys: [task.grantKey] }),
    })
    const window = new StreamWindow({
      onPieceVerified: async (pieceNum, chunks, shared) => { await share.put(pieceNum, chunks, shared) },
      onDelivered: (una) => { share.setDelivered(una) },
      onCancel: () => { cancel.abort(new DfError('DF_ERR_INTERNAL', 'the stream was closed before its end')) },
    }, {
      geometry: { fileLengthBytes: task.fileLengthBytes, pieceSizeBytes: task.pieceSizeBytes },
      windowPieces: config.windowPieces,
      digest: this.#checkedDigest(),
      md5: config.md5,
    })
    await share.open()
    const onAbort = (): void => { window.fail(abortReason(signal)) }
    signal.addEventListener('abort', onAbort, { once: true })
    const done = (async () => {
      try {
        // Pieces come in buffers of the data plane's pool (the window, the reader, the stream
        // store and its uploads hold them; piece-fetcher.ts), hashed by the digest workers
        // in place.
        const p2p = createPieceLoop({ config, tools, logger: this.#logger, clock: this.#clock, stats: this.#stats, supernodes, registration, request, protocol }, window, {
          window,
          onSupernodeChange: (next) => { registration = next },
        })
        const outcome = await p2p.run(signal)
        if (outcome.kind === 'sourceChanged') {
          // Pieces of the old version already went to the reader: the stream cannot go on.
          throw new DfError('DF_ERR_TASK_FAILED', 'the source changed while moving to another supernode', { cause: outcome.cause, details: { cause: outcome.cause.code } })
        }
        if (outcome.kind === 'backSource') {
          if (!config.backSourceAllowed) throw swarmFailed(outcome.cause)
          this.#backSource = outcome.reason
          // Segments small enough that every parallel request writes inside the window.
          const segmentBytes = Math.max(task.pieceSizeBytes, Math.floor(config.windowPieces / 4) * task.pieceSizeBytes)
          const source = new SourceDownloader({ http: tools.plane.http, logger: this.#logger, limiter: tools.limiter, stats: this.#stats }, { url: config.url, headers: config.headers, segmentBytes })
          await source.fetchMissing(window, signal)
        }
        await window.whenDelivered()
      } catch (err) {
        // The stream's own failure (a digest mismatch, a cancel by the reader) says more than the abort it caused.
        const failure = window.failure ?? mapRunFailure(err, signal, config)
        window.fail(failure)
        throw failure
      } finally {
        signal.removeEventListener('abort', onAbort)
        await share.close()
        // The stream store is gone: this cid holds nothing any more.
        await registration.client.deleteTask(task.taskId, this.#cid).catch((err: unknown) => {
          this.#logger.debug({ err }, 'could not leave the task')
        })
      }
    })()
    return { lengthBytes: task.fileLengthBytes, body: window.body, done }
  }

  /** The whole file from the source in one request, checked on the way (length, md5, digest). */
  async #startFromSource (tools: RunTools, reason: BackSourceReason, signal: AbortSignal): Promise<{ lengthBytes: number, body: Readable, done: Promise<void> }> {
    this.#backSource = reason
    const config = this.#config
    const source = new SourceDownloader({ http: tools.plane.http, logger: this.#logger, limiter: tools.limiter, stats: this.#stats }, { url: config.url, headers: config.headers })
    const response = await source.openWhole(signal)
    const declared = Number(response.headers['content-length'] ?? Number.NaN)
    const lengthBytes = Number.isFinite(declared) ? declared : -1
    const expectedDigest = this.#checkedDigest()
    const sha256 = expectedDigest === undefined ? undefined : createHash('sha256')
    const md5 = config.md5 === undefined ? undefined : createHash('md5')
    const stats = this.#stats
    const limiter = tools.limiter
    let copied = 0
    const body = new Transform({
      transform (chunk: Buffer, _encoding, callback) {
        limiter.take(chunk.length, signal).then(() => {
          sha256?.update(chunk)
          md5?.update(chunk)
          copied += chunk.length
          stats.addFromSource(chunk.length)
          callback(null, chunk)
        }, callback)
      },
      flush (callback) {
        if (lengthBytes >= 0 && copied !== lengthBytes) {
          callback(new DfError('DF_ERR_SOURCE_UNREACHABLE', `source sent ${copied} bytes of ${lengthBytes} for ${redactUrl(config.url)}`))
          return
        }
        const digest = sha256 === undefined ? undefined : `sha256:${sha256.digest('hex')}`
        if (digest !== expectedDigest) {
          callback(new DfError('DF_ERR_TASK_DIGEST_MISMATCH', `the stream's content digest is ${digest ?? '?'}, expected ${expectedDigest ?? '?'}`))
          return
        }
        if (config.md5 !== undefined && md5?.digest('hex') !== config.md5) {
          callback(new DfError('DF_ERR_TASK_MD5_MISMATCH', `the stream does not match --md5 ${config.md5}`))
          return
        }
        callback()
      },
    })
    response.body.once('error', (err) => { body.destroy(source.mapError(err)) })
    response.body.pipe(body)
    const onAbort = (): void => { body.destroy(abortReason(signal)) }
    signal.addEventListener('abort', onAbort, { once: true })
    const done = new Promise<void>((resolve, reject) => {
      body.once('end', resolve)
      body.once('close', () => { if (!body.readableEnded) reject(body.errored ?? new DfError('DF_ERR_INTERNAL', 'the stream was closed before its end')) })
    }).finally(() => {
      signal.removeEventListener('abort', onAbort)
      response.body.destroy()
    })
    done.catch(() => {})
    return { lengthBytes, body, done }
  }

  /** The digest this run checks the stream against (none when the reader does it). */
  #checkedDigest (): string | undefined {
    return this.#deps.readerVerifiesDigest === true ? undefined : this.#config.digest
  }
}
