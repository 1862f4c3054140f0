/**
 * dfdaemon's command line (Dragonfly 1.x flag names, DESIGN.md §8): argument parsing and
 * help text, nothing else. The shared commands and help, version and errors follow the
 * convention of all three programs (common/cli-convention.ts). It never exits the process:
 * help and parse errors come back as values or DF_ERR_CONFIG_INVALID.
 */
import type { Command } from 'commander'
import { addSharedCommands, createProgram, parseCommandLineWith, PROCESS_OUTPUT, type CliOutput, type SharedCommand } from '../common/cli-convention.js'
import { addSettingFlags, readSettingFlags } from '../common/settings/settings-table.js'
import { DfError } from '../protocol/errors.js'
import type { DfdaemonSettingValues } from './config.js'
import { DFDAEMON_SETTINGS } from './settings.js'
import type { SetupEngine, SetupFlags } from './setup/run-setup.js'

export type { SetupEngine, SetupFlags }

/** Flags of `dfdaemon gen-ca`, raw. */
export interface GenCaFlags {
  readonly cert: string
  readonly key: string
  readonly commonName?: string
  readonly days?: string
  readonly force?: boolean
}

/** What the command line asks for. */
export type DfdaemonCommand =
  /** Run the proxy with the settings the flags give (parsed), and the --config file. */
  | { readonly kind: 'proxy', readonly flags: DfdaemonSettingValues, readonly configPath?: string | undefined }
  | { readonly kind: 'gen-ca', readonly flags: GenCaFlags }
  | { readonly kind: 'setup', readonly flags: SetupFlags }
  /** Help or the version was printed, `config default`, `config check FILE`. */
  | SharedCommand

const collect = (value: string, previous: string[] = []): string[] => [...previous, value]

/** Parses argv (without the node and script entries). @throws DF_ERR_CONFIG_INVALID */
export function parseDfdaemonCommandLine (argv: readonly string[], output: CliOutput = PROCESS_OUTPUT): DfdaemonCommand {
  let command: DfdaemonCommand | undefined
  const program = addSettingFlags(createProgram('dfdaemon', output), DFDAEMON_SETTINGS)
  // The proxy's flags come before a command: `setup` has --registry, --port and --config of its own.
  program.enablePositionalOptions()
  program
    .description('A proxy between a container engine and a registry that sends image-layer downloads through the Damselfly swarm.')
    .option('--config <file>', 'YAML configuration: proxy rules, hijack hosts, CA (flags override it)')
    .action((opts: { config?: string }, cmd: Command) => {
      command = { kind: 'proxy', flags: readSettingFlags(cmd, DFDAEMON_SETTINGS), ...(opts.config === undefined ? {} : { configPath: opts.config }) }
    })
  program.command('gen-ca')
    .description('write a CA key and certificate for HTTPS interception (hijack_https)')
    .option('--cert <file>', 'where to write the CA certificate (PEM)', 'ca.crt')
    .option('--key <file>', 'where to write the CA private key (PEM, mode 0600)', 'ca.key')
    .option('--common-name <name>', 'the CA\'s common name', 'Damselfly dfdaemon CA')
    .option('--days <days>', 'validity in days', '3650')
    .option('--force', 'overwrite existing files')
    .action((flags: GenCaFlags) => { command = { kind: 'gen-ca', flags } })
  const setup = program.command('setup')
    .description('point a container engine at this host\'s dfdaemon as its registry mirror (or --check that it is)')
    .action(() => {
      setup.outputHelp()
      command = { kind: 'exit', status: 0 }
    })
  const engineCommand = (engine: SetupEngine, description: string): Command => setup.command(engine)
    .description(description)
    .option('--registry <url>', 'a registry dfdaemon mirrors (URL or host[:port]), repeatable (default: registry_mirror.remote of --config)', collect)
    .option('--port <port>', 'dfdaemon\'s port (default: port of --config, else 65001)')
    .option('--config <file>', 'dfdaemon\'s configuration file, for its registry, port and listen address')
    .option('--check', 'write nothing: exit 0 when the engine really uses the mirror, 3 with one line naming what is missing')
  engineCommand('containerd', 'write <hosts-dir>/<registry>/hosts.toml naming dfdaemon (capabilities pull, resolve) for each registry')
    .option('--hosts-dir <dir>', 'containerd\'s hosts directory (its registry config_path)', '/etc/containerd/certs.d')
    .option('--containerd-config <file>', 'containerd\'s configuration, read by --check', '/etc/containerd/config.toml')
    .action((flags: Omit<SetupFlags, 'engine'>) => { command = { kind: 'setup', flags: { ...flags, engine: 'containerd' } } })
  engineCommand('docker', 'add dfdaemon to registry-mirrors of Docker\'s daemon.json, keeping every other key (Docker Hub images)')
    .option('--daemon-json <file>', 'dockerd\'s configuration file', '/etc/docker/daemon.json')
    .action((flags: Omit<SetupFlags, 'engine'>) => { command = { kind: 'setup', flags: { ...flags, engine: 'docker' } } })
  engineCommand('podman', 'write a registries.conf.d drop-in naming dfdaemon as the registry\'s mirror (podman, skopeo, buildah)')
    .option('--registries-dir <dir>', 'the registries.conf drop-in directory', '/etc/containers/registries.conf.d')
    .action((flags: Omit<SetupFlags, 'engine'>) => { command = { kind: 'setup', flags: { ...flags, engine: 'podman' } } })
  addSharedCommands(program, output, (shared) => { command = shared })
  const printed = parseCommandLineWith(program, argv)
  if (printed !== undefined) return printed
  if (command === undefined) throw new DfError('DF_ERR_CONFIG_INVALID', 'no command given')
  return command
}
