/**
 * The peer server: one long-lived process per host (per --home) that serves the pieces
 * this host holds to other peers (DESIGN.md §2). It serves only files a dfget on this host
 * registered (`POST /peer/uploads`, loopback callers only) and never takes a path from a
 * data request. Pieces are served from the moment the dfget reports them, not only after
 * the download finished. A private task (its dfget was given the supernode's grant key at
 * registration) is served only against a piece grant for that task, verified here with that
 * key (protocol/piece-grant.ts): no round trip, and a grant opens no other task.
 *
 * Housekeeping runs on one timer: data files untouched for `expireTimeMs` are deleted (and
 * their supernodes told that this cid no longer holds the task); after `aliveTimeMs` with no
 * registration and no read, the server tells every supernode it was registered with that
 * it is going (service down), cleans its data, removes its state file and stops.
 */
import type { KeyObject } from 'node:crypto'
import { readFile, rm } from 'node:fs/promises'
import { isIPv6 } from 'node:net'
import { resolve } from 'node:path'
import { Transform } from 'node:stream'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Logger } from '../../common/log.js'
import type { Clock, TimerHandle } from '../../common/clock.js'
import { systemClock } from '../../common/clock.js'
import { createHttpServer, formatBaseUrl, listenHttpServer } from '../../common/http/server.js'
import { requireBearerToken } from '../../common/http/auth.js'
import { formatContentRange, parseRangeHeader } from '../../common/http/range-header.js'
import { sendFileRange } from '../../common/http/file-range-sender.js'
import { BufferPool } from '../../common/buffer-pool.js'
import { ReadHandles } from '../../common/fs/read-handles.js'
import { RateLimiter } from '../../common/rate-limiter.js'
import type { ByteRange } from '../../protocol/piece-range.js'
import { DfError } from '../../protocol/errors.js'
import { parseClientId, parseTaskId, type PeerId } from '../../protocol/ids.js'
import { PEER_PATHS } from '../../protocol/paths.js'
import { grantRefusalReasonOf, parseGrantKeys, PIECE_GRANT_HEADER, verifyPieceGrant } from '../../protocol/piece-grant.js'
import { parseRegisterUploadRequest, type PeerStatus } from '../../protocol/messages/peer-upload.js'
import type { SupernodeClient } from '../../supernode/client.js'
import { createHomeLayout, ensureHomeDirs, type HomeLayout } from '../home-layout.js'
import { loadOrCreatePeerId } from './peer-identity.js'
import { readPeerServerState, removePeerServerState, writePeerServerState } from './peer-server-state.js'
import { UploadRegistry, type UploadEntry } from './upload-registry.js'
import { PieceStore } from './piece-store.js'
import type { GarbageCollector } from '../../common/garbage-collector.js'
import { PeerMetrics } from './peer-metrics.js'
import { loadCaCert } from '../ca-cert.js'
import { addStreamRoutes } from './stream-routes.js'
import { addHaveRoutes } from './have-routes.js'
import { PieceAvailability } from './piece-availability.js'
import { pieceCount } from '../../protocol/piece-range.js'
import { AgentServer } from '../agent/agent-server.js'
import type { DataPlane } from '../data-plane.js'
import type { PeerServerConfig } from './peer-server-config.js'
import type { PieceAnnouncer, StreamStoreClient } from './peer-client.js'
import { collectProcessMetrics } from '../../common/process-metrics.js'

/** Why a peer server stopped. */
export type PeerServerStopReason = 'idle' | 'closed'

export interface PeerServerDeps {
  readonly logger: Logger
  readonly clock?: Clock
  /** Told of every stream-mode piece put, to keep the process's peak memory near its live data. */
  readonly garbageCollector?: Pick<GarbageCollector, 'add'>
  /** The buffers file reads go through (the host agent shares its data plane's). Default: the server's own. */
  readonly buffers?: BufferPool
  /** Where the downloads of the host agent log (`<home>/logs/dfget.log`). Default: the server's logger. */
  readonly runLogger?: Logger
  /** The byte path of the host agent's downloads (dfdaemon shares its own). Default: one made at the first download. */
  readonly dataPlane?: DataPlane
}

