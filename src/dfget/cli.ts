/**
 * dfget's command line (Dragonfly 1.x flag names, DESIGN.md §8): argument parsing and help
 * text, nothing else. `parseCommandLine` turns argv into a command with raw option values;
 * config.ts validates them. The shared commands and help, version and errors follow the
 * convention of all three programs (common/cli-convention.ts). It never exits the process:
 * help and parse errors come back as values or DF_ERR_CONFIG_INVALID.
 */
import { Option } from 'commander'
import { addSharedCommands, createProgram, parseCommandLineWith, PROCESS_OUTPUT, type CliOutput, type SharedCommand } from '../common/cli-convention.js'
import { DfError } from '../protocol/errors.js'
import type { DfgetOptions } from './config.js'
import type { PeerServerOptions } from './uploader/peer-server-config.js'

/** What the command line asks for. */
export type CliCommand =
  | { readonly kind: 'download', readonly options: DfgetOptions, readonly configPath?: string | undefined }
  | { readonly kind: 'server', readonly options: PeerServerOptions & { readonly verbose: boolean }, readonly configPath?: string | undefined }
  /** Help or the version was printed, `config default`, `config check FILE`. */
  | SharedCommand

const collect = (value: string, previous: string[] = []): string[] => [...previous, value]

/** Parses argv (without the node and script entries). @throws DF_ERR_CONFIG_INVALID */
export function parseCommandLine (argv: readonly string[], output: CliOutput = PROCESS_OUTPUT): CliCommand {
  let command: CliCommand | undefined
  const program = createProgram('dfget', output)
  program
    .enablePositionalOptions()
    .description('Download a file through the Damselfly P2P swarm (like wget).')
    .usage('-u <url> [-o <output>] [options]  |  dfget server [options]  |  dfget config default|check <file>  |  dfget version')
    .argument('[url]', 'the URL to download (same as -u)')
    .option('-u, --url <url>', 'the URL to download (http, https, s3://bucket/key, or hf://owner/repo[@revision][/path])')
    .option('-o, --output <path>', 'where to write the file ("-" = stdout); default: the URL\'s file name in the current directory')
    .option('-n, --node <host:port[=weight]>', 'supernode(s), repeatable or comma-separated (default 127.0.0.1:8002); dns://name[:port][=weight] (A/AAAA records) or dns+srv://name (SRV records) name them by DNS', collect)
    .option('--dns-server <ip[:port]>', 'DNS server(s) that resolve dns:// and dns+srv:// nodes, repeatable or comma-separated (default: the system\'s)', collect)
    .option('--dns-refresh <duration>', 'resolve dns:// and dns+srv:// nodes again after this long (default 30s)')
    .option('--home <dir>', 'per-host state: peer server, data, logs (default ~/.damselfly)')
    .option('-s, --locallimit <rate>', 'download rate limit of this run, e.g. 20M, 100mbit (default: none)')
    .option('--totallimit <rate>', 'rate limit of the whole host (default: none)')
    .option('-m, --md5 <md5>', 'expected md5 of the file')
    .option('-i, --identifier <id>', 'identifies the task instead of the md5')
    .option('-f, --filter <names>', 'query parameters left out of the task identity, comma-separated')
    .option('--header <header>', 'header sent to the source, "Name: value" (repeatable)', collect)
    .option('--notbs', 'never download from the source itself (no back-source)')
    .option('-e, --timeout <duration>', 'whole-download deadline: seconds, or 30s, 5m (default: none)')
    .addOption(new Option('-p, --pattern <pattern>', 'where pieces come from').choices(['p2p', 'cdn', 'source']).default(undefined))
    .option('--stream', 'stream mode: write the file in order (to -o -, usually) holding only a window of pieces in memory; nothing goes to disk')
    .option('--window <pieces>', 'stream mode: the window, in pieces (default 16)')
    .option('--alivetime <duration>', 'the peer server stops after this long without work (default 5m)')
    .option('--expiretime <duration>', 'the peer server deletes a served file unused this long (default 3m)')
    .option('-b, --showbar', 'show a progress bar on a terminal')
    .option('--verbose', 'log details to stderr')
    .option('--ip <address>', 'address other peers reach this host\'s peer server at (default: as the supernode sees it)')
    .option('--port <port>', 'port of a peer server this run starts (default 0: a free port)')
    .option('--stalltimeout <duration>', 'back-source after this long without a verified piece (default 20s)')
    .option('--token <token>', 'shared token of the supernodes and peers (default: $DAMSELFLY_TOKEN, which ps does not show)')
    .option('--cacert <file>', 'PEM CA certificate trusted for https supernodes (-n https://host:port)')
    .option('--recursive', 's3:// URL: download every object under the prefix, to its key under -o DIR (default: the current directory); hf:// URL: every file under the folder')
    .option('--s3-endpoint <url>', 'endpoint of an S3-compatible store (default: $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, else AWS)')
    .option('--s3-path-style', 'path-style S3 addressing (endpoint/bucket/key), as most S3-compatible stores need')
    .option('--hf-endpoint <url>', 'endpoint of the Hugging Face Hub for hf:// URLs (default: $HF_ENDPOINT, else https://huggingface.co)')
    .option('--s3-region <region>', 'S3 region (default: $AWS_REGION, $AWS_DEFAULT_REGION, else us-east-1)')
    .option('--config <file>', 'YAML configuration of this host (default /etc/damselfly/dfget.yml when it exists); flags override it')
    .action((url: string | undefined, opts: Record<string, unknown>) => {
      const options = opts as DfgetOptions // commander's values are the strings, arrays and booleans declared above
      command = { kind: 'download', options: { ...options, url: options.url ?? url }, ...(typeof opts.config === 'string' ? { configPath: opts.config } : {}) }
    })

  program.command('server')
    .description('run this host\'s peer server in the foreground')
    .option('--home <dir>', 'per-host state (default ~/.damselfly)')
    .option('--port <port>', 'listen port (default 0: a free port)')
    .option('--ip <address>', 'listen address (default 0.0.0.0)')
    .option('--alivetime <duration>', 'stop after this long without work (default 5m)')
    .option('--expiretime <duration>', 'delete served files unused this long (default 3m)')
    .option('--totallimit <rate>', 'upload rate limit of the host (default: none)')
    .option('--cacert <file>', 'PEM CA certificate trusted for https supernodes (told when this server goes down) and https piece servers')
    .option('--tls-cert <file>', 'PEM certificate: serve piece data over HTTPS (with --tls-key; for supernodes run with --tls-data)')
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .option('--verbose', 'debug logs')
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
