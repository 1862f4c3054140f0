/**
 * The host agent's download service: the part of the host's long-lived process (`dfget
 * server`, or dfdaemon) that runs every download of the host in process, for the thin
 * `dfget` clients that connect to `<home>/agent.sock` (agent-protocol.ts).
 *
 * The agent owns what every download of the host shares: the data plane (connections,
 * piece buffers, the hashing thread: data-plane.ts), one supernode locator per supernode
 * list (their clients and connections), and the host's peer server, which serves every
 * piece the moment a run verified it. A run is the same Dfget or DfgetStreamRun that runs in
 * process anywhere else, so flags, exit statuses, output files and summaries do not change.
 */
import { chmod, rm } from 'node:fs/promises'
import { createServer, type Server, type Socket } from 'node:net'
import type { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createLogger, type Logger } from '../../common/log.js'
import type { BufferPool } from '../../common/buffer-pool.js'
import { releasingWriter, type ReleasingWriterOptions } from '../../common/releasing-writer.js'
import type { GarbageCollector } from '../../common/garbage-collector.js'
import { DfError } from '../../protocol/errors.js'
import type { DfgetConfig } from '../config.js'
import type { DfgetDeps, DfgetResult } from '../dfget.js'
import type { DataPlane } from '../data-plane.js'
import type { SupernodeLocator } from '../supernode-locator.js'
import { TransferStats } from '../downloader/transfer-stats.js'
import type { PeerServerHandle } from '../uploader/peer-server-launcher.js'
import { AGENT_PROTOCOL_VERSION, FRAME, FrameReader, frameHeader, jsonFrame, parseJsonPayload, type ProgressFrame } from './agent-protocol.js'
import { openStdoutPipe, parseStdoutPipe } from './stdout-pipe.js'

export interface AgentServerDeps {
  readonly logger: Logger
  /** This process's peer server. */
  readonly peerServer: PeerServerHandle
  /** The byte path every run shares; default: one made at the first run (with `buffers`). */
  readonly dataPlane?: DataPlane
  /** The pool a data plane made here uses (the peer server's, so uploads and downloads share warm buffers). */
  readonly buffers?: BufferPool
  /** Told when a run starts and ends (the peer server counts runs as activity). */
  readonly onActivity?: () => void
  /** Where runs log (`<home>/logs/dfget.log`); a `--verbose` run logs to its client instead. Default: the agent's logger. */
  readonly runLogger?: Logger
  /** Told of every byte relayed to a client, to keep the process's peak memory near its live data. */
  readonly garbageCollector?: Pick<GarbageCollector, 'add'>
  /** PEM CA trusted for https piece servers and sources in the downloads (the data plane's), besides the system CAs. */
  readonly caCert?: Buffer
}

const PROGRESS_INTERVAL_MS = 250
/** Supernode lists remembered with their locators; a host uses one or two. */
const MAX_LOCATORS = 8

export class AgentServer {
  readonly #deps: AgentServerDeps
  readonly #socketPath: string
  readonly #logger: Logger
  /** The runs in progress, with what cancels each. */
  readonly #runs = new Map<Promise<void>, AbortController>()
  readonly #locators = new Map<string, Promise<SupernodeLocator>>()
  #dataPlane: Promise<DataPlane> | undefined
  #modules: Promise<[typeof import('../dfget.js'), typeof import('../dfget-stream.js'), DataPlane]> | undefined
  #server: Server | undefined

  constructor (deps: AgentServerDeps, options: { socketPath: string }) {
    this.#deps = deps
    this.#socketPath = options.socketPath
    this.#logger = deps.logger.child({ component: 'agent' })
    if (deps.dataPlane !== undefined) this.#dataPlane = Promise.resolve(deps.dataPlane)
  }

  /** Downloads running now. */
  get activeRuns (): number {
    return this.#runs.size
  }