export interface PeerServerRunOptions extends PeerServerConfig {
  /** Write `<home>/peer-server.json` once listening (default true). */
  readonly writeStateFile?: boolean
  /**
   * Stop after `aliveTimeMs` without work (default true). A server hosted by a long-lived
   * process (dfdaemon) lives as long as that process instead.
   */
  readonly stopWhenIdle?: boolean
  /**
   * Also be the host agent: run the downloads that dfget hands over on `<home>/agent.sock`
   * (agent/agent-server.ts). Default false (a bare peer server).
   */
  readonly agent?: boolean
}


/** Bytes per read of a served file (file-range-sender.ts). */
const READ_CHUNK_BYTES = 512 * 1024
const SERVICE_DOWN_TIMEOUT_MS = 3_000
/** A stream store nobody put into, refreshed or read from this long belongs to a dfget that died (a live one refreshes it every 20 s, also while its reader pauses). */
const STREAM_IDLE_MS = 60_000
/** A child's have feed answers at most this often (changes in between go together): a stream's, whose reader waits … */
export const HAVES_COALESCE_MS = 20
/** … and a file's (each answer is a request per child; a few a second keep the children busy). */
export const FILE_HAVES_COALESCE_MS = 200
/** … unless this many new pieces wait: on a fast link the hold is then about a piece time (piece-availability.ts). */
export const FILE_HAVES_PIECES_PER_ANSWER = 2

export class PeerServer {
  readonly #logger: Logger
  readonly #clock: Clock
  readonly #options: PeerServerRunOptions
  readonly #layout: HomeLayout
  readonly #registry: UploadRegistry
  /** Stream mode: the windows' pieces of this host's streaming dfgets, in memory. */
  readonly #pieces: PieceStore
  /** Control protocol v2: what each served download holds now, for the children's have feeds. */
  readonly #availability: PieceAvailability
  readonly #garbageCollector: Pick<GarbageCollector, 'add'> | undefined
  readonly #runLogger: Logger | undefined
  readonly #dataPlane: DataPlane | undefined
  readonly #limiter: RateLimiter
  readonly #buffers: BufferPool
  /** Served files kept open between piece requests (common/fs/read-handles.ts). */
  readonly #readHandles: ReadHandles
  readonly #stopped: Promise<PeerServerStopReason>
  #resolveStopped: (reason: PeerServerStopReason) => void = () => {}
  #app: FastifyInstance | undefined
  /** The HTTPS server of piece data (with `tls`), on the advertised port. */
  #tlsApp: FastifyInstance | undefined
  #peerId: PeerId | undefined
  /** The plain port (the state file's): every address, or loopback only when `tls` serves the data. */
  #port = 0
  #tlsPort: number | undefined
  #timer: TimerHandle | undefined
  #activeReads = 0
  #caCert: Buffer | undefined
  #closing: Promise<void> | undefined
  #agent: AgentServer | undefined
  readonly #metrics: PeerMetrics

