/**
 * dfget's options, resolved in one place (STYLE.md B4): `DfgetOptions` as given on the
 * command line (all optional, strings) → `resolveDfgetConfig()` → `DfgetConfig` with defaults
 * applied and every value validated; a bad value is DF_ERR_CONFIG_INVALID naming the flag
 * and the value.
 */
import { isIP } from 'node:net'
import { basename, resolve } from 'node:path'
import { DfError } from '../protocol/errors.js'
import { TOKEN_ENV } from '../common/http/auth.js'
import { defaultHomeDir } from './home-layout.js'
import { parseDnsServers, parseNodeList, type SupernodeAddress } from '../common/node-list.js'
import { isRefusal } from '../common/settings/setting-kinds.js'
import { configInvalid, resolveDuration, resolvePort, resolveRate } from './uploader/peer-server-config.js'
import { DEFAULT_NODE, DFGET_SETTINGS, DOWNLOAD_PATTERNS } from './settings.js'
import { isContentDigest } from '../protocol/content-digest.js'
import { findSourceHeaderProblem } from '../protocol/source-headers.js'

export { DEFAULT_NODE, DOWNLOAD_PATTERNS }
export type DownloadPattern = typeof DOWNLOAD_PATTERNS[number]

/**
 * As given by the CLI (text) or a library caller or the configuration file (numbers:
 * durations in milliseconds, rates in bytes per second); all optional. The settings
 * (flags and file keys) are declared in settings.ts.
 */
export interface DfgetOptions {
  readonly url?: string | undefined
  readonly output?: string | undefined
  readonly node?: readonly string[] | undefined
  /** DNS servers that resolve `dns://` and `dns+srv://` nodes (`ip[:port]`); default the system's. */
  readonly dnsServer?: readonly string[] | undefined
  /** How often `dns://` and `dns+srv://` nodes are resolved again (default 30s). */
  readonly dnsRefresh?: string | number | undefined
  readonly home?: string | undefined
  readonly locallimit?: string | number | undefined
  readonly totallimit?: string | number | undefined
  readonly md5?: string | undefined
  readonly identifier?: string | undefined
  readonly filter?: string | undefined
  readonly header?: readonly string[] | undefined
  readonly notbs?: boolean | undefined
  readonly timeout?: string | number | undefined
  readonly pattern?: string | undefined
  readonly stream?: boolean | undefined
  readonly alivetime?: string | number | undefined
  readonly expiretime?: string | number | undefined
  readonly showbar?: boolean | undefined
  readonly verbose?: boolean | undefined
  readonly ip?: string | undefined
  readonly port?: string | number | undefined
  /** Seconds (or 20s) without a verified piece before back-source. Not a Dragonfly flag. */
  readonly stalltimeout?: string | number | undefined
  /** Stream mode: the window in pieces (default DEFAULT_WINDOW_PIECES). */
  readonly window?: string | number | undefined
  /** Content digest "sha256:<hex>": identifies the task and is verified over the whole file. Library only (dfdaemon). */
  readonly digest?: string | undefined
  /** Shared token of the deployment (supernode API, piece requests); default DAMSELFLY_TOKEN. */
  readonly token?: string | undefined
  /** PEM file of a CA to trust for https supernodes. */
  readonly cacert?: string | undefined
  /** Object stores (sources/object-store.ts): download every object under an s3:// prefix. */
  readonly recursive?: boolean | undefined
  /** Object stores: the endpoint of an S3-compatible store (default AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, else AWS). */
  readonly s3Endpoint?: string | undefined
  /** Object stores: path-style addressing (`endpoint/bucket/key`), as most S3-compatible stores need. */
  readonly s3PathStyle?: boolean | undefined
  /** Object stores: the region (default: the AWS SDK's chain, AWS_REGION, the profile; else us-east-1). */
  readonly s3Region?: string | undefined
  /** Hugging Face (sources/hugging-face.ts): the Hub's endpoint for hf:// URLs (default HF_ENDPOINT, else https://huggingface.co). */
  readonly hfEndpoint?: string | undefined
}

