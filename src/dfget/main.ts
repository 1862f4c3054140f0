/**
 * dfget's composition root: argv → command → config → run → exit status. The only place
 * that calls process.exit (STYLE.md B8.10). Every failure is one line on stderr
 * (`dfget: error <CODE>: <message>`); a download ends with the summary line on stderr;
 * stdout carries nothing but data (`-o -`) and `dfget version`.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createWriteStream } from 'node:fs'
import { rename, rm } from 'node:fs/promises'
import { pipeline } from 'node:stream/promises'
import { Transform } from 'node:stream'
import { tempPathFor } from '../common/fs/atomic-write.js'
import { GarbageCollector } from '../common/garbage-collector.js'
import { checkStartupResources, describeStartupFailure, type StartupResource } from '../common/start-up-failure.js'
import { pino } from 'pino'
import { createLogger, type Logger } from '../common/log.js'
import { tuneV8ForBulkData } from '../common/v8-tuning.js'
import type { ErrorCode } from '../protocol/errors.js'
import { DfError } from '../protocol/errors.js'
// The composition root is the one module that may use the CLI parser.
// eslint-disable-next-line no-restricted-imports
import { parseCommandLine } from './cli.js'
import { resolveDfgetConfig, type DfgetConfig, type DfgetOptions } from './config.js'
import { formatDfgetDefaultConfig, loadDfgetConfigFile, mergeDfgetOptions } from './config-file.js'
import type { DfgetDeps, DfgetResult } from './dfget.js'
import { createHomeLayout, ensureHomeDirs } from './home-layout.js'
import { TransferStats } from './downloader/transfer-stats.js'
import { ProgressBar } from './progress-bar.js'
import { formatErrorLine, formatSummaryLine } from './summary.js'
import { resolvePeerServerConfig, type PeerServerOptions } from './uploader/peer-server-config.js'

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

function readVersion (): string {
  try {
    const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8')
    const version = (JSON.parse(text) as { version?: unknown }).version
    return typeof version === 'string' ? version : 'unknown'
  } catch {
    return 'unknown'
  }
}

async function runDownload (options: DfgetOptions): Promise<number> {
  const config = resolveDfgetConfig(options)
  const layout = createHomeLayout(config.homeDir)
  let logger: Logger
  try {
    await checkStartupResources([homeResource(config.homeDir)])
    await ensureHomeDirs(layout)
    logger = config.verbose
      ? createLogger({ level: 'debug', destination: pino.destination({ fd: 2, sync: true }) })
      : createLogger({ level: 'info', destination: pino.destination({ dest: join(layout.logsDir, 'dfget.log'), sync: true, mkdir: true }) })
  } catch (err) {
    throw describeStartupFailure(err, [homeResource(config.homeDir)])
  }
  const stats = new TransferStats()
  const bar = new ProgressBar({ stream: process.stderr, stats })
  if (config.showBar) bar.start()
  const abort = new AbortController()
  const onSignal = (): void => { abort.abort(new DfError('DF_ERR_INTERNAL', 'interrupted')) }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    // Loaded here, not at the top: `dfget server` does not need the download path (undici ...).
    const result = config.stream
      ? await runStream(config, { logger, stats, signal: abort.signal })
      : await new (await import('./dfget.js')).Dfget(config, { logger, stats, signal: abort.signal }).run()
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
 * Stream mode: the bytes go to stdout (`-o -`) as they arrive; with a path they go to a temp
 * file beside it, renamed only when the stream ended verified. A stream cut short rejects.
 */
async function runStream (config: DfgetConfig, deps: DfgetDeps): Promise<DfgetResult> {
  const { DfgetStreamRun } = await import('./dfget-stream.js')
  const stream = await new DfgetStreamRun(config, deps).start()
  // Every byte passes through this process's memory once: collect as it goes (see
  // common/garbage-collector.ts) so the peak is the window, not the garbage behind it.
  const garbageCollector = new GarbageCollector({ minorEveryBytes: 2 * 1024 * 1024, majorEveryBytes: 16 * 1024 * 1024 })
  const counted = new Transform({ transform (chunk: Buffer, _encoding, callback) { garbageCollector.add(chunk.length); callback(null, chunk) } })
  if (config.output === '-') {
    // process.stdout, not an fs stream on fd 1: once anything touches process.stdout the
    // pipe is non-blocking, and fs writes to it fail with EAGAIN.
    await pipeline(stream.body, counted, process.stdout, { end: false })
  } else {
    const temp = tempPathFor(config.output)
    try {
      await pipeline(stream.body, counted, createWriteStream(temp, { mode: 0o644 }))
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
  const logger = createLogger({ level: options.verbose ? 'debug' : 'info', destination: pino.destination({ fd: 1, sync: true }) })
  // Loaded here, not at the top: a plain download does not need fastify (about 45 ms of start-up).
  const { PeerServer } = await import('./uploader/peer-server.js')
  // Stream mode moves every piece through this process's memory, and its pieces live long
  // enough to be promoted: collect often so the peak stays near the windows' bytes (see
  // common/garbage-collector.ts).
  const garbageCollector = new GarbageCollector({ minorEveryBytes: 2 * 1024 * 1024, majorEveryBytes: 12 * 1024 * 1024 })
  const server = new PeerServer({ logger, garbageCollector }, config)
  const stop = (): void => { server.close().catch((err: unknown) => { logger.error({ err }, 'close failed') }) }
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
    await server.start()
  } catch (err) {
    await server.close().catch(() => undefined)
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
      case 'version':
        process.stdout.write(`dfget ${readVersion()}\n`)
        return 0
      case 'config-default':
        process.stdout.write(formatDfgetDefaultConfig())
        return 0
      case 'server': {
        const fromFile = await loadDfgetConfigFile(command.configPath)
        return await runServer({ ...mergeDfgetOptions(fromFile, command.options), verbose: command.options.verbose || fromFile.verbose === true })
      }
      case 'download': return await runDownload(mergeDfgetOptions(await loadDfgetConfigFile(command.configPath), command.options))
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
