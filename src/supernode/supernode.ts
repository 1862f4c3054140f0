/**
 * Supernode: the swarm's tracker, scheduler and CDN in one object (DESIGN.md §2). It owns
 * the six managers of the seed design (task, peer, dfget-task, CDN, progress, scheduler),
 * the GC, the metrics registry and the HTTP servers: the API on `port` and the piece data
 * on `downloadPort` (one server when both are equal). The constructor only wires and
 * validates; `start()` binds; `close()` releases everything, once.
 */
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import fastifySwagger from '@fastify/swagger'
import fastifySwaggerUi from '@fastify/swagger-ui'
import { systemClock, type Clock } from '../common/clock.js'
import { HttpClient } from '../common/http/client.js'
import { createHttpServer, formatBaseUrl, listenHttpServer } from '../common/http/server.js'
import { requireBearerToken } from '../common/http/auth.js'
import type { Logger } from '../common/log.js'
import { readPackageVersion } from '../common/package-version.js'
import { DfError } from '../protocol/errors.js'
import type { TaskId } from '../protocol/ids.js'
import type { VersionInfo } from '../protocol/messages/route-params.js'
import { fillPath, SUPERNODE_DATA_PATHS, SUPERNODE_PATHS } from '../protocol/paths.js'
import { isDashboardPath, registerDashboardRoutes } from './api/dashboard-routes.js'
import { registerDataRoutes } from './api/data-routes.js'
import { BufferPool } from '../common/buffer-pool.js'
import { ReadHandles } from '../common/fs/read-handles.js'
import { registerPeerRoutes } from './api/peer-routes.js'
import { registerPieceRoutes } from './api/piece-routes.js'
import { registerSyncRoutes } from './api/sync-routes.js'
import { registerPreheatRoutes } from './api/preheat-routes.js'
import { registerSystemRoutes } from './api/system-routes.js'
import { registerTaskRoutes } from './api/task-routes.js'
import { PieceGrants } from './access/piece-grants.js'
import { SourceAccess } from './access/source-access.js'
import { CacheStore } from './cdn/cache-store.js'
import { CdnManager } from './cdn/cdn-manager.js'
import { HotPieces } from './cdn/hot-pieces.js'
import { createHttpSourceTransport, SourceReader } from '../common/source/source-reader.js'
import { SourcePolicy } from '../common/source/source-policy.js'
import { resolveSupernodeConfig, type SupernodeConfig, type SupernodeOptions } from './config.js'
import { DashboardAssets } from './dashboard/dashboard-assets.js'
import { DashboardFeed } from './dashboard/dashboard-feed.js'
import { SnapshotBuilder } from './dashboard/snapshot-builder.js'
import { DfgetTaskManager } from './dfget-task/dfget-task-manager.js'
import { CacheBudget } from './gc/cache-budget.js'
import { GarbageCollector, type GcReport } from './gc/gc.js'
import { SupernodeMetrics } from './metrics.js'
import { PeerManager } from './peer/peer-manager.js'
import { ImageResolver } from './preheat/image-resolver.js'
import { PreheatManager } from './preheat/preheat-manager.js'
import { ProgressManager } from './progress/progress-manager.js'
import { TaskEvents } from './progress/task-events.js'
import { createRandom, createSeededRandom, type Random } from './scheduler/random.js'
import { Scheduler } from './scheduler/scheduler.js'
import { ParentScheduler } from './scheduler/parent-scheduler.js'
import { TaskSync } from './scheduler/task-sync.js'
import { TaskManager } from './task/task-manager.js'
import { collectProcessMetrics } from '../common/process-metrics.js'

export interface SupernodeDeps {
  readonly logger: Logger
  /** Default: the system clock. Tests pass a ManualClock. */
  readonly clock?: Clock
  /** Default: seeded from `randomSeed`, else from system entropy. */
  readonly random?: Random
  /** Free bytes of the cache's filesystem (the disk budget); default statfs. Tests pass a fake disk. */
  readonly fetchFreeBytes?: (path: string) => Promise<number>
}

