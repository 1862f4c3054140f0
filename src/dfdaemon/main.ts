/**
 * dfdaemon's composition root: argv → command → config (file, then flags) → Dfdaemon →
 * signals. The only place that exits. It prints `dfdaemon ready proxy=<url>` on stdout once
 * listening; every failure is one line on stderr (`dfdaemon: error <CODE>: <message>`), with
 * exit status 2 for a bad flag or configuration, or a start-up failure (a port, file or
 * directory it cannot use: DF_ERR_CONFIG_UNUSABLE), and 1 otherwise (common/cli-convention.ts).
 */
import { constants } from 'node:fs'
import { access, mkdir, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { formatCliErrorLine, runConfigCheck, usageOrFailureStatus } from '../common/cli-convention.js'
import { TOKEN_ENV } from '../common/http/auth.js'
import { parseNodeList } from '../common/node-list.js'
import { loadSettingsFile, mergeSettingValues, readSettingEnv } from '../common/settings/settings-table.js'
import { createLogger, flushLogs, type Logger } from '../common/log.js'
import { checkStartupResources, describeStartupFailure, type StartupResource } from '../common/start-up-failure.js'
import { tuneV8ForBulkData } from '../common/v8-tuning.js'
import { DfError } from '../protocol/errors.js'
import { loadDfgetConfigFile, resolvePeerServerConfig, SupernodeResolver, type PeerServerOptions } from '../dfget/index.js'
// The composition root is the one module that may use the CLI parser.
// eslint-disable-next-line no-restricted-imports
import { parseDfdaemonCommandLine, type GenCaFlags, type SetupFlags } from './cli.js'
import { formatDfdaemonDefaultConfig, loadDfdaemonConfigFile, optionsFromValues, resolveDfdaemonConfig, type DfdaemonConfig, type DfdaemonSettingValues } from './config.js'
import { DFDAEMON_SETTINGS } from './settings.js'
import { generateCertificateAuthority } from './certificate-authority.js'
import { DfgetStreamFetcher } from './dfget-stream-fetcher.js'
import { Dfdaemon } from './dfdaemon.js'
import { runSetupCommand } from './setup/run-setup.js'
import { collectProcessMetrics } from '../common/process-metrics.js'

async function runProxy (flags: DfdaemonSettingValues, configPath: string | undefined): Promise<void> {
  // flags > environment > file > defaults (resolveDfdaemonConfig applies the defaults).
  const fromFile = configPath === undefined ? {} : await loadSettingsFile(configPath, DFDAEMON_SETTINGS, 'dfdaemon')
  const values = mergeSettingValues(fromFile, readSettingEnv(DFDAEMON_SETTINGS), flags)
  // dfget runs in this process and takes the shared token from the environment (as the
  // peer servers it starts do), so the flag goes there once, here in the composition root.
  if (values.token !== undefined) process.env[TOKEN_ENV] = values.token
  const config = resolveDfdaemonConfig(optionsFromValues(values))
  const peerServer = await hostPeerServerOptions()
  const logger: Logger = createLogger({ level: config.verbose ? 'debug' : 'info', name: 'dfdaemon' })
  const resources = startupResources(config)
  const fetcherOptions = { homeDir: config.homeDir, nodes: config.nodes, dnsServers: config.dnsServers, dnsRefresh: `${config.dnsRefreshMs}ms`, token: process.env[TOKEN_ENV], caCertPath: config.supernodeCaCertFile, prefetch: config.prefetch, peerServer }
  const dfdaemon = new Dfdaemon({
    logger,
    createFetcher: (metrics) => new DfgetStreamFetcher({
      logger: logger.child({ component: 'dfget' }),
      onResult: (result) => { metrics.countP2pResult(result) },
    }, fetcherOptions),
  }, config)
  collectProcessMetrics(dfdaemon.metrics.registry)
  try {
    await checkStartupResources(resources)
    await checkSupernodeNames(config, logger)
    await dfdaemon.start()
  } catch (err) {
    // One line names what failed (main's catch); the details only with --verbose.
    logger.debug({ err }, 'cannot start')
    await flushLogs(logger)
    throw describeStartupFailure(err, resources)
  }
  let stopping = false
  const stop = (): void => {
    if (stopping) return
    stopping = true
    dfdaemon.close().then(async () => {
      await flushLogs(logger)
      process.exit(0)
    }, async (err: unknown) => {
      logger.error({ err }, 'close failed')
      await flushLogs(logger)
      process.exit(1)
    })
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  logger.info({ url: dfdaemon.baseUrl, registry: config.registryUrl?.origin ?? null, ...(config.hubUrl === undefined ? {} : { hub: config.hubUrl.origin }), nodes: config.nodes }, 'dfdaemon listening')
  process.stdout.write(`dfdaemon ready proxy=${dfdaemon.baseUrl}\n`)
}

/**
 * The settings of the peer server dfdaemon hosts, from the host's dfget file
 * (/etc/damselfly/dfget.yml, when it exists), as `dfget server` reads them: `port`, `ip`,
 * `expireTime`, `totalLimit`. @throws DF_ERR_CONFIG_INVALID naming the key
 */
async function hostPeerServerOptions (): Promise<Pick<PeerServerOptions, 'port' | 'ip' | 'expiretime' | 'totallimit'>> {
  const { port, ip, expiretime, totallimit } = await loadDfgetConfigFile(undefined)
  const options = Object.fromEntries(Object.entries({ port, ip, expiretime, totallimit }).filter(([, value]) => value !== undefined))
  resolvePeerServerConfig(options) // checked now: the server starts later, where a bad value would only be logged
  return options
}

/**
 * A supernode list that names DNS records must resolve before the proxy serves: a name that
 * does not exist is a start-up failure (one line, exit status 2), not a proxy whose every
 * blob quietly comes from the registry. Later the fetcher keeps its last good answer when
 * DNS fails. @throws DfError of the resolver
 */
async function checkSupernodeNames (config: DfdaemonConfig, logger: Logger): Promise<void> {
  const entries = parseNodeList(config.nodes)
  if (!entries.some((node) => node.discovery !== undefined)) return
  const resolver = new SupernodeResolver({ logger }, { entries, dnsServers: config.dnsServers })
  try {
    await resolver.current()
  } finally {
    resolver.close()
  }
}

/** What dfdaemon takes at start-up, by the flag or configuration key that names it. */
function startupResources (config: DfdaemonConfig): StartupResource[] {
  const file = (flag: string, path: string | undefined, what: string): StartupResource[] => path === undefined ? [] : [{ kind: 'file', flag, path, what }]
  return [
    { kind: 'directory', flag: '--home', path: config.homeDir, what: 'home directory' },
    ...file('--cacert', config.supernodeCaCertFile, 'CA certificate'),
    ...file('hijack_https.cert', config.caCertFile, 'CA certificate'),
    ...file('hijack_https.key', config.caKeyFile, 'CA key'),
    ...(config.registryTls.certFiles ?? []).flatMap((path, i) => file(`registry_mirror.certs[${i}]`, path, 'CA certificate')),
    ...config.hijackHosts.flatMap((host, i) => (host.certFiles ?? []).flatMap((path, j) => file(`hijack_https.hosts[${i}].certs[${j}]`, path, 'CA certificate'))),
    { kind: 'port', flag: '--port', port: config.port },
    { kind: 'address', flag: '--listen', host: config.listen },
  ]
}

async function runGenCa (flags: GenCaFlags): Promise<void> {
  const days = Number(flags.days ?? '3650')
  if (!Number.isInteger(days) || days < 1) throw new DfError('DF_ERR_CONFIG_INVALID', `--days: must be a whole number of days (got "${flags.days ?? ''}")`, { details: { field: 'days' } })
  if (flags.force !== true) {
    for (const path of [flags.cert, flags.key]) {
      const exists = await access(path, constants.F_OK).then(() => true, () => false)
      if (exists) throw new DfError('DF_ERR_CONFIG_INVALID', `${path} exists (use --force to overwrite)`, { details: { field: 'cert' } })
    }
  }
  const ca = generateCertificateAuthority({ validityDays: days, ...(flags.commonName === undefined ? {} : { commonName: flags.commonName }) })
  for (const path of [flags.cert, flags.key]) await mkdir(dirname(path), { recursive: true })
  await writeFile(flags.key, ca.keyPem, { mode: 0o600 })
  await writeFile(flags.cert, ca.certPem, { mode: 0o644 })
  process.stderr.write(`dfdaemon: wrote CA certificate ${flags.cert} and key ${flags.key}\n`)
}

/** `setup <engine> [--check]`: what it did or found on stdout; a mirror not in effect is one error line, exit 3. */
async function runSetup (flags: SetupFlags): Promise<number> {
  const run = await runSetupCommand(flags)
  for (const line of run.out) process.stdout.write(`${line}\n`)
  if (run.error !== undefined) process.stderr.write(`${formatCliErrorLine('dfdaemon', run.error)}\n`)
  return run.status
}

/** `config check FILE`: the file as `--config FILE` reads it, validated as the proxy would. */
async function checkConfigFile (path: string): Promise<void> {
  resolveDfdaemonConfig(await loadDfdaemonConfigFile(path))
}

/** Runs the command; a number is the exit status of a command that is done, undefined keeps the proxy running. */
async function main (): Promise<number | undefined> {
  tuneV8ForBulkData()
  const command = parseDfdaemonCommandLine(process.argv.slice(2))
  switch (command.kind) {
    case 'exit': return command.status
    case 'gen-ca': await runGenCa(command.flags); return 0
    case 'setup': return await runSetup(command.flags)
    case 'config-default': process.stdout.write(formatDfdaemonDefaultConfig()); return 0
    case 'config-check': return await runConfigCheck('dfdaemon', command.path, checkConfigFile)
    case 'proxy': await runProxy(command.flags, command.configPath); return undefined
  }
}

/** Exits once stdout took what was written to it (help, a YAML file) — it may be a pipe. */
function exitAfterStdout (status: number): void {
  process.stdout.write('', () => { process.exit(status) })
}

main().then((status) => {
  if (status !== undefined) exitAfterStdout(status)
}, (err: unknown) => {
  process.stderr.write(`${formatCliErrorLine('dfdaemon', err)}\n`)
  process.exit(usageOrFailureStatus(err))
})
