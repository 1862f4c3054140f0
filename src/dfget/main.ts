/**
 * dfget's composition root: argv → command → config → run → exit status. The only place
 * that calls process.exit (STYLE.md B8.10). Every failure is one line on stderr
 * (`dfget: error <CODE>: <message>`); a download ends with the summary line on stderr;
 * stdout carries nothing but data (`-o -`) and what the shared commands print (help, the
 * version, `config default`, `config check`: common/cli-convention.ts).
 */
import { join } from 'node:path'
import { createWriteStream } from 'node:fs'
import { rename, rm } from 'node:fs/promises'
import { pipeline } from 'node:stream/promises'
import { Transform, type Readable, type Writable } from 'node:stream'
import { tempPathFor } from '../common/fs/atomic-write.js'
import { GarbageCollector } from '../common/garbage-collector.js'
import { checkStartupResources, describeStartupFailure, type StartupResource } from '../common/start-up-failure.js'
import type { Logger } from '../common/log.js'
import { runConfigCheck } from '../common/cli-convention.js'
import { tuneV8ForBulkData } from '../common/v8-tuning.js'
import type { ErrorCode } from '../protocol/errors.js'
import { DfError } from '../protocol/errors.js'
// The composition root is the one module that may use the CLI parser.
// eslint-disable-next-line no-restricted-imports
import { parseCommandLine } from './cli.js'
import { resolveDfgetConfig, type DfgetConfig, type DfgetOptions } from './config.js'
import { checkDfgetConfigFile, formatDfgetDefaultConfig, loadDfgetConfigFile, mergeDfgetOptions } from './config-file.js'
import type { DfgetResult } from './dfget.js'
import { createHomeLayout, ensureHomeDirs } from './home-layout.js'
import { TransferStats } from './downloader/transfer-stats.js'
import { ProgressBar } from './progress-bar.js'
import { formatErrorLine, formatSummaryLine } from './summary.js'
import { resolvePeerServerConfig, type PeerServerOptions } from './uploader/peer-server-config.js'
import { planDownloads } from './sources/object-store.js'

/** Exit status by error-code area (`DF_ERR_<AREA>_…`); 0 only for a complete, verified output. */
export const EXIT_STATUS_BY_AREA: Readonly<Record<string, number>> = {
  INTERNAL: 1,
  ARG: 2,
  CONFIG: 2,
  SOURCE: 3,
  TASK: 4,
  PIECE: 4,
  CDN: 4,
  PEER: 5,
  UPLOAD: 5,
  NETWORK: 6,
  TIMEOUT: 7,
  PROXY: 1,
}

function exitStatusOf (err: unknown): number {
  if (!(err instanceof DfError)) return 1
  const area = (err.code as ErrorCode).split('_')[2] ?? 'INTERNAL'
  return EXIT_STATUS_BY_AREA[area] ?? 1
}

