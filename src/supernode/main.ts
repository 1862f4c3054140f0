/**
 * The supernode's composition root: flags (and an optional YAML config file, which flags
 * override) → config → logger → Supernode → signals. When ready it prints exactly one line
 * to stdout, `supernode ready api=http://IP:PORT download=http://IP:PORT`, which scripts
 * parse; logs go to stderr as JSON. SIGINT/SIGTERM close it and exit 0; a bad flag or
 * setting, or a port, file or directory it names that cannot be used (start-up failures,
 * common/start-up-failure.ts), prints one line to stderr and exits 2. Help, `--version` and
 * the `config` and `version` commands follow the convention of all three programs
 * (common/cli-convention.ts).
 */
import { Option, type Command } from 'commander'
import { addSharedCommands, createProgram, EXIT_USAGE, formatCliErrorLine, parseCommandLineWith, PROCESS_OUTPUT, runConfigCheck, type SharedCommand } from '../common/cli-convention.js'
import { createLogger, flushLogs } from '../common/log.js'
import { tuneV8ForBulkData } from '../common/v8-tuning.js'
import { TOKEN_ENV } from '../common/http/auth.js'
import { DfError } from '../protocol/errors.js'
import { checkStartupResources, describeStartupFailure, type StartupResource } from '../common/start-up-failure.js'
import { loadConfigFile, optionsFromSettings, resolveSupernodeConfig, type SupernodeConfig, type SupernodeOptions } from './config.js'
import { formatSupernodeDefaultConfig } from './config-defaults.js'
import { Supernode } from './supernode.js'

/** What the command line asks for: run the supernode, or one of the shared commands. */
type SupernodeCommand = { readonly kind: 'run' } | SharedCommand

