/**
 * dfget's command line (Dragonfly 1.x flag names, DESIGN.md §8): argument parsing and help
 * text, nothing else. `parseCommandLine` turns argv into a command with raw option values;
 * config.ts validates them. The shared commands and help, version and errors follow the
 * convention of all three programs (common/cli-convention.ts). It never exits the process:
 * help and parse errors come back as values or DF_ERR_CONFIG_INVALID. The options are those
 * of the settings table (settings.ts), as text; config.ts validates them.
 */
import { addSettingFlags, pickSettings } from '../common/settings/settings-table.js'
import { addSharedCommands, createProgram, parseCommandLineWith, PROCESS_OUTPUT, type CliOutput, type SharedCommand } from '../common/cli-convention.js'
import { DfError } from '../protocol/errors.js'
import type { DfgetOptions } from './config.js'
import type { PeerServerOptions } from './uploader/peer-server-config.js'
import { DFGET_SETTINGS, SERVER_SETTING_KEYS } from './settings.js'

/** What the command line asks for. */
export type CliCommand =
  | { readonly kind: 'download', readonly options: DfgetOptions, readonly configPath?: string | undefined }
  | { readonly kind: 'server', readonly options: PeerServerOptions & { readonly verbose: boolean }, readonly configPath?: string | undefined }
  /** Help or the version was printed, `config default`, `config check FILE`. */
  | SharedCommand

/** Parses argv (without the node and script entries). @throws DF_ERR_CONFIG_INVALID */
export function parseCommandLine (argv: readonly string[], output: CliOutput = PROCESS_OUTPUT): CliCommand {
  let command: CliCommand | undefined
  const program = addSettingFlags(createProgram('dfget', output), DFGET_SETTINGS)
  program
    .enablePositionalOptions()
    .description('Download a file through the Damselfly P2P swarm (like wget).')
    .usage('-u <url> [-o <output>] [options]  |  dfget server [options]  |  dfget config default|check <file>  |  dfget version')
    .argument('[url]', 'the URL to download (same as -u)')
    .option('--config <file>', 'YAML configuration of this host (default /etc/damselfly/dfget.yml when it exists); flags override it')
    .action((url: string | undefined, opts: Record<string, unknown>) => {
      const options = opts as DfgetOptions // commander's values are the strings, arrays and booleans declared above
      command = { kind: 'download', options: { ...options, url: options.url ?? url }, ...(typeof opts.config === 'string' ? { configPath: opts.config } : {}) }
    })

  addSettingFlags(program.command('server'), pickSettings(DFGET_SETTINGS, SERVER_SETTING_KEYS))
    .description('run this host\'s peer server in the foreground')
    .option('--config <file>', 'YAML configuration of this host (default /etc/damselfly/dfget.yml when it exists); flags override it')
    .action((opts: Record<string, unknown>) => {
      const options = opts as PeerServerOptions & { verbose?: boolean } // declared above
      command = { kind: 'server', options: { ...options, verbose: options.verbose === true }, ...(typeof opts.config === 'string' ? { configPath: opts.config } : {}) }
    })

  addSharedCommands(program, output, (shared) => { command = shared })

  const printed = parseCommandLineWith(program, argv)
  if (printed !== undefined) return printed
  if (command === undefined) throw new DfError('DF_ERR_CONFIG_INVALID', 'no command given')
  return command
}