  constructor (deps: PeerServerDeps, options: PeerServerRunOptions) {
    this.#logger = deps.logger.child({ component: 'peer-server' })
    this.#clock = deps.clock ?? systemClock
    this.#options = options
    this.#layout = createHomeLayout(options.homeDir)
    this.#registry = new UploadRegistry({ clock: this.#clock }, { dataDir: this.#layout.dataDir })
    this.#pieces = new PieceStore({ clock: this.#clock })
    this.#availability = new PieceAvailability({ clock: this.#clock }, { coalesceMs: HAVES_COALESCE_MS, fileCoalesceMs: FILE_HAVES_COALESCE_MS, filePiecesPerAnswer: FILE_HAVES_PIECES_PER_ANSWER })
    this.#garbageCollector = deps.garbageCollector
    this.#runLogger = deps.runLogger
    this.#dataPlane = deps.dataPlane
    this.#limiter = new RateLimiter(options.uploadRateBytesPerSec)
    this.#buffers = deps.buffers ?? new BufferPool({ maxIdleBytes: 16 * 1024 * 1024 })
    this.#readHandles = new ReadHandles({ clock: this.#clock })
    this.#metrics = new PeerMetrics({
      countServedFiles: () => this.#registry.size,
      sumServedBytes: () => this.#registry.entries().reduce((sum, entry) => sum + entry.fileLengthBytes, 0),
    })
    this.#stopped = new Promise((resolve) => { this.#resolveStopped = resolve })
  }

  /** Loads the peer id, listens, writes the state file, starts housekeeping. */
  async start (): Promise<void> {
    await ensureHomeDirs(this.#layout)
    this.#peerId = await loadOrCreatePeerId(this.#layout)
    this.#caCert = await loadCaCert(this.#options.caCertPath)
    const tls = this.#options.tls === undefined ? undefined : await loadTlsFiles(this.#options.tls)
    const app = createHttpServer({ logger: this.#logger })
    this.#app = app
    // Piece data needs the shared token when one is set; control routes are loopback-only.
    requireBearerToken(app, this.#options.token, (path) => !path.startsWith('/peer/tasks/'))
    this.#metrics.attach(app)
    this.#addRoutes(app)
    if (tls !== undefined) {
      // Other hosts reach the data over HTTPS only; the plain port stays on loopback for this host's runs.
      const tlsApp = createHttpServer({ logger: this.#logger, tls })
      this.#tlsApp = tlsApp
      requireBearerToken(tlsApp, this.#options.token, (path) => !path.startsWith('/peer/tasks/'))
      this.#metrics.attach(tlsApp)
      this.#addRoutes(tlsApp)
      this.#tlsPort = (await listenHttpServer(tlsApp, this.#options.listenHost, this.#options.port)).port
    }
    const address = await listenHttpServer(app, tls === undefined ? this.#options.listenHost : loopbackOf(this.#options.listenHost), tls === undefined ? this.#options.port : 0)
    this.#port = address.port
    if (this.#options.agent === true) {
      // Listening before the state file names this server: a dfget that finds the file finds the socket.
      const agent = new AgentServer({
        logger: this.#logger,
        peerServer: { peerId: this.#peerId, port: this.port, localUrl: this.localUrl, localStreams: this.localStreams(), localPieces: this.localPieces() },
        buffers: this.#buffers,
        ...(this.#garbageCollector === undefined ? {} : { garbageCollector: this.#garbageCollector }),
        ...(this.#runLogger === undefined ? {} : { runLogger: this.#runLogger }),
        ...(this.#dataPlane === undefined ? {} : { dataPlane: this.#dataPlane }),
        ...(this.#caCert === undefined ? {} : { caCert: this.#caCert }),
        onActivity: () => { this.#registry.touchActivity() },
      }, { socketPath: this.#layout.agentSocketPath })
      await agent.start()
      this.#agent = agent
    }
    if (this.#options.writeStateFile !== false) {
      await writePeerServerState(this.#layout, { pid: process.pid, port: this.#port, peerId: this.#peerId })
    }
    this.#logger.info({ peerId: this.#peerId, port: this.port, host: this.#options.listenHost, tls: this.#tlsPort !== undefined }, 'peer server listening')
    this.#scheduleHousekeeping()
  }

  get peerId (): PeerId {
    if (this.#peerId === undefined) throw new DfError('DF_ERR_INTERNAL_INVARIANT', 'peer server not started')
    return this.#peerId
  }

  /** The port other peers fetch pieces from (the HTTPS one with `tls`). */
  get port (): number {
    return this.#tlsPort ?? this.#port
  }

  /** A URL this host reaches the server at over plain HTTP (loopback when bound to every address, or with `tls`). */
  get localUrl (): string {
    const host = this.#options.listenHost
    return formatBaseUrl(this.#tlsPort !== undefined ? loopbackOf(host) : host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host, this.#port)
  }

  /**
   * The stream store for a dfget in this process: the same checks as the HTTP routes
   * (stream-routes.ts), without the copy through loopback.
   */
  localStreams (): StreamStoreClient {
    const pieces = this.#pieces
    const availability = this.#availability
    const touch = (): void => { this.#registry.touchActivity() }
    return {
      openStream: async (request) => {
        pieces.open({ ...request, taskId: parseTaskId(request.taskId, 'body.taskId'), cid: parseClientId(request.cid, 'body.cid'), grantKeys: parseGrantKeys(request.grantKeys, 'body.grantKeys') })
        availability.open(request.taskId, request.cid, pieceCount(request.fileLengthBytes, request.pieceSizeBytes), 'stream')
        touch()
      },
      putStreamPiece: async (taskId, cid, pieceNum, bytes, shared) => {
        pieces.put(taskId, cid, pieceNum, bytes, shared)
        availability.add(taskId, cid, [pieceNum])
        touch()
        // Pooled bytes go back to their pool, not to the garbage collector.
        if (shared === undefined) this.#garbageCollector?.add(Buffer.isBuffer(bytes) ? bytes.length : bytes.reduce((sum, chunk) => sum + chunk.length, 0))
      },
      dropStreamPiece: async (taskId, cid, pieceNum) => {
        pieces.drop(taskId, cid, pieceNum)
        availability.remove(taskId, cid, pieceNum)
      },
      closeStream: async (taskId, cid) => {
        if (!pieces.close(taskId, cid)) throw new DfError('DF_ERR_UPLOAD_TASK_NOT_FOUND', 'no stream of that task and cid is open here')
        availability.close(taskId, cid)
        touch()
      },
    }
  }

  /**
   * Control protocol v2, for a dfget in this process: announces verified pieces of a
   * registered data file without a request through loopback (have-routes.ts is the HTTP way).
   */
  localPieces (): PieceAnnouncer {
    return {
      announcePieces: async (taskId, cid, pieceNums) => {
        if (!this.#availability.has(taskId, cid)) throw new DfError('DF_ERR_UPLOAD_TASK_NOT_FOUND', 'register the upload first')
        this.#availability.add(taskId, cid, pieceNums)
      },
    }
  }

  /** Stream mode: bytes of pieces held in memory now, across streams. */
  get streamStoreBytes (): number {
    return this.#pieces.heldBytes
  }

  /** Adds the process's own metrics (memory, fds, event-loop delay) to this server's registry: for the process's composition root. */
  collectProcessMetrics (): void {
    collectProcessMetrics(this.#metrics.registry)
  }

  /** Resolves when the server stopped, with why. */
  whenStopped (): Promise<PeerServerStopReason> {
    return this.#stopped
  }

  /**
   * Stops serving and removes the state file. Idempotent. The supernodes are told first
   * (service down), so no client is sent here any more; a peer server that is simply
   * killed is found out by the failed reports of its clients instead.
   */
  async close (): Promise<void> {
    if (this.#closing === undefined && this.#app !== undefined) await this.#announceServiceDown()
    await this.#stop('closed')
  }

  async #stop (reason: PeerServerStopReason): Promise<void> {
    this.#closing ??= (async () => {
      this.#timer?.cancel()
      this.#availability.closeAll()
      try {
        await this.#agent?.close()
        await this.#tlsApp?.close()
        await this.#app?.close()
        await this.#readHandles.close()
      } finally {
        if (this.#options.writeStateFile !== false && this.#app !== undefined) await removePeerServerState(this.#layout, process.pid)
        this.#resolveStopped(reason)
      }
    })()
    await this.#closing
  }

  #addRoutes (app: FastifyInstance): void {
    app.get(PEER_PATHS.ping, async (): Promise<PeerStatus> => ({ peerId: this.peerId, port: this.port, pid: process.pid, uploads: this.#registry.size }))
    app.post(PEER_PATHS.uploads, async (request, reply) => {
      requireLoopback(request)
      const body = parseRegisterUploadRequest(request.body)
      const taskId = parseTaskId(body.taskId, 'body.taskId')
      const cid = parseClientId(body.cid, 'body.cid')
      if (!this.#registry.isServablePath(body.path)) {
        throw new DfError('DF_ERR_ARG_INVALID', 'body.path: must be a file in the peer server\'s data directory', { details: { field: 'body.path' } })
      }
      this.#readHandles.forget(resolve(body.path)) // a new file at that path
      this.#registry.register({ ...body, taskId, cid, grantKeys: parseGrantKeys(body.grantKeys, 'body.grantKeys') })
      this.#availability.open(taskId, cid, pieceCount(body.fileLengthBytes, body.pieceSizeBytes), 'file')
      return reply.status(204).send()
    })
    app.delete(PEER_PATHS.upload, async (request: FastifyRequest<{ Params: { taskId: string }, Querystring: { cid?: string } }>, reply) => {
      requireLoopback(request)
      const entry = this.#unregister(request.params.taskId, request.query.cid ?? '')
      if (entry === undefined) throw new DfError('DF_ERR_UPLOAD_TASK_NOT_FOUND')
      return reply.status(204).send()
    })
    addStreamRoutes(app, { streams: this.localStreams(), requireLoopback })
    addHaveRoutes(app, {
      availability: this.#availability,
      requireLoopback,
      authorize: (request) => {
        const stream = this.#pieces.getForRead(request.params.taskId, request.query.cid ?? '')
        const entry = stream === undefined ? this.#registry.getForRead(request.params.taskId, request.query.cid ?? '') : undefined
        if (stream === undefined && entry === undefined) throw new DfError('DF_ERR_UPLOAD_TASK_NOT_FOUND', 'this peer does not serve that task for that cid')
        this.#requireGrant(request, stream?.grantKeys ?? entry?.grantKeys)
      },
    })
    app.get(PEER_PATHS.taskData, async (request: FastifyRequest<{ Params: { taskId: string }, Querystring: { cid?: string } }>, reply) => {
      return await this.#serveData(request, reply)
    })
  }

  async #serveData (request: FastifyRequest<{ Params: { taskId: string }, Querystring: { cid?: string } }>, reply: FastifyReply): Promise<FastifyReply> {
    const stream = this.#pieces.getForRead(request.params.taskId, request.query.cid ?? '')
    if (stream !== undefined) {
      this.#requireGrant(request, stream.grantKeys)
      return this.#serveStreamPiece(request, reply, stream.fileLengthBytes)
    }
    const entry = this.#registry.getForRead(request.params.taskId, request.query.cid ?? '')
    if (entry === undefined) {
      throw new DfError('DF_ERR_UPLOAD_TASK_NOT_FOUND', 'this peer does not serve that task for that cid', { details: { taskId: request.params.taskId.slice(0, 64) } })
    }
    this.#requireGrant(request, entry.grantKeys)
    const range = requireRange(request.headers.range, entry.fileLengthBytes, reply)
    let lent
    try {
      lent = await this.#readHandles.acquire(entry.path)
    } catch (err) {
      this.#unregister(entry.taskId, entry.cid)
      this.#logger.warn({ taskId: entry.taskId, cid: entry.cid, err }, 'registered data file is gone')
      throw new DfError('DF_ERR_UPLOAD_TASK_NOT_FOUND', 'the data file is gone', { cause: err })
    }
    this.#activeReads += 1
    reply.hijack()
    const res = reply.raw
    for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) res.setHeader(name, value)
    res.writeHead(206, {
      'content-type': 'application/octet-stream',
      'content-length': range.end - range.start + 1,
      'content-range': formatContentRange(range, entry.fileLengthBytes),
      'accept-ranges': 'bytes',
    })
    const limiter = this.#limiter
    try {
      await sendFileRange(res, lent.handle, range, { pool: this.#buffers, chunkBytes: READ_CHUNK_BYTES, ...(limiter.isUnlimited ? {} : { beforeWrite: async (bytes) => { await limiter.take(bytes) } }) })
    } finally {
      this.#activeReads -= 1
      lent.release()
    }
    return reply
  }

  /** A private task's piece request must carry a grant for it that one of `keys` verifies. @throws DF_ERR_PIECE_GRANT_REQUIRED, DF_ERR_PIECE_GRANT_INVALID */
  #requireGrant (request: FastifyRequest<{ Params: { taskId: string } }>, keys: readonly KeyObject[] | undefined): void {
    if (keys === undefined || keys.length === 0) return
    try {
      verifyPieceGrant(request.headers[PIECE_GRANT_HEADER], keys, request.params.taskId, this.#clock.now())
    } catch (err) {
      const reason = grantRefusalReasonOf(err)
      if (reason !== undefined) this.#metrics.countGrantRefusal(reason)
      throw err
    }
  }

  /** Stream mode: a range inside one piece of the window, from memory. */
  #serveStreamPiece (request: FastifyRequest<{ Params: { taskId: string }, Querystring: { cid?: string } }>, reply: FastifyReply, fileLengthBytes: number): FastifyReply {
    const range = requireRange(request.headers.range, fileLengthBytes, reply)
    const read = this.#pieces.read(request.params.taskId, request.query.cid ?? '', range)
    if (read === undefined) {
      throw new DfError('DF_ERR_PIECE_NOT_AVAILABLE', 'that range is not in this stream\'s window (any more)', { details: { start: range.start, end: range.end } })
    }
    const bytes = read.bytes
    this.#registry.touchActivity()
    if (!read.pooled) this.#garbageCollector?.add(bytes.length)
    this.#activeReads += 1
    // The response is done with the bytes once it closed (sent, or the connection gone).
    reply.raw.once('close', () => {
      this.#activeReads -= 1
      read.release()
    })
    const headers = {
      'content-type': 'application/octet-stream',
      'content-length': bytes.length,
      'content-range': formatContentRange(range, fileLengthBytes),
      'accept-ranges': 'bytes',
    }
    if (this.#limiter.isUnlimited) return reply.status(206).headers(headers).send(bytes)
    const throttle = this.#createThrottle()
    throttle.end(bytes)
    return reply.status(206).headers(headers).send(throttle)
  }

  #createThrottle (): Transform {
    const limiter = this.#limiter
    return new Transform({
      transform (chunk: Buffer, _encoding, callback) {
        limiter.take(chunk.length).then(() => { callback(null, chunk) }, callback)
      },
    })
  }

  #scheduleHousekeeping (): void {
    const intervalMs = Math.min(30_000, Math.max(10, Math.min(this.#options.aliveTimeMs, this.#options.expireTimeMs) / 4))
    this.#timer = this.#clock.setTimeout(() => {
      this.#housekeep().then(() => {
        if (this.#closing === undefined) this.#scheduleHousekeeping()
      }, (err: unknown) => {
        this.#logger.error({ err }, 'housekeeping failed')
        if (this.#closing === undefined) this.#scheduleHousekeeping()
      })
    }, intervalMs)
  }

  async #housekeep (): Promise<void> {
    const expired = this.#registry.takeExpired(this.#options.expireTimeMs)
    this.#metrics.countExpired(expired)
    for (const entry of expired) await this.#discard(entry, 'expired')
    for (const stream of this.#pieces.takeExpired(STREAM_IDLE_MS)) {
      this.#availability.close(stream.taskId, stream.cid)
      // Its dfget went away without closing it: the supernode must stop sending peers here.
      this.#logger.info({ taskId: stream.taskId, cid: stream.cid }, 'stream store expired')
      await Promise.all(stream.supernodes.map(async (baseUrl) => {
        await this.#withSupernode(baseUrl, async (client) => { await client.deleteTask(stream.taskId, stream.cid) })
      }))
    }
    if (this.#options.stopWhenIdle === false) return
    if (this.#activeReads === 0 && this.#pieces.size === 0 && (this.#agent?.activeRuns ?? 0) === 0 && this.#registry.idleMs() >= this.#options.aliveTimeMs) {
      await this.#shutdownIdle('idle for alivetime')
    } else if (this.#options.writeStateFile !== false && (await readPeerServerState(this.#layout))?.pid !== process.pid) {
      // The state file is gone (the home was deleted) or names another server: no dfget can
      // find this one any more, so it is an orphan and goes.
      await this.#shutdownIdle('state file gone or taken over')
    }
  }

  /** Service down: tell the supernodes, clean the data, stop. */
  async #shutdownIdle (why: string): Promise<void> {
    this.#logger.info({ peerId: this.#peerId, idleMs: this.#registry.idleMs(), why }, 'service down')
    await this.#announceServiceDown()
    for (const entry of this.#registry.entries()) {
      this.#unregister(entry.taskId, entry.cid)
      await rm(entry.path, { force: true })
    }
    await this.#stop('idle')
  }

  /** Tells every supernode this peer registered with that it is going. */
  async #announceServiceDown (): Promise<void> {
    const peerId = this.peerId
    const supernodes = new Set([...this.#registry.supernodeUrls(), ...this.#pieces.streams().flatMap((stream) => stream.supernodes)])
    await Promise.all([...supernodes].map(async (baseUrl) => {
      await this.#withSupernode(baseUrl, async (client) => { await client.deletePeer(peerId) })
    }))
  }

  /** Stops serving a file (its open handle goes after the reads in flight). */
  #unregister (taskId: string, cid: string): UploadEntry | undefined {
    this.#availability.close(taskId, cid)
    const entry = this.#registry.unregister(taskId, cid)
    if (entry !== undefined) this.#readHandles.forget(entry.path)
    return entry
  }

  async #discard (entry: UploadEntry, why: string): Promise<void> {
    this.#logger.info({ taskId: entry.taskId, cid: entry.cid, why }, 'data file removed')
    this.#availability.close(entry.taskId, entry.cid)
    this.#readHandles.forget(entry.path)
    await rm(entry.path, { force: true })
    await Promise.all(entry.supernodes.map(async (baseUrl) => {
      await this.#withSupernode(baseUrl, async (client) => { await client.deleteTask(entry.taskId, entry.cid) })
    }))
  }

  async #withSupernode (baseUrl: string, call: (client: SupernodeClient) => Promise<void>): Promise<void> {
    // Loaded when first needed: the HTTP client (undici) is a third of the server's start-up.
    const { SupernodeClient } = await import('../../supernode/client.js')
    const client = new SupernodeClient({
      baseUrl,
      timeoutMs: SERVICE_DOWN_TIMEOUT_MS,
      connectTimeoutMs: SERVICE_DOWN_TIMEOUT_MS,
      ...(this.#options.token === undefined ? {} : { token: this.#options.token }),
      ...(this.#caCert === undefined ? {} : { caCert: this.#caCert }),
    })
    try {
      await call(client)
    } catch (err) {
      this.#logger.warn({ url: baseUrl, err }, 'could not reach a supernode')
    } finally {
      await client.close()
    }
  }
}

function requireLoopback (request: FastifyRequest): void {
  const address = request.socket.remoteAddress ?? ''
  const isLoopback = address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.')
  if (!isLoopback) {
    throw new DfError('DF_ERR_ARG_UNAUTHORIZED', 'control requests are accepted from this host (loopback) only')
  }
}

/**
 * The one byte range a piece request must carry, inside a file of `fileLengthBytes`.
 * @throws DF_ERR_PIECE_RANGE_INVALID (416, with `Content-Range: bytes *\/length` set on `reply`)
 */
function requireRange (header: string | undefined, fileLengthBytes: number, reply: FastifyReply): ByteRange {
  const range = parseRangeHeader(header, fileLengthBytes)
  if (range === undefined || range === 'unsatisfiable') {
    void reply.header('content-range', `bytes */${fileLengthBytes}`)
    throw new DfError('DF_ERR_PIECE_RANGE_INVALID', range === undefined ? 'a single "Range: bytes=start-end" header is required' : 'range outside the file')
  }
  return range
}

/** The loopback address of a listen address's family. */
function loopbackOf (host: string): string {
  return isIPv6(host) ? '::1' : '127.0.0.1'
}

/** The TLS certificate and key of `--tls-cert`/`--tls-key`. @throws DF_ERR_CONFIG_INVALID */
async function loadTlsFiles (tls: { readonly certPath: string, readonly keyPath: string }): Promise<{ cert: Buffer, key: Buffer }> {
  try {
    return { cert: await readFile(tls.certPath), key: await readFile(tls.keyPath) }
  } catch (err) {
    throw new DfError('DF_ERR_CONFIG_INVALID', `--tls-cert / --tls-key: cannot read ${tls.certPath} or ${tls.keyPath}`, { cause: err, details: { field: 'tls-cert' } })
  }
}