/** The grant key's file in the home directory when `grantKeyFile` names none. */
export const GRANT_KEY_FILE_NAME = 'grant-key.pem'

/** Where the supernode is reached (advertised address). */
export interface SupernodeAddresses {
  /** API base URL, e.g. "http://10.0.0.5:8002". */
  readonly apiUrl: string
  /** Piece-data base URL, e.g. "http://10.0.0.5:8001". */
  readonly downloadUrl: string
}

/**
 * Control protocol v2: parents per downloading cid. Enough that a swarm of up to 9 hosts is
 * a full mesh (with 4, in the swarm lab at N=8, a host that registered last was nobody's
 * parent and uploaded nothing while others sent 1.6 copies: last host 2.15x the bound).
 */
export const PARENTS_PER_CLIENT = 8
/** Control protocol v2: the longest a client goes without syncing (its long-poll). */
export const SYNC_INTERVAL_MS = 30_000

export class Supernode {
  readonly config: SupernodeConfig
  readonly #log: Logger
  readonly #rootLog: Logger
  readonly #metrics: SupernodeMetrics
  readonly #events: TaskEvents
  readonly #progress: ProgressManager
  readonly #peers: PeerManager
  readonly #dfgetTasks: DfgetTaskManager
  readonly #store: CacheStore
  /** The download port's open cache files (common/fs/read-handles.ts). */
  readonly #readHandles: ReadHandles
  /** Pieces just cached, in memory for the first requests. */
  readonly #hotPieces: HotPieces
  /** The CDN's connections to sources. */
  readonly #sourceHttp: HttpClient
  readonly #cdn: CdnManager
  readonly #tasks: TaskManager
  readonly #scheduler: Scheduler
  readonly #taskSync: TaskSync
  readonly #gc: GarbageCollector
  readonly #budget: CacheBudget
  readonly #dashboard: DashboardFeed
  readonly #preheatHttp: HttpClient
  readonly #preheats: PreheatManager
  readonly #access: SourceAccess
  readonly #grants: PieceGrants
  #servers: FastifyInstance[] = []
  #addresses: SupernodeAddresses | undefined
  #closing: Promise<void> | undefined

