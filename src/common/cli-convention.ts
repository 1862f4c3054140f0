/**
 * The command-line convention of supernode, dfget and dfdaemon (docs/cli.md), in one place
 * so the three programs cannot drift apart:
 * - `-h, --help`, `help [command]` and `<command> --help` print help on stdout, exit 0;
 * - `-v, --version` and `version` print `<program> <version>` on stdout, exit 0;
 * - `config default` prints every setting with its default; `config check FILE` loads and
 *   validates FILE as `--config FILE` would and prints one line; a bare `config` prints the
 *   config command's help;
 * - every failure is one line on stderr, `<program>: error <CODE>: <message>`;
 * - exit status 2 for a bad flag, value or configuration (DF_ERR_CONFIG_INVALID, DF_ERR_ARG_*),
 *   1 for anything unexpected (dfget refines the rest by error area).
 * The parsers never exit the process: help and parse errors come back as values or as
 * DF_ERR_CONFIG_INVALID.
 */
import { Command, CommanderError } from 'commander'
import { DfError } from '../protocol/errors.js'
import { readPackageVersion } from './package-version.js'

/** The three programs. */
export type ProgramName = 'supernode' | 'dfget' | 'dfdaemon'

/** Exit status of a bad flag, value or configuration file. */
export const EXIT_USAGE = 2
/** Exit status of an unexpected failure. */
export const EXIT_FAILURE = 1

/** Where a parser prints help and the version (stdout), and help after a usage error (stderr). */
export interface CliOutput {
  readonly writeOut: (text: string) => void
  readonly writeErr: (text: string) => void
}

/** The process's stdout and stderr. */
export const PROCESS_OUTPUT: CliOutput = {
  writeOut: (text) => { process.stdout.write(text) },
  writeErr: (text) => { process.stderr.write(text) },
}

/** The commands every program has. */
export type SharedCommand =
  /** Help or the version was printed; exit with this status. */
  | { readonly kind: 'exit', readonly status: number }
  /** `config default`: print the default configuration file. */
  | { readonly kind: 'config-default' }
  /** `config check FILE`: load and validate FILE (see runConfigCheck). */
  | { readonly kind: 'config-check', readonly path: string }

/** `dfget 0.1.0`: what `--version` and `version` print, the package's version on all three programs. */
export function formatVersionLine (program: ProgramName): string {
  return `${program} ${readPackageVersion().version}`
}

/**
 * A commander program with the convention's settings: help and version on `output.writeOut`,
 * errors thrown instead of exiting (parseCommandLineWith turns them into values). Add the
 * program's options and commands to it, then addSharedCommands.
 */
export function createProgram (program: ProgramName, output: CliOutput = PROCESS_OUTPUT): Command {
  return new Command(program)
    .exitOverride()
    .configureOutput({ writeOut: output.writeOut, writeErr: output.writeErr, outputError: () => {} })
    .helpOption('-h, --help', 'print this help')
    .helpCommand('help [command]', 'print the help of a command')
    .version(formatVersionLine(program), '-v, --version', 'print the version')
}

/** Adds `config default`, `config check FILE` and `version`; `select` receives the command given. */
export function addSharedCommands (program: Command, output: CliOutput, select: (command: SharedCommand) => void): void {
  const config = program.command('config')
    .description('configuration files: `config default`, `config check FILE`')
    .action(() => {
      // A bare `config` asks which: show its commands, as --help would.
      config.outputHelp()
      select({ kind: 'exit', status: 0 })
    })
  config.command('default')
    .description('print every setting with its default, as YAML (a start for --config)')
    .action(() => { select({ kind: 'config-default' }) })
  config.command('check')
    .description('load and validate FILE as --config FILE would; print one line: ok, or the error naming the key (exit 2)')
    .argument('<file>', 'the YAML configuration file')
    .action((file: string) => { select({ kind: 'config-check', path: file }) })
  program.command('version')
    .description('print the version')
    .action(() => {
      output.writeOut(`${formatVersionLine(program.name() as ProgramName)}\n`) // created by createProgram with a ProgramName
      select({ kind: 'exit', status: 0 })
    })
}

/**
 * Runs `program` over argv (without the node and script entries). Returns `{ kind: 'exit' }`
 * when commander printed help or the version, undefined when an action ran.
 * @throws DF_ERR_CONFIG_INVALID for an unknown flag or command, or a bad or missing argument
 */
export function parseCommandLineWith (program: Command, argv: readonly string[]): SharedCommand | undefined {
  try {
    program.parse([...argv], { from: 'user' })
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return { kind: 'exit', status: 0 }
      throw new DfError('DF_ERR_CONFIG_INVALID', err.message.replace(/^error:\s*/, ''), { details: { field: 'argv', commanderCode: err.code } })
    }
    throw err
  }
  return undefined
}

/** `<program>: error <CODE>: <message>`, on one line: how every failure is reported. */
export function formatCliErrorLine (program: ProgramName, err: unknown): string {
  const code = err instanceof DfError ? err.code : 'DF_ERR_INTERNAL'
  const message = err instanceof Error ? err.message : String(err)
  return `${program}: error ${code}: ${message.replace(/\s*\n\s*/g, ' ')}`
}

/** 2 for a bad flag, value or configuration (areas ARG and CONFIG), else 1. */
export function usageOrFailureStatus (err: unknown): number {
  return err instanceof DfError && /^DF_ERR_(ARG|CONFIG)_/.test(err.code) ? EXIT_USAGE : EXIT_FAILURE
}

/**
 * `config check FILE`: `load` is the program's own loader and validator (the one behind
 * `--config`). Prints `<program>: config ok: FILE` on stdout and returns 0, or prints the
 * error line on stderr and returns its status (2 for DF_ERR_CONFIG_INVALID).
 */
export async function runConfigCheck (program: ProgramName, path: string, load: (path: string) => Promise<unknown>, output: CliOutput = PROCESS_OUTPUT): Promise<number> {
  try {
    await load(path)
  } catch (err) {
    output.writeErr(`${formatCliErrorLine(program, err)}\n`)
    return usageOrFailureStatus(err)
  }
  output.writeOut(`${program}: config ok: ${path}\n`)
  return 0
}