  /** Listens on the socket (a stale socket file of a dead agent is replaced). @throws on listen failure */
  async start (): Promise<void> {
    await rm(this.#socketPath, { force: true })
    const server = createServer((socket) => { this.#onConnection(socket) })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.#socketPath, () => { server.off('error', reject); resolve() })
    })
    // Only this user may ask the agent for downloads (and read through its home).
    await chmod(this.#socketPath, 0o600)
    server.on('error', (err) => { this.#logger.error({ err }, 'agent socket failed') })
    this.#server = server
    this.#logger.info({ socket: this.#socketPath }, 'agent listening')
    // Load the download path now, while the host is quiet, not when the first run waits for it
    // (when a fleet starts a rollout, every host's first run starts at the same moment).
    this.#downloadPath().catch((err: unknown) => { this.#logger.warn({ err }, 'could not load the download path') })
  }

  async #downloadPath (): Promise<[typeof import('../dfget.js'), typeof import('../dfget-stream.js'), DataPlane]> {
    this.#modules ??= Promise.all([import('../dfget.js'), import('../dfget-stream.js'), this.#dataPlaneOf()])
    return await this.#modules
  }

  /** Stops accepting, cancels the runs and waits for their clean-up. Idempotent. */
  async close (): Promise<void> {
    const server = this.#server
    this.#server = undefined
    if (server !== undefined) {
      await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
      await rm(this.#socketPath, { force: true })
    }
    for (const abort of this.#runs.values()) abort.abort(new DfError('DF_ERR_INTERNAL', 'the agent is stopping'))
    await Promise.allSettled([...this.#runs.keys()])
    const locators = [...this.#locators.values()]
    this.#locators.clear()
    await Promise.all(locators.map(async (locator) => { await (await locator.catch(() => undefined))?.close() }))
    // A data plane made here is closed here; a given one belongs to the caller.
    if (this.#deps.dataPlane === undefined) await (await this.#dataPlane)?.close()
  }

  #onConnection (socket: Socket): void {
    const abort = new AbortController()
    let started = false
    const reader = new FrameReader((kind, payload) => {
      if (kind !== FRAME.request || started) throw new DfError('DF_ERR_INTERNAL', 'agent protocol: one request frame expected')
      started = true
      const run = this.#serve(socket, parseJsonPayload(payload), abort).finally(() => {
        this.#runs.delete(run)
        this.#deps.onActivity?.()
      })
      this.#runs.set(run, abort)
      this.#deps.onActivity?.()
    })
    socket.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk)
      } catch (err) {
        this.#logger.warn({ err }, 'malformed agent request')
        socket.destroy()
      }
    })
    socket.on('error', () => {})
    socket.on('close', () => { abort.abort(new DfError('DF_ERR_INTERNAL', 'the dfget client went away')) })
  }

  async #serve (socket: Socket, request: unknown, abort: AbortController): Promise<void> {
    const stats = new TransferStats()
    const sendProgress = (): void => {
      const progress: ProgressFrame = { expectedLengthBytes: stats.expectedLengthBytes, bytesFromSource: stats.bytesFromSource, bytesFromSupernode: stats.bytesFromSupernode, bytesFromPeers: stats.bytesFromPeers }
      if (!socket.destroyed) socket.write(jsonFrame(FRAME.progress, progress))
    }
    const progress = setInterval(sendProgress, PROGRESS_INTERVAL_MS)
    let pipe: Socket | undefined
    try {
      const config = parseRequest(request)
      const logger = config.verbose
        ? createLogger({ level: 'debug', destination: { write: (line: string) => { if (!socket.destroyed) socket.write(jsonLineFrame(line)) } } })
        : this.#deps.runLogger ?? this.#logger
      // `-o -` into a pipe: the bytes go into the client's pipe from here (stdout-pipe.ts), else as data frames.
      const named = config.output === '-' ? parseStdoutPipe((request as { stdoutPipe?: unknown }).stdoutPipe) : undefined
      pipe = named === undefined ? undefined : await openStdoutPipe(named)
      if (pipe !== undefined) logger.debug({ pid: named?.pid }, 'writing into the client\'s stdout pipe')
      const stdout = pipe === undefined ? frameWriter(socket, this.#deps.garbageCollector) : pipeWriter(pipe, this.#deps.garbageCollector)
      const result = await this.#run(config, { logger, stats, signal: abort.signal, stdout })
      // Every byte in the pipe, and the agent's end of it closed, before the client hears the end.
      if (pipe !== undefined) await endPipe(pipe)
      clearInterval(progress)
      sendProgress()
      socket.end(jsonFrame(FRAME.result, result))
    } catch (err) {
      clearInterval(progress)
      const dfError = err instanceof DfError ? err : new DfError('DF_ERR_INTERNAL', err instanceof Error ? err.message : String(err), { cause: err })
      // A reader that closed the pipe early (`| head`) is the user's doing, not the agent's failure.
      const readerGone = pipe !== undefined && (err as NodeJS.ErrnoException).code === 'EPIPE'
      if (!(err instanceof DfError) && !readerGone) this.#logger.error({ err }, 'download failed unexpectedly')
      if (!socket.destroyed) socket.end(jsonFrame(FRAME.error, { code: dfError.code, message: dfError.message }))
    } finally {
      pipe?.destroy()
    }
  }

  async #run (config: DfgetConfig, io: { logger: Logger, stats: TransferStats, signal: AbortSignal, stdout: Writable }): Promise<DfgetResult> {
    const [{ Dfget }, { DfgetStreamRun }, dataPlane] = await this.#downloadPath()
    const handle = this.#deps.peerServer
    const supernodeLocator = await this.#locatorFor(config)
    const deps: DfgetDeps = {
      logger: io.logger,
      stats: io.stats,
      signal: io.signal,
      stdout: io.stdout,
      dataPlane,
      ...(supernodeLocator === undefined ? {} : { supernodeLocator }),
      peerServerLocator: { locate: async () => handle, findRunning: async () => handle },
    }
    if (!config.stream) return await new Dfget(config, deps).run()
    const stream = await new DfgetStreamRun(config, deps).start()
    await pipeline(stream.body, io.stdout, { end: false })
    return await stream.result
  }

  async #dataPlaneOf (): Promise<DataPlane> {
    this.#dataPlane ??= import('../data-plane.js').then(({ createDataPlane }) => createDataPlane({ ...(this.#deps.buffers === undefined ? {} : { buffers: this.#deps.buffers }), ...(this.#deps.caCert === undefined ? {} : { caCert: this.#deps.caCert }) }))
    return await this.#dataPlane
  }