  /** @throws DF_ERR_CONFIG_INVALID */
  constructor (deps: SupernodeDeps, options: SupernodeOptions = {}) {
    const config = resolveSupernodeConfig(options)
    this.config = config
    this.#rootLog = deps.logger
    this.#log = deps.logger.child({ component: 'supernode' })
    const clock = deps.clock ?? systemClock
    const logger = deps.logger
    const random = deps.random ?? (config.randomSeed === undefined ? createRandom() : createSeededRandom(config.randomSeed))
    this.#metrics = new SupernodeMetrics({ countPeers: () => this.#peers.count, countTasks: () => this.#tasks.count, countWaitingPulls: () => this.#events.countAllWaiters(), cacheUsedBytes: () => this.#budget.usedBytes })
    this.#events = new TaskEvents({ clock })
    this.#progress = new ProgressManager({ clock, events: this.#events, logger: logger.child({ component: 'progress' }) }, { pieceTimeoutMs: config.pieceTimeoutMs, maxUploadsPerPeer: config.maxUploadsPerPeer, supernodeMaxUploads: config.supernodeMaxUploads })
    this.#peers = new PeerManager({ clock, logger: logger.child({ component: 'peers' }), progress: this.#progress })
    this.#dfgetTasks = new DfgetTaskManager({ clock })
    this.#readHandles = new ReadHandles({ clock })
    this.#store = new CacheStore({ homeDir: config.homeDir }, { readHandles: this.#readHandles })
    const policy = new SourcePolicy({ allow: config.sourceAllow, deny: config.sourceDeny })
    this.#sourceHttp = new HttpClient({ timeoutMs: config.sourceTimeoutMs, connectionsPerOrigin: config.cdnConcurrency * 4 + 4, keepAliveTimeoutMs: 10_000 })
    const reader = new SourceReader({ transport: createHttpSourceTransport(this.#sourceHttp), check: policy.asCheck, onProbeBytesRead: (bytes) => { this.#metrics.cdnDownloadBytes.inc(bytes) } })
    this.#hotPieces = new HotPieces(config.cdnMemoryCacheBytes)
    this.#cdn = new CdnManager(
      {
        logger: logger.child({ component: 'cdn' }), clock, store: this.#store, reader, progress: this.#progress, metrics: this.#metrics, hotPieces: this.#hotPieces,
        makeRoom: async (taskId, lengthBytes) => {
          if (!this.#budget.isLimited) return
          await this.#budget.makeRoom(lengthBytes, taskId).catch((err: unknown) => { this.#log.warn({ taskId, err }, 'cache budget check failed') })
        },
      },
      { concurrency: config.cdnConcurrency, attempts: config.sourceAttempts },
    )
    const dataUrlOf = (taskId: TaskId): string => `${this.addresses.downloadUrl}${fillPath(SUPERNODE_DATA_PATHS.taskData, { taskId })}`
    this.#access = new SourceAccess({ reader, clock }, { ttlMs: config.accessCheckTtlMs })
    this.#grants = new PieceGrants({ clock, onRefused: (reason) => { this.#metrics.pieceGrantRefusals.inc({ reason }) } }, { lifetimeMs: config.grantLifetimeMs })
    this.#tasks = new TaskManager({
      logger: logger.child({ component: 'tasks' }), clock, cdn: this.#cdn, progress: this.#progress, dfgetTasks: this.#dfgetTasks, peers: this.#peers, events: this.#events, metrics: this.#metrics, dataUrlOf,
      access: this.#access, grantKey: () => this.#grants.publicKeyText,
    })
    this.#scheduler = new Scheduler(
      { logger: logger.child({ component: 'scheduler' }), clock, random, tasks: this.#tasks, progress: this.#progress, peers: this.#peers, dfgetTasks: this.#dfgetTasks, events: this.#events, metrics: this.#metrics, dataUrlOf, grants: this.#grants },
      { maxUploadsPerPeer: config.maxUploadsPerPeer, supernodeMaxUploads: config.supernodeMaxUploads, defaultMaxPieces: 4, supernodeFailureLimit: 3, peerDataProtocol: config.tlsData ? 'https' : 'http' },
    )
    const parents = new ParentScheduler({ random }, { parentsPerClient: PARENTS_PER_CLIENT, maxChildrenPerParent: config.maxUploadsPerPeer + 3 })
    this.#taskSync = new TaskSync(
      { logger: logger.child({ component: 'sync' }), clock, tasks: this.#tasks, progress: this.#progress, peers: this.#peers, dfgetTasks: this.#dfgetTasks, events: this.#events, metrics: this.#metrics, dataUrlOf, grants: this.#grants, parents, random },
      { supernodeMaxUploads: config.supernodeMaxUploads, supernodeFailureLimit: 3, syncIntervalMs: SYNC_INTERVAL_MS, peerDataProtocol: config.tlsData ? 'https' : 'http' },
    )
    this.#progress.onRemoved((taskId, cid) => {
      if (cid === undefined) { parents.removeTask(taskId); this.#taskSync.forgetTask(taskId) }
      else { parents.removeClient(taskId, cid); this.#taskSync.forgetClient(taskId, cid) }
    })
    this.#dashboard = new DashboardFeed({
      builder: new SnapshotBuilder({ clock, tasks: this.#tasks, dfgetTasks: this.#dfgetTasks, progress: this.#progress, peers: this.#peers, fetchTotals: async () => await this.#metrics.fetchByteTotals() }),
      events: this.#events,
      clock,
      logger: logger.child({ component: 'dashboard' }),
    })
    this.#budget = new CacheBudget({
      logger: logger.child({ component: 'gc' }), homeDir: config.homeDir, store: this.#store, cdn: this.#cdn, tasks: this.#tasks,
      ...(deps.fetchFreeBytes === undefined ? {} : { fetchFreeBytes: deps.fetchFreeBytes }),
      onEvicted: (reason, bytes) => { this.#metrics.cacheEvictions.inc({ reason }); this.#metrics.cacheEvictedBytes.inc({ reason }, bytes) },
    }, { maxSizeBytes: config.cacheMaxSizeBytes, minFreeBytes: config.cacheMinFreeBytes })
    this.#gc = new GarbageCollector(
      {
        clock, logger: logger.child({ component: 'gc' }), tasks: this.#tasks, cdn: this.#cdn, store: this.#store, budget: this.#budget,
        onExpired: () => { this.#metrics.cacheEvictions.inc({ reason: 'expired' }) },
      },
      { intervalMs: config.gcIntervalMs, taskExpireTimeMs: config.taskExpireTimeMs, cacheExpireTimeMs: config.cacheExpireTimeMs },
    )
    // Manifest and token requests of image preheats (layers go through the CDN's source reader).
    this.#preheatHttp = new HttpClient({ timeoutMs: config.sourceTimeoutMs })
    this.#preheats = new PreheatManager({
      logger: logger.child({ component: 'preheat' }), clock, tasks: this.#tasks, resolver: new ImageResolver({ http: this.#preheatHttp, policy }),
      onFinished: (type, status) => { this.#metrics.preheats.inc({ type, status }) },
    })
  }

  /** The advertised addresses. @throws DF_ERR_INTERNAL_INVARIANT before start() */
  get addresses (): SupernodeAddresses {
    if (this.#addresses === undefined) throw new DfError('DF_ERR_INTERNAL_INVARIANT', 'the supernode is not started')
    return this.#addresses
  }

  /** Adds the process's own metrics (memory, fds, event-loop delay) to this supernode's registry: for the process's composition root. */
  collectProcessMetrics (): void {
    collectProcessMetrics(this.#metrics.registry)
  }

  /** The Prometheus text of this supernode's registry. */
  async renderMetrics (): Promise<string> {
    return (await this.#metrics.render()).text
  }

  /** Runs GC now (also runs every gcIntervalMs). */
  async runGc (): Promise<GcReport> {
    return await this.#gc.runOnce()
  }

  /** Creates the home dir, binds the servers, starts GC. Resolves with the advertised addresses. */
  async start (): Promise<SupernodeAddresses> {
    if (this.#addresses !== undefined) return this.#addresses
    const { config } = this
    await mkdir(config.homeDir, { recursive: true })
    await this.#grants.load(config.grantKeyFile ?? join(config.homeDir, GRANT_KEY_FILE_NAME))
    const version = readVersion()
    const tls = await loadTls(config.tlsCert, config.tlsKey)
    const api = await this.#createServer('api', tls)
    // The dashboard's routes check the token themselves: its page is open, its feed also takes ?token=.
    requireBearerToken(api, config.token, (path) => path === SUPERNODE_PATHS.ping || isDashboardPath(path))
    registerSystemRoutes(api, { metrics: this.#metrics, version })
    registerPeerRoutes(api, { peers: this.#peers })
    registerTaskRoutes(api, { tasks: this.#tasks })
    registerPieceRoutes(api, { scheduler: this.#scheduler })
    registerSyncRoutes(api, { taskSync: this.#taskSync })
    registerDashboardRoutes(api, { feed: this.#dashboard, assets: new DashboardAssets(), token: config.token })
    registerPreheatRoutes(api, { preheats: this.#preheats })
    const dataDeps = { tasks: this.#tasks, progress: this.#progress, store: this.#store, metrics: this.#metrics, hotPieces: this.#hotPieces, buffers: new BufferPool({ maxIdleBytes: 16 * 1024 * 1024 }), readHandles: this.#readHandles, grants: this.#grants }
    // Equal ports mean one server; port 0 twice means two servers, each on a free port.
    const isOneServer = config.downloadPort === config.port && config.port !== 0
    if (isOneServer) registerDataRoutes(api, dataDeps)
    const apiAddress = await listenHttpServer(api, config.listen, config.port)
    let downloadPort = apiAddress.port
    if (!isOneServer) {
      const data = await this.#createServer('data', config.tlsData ? tls : undefined)
      requireBearerToken(data, config.token)
      registerDataRoutes(data, dataDeps)
      downloadPort = (await listenHttpServer(data, config.listen, config.downloadPort)).port
    }
    this.#addresses = { apiUrl: formatBaseUrl(config.advertiseIp, apiAddress.port, tls === undefined ? 'http' : 'https'), downloadUrl: formatBaseUrl(config.advertiseIp, downloadPort, tls !== undefined && (isOneServer || config.tlsData) ? 'https' : 'http') }
    this.#gc.start()
    this.#log.info({ api: this.#addresses.apiUrl, download: this.#addresses.downloadUrl, listen: config.listen, homeDir: config.homeDir }, `supernode ready api=${this.#addresses.apiUrl} download=${this.#addresses.downloadUrl}`)
    return this.#addresses
  }

  /** Stops GC, ends long-polls, closes the servers, aborts CDN fetches. Idempotent. */
  async close (): Promise<void> {
    this.#closing ??= (async () => {
      await this.#gc.close()
      this.#dashboard.close()
      await this.#preheats.close()
      await this.#preheatHttp.close()
      this.#events.close()
      this.#access.close()
      await Promise.allSettled(this.#servers.map(async (server) => { await server.close() }))
      await this.#cdn.close()
      await this.#readHandles.close()
      await this.#sourceHttp.close()
      this.#progress.close()
      // A supernode that never started has nothing to report (its start-up failure is one line).
      if (this.#addresses !== undefined) this.#log.info('supernode closed')
    })()
    await this.#closing
  }

  async #createServer (role: 'api' | 'data', tls?: { key: Buffer, cert: Buffer }): Promise<FastifyInstance> {
    const app = createHttpServer({ logger: this.#rootLog.child({ component: `http-${role}` }), ...(tls === undefined ? {} : { tls }) })
    this.#servers.push(app)
    if (role === 'api') {
      await app.register(fastifySwagger, {
        openapi: {
          info: { title: 'Damselfly supernode API', version: '1', description: 'Tracker, scheduler and CDN of a Damselfly swarm (docs/supernode.md).' },
        },
      })
      // Served from the package's own files: the page needs no network (test/api-doc.test.ts).
      await app.register(fastifySwaggerUi, { routePrefix: '/docs', theme: { title: 'Damselfly supernode API' } })
      // Control requests per protocol version: a rollout's requests per host (docs/protocol.md).
      app.addHook('onRequest', async (request) => {
        const url = request.url
        if (url.startsWith('/api/v2/')) this.#metrics.apiRequests.inc({ version: 'v2' })
        else if (url.startsWith('/api/v1/')) this.#metrics.apiRequests.inc({ version: 'v1' })
      })
    }
    return app
  }
}

/** The API's TLS key and certificate, read from their files. @throws DF_ERR_CONFIG_INVALID */
async function loadTls (certPath: string | undefined, keyPath: string | undefined): Promise<{ key: Buffer, cert: Buffer } | undefined> {
  if (certPath === undefined || keyPath === undefined) return undefined
  try {
    return { cert: await readFile(certPath), key: await readFile(keyPath) }
  } catch (err) {
    throw new DfError('DF_ERR_CONFIG_INVALID', `tlsCert / tlsKey: cannot read ${certPath} or ${keyPath}`, { cause: err, details: { field: 'tlsCert' } })
  }
}

/** Name and version from package.json (common/package-version.ts), and the Node version. */
function readVersion (): VersionInfo {
  const { name, version } = readPackageVersion()
  return { name, version, node: process.version }
}
