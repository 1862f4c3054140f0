/**
 * One dfget run, the pipeline of DESIGN.md §4: prepare (peer server, cid) → register (peer
 * and task, with supernode failover) → download (the piece loop; back-source of only the
 * missing pieces when the swarm cannot finish) → finish (verify every piece, the length and
 * --md5, publish the output atomically, leave the data file served by the peer server).
 *
 * The output path never holds a partial or corrupt file; every failure path removes the
 * data file and the temp files, withdraws the upload and leaves the task at the supernode.
 */
import { join } from 'node:path'
import type { Writable } from 'node:stream'
import type { Logger } from '../common/log.js'
import { createSilentLogger } from '../common/log.js'
import { systemClock, type Clock } from '../common/clock.js'
import type { CloseStack } from '../common/lifecycle.js'
import { tempPathFor } from '../common/fs/atomic-write.js'
import { DfError } from '../protocol/errors.js'
import type { ClientId } from '../protocol/ids.js'
import { createCid } from './cid.js'
import type { BackSourceReason } from '../protocol/result-codes.js'
import type { DfgetConfig } from './config.js'
import { createHomeLayout, dataFilePath, type HomeLayout } from './home-layout.js'
import type { SupernodeLocator, SupernodeRegistration } from './supernode-locator.js'
import { createPeerServerLauncher, isFinalRegistrationError, registerWithSupernodes, swarmFailed, type SwarmRegistration } from './swarm-join.js'
import type { PieceLoopRunner } from './downloader/piece-loop-runner.js'
import type { DataPlane } from './data-plane.js'
import { createPieceLoop, mapRunFailure, openRun, runResult, type RunTools } from './download-run.js'
import { SourceDownloader } from './downloader/source-downloader.js'
import { TargetWriter } from './downloader/target-writer.js'
import { TransferStats } from './downloader/transfer-stats.js'
import { PeerClient } from './uploader/peer-client.js'
import type { PeerServerHandle, PeerServerLocator } from './uploader/peer-server-launcher.js'
import { UploadLease } from './uploader/upload-lease.js'
import { loadOrCreatePeerId } from './uploader/peer-identity.js'


/** Collaborators of a run; all optional. */
export interface DfgetDeps {
  readonly logger?: Logger
  readonly clock?: Clock
  /** Finds this host's peer server; default: the launcher (start on demand, detached). */
  readonly peerServerLocator?: PeerServerLocator
  /** Where `-o -` writes; default process.stdout. */
  readonly stdout?: Writable
  /** Aborts the run. */
  readonly signal?: AbortSignal
  /** Byte counters; pass one to watch progress. */
  readonly stats?: TransferStats
  /**
   * Stream mode: the reader checks the whole stream against `config.digest` itself
   * (dfdaemon, whose check also covers bytes it continues from the source), so the run uses
   * the digest only as the task's identity and does not hash every byte a second time.
   */
  readonly readerVerifiesDigest?: boolean
  /**
   * The byte path (connections to pieces and the source, piece buffers, the hashing
   * thread), shared by the caller's runs (the host agent, dfdaemon: data-plane.ts); the run
   * does not close it. Default: a data plane of the run's own.
   */
  readonly dataPlane?: DataPlane
  /**
   * The supernode locator, shared by the caller's runs so their API calls reuse clients and
   * connections (its supernodes, token and CA must be the config's); the run does not close
   * it. Default: a locator of the run's own.
   */
  readonly supernodeLocator?: SupernodeLocator
}

/** What a finished run reports. */
export interface DfgetResult {
  readonly url: string
  readonly output: string
  readonly taskId: string | undefined
  readonly cid: string
  readonly lengthBytes: number
  readonly durationMs: number
  readonly bytesFromSource: number
  readonly bytesFromSupernode: number
  readonly bytesFromPeers: number
  /** The numbered back-source reason (0 = none; BACK_SOURCE_REASONS). */
  readonly backSourceReason: number
  readonly backSourceReasonName: BackSourceReason
}

export class Dfget {
  readonly #config: DfgetConfig
  readonly #logger: Logger
  readonly #clock: Clock
  readonly #deps: DfgetDeps
  readonly #layout: HomeLayout
  readonly #stats: TransferStats
  readonly #cid: ClientId
  #backSource: BackSourceReason = 'none'
  #taskId: string | undefined

  constructor (config: DfgetConfig, deps: DfgetDeps = {}) {
    this.#config = config
    this.#deps = deps
    this.#clock = deps.clock ?? systemClock
    this.#layout = createHomeLayout(config.homeDir)
    this.#stats = deps.stats ?? new TransferStats()
    this.#cid = createCid()
    this.#logger = (deps.logger ?? createSilentLogger()).child({ component: 'dfget', cid: this.#cid })
  }

