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
import { addSettingFlags, loadSettingsFile, mergeSettingValues, readSettingEnv, readSettingFlags } from '../common/settings/settings-table.js'
import { DfError } from '../protocol/errors.js'
import { checkStartupResources, describeStartupFailure, type StartupResource } from '../common/start-up-failure.js'
import { formatSupernodeDefaultConfig, loadConfigFile, optionsFromValues, resolveSupernodeConfig, type SupernodeConfig, type SupernodeOptions } from './config.js'
import { SUPERNODE_SETTINGS } from './settings.js'
import { Supernode } from './supernode.js'

/** What the command line asks for: run the supernode, or one of the shared commands. */
type SupernodeCommand = { readonly kind: 'run' } | SharedCommand

function buildProgram (select: (command: SupernodeCommand) => void): Command {
  const program = addSettingFlags(createProgram('supernode', PROCESS_OUTPUT), SUPERNODE_SETTINGS)
    .description('Damselfly supernode: tracker, scheduler and CDN of a P2P swarm')
    .addOption(new Option('--config <file>', 'YAML config file (flags override it)'))
    .addOption(new Option('--verbose', 'same as --log-level debug'))
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
  const { config: configPath, verbose } = program.opts<{ config?: string, verbose?: boolean }>()
  let options: SupernodeOptions
  try {
    // flags > environment > file > defaults (resolveSupernodeConfig applies the defaults).
    const flags = readSettingFlags(program, SUPERNODE_SETTINGS)
    const fromFile = configPath === undefined ? {} : await loadSettingsFile(configPath, SUPERNODE_SETTINGS, 'supernode')
    const values = mergeSettingValues(fromFile, readSettingEnv(SUPERNODE_SETTINGS), flags)
    // --verbose is a flag: it wins over a file's logLevel, not over --log-level.
    options = optionsFromValues(verbose === true && flags.logLevel === undefined ? { ...values, logLevel: 'debug' } : values)
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