/** The resolved configuration of one dfget run. */
export interface DfgetConfig {
  readonly url: string
  /** Absolute output path, or "-" for stdout. */
  readonly output: string
  /** As written: DNS entries (`discovery`) are resolved by the supernode locator. */
  readonly supernodes: readonly SupernodeAddress[]
  /** DNS servers of the DNS entries (`ip:port`); empty = the system's. */
  readonly dnsServers: readonly string[]
  /** A DNS answer is used this long before it is resolved again. */
  readonly dnsRefreshMs: number
  readonly homeDir: string
  /** Download rate of this run; 0 = unlimited. */
  readonly localLimitBytesPerSec: number
  /** Rate of the whole host (download cap of this run and upload cap of a started peer server); 0 = unlimited. */
  readonly totalLimitBytesPerSec: number
  readonly md5: string | undefined
  readonly identifier: string | undefined
  readonly filter: readonly string[]
  readonly headers: Readonly<Record<string, string>>
  readonly backSourceAllowed: boolean
  /** Whole-run deadline; 0 = none. */
  readonly timeoutMs: number
  readonly pattern: DownloadPattern
  readonly stream: boolean
  readonly aliveTimeMs: number
  readonly expireTimeMs: number
  readonly showBar: boolean
  readonly verbose: boolean
  /** Address other peers reach this host's peer server at; undefined = the supernode sees it. */
  readonly advertiseIp: string | undefined
  /** Port of a peer server this run starts; 0 = free port. */
  readonly peerPort: number
  readonly stallTimeoutMs: number
  /** Stream mode: pieces held in memory at most (the sliding window). */
  readonly windowPieces: number
  /** Content digest "sha256:<hex>" of the whole file, when known. */
  readonly digest: string | undefined
  /** Sent to supernodes and peers as Authorization: Bearer (never to the source). */
  readonly token?: string | undefined
  /** Absolute path of a PEM CA file trusted for https supernodes. */
  readonly caCertPath?: string | undefined
}

/** Default stream window: 16 pieces (16 MiB with the 1 MiB pieces of files up to 256 MiB). */
export const DEFAULT_WINDOW_PIECES = DFGET_SETTINGS.window.default

/**
 * Applies defaults and validates. `cwd` resolves a relative output path.
 * @throws DF_ERR_CONFIG_INVALID naming the flag and the value
 */
export function resolveDfgetConfig (options: DfgetOptions, cwd = process.cwd()): DfgetConfig {
  const url = resolveUrl(options.url)
  const md5 = options.md5
  if (md5 !== undefined && !/^[0-9a-fA-F]{32}$/.test(md5)) throw configInvalid('md5', md5, 'must be 32 hex characters')
  const identifier = options.identifier
  if (identifier !== undefined && (identifier === '' || identifier.length > 1024)) throw configInvalid('identifier', identifier, 'must be 1-1024 characters')
  const pattern = options.pattern ?? DFGET_SETTINGS.pattern.default
  if (!isPattern(pattern)) throw configInvalid('pattern', pattern, `must be one of ${DOWNLOAD_PATTERNS.join(', ')}`)
  const ip = options.ip
  if (ip !== undefined && isIP(ip) === 0) throw configInvalid('ip', ip, 'must be an IPv4 or IPv6 address')
  const digest = options.digest
  if (digest !== undefined && !isContentDigest(digest)) throw configInvalid('digest', digest, 'must be sha256:<64 lowercase hex>')
  const node = options.node === undefined || options.node.length === 0 ? [DEFAULT_NODE] : options.node
  return {
    url,
    output: resolveOutput(options.output, url, cwd),
    supernodes: parseNodeList(node),
    dnsServers: parseDnsServers(options.dnsServer ?? [], { label: '--dns-server', field: 'dns-server' }),
    dnsRefreshMs: resolveDnsRefresh(options.dnsRefresh),
    homeDir: resolve(cwd, options.home ?? defaultHomeDir()),
    localLimitBytesPerSec: resolveRate('locallimit', options.locallimit),
    totalLimitBytesPerSec: resolveRate('totallimit', options.totallimit),
    md5: md5?.toLowerCase(),
    identifier,
    filter: resolveFilter(options.filter),
    headers: resolveHeaders(options.header ?? []),
    backSourceAllowed: options.notbs !== true,
    timeoutMs: resolveDuration('timeout', options.timeout, DFGET_SETTINGS.timeout.default),
    pattern,
    stream: options.stream === true,
    aliveTimeMs: resolveDuration('alivetime', options.alivetime, DFGET_SETTINGS.aliveTime.default),
    expireTimeMs: resolveDuration('expiretime', options.expiretime, DFGET_SETTINGS.expireTime.default),
    showBar: options.showbar === true,
    verbose: options.verbose === true,
    advertiseIp: ip,
    peerPort: resolvePort('port', options.port ?? DFGET_SETTINGS.port.default),
    stallTimeoutMs: resolveDuration('stalltimeout', options.stalltimeout, DFGET_SETTINGS.stallTimeout.default),
    windowPieces: resolveWindow(options.window),
    digest,
    token: nonEmpty(options.token ?? process.env[TOKEN_ENV]),
    caCertPath: options.cacert === undefined ? undefined : resolve(cwd, options.cacert),
  }
}