function buildProgram (select: (command: SupernodeCommand) => void): Command {
  const program = createProgram('supernode', PROCESS_OUTPUT)
    .description('Damselfly supernode: tracker, scheduler and CDN of a P2P swarm')
    .addOption(new Option('--port <port>', 'API port (0 picks a free port) [default: 8002]'))
    .addOption(new Option('--download-port <port>', 'piece-data port; may equal --port [default: 8001]'))
    .addOption(new Option('--listen <ip>', 'bind address [default: 0.0.0.0]'))
    .addOption(new Option('--advertise-ip <ip>', 'address peers are told [default: --listen if specific, else the first non-loopback IPv4]'))
    .addOption(new Option('--home-dir <dir>', 'CDN cache and metadata [default: ~/.damselfly/supernode]'))
    .addOption(new Option('--config <file>', 'YAML config file (flags override it)'))
    .addOption(new Option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent [default: info]'))
    .addOption(new Option('--verbose', 'same as --log-level debug'))
    .addOption(new Option('--max-uploads-per-peer <n>', 'most uploads in flight from one peer [default: 5]'))
    .addOption(new Option('--supernode-max-uploads <n>', 'most uploads in flight from the supernode per task [default: 8]'))
    .addOption(new Option('--cdn-concurrency <n>', 'parallel ranged source requests per task; 1 reads the file in order with one request [default: 1]'))
    .addOption(new Option('--piece-timeout <duration>', 'release a hand-out not reported within this [default: 30s]'))
    .addOption(new Option('--task-expire-time <duration>', 'an unused task leaves memory after this [default: 3m]'))
    .addOption(new Option('--cache-expire-time <duration>', 'a cache file unused this long is deleted [default: 24h]'))
    .addOption(new Option('--cache-max-size <size>', 'most bytes of CDN cache files, e.g. 50G; least recently used go first [default: 0, no limit]'))
    .addOption(new Option('--cache-min-free-space <size>', 'least free space kept on the cache\'s filesystem, e.g. 5G [default: 0, no limit]'))
    .addOption(new Option('--cdn-memory-cache <size>', 'bytes of just-cached pieces kept in memory, served without reading the cache file [default: 64M; 0 = none]'))
    .addOption(new Option('--gc-interval <duration>', 'how often GC runs [default: 1m]'))
    .addOption(new Option('--source-timeout <duration>', 'source deadline for headers and between body chunks [default: 30s]'))
    .addOption(new Option('--source-allow <list>', 'sources the CDN may fetch: hosts, *.domains, IPs, CIDR networks, comma-separated [default: any]'))
    .addOption(new Option('--source-deny <list>', 'sources the CDN never fetches (same forms; wins over --source-allow)'))
    .addOption(new Option('--token <token>', 'shared token required on the API and piece data (prefer the config file or DAMSELFLY_TOKEN: argv is visible to ps)'))
    .addOption(new Option('--tls-cert <file>', 'PEM certificate (chain): serve the API over HTTPS'))
    .addOption(new Option('--tls-key <file>', 'PEM private key of --tls-cert'))
    .addOption(new Option('--tls-data', 'serve the piece-data port over HTTPS too (--tls-cert) and hand out peers\' piece URLs as https'))
    .addOption(new Option('--grant-key-file <file>', 'Ed25519 private key (PEM) that signs piece grants, created when missing [default: <home-dir>/grant-key.pem]'))
    .addOption(new Option('--grant-lifetime <duration>', 'how long a piece grant opens its task\'s pieces [default: 60s]'))
    .addOption(new Option('--access-check-ttl <duration>', 'how long a registration\'s proven access to its source stands [default: 60s]'))
    .allowExcessArguments(false)
    .action(() => { select({ kind: 'run' }) })
  addSharedCommands(program, PROCESS_OUTPUT, select)
  return program
}

async function main (argv: readonly string[]): Promise<number> {
  let command: SupernodeCommand | undefined
  const program = buildProgram((selected) => { command = selected })
  try {
    command = parseCommandLineWith(program, argv) ?? command
  } catch (err) {
    process.stderr.write(`${formatCliErrorLine('supernode', err)}\n`)
    return EXIT_USAGE
  }
  switch (command?.kind) {
    case 'exit': return command.status
    case 'config-default':
      process.stdout.write(formatSupernodeDefaultConfig())
      return 0
    case 'config-check': return await runConfigCheck('supernode', command.path, async (path) => resolveSupernodeConfig(await loadConfigFile(path)))
    case 'run': case undefined: break
  }
  tuneV8ForBulkData()
  const { config: configPath, verbose, ...flags } = program.opts<Record<string, unknown>>()
  let options: SupernodeOptions
  try {
    const fileOptions = typeof configPath === 'string' ? await loadConfigFile(configPath) : {}
    options = { ...fileOptions, ...optionsFromSettings(flags) }
    const envToken = process.env[TOKEN_ENV]
    if (options.token === undefined && envToken !== undefined && envToken !== '') options = { ...options, token: envToken }
    // --verbose is a flag: it wins over a file's logLevel, not over --log-level.
    if (verbose === true && flags.logLevel === undefined) options = { ...options, logLevel: 'debug' }
  } catch (err) {
    process.stderr.write(`${formatCliErrorLine('supernode', err)}\n`)
    return EXIT_USAGE
  }
  const logger = createLogger({ level: options.logLevel ?? 'info', name: 'supernode' })
  let supernode: Supernode
  try {
    supernode = new Supernode({ logger }, options)
    supernode.collectProcessMetrics()
  } catch (err) {
    process.stderr.write(`${formatCliErrorLine('supernode', err)}\n`)
    return EXIT_USAGE
  }
  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) return
    stopping = true
    logger.info({ signal }, 'stopping')
    supernode.close().then(async () => {
      await flushLogs(logger)
      process.exit(0)
    }, async (err: unknown) => {
      logger.error({ err }, 'close failed')
      await flushLogs(logger)
      process.exit(1)
    })
  }
  process.once('SIGINT', () => { stop('SIGINT') })
  process.once('SIGTERM', () => { stop('SIGTERM') })
  const resources = startupResources(supernode.config)
  try {
    await checkStartupResources(resources)
    const { apiUrl, downloadUrl } = await supernode.start()
    process.stdout.write(`supernode ready api=${apiUrl} download=${downloadUrl}\n`)
  } catch (err) {
    const failure = describeStartupFailure(err, resources)
    // One line names what failed; the details (a stack) only with --verbose.
    logger.debug({ err }, 'cannot start')
    await supernode.close().catch(() => undefined)
    await flushLogs(logger)
    process.stderr.write(`${formatCliErrorLine('supernode', failure)}\n`)
    return failure instanceof DfError && failure.code.startsWith('DF_ERR_CONFIG_') ? EXIT_USAGE : 1
  }
  return -1 // keep running until a signal
}

/** What the supernode takes at start-up, by the flag that names it. */
function startupResources (config: SupernodeConfig): StartupResource[] {
  return [
    { kind: 'directory', flag: '--home-dir', path: config.homeDir, what: 'home directory' },
    ...(config.tlsCert === undefined ? [] : [{ kind: 'file' as const, flag: '--tls-cert', path: config.tlsCert, what: 'TLS certificate' }]),
    ...(config.tlsKey === undefined ? [] : [{ kind: 'file' as const, flag: '--tls-key', path: config.tlsKey, what: 'TLS key' }]),
    { kind: 'port', flag: '--port', port: config.port },
    { kind: 'port', flag: '--download-port', port: config.downloadPort },
    { kind: 'address', flag: '--listen', host: config.listen },
  ]
}

main(process.argv.slice(2)).then((code) => {
  if (code >= 0) process.exit(code)
}, (err: unknown) => {
  process.stderr.write(`supernode: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