  /** Downloads the URL to the output. @throws DfError */
  async run (): Promise<DfgetResult> {
    const startedMs = Date.now()
    const tools = await openRun(this.#config, this.#deps)
    const { signal } = tools
    try {
      const source = new SourceDownloader({ http: tools.plane.http, logger: this.#logger, limiter: tools.limiter, stats: this.#stats }, { url: this.#config.url, headers: this.#config.headers })
      const lengthBytes = this.#config.pattern === 'source'
        ? await this.#downloadWholeFromSource(source, 'userSpecified', signal)
        : await this.#downloadThroughSwarm({ ...tools, source }, signal)
      return runResult(this.#config, { taskId: this.#taskId, cid: this.#cid, lengthBytes, startedMs, stats: this.#stats, backSource: this.#backSource })
    } catch (err) {
      throw mapRunFailure(err, signal, this.#config)
    } finally {
      await tools.resources.close()
    }
  }

  async #downloadThroughSwarm (tools: RunTools & { source: SourceDownloader }, signal: AbortSignal): Promise<number> {
    const config = this.#config
    const locatorOfPeerServer = this.#deps.peerServerLocator ?? createPeerServerLauncher(config, this.#logger)
    // A running peer server is used at once. One that must be started starts once the task
    // is registered, while the download already runs: the peer registers without a port (it
    // downloads and reports, nobody is sent to it) and becomes a source once its server is up
    // (docs/dfget.md). Registering first matters when many hosts start at once on few cores:
    // the supernode starts reading the source before the peer servers' start-up competes.
    const running = locatorOfPeerServer.findRunning === undefined ? await locatorOfPeerServer.locate(signal) : await locatorOfPeerServer.findRunning()
    const peer = running === undefined ? { peerId: await loadOrCreatePeerId(this.#layout), port: undefined } : running
    const startServer = (): Promise<PeerServerHandle> | undefined => running === undefined ? locatorOfPeerServer.locate(signal) : undefined
    let supernodes: SupernodeLocator
    let registration: SupernodeRegistration
    let request: SwarmRegistration['request']
    try {
      ({ supernodes, registration, request } = await registerWithSupernodes({ config, logger: this.#logger, cid: this.#cid, peerServer: peer, resources: tools.resources, locator: this.#deps.supernodeLocator }, signal))
    } catch (err) {
      // The host's server starts all the same (later runs use it), and is up (or failed)
      // before this run ends.
      const started = startServer()
      try {
        if (isFinalRegistrationError(err, signal)) throw err
        if (!config.backSourceAllowed) throw swarmFailed(err)
        this.#logger.warn({ err }, 'no supernode registered the task: back-source')
        return await this.#downloadWholeFromSource(tools.source, 'registerFailed', signal)
      } finally {
        await started?.catch(() => undefined)
      }
    }
    const serverStart = startServer()
    serverStart?.catch(() => {}) // observed when the download joins it
    const { task } = registration
    this.#taskId = task.taskId
    this.#stats.expectedLengthBytes = task.fileLengthBytes
    tools.source.pinVersion(task.sourceVersion)
    const writer = new TargetWriter({ dataPath: dataFilePath(this.#layout, task.taskId, this.#cid), geometry: { fileLengthBytes: task.fileLengthBytes, pieceSizeBytes: task.pieceSizeBytes } })
    let lease = running === undefined ? undefined : await this.#startLease(running, registration, writer.dataPath, tools.resources)
    lease?.announce(writer.verifiedPieces())
    let p2p: PieceLoopRunner | undefined
    let peerRequest = request.peerRequest
    // The server that was starting takes the data file first, then the supernode learns its
    // port: nobody is sent here before the server can answer for the file.
    const joined = serverStart?.then(async (server) => {
      lease = await this.#startLease(server, registration, writer.dataPath, tools.resources)
      if (lease === undefined) return
      lease.announce(writer.verifiedPieces())
      peerRequest = { ...request.peerRequest, port: server.port }
      await registration.client.registerPeer(peerRequest)
      p2p?.setPeerRequest(peerRequest)
      this.#logger.debug({ port: server.port }, 'the peer server is up: this host serves the task')
    }).catch((err: unknown) => {
      this.#logger.warn({ err }, 'the peer server did not start; this host will not serve the task')
    })
    let published = false
    try {
      await writer.open()
      p2p = createPieceLoop({ config, tools, logger: this.#logger, clock: this.#clock, stats: this.#stats, supernodes, registration, request: { ...request, peerRequest } }, writer, {
        onPieceVerified: (pieceNum) => { lease?.announce([pieceNum]) },
        onSupernodeChange: (next) => {
          registration = next
          lease?.setSupernodes([next.address.baseUrl])
        },
      })
      const outcome = await p2p.run(signal)
      if (outcome.kind === 'sourceChanged') {
        if (!config.backSourceAllowed) throw swarmFailed(outcome.cause)
        this.#backSource = 'supernodeLost'
        // The pieces held are of the old version: keeping them would mix two versions.
        this.#logger.warn('the source changed during the download: fetching the whole file again')
        writer.resetVerified()
        await tools.source.fetchWhole(writer, signal)
      } else if (outcome.kind === 'backSource') {
        if (!config.backSourceAllowed) throw swarmFailed(outcome.cause)
        this.#backSource = outcome.reason
        await tools.source.fetchMissing(writer, signal)
      }
      await this.#verify(writer, tools.source, signal)
      await writer.publish(config.output, { keepData: true, ...(this.#deps.stdout === undefined ? {} : { stdout: this.#deps.stdout }) })
      published = true
      return writer.geometry?.fileLengthBytes ?? 0
    } finally {
      // A download that finished before its peer server was up still leaves the file served.
      await joined
      if (published) {
        lease?.release()
        await writer.close()
      } else {
        await lease?.withdraw()
        await writer.discard()
        await registration.client.deleteTask(task.taskId, this.#cid).catch((err: unknown) => {
          this.#logger.debug({ err }, 'could not leave the task')
        })
      }
    }
  }

  /** Every piece verified, the length right, and --md5 when given (else back-source reason 2). */
  async #verify (writer: TargetWriter, source: SourceDownloader, signal: AbortSignal): Promise<void> {
    const geometry = writer.geometry
    if (!writer.isComplete || geometry === undefined) {
      throw new DfError('DF_ERR_INTERNAL_INVARIANT', `download ended with ${writer.pieceCount - writer.verifiedCount} pieces missing`)
    }
    const onDisk = await writer.fetchLengthOnDisk()
    if (onDisk !== geometry.fileLengthBytes) throw new DfError('DF_ERR_TASK_WRITE_FAILED', `the data file has ${onDisk} bytes, expected ${geometry.fileLengthBytes}`)
    const md5 = this.#config.md5
    if (md5 === undefined || await writer.computeMd5Hex() === md5) return
    if (!this.#config.backSourceAllowed) throw md5Mismatch(md5)
    this.#logger.warn({ md5 }, 'md5 mismatch: back-source of the whole file')
    this.#backSource = 'md5Mismatch'
    writer.resetVerified()
    await source.fetchWhole(writer, signal)
    if (await writer.computeMd5Hex() !== md5) throw md5Mismatch(md5)
  }

  /** Straight from the source into a temp file beside the output (the peer server is not involved). */
  async #downloadWholeFromSource (source: SourceDownloader, reason: BackSourceReason, signal: AbortSignal): Promise<number> {
    this.#backSource = reason
    const output = this.#config.output
    const dataPath = output === '-' ? join(this.#layout.dataDir, `.stdout-${this.#cid}.tmp`) : tempPathFor(output)
    const writer = new TargetWriter({ dataPath })
    try {
      await writer.open()
      await source.fetchWhole(writer, signal)
      const md5 = this.#config.md5
      if (md5 !== undefined && await writer.computeMd5Hex() !== md5) throw md5Mismatch(md5)
      const lengthBytes = writer.geometry?.fileLengthBytes ?? 0
      await writer.publish(output, { keepData: false, ...(this.#deps.stdout === undefined ? {} : { stdout: this.#deps.stdout }) })
      return lengthBytes
    } finally {
      await writer.discard()
    }
  }

  async #startLease (peerServer: PeerServerHandle, registration: SupernodeRegistration, dataPath: string, resources: CloseStack): Promise<UploadLease | undefined> {
    const peerClient = resources.push(new PeerClient({ baseUrl: peerServer.localUrl }))
    const lease = new UploadLease({ peerClient, announcer: peerServer.localPieces ?? peerClient, clock: this.#clock, logger: this.#logger }, {
      request: {
        taskId: registration.task.taskId,
        cid: this.#cid,
        path: dataPath,
        fileLengthBytes: registration.task.fileLengthBytes,
        pieceSizeBytes: registration.task.pieceSizeBytes,
        supernodes: [registration.address.baseUrl],
        ...(registration.task.grantKey === undefined ? {} : { grantKeys: [registration.task.grantKey] }),
      },
      refreshIntervalMs: Math.min(30_000, Math.min(this.#config.expireTimeMs, this.#config.aliveTimeMs) / 3),
    })
    try {
      await lease.start()
      return lease
    } catch (err) {
      // Downloading still works; other peers will fail to fetch from us and report it.
      this.#logger.warn({ err }, 'the peer server did not take the upload; this host will not serve the task')
      return undefined
    }
  }

}


function md5Mismatch (md5: string): DfError {
  return new DfError('DF_ERR_TASK_MD5_MISMATCH', `the downloaded file does not match --md5 ${md5}`)
}