async function runDownload (options: DfgetOptions): Promise<number> {
  const config = resolveDfgetConfig(options)
  const layout = createHomeLayout(config.homeDir)
  try {
    await checkStartupResources([homeResource(config.homeDir)])
    await ensureHomeDirs(layout)
  } catch (err) {
    throw describeStartupFailure(err, [homeResource(config.homeDir)])
  }
  // The logger (pino) is loaded when something is logged here: a run handed to the agent
  // logs in the agent, and this process stays a thin client (docs/architecture.md).
  let logger: Promise<Logger> | undefined
  const openLogger = async (): Promise<Logger> => {
    logger ??= (async () => {
      const { createLogger, syncDestination } = await import('../common/log.js')
      try {
        return config.verbose
          ? createLogger({ level: 'debug', destination: syncDestination({ fd: 2 }) })
          : createLogger({ level: 'info', destination: syncDestination({ path: join(layout.logsDir, 'dfget.log') }) })
      } catch (err) {
        throw describeStartupFailure(err, [homeResource(config.homeDir)])
      }
    })()
    return await logger
  }
  if (config.verbose) await openLogger()
  const stats = new TransferStats()
  const bar = new ProgressBar({ stream: process.stderr, stats })
  if (config.showBar) bar.start()
  const abort = new AbortController()
  const onSignal = (): void => { abort.abort(new DfError('DF_ERR_INTERNAL', 'interrupted')) }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    const result = await download(config, { openLogger, stats, signal: abort.signal })
    bar.stop()
    if (result.backSourceReason !== 0) process.stderr.write(`dfget: back-source reason ${result.backSourceReason} (${result.backSourceReasonName})\n`)
    process.stderr.write(`${formatSummaryLine(result)}\n`)
    return 0
  } finally {
    bar.stop()
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

/**
 * The run goes to the host agent (`<home>/agent.sock`; started when none runs), which
 * downloads in its own process; dfget relays the bytes of `-o -` and stream mode, and the
 * progress. Without an agent (it cannot start, or DF_NO_AGENT=1) the run is made here.
 */
async function download (config: DfgetConfig, deps: { openLogger: () => Promise<Logger>, stats: TransferStats, signal: AbortSignal }): Promise<DfgetResult> {
  const { startAgentRun } = await import('./agent/agent-client.js')
  const onLog = config.verbose ? (line: Buffer): void => { process.stderr.write(line) } : undefined
  const run = process.env.DF_NO_AGENT === '1' ? undefined : await startAgentRun(config, { ...deps, ...(onLog === undefined ? {} : { onLog }) })
  if (run !== undefined) {
    if (config.stream) return await deliverStream(config, run)
    if (config.output === '-') await pipeline(run.body, process.stdout, { end: false })
    return await run.result
  }
  const inProcess = { logger: await deps.openLogger(), stats: deps.stats, signal: deps.signal }
  // Loaded here, not at the top: `dfget server` does not need the download path (undici ...).
  if (!config.stream) return await new (await import('./dfget.js')).Dfget(config, inProcess).run()
  const { DfgetStreamRun } = await import('./dfget-stream.js')
  const stream = await new DfgetStreamRun(config, inProcess).start()
  // Every byte passes through this process's memory once: collect as it goes (see
  // common/garbage-collector.ts) so the peak is the window, not the garbage behind it.
  const garbageCollector = new GarbageCollector({ minorEveryBytes: 2 * 1024 * 1024, majorEveryBytes: 16 * 1024 * 1024 })
  const counted = new Transform({ transform (chunk: Buffer, _encoding, callback) { garbageCollector.add(chunk.length); callback(null, chunk) } })
  return await deliverStream(config, stream, counted)
}

/**
 * Stream mode: the bytes go to stdout (`-o -`) as they arrive; with a path they go to a temp
 * file beside it, renamed only when the stream ended verified. A stream cut short rejects.
 */
async function deliverStream (config: DfgetConfig, stream: { body: Readable, result: Promise<DfgetResult> }, through?: Transform): Promise<DfgetResult> {
  const pipe = async (to: Writable, options: { end?: boolean } = {}): Promise<void> => {
    if (through === undefined) await pipeline(stream.body, to, options)
    else await pipeline(stream.body, through, to, options)
  }
  if (config.output === '-') {
    // process.stdout, not an fs stream on fd 1: once anything touches process.stdout the
    // pipe is non-blocking, and fs writes to it fail with EAGAIN.
    await pipe(process.stdout, { end: false })
  } else {
    const temp = tempPathFor(config.output)
    try {
      await pipe(createWriteStream(temp, { mode: 0o644 }))
      await stream.result
      await rename(temp, config.output)
    } catch (err) {
      await rm(temp, { force: true })
      throw err
    }
  }
  return await stream.result
}

async function runServer (options: PeerServerOptions & { verbose: boolean }): Promise<number> {
  const config = resolvePeerServerConfig(options)
  const { createLogger, syncDestination } = await import('../common/log.js')
  const logger = createLogger({ level: options.verbose ? 'debug' : 'info', destination: syncDestination({ fd: 1 }) })
  // Loaded here, not at the top: a plain download does not need fastify (about 45 ms of start-up).
  const { PeerServer } = await import('./uploader/peer-server.js')
  // Stream mode moves every piece through this process's memory, and its pieces live long
  // enough to be promoted: collect often so the peak stays near the windows' bytes (see
  // common/garbage-collector.ts).
  const garbageCollector = new GarbageCollector({ minorEveryBytes: 2 * 1024 * 1024, majorEveryBytes: 12 * 1024 * 1024 })
  let server: InstanceType<typeof PeerServer> | undefined
  const stop = (): void => { server?.close().catch((err: unknown) => { logger.error({ err }, 'close failed') }) }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  const resources: StartupResource[] = [
    homeResource(config.homeDir),
    { kind: 'port', flag: '--port', port: config.port },
    { kind: 'address', flag: '--ip', host: config.listenHost },
    ...(config.caCertPath === undefined ? [] : [{ kind: 'file' as const, flag: '--cacert', path: config.caCertPath, what: 'CA certificate' }]),
  ]
  try {
    await checkStartupResources(resources)
    // The host's downloads (the agent's runs) log where a dfget run always logged.
    const runLogger = createLogger({ level: options.verbose ? 'debug' : 'info', destination: syncDestination({ path: join(createHomeLayout(config.homeDir).logsDir, 'dfget.log') }) })
    server = new PeerServer({ logger, garbageCollector, runLogger }, { ...config, agent: true })
    await server.start()
  } catch (err) {
    await server?.close().catch(() => undefined)
    throw describeStartupFailure(err, resources)
  }
  const reason = await server.whenStopped()
  logger.info({ reason }, 'peer server stopped')
  return 0
}

/** The home directory as a start-up resource (common/start-up-failure.ts). */
function homeResource (homeDir: string): StartupResource {
  return { kind: 'directory', flag: '--home', path: homeDir, what: 'home directory' }
}

async function main (argv: readonly string[]): Promise<number> {
  tuneV8ForBulkData()
  try {
    const command = parseCommandLine(argv)
    switch (command.kind) {
      case 'exit': return command.status
      case 'config-default':
        process.stdout.write(formatDfgetDefaultConfig())
        return 0
      case 'config-check': return await runConfigCheck('dfget', command.path, checkDfgetConfigFile)
      case 'server': {
        const fromFile = await loadDfgetConfigFile(command.configPath)
        return await runServer({ ...mergeDfgetOptions(fromFile, command.options), verbose: command.options.verbose || fromFile.verbose === true })
      }
      case 'download': {
        // An s3:// URL becomes presigned https downloads (one per object with --recursive) before any reaches the agent.
        const plan = await planDownloads(mergeDfgetOptions(await loadDfgetConfigFile(command.configPath), command.options))
        try { for (const next of plan.downloads) await runDownload(await next()) } finally { plan.close() }
        return 0
      }
    }
  } catch (err) {
    process.stderr.write(`${formatErrorLine(err)}\n`)
    return exitStatusOf(err)
  }
}

// A run waits with the Clock's timers, which never keep a process alive (they are unref'd
// for the long-lived servers' housekeeping). When such a wait is all that is left — every
// socket closed after the supernode died, say — Node would end the process with status 0
// and the download unfinished. This handle keeps dfget alive until main() settles.
const keepAlive = setInterval(() => {}, 2 ** 30)
main(process.argv.slice(2)).finally(() => { clearInterval(keepAlive) }).then((status) => {
  process.stdout.write('', () => { process.exit(status) })
}, (err: unknown) => {
  process.stderr.write(`${formatErrorLine(err)}\n`)
  process.exit(1)
})