  /** One locator per supernode list, token, CA and DNS settings: runs of the same swarm reuse its clients, connections and DNS answers. */
  async #locatorFor (config: DfgetConfig): Promise<SupernodeLocator | undefined> {
    const { createSupernodeLocator, locatorKey } = await import('../supernode-locator.js')
    const key = locatorKey(config)
    let locator = this.#locators.get(key)
    if (locator === undefined) {
      if (this.#locators.size >= MAX_LOCATORS) return undefined // the run makes its own
      locator = createSupernodeLocator(config, this.#logger)
      this.#locators.set(key, locator)
      locator.catch(() => { this.#locators.delete(key) })
    }
    return await locator
  }
}

/** The run configuration of a request. @throws DF_ERR_ARG_INVALID (another version, or no run configuration: the client's fault) */
function parseRequest (request: unknown): DfgetConfig {
  const value = typeof request === 'object' && request !== null ? request as { version?: unknown, config?: unknown } : undefined
  if (value?.version !== AGENT_PROTOCOL_VERSION) throw new DfError('DF_ERR_ARG_INVALID', `the agent speaks protocol ${AGENT_PROTOCOL_VERSION}, the client ${JSON.stringify(value?.version ?? null).slice(0, 40)}`, { details: { field: 'version' } })
  const config = typeof value.config === 'object' && value.config !== null ? value.config as Partial<DfgetConfig> : undefined
  if (typeof config?.url !== 'string' || typeof config.output !== 'string' || typeof config.homeDir !== 'string' || !Array.isArray(config.supernodes)) {
    throw new DfError('DF_ERR_ARG_INVALID', 'agent protocol: the request carries no run configuration', { details: { field: 'config' } })
  }
  return config as DfgetConfig
}

/**
 * A Writable into the client's stdout pipe (stdout-pipe.ts), with the pipe's back-pressure;
 * pooled chunks go back to their pool once written. A reader that closed the pipe fails the
 * run with the error the client's own write would have had (EPIPE), so the client reports
 * what it reported when it wrote the pipe itself (docs/dfget.md, exit statuses).
 */
function pipeWriter (pipe: Socket, garbageCollector: Pick<GarbageCollector, 'add'> | undefined): Writable {
  let failure: Error | undefined
  pipe.on('error', (err) => { failure ??= err })
  return releasingWriter(pipe, {
    ...countUnpooled(garbageCollector),
    gone: () => failure ?? new DfError('DF_ERR_INTERNAL', 'the pipe on dfget\'s stdout closed'),
  })
}

/** Flushes what the pipe still holds and closes the agent's end of it. @throws the pipe's error when the reader went away first */
async function endPipe (pipe: Socket): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => { reject(err) }
    pipe.once('error', onError)
    pipe.end(() => { pipe.off('error', onError); resolve() })
  })
  pipe.destroy()
}

/** A log line as a log frame. */
function jsonLineFrame (line: string): Buffer {
  const payload = Buffer.from(line)
  return Buffer.concat([frameHeader(FRAME.log, payload.length), payload])
}

/**
 * A Writable whose bytes go to the client as data frames, with the socket's backpressure. A
 * pooled chunk (a stream's piece) goes back to its pool once the socket wrote it out; any
 * other chunk is garbage, counted for the collector.
 */
function frameWriter (socket: Socket, garbageCollector: Pick<GarbageCollector, 'add'> | undefined): Writable {
  return releasingWriter(socket, {
    prefix: (chunk) => frameHeader(FRAME.data, chunk.length),
    ...countUnpooled(garbageCollector),
    gone: () => new DfError('DF_ERR_INTERNAL', 'the dfget client went away'),
  })
}

/** The writers' chunks that are not pooled become garbage once written: counted for the collector, when there is one. */
function countUnpooled (garbageCollector: Pick<GarbageCollector, 'add'> | undefined): Pick<ReleasingWriterOptions, 'onUnpooled'> {
  return garbageCollector === undefined ? {} : { onUnpooled: (bytes: number) => { garbageCollector.add(bytes) } }
}