function resolveWindow (value: string | number | undefined): number {
  if (value === undefined) return DEFAULT_WINDOW_PIECES
  const pieces = DFGET_SETTINGS.window.kind.parse(value, 'window')
  if (isRefusal(pieces)) throw configInvalid('window', value, `${pieces.problem} (pieces)`)
  return pieces
}

/** At least one second: a fleet must not query DNS for every registration. */
function resolveDnsRefresh (value: string | number | undefined): number {
  const ms = resolveDuration('dns-refresh', value, DFGET_SETTINGS.dnsRefresh.default)
  if (ms < 1_000) throw configInvalid('dns-refresh', value, 'must be at least 1s')
  return ms
}

function nonEmpty (value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value
}

function isPattern (value: string): value is DownloadPattern {
  return (DOWNLOAD_PATTERNS as readonly string[]).includes(value)
}

function resolveUrl (value: string | undefined): string {
  if (value === undefined || value === '') throw new DfError('DF_ERR_CONFIG_INVALID', '--url: required', { details: { field: 'url' } })
  let parsed: URL
  try {
    parsed = new URL(value)
  } catch {
    throw configInvalid('url', value, 'must be an absolute http or https URL')
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw configInvalid('url', value, 'must be an http or https URL')
  return parsed.toString()
}

/** Default output: the URL's last path segment in the working directory (like wget). */
function resolveOutput (value: string | undefined, url: string, cwd: string): string {
  if (value === '-') return '-'
  if (value !== undefined) {
    if (value === '') throw configInvalid('output', value, 'must be a path or -')
    return resolve(cwd, value)
  }
  const name = basename(decodeURIComponent(new URL(url).pathname))
  if (name === '' || name === '/' || name === '.' || name === '..') throw configInvalid('output', '', 'the URL names no file; give -o')
  return resolve(cwd, name)
}

function resolveFilter (value: string | undefined): string[] {
  if (value === undefined) return []
  return value.split(/[,&]/).map((name) => name.trim()).filter((name) => name !== '')
}

function resolveHeaders (values: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const value of values) {
    const colon = value.indexOf(':')
    const name = colon > 0 ? value.slice(0, colon).trim() : ''
    if (name === '') throw configInvalid('header', JSON.stringify(value).slice(1, -1), 'must be "Name: value"')
    const headerValue = value.slice(colon + 1).trim()
    const problem = findSourceHeaderProblem(name, headerValue)
    // The name is quoted (JSON) so the error stays one line; the value is never shown, it
    // may be a credential.
    if (problem !== undefined) throw new DfError('DF_ERR_CONFIG_INVALID', `--header ${JSON.stringify(name)}: ${problem}`, { details: { field: 'header', header: name } })
    headers[name] = headerValue
  }
  return headers
}
