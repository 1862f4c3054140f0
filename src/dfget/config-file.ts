/**
 * dfget's configuration file (per host, like Dragonfly's /etc/dragonfly/dfget.yml): YAML
 * with the settings a host sets once — supernodes, home, rate limits, timeouts, the peer
 * server's alive and expire times. `--config FILE` names it; without the flag the default
 * path is read when it exists. Flags override the file. Keys are camelCase
 * (docs/configuration.md); a bad key or value is DF_ERR_CONFIG_INVALID naming both.
 * `dfget config default` prints every key with its default.
 */
import { readFile } from 'node:fs/promises'
import { formatConfigYaml, formatDurationSetting, parseConfigYaml } from '../common/config-yaml.js'
import { parseDnsServers, parseNodeList } from '../common/node-list.js'
import { DfError } from '../protocol/errors.js'
import { DEFAULT_NODE, DOWNLOAD_PATTERNS, resolveDfgetConfig, type DfgetOptions } from './config.js'
import { defaultHomeDir } from './home-layout.js'
import { DEFAULT_ALIVE_TIME_MS, DEFAULT_EXPIRE_TIME_MS, resolveDuration, resolvePort, resolveRate, type PeerServerOptions } from './uploader/peer-server-config.js'

/** Where dfget looks for its configuration when no --config is given. */
export const DEFAULT_DFGET_CONFIG_PATH = '/etc/damselfly/dfget.yml'

/** Settings of the file, as the options of a download and of the peer server. */
export type DfgetFileOptions = DfgetOptions & PeerServerOptions

type Setting = { readonly help: string, readonly defaultValue: unknown, readonly read: (value: unknown, key: string) => Partial<Record<keyof DfgetFileOptions, unknown>> }

const SETTINGS: Readonly<Record<string, Setting>> = {
  nodes: { help: 'supernodes, host:port[=weight], or DNS records dns://name[:port][=weight] (A/AAAA), dns+srv://name (SRV)', defaultValue: [DEFAULT_NODE], read: (v, k) => ({ node: nodeList(v, k) }) },
  dnsServers: { help: 'DNS servers (ip[:port]) that resolve dns:// and dns+srv:// nodes (default: the system\'s)', defaultValue: [], read: (v, k) => ({ dnsServer: dnsServerList(v, k) }) },
  dnsRefresh: { help: 'how often dns:// and dns+srv:// nodes are resolved again', defaultValue: '30s', read: (v, k) => ({ dnsRefresh: checked(v, k, durationOf) }) },
  home: { help: 'per-host state: peer server, data, logs', defaultValue: defaultHomeDir(), read: (v, k) => ({ home: text(v, k) }) },
  localLimit: { help: 'download rate limit of one run, e.g. 20M, 100mbit (0 = none)', defaultValue: 0, read: (v, k) => ({ locallimit: checked(v, k, resolveRate) }) },
  totalLimit: { help: 'rate limit of the whole host: downloads of a run and uploads of the peer server (0 = none)', defaultValue: 0, read: (v, k) => ({ totallimit: checked(v, k, resolveRate) }) },
  timeout: { help: 'whole-download deadline (0 = none)', defaultValue: '0s', read: (v, k) => ({ timeout: checked(v, k, durationOf) }) },
  stallTimeout: { help: 'back-source after this long without a verified piece', defaultValue: '20s', read: (v, k) => ({ stalltimeout: checked(v, k, durationOf) }) },
  pattern: { help: `where pieces come from: ${DOWNLOAD_PATTERNS.join(', ')}`, defaultValue: 'p2p', read: (v, k) => ({ pattern: oneOf(v, k, DOWNLOAD_PATTERNS) }) },
  notbs: { help: 'never download from the source itself (no back-source)', defaultValue: false, read: (v, k) => ({ notbs: flag(v, k) }) },
  headers: { help: 'headers sent to sources, "Name: value"', defaultValue: [], read: (v, k) => ({ header: stringList(v, k) }) },
  aliveTime: { help: 'the peer server stops after this long without work', defaultValue: formatDurationSetting(DEFAULT_ALIVE_TIME_MS), read: (v, k) => ({ alivetime: checked(v, k, durationOf) }) },
  expireTime: { help: 'the peer server deletes a served file unused this long', defaultValue: formatDurationSetting(DEFAULT_EXPIRE_TIME_MS), read: (v, k) => ({ expiretime: checked(v, k, durationOf) }) },
  ip: { help: 'address other peers reach this host\'s peer server at (default: as the supernode sees it)', defaultValue: undefined, read: (v, k) => ({ ip: text(v, k) }) },
  port: { help: 'port of the peer server (0 = a free port)', defaultValue: 0, read: (v, k) => ({ port: String(resolvePort(k, typeof v === 'number' || typeof v === 'string' ? v : Number.NaN)) }) },
  showBar: { help: 'show a progress bar on a terminal', defaultValue: false, read: (v, k) => ({ showbar: flag(v, k) }) },
  verbose: { help: 'debug logs to stderr', defaultValue: false, read: (v, k) => ({ verbose: flag(v, k) }) },
  s3Endpoint: { help: 'endpoint of an S3-compatible store for s3:// URLs (default: $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, else AWS)', defaultValue: undefined, read: (v, k) => ({ s3Endpoint: httpUrl(v, k) }) },
  s3PathStyle: { help: 'path-style S3 addressing (endpoint/bucket/key)', defaultValue: false, read: (v, k) => ({ s3PathStyle: flag(v, k) }) },
  hfEndpoint: { help: 'endpoint of the Hugging Face Hub for hf:// URLs (default: $HF_ENDPOINT, else https://huggingface.co)', defaultValue: undefined, read: (v, k) => ({ hfEndpoint: httpUrl(v, k) }) },
  s3Region: { help: 'S3 region (default: $AWS_REGION, $AWS_DEFAULT_REGION, else us-east-1)', defaultValue: undefined, read: (v, k) => ({ s3Region: text(v, k) }) },
}

/** The keys a dfget configuration file may hold. */
export const DFGET_CONFIG_KEYS: readonly string[] = Object.keys(SETTINGS)

/**
 * Reads the configuration file: `path` when given (it must exist), else the default path
 * when it exists. @throws DF_ERR_CONFIG_INVALID naming the key and the value
 */
export async function loadDfgetConfigFile (path: string | undefined, defaultPath = DEFAULT_DFGET_CONFIG_PATH): Promise<DfgetFileOptions> {
  let textValue: string
  try {
    textValue = await readFile(path ?? defaultPath, 'utf8')
  } catch (err) {
    if (path === undefined && (err as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw new DfError('DF_ERR_CONFIG_INVALID', `--config: cannot read ${path ?? defaultPath}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err, details: { field: 'config', value: path ?? defaultPath } })
  }
  return parseDfgetConfigText(textValue)
}

/** Parses the YAML of a configuration file. @throws DF_ERR_CONFIG_INVALID naming the key and the value */
export function parseDfgetConfigText (textValue: string): DfgetFileOptions {
  let doc: unknown
  try {
    doc = parseConfigYaml(textValue)
  } catch (err) {
    throw new DfError('DF_ERR_CONFIG_INVALID', `config: not valid YAML: ${(err as Error).message}`, { cause: err, details: { field: 'config' } })
  }
  if (doc === null || doc === undefined) return {}
  if (typeof doc !== 'object' || Array.isArray(doc)) throw keyInvalid('config', JSON.stringify(doc), 'must be a mapping of settings')
  let options: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(doc)) {
    // Own keys only: "__proto__" or "toString" in a file names no setting.
    const setting = Object.hasOwn(SETTINGS, key) ? SETTINGS[key] : undefined
    if (setting === undefined) throw keyInvalid(key, JSON.stringify(value), `is not a dfget setting (known: ${DFGET_CONFIG_KEYS.join(', ')})`)
    if (value === null || value === undefined) continue
    try {
      options = { ...options, ...setting.read(value, key) }
    } catch (err) {
      // The flag resolvers name a flag ("--localLimit: …"); in a file it is a key.
      if (err instanceof DfError && err.code === 'DF_ERR_CONFIG_INVALID' && err.message.startsWith('--')) throw new DfError(err.code, `config: ${err.message.slice(2)}`, { cause: err, ...(err.details === undefined ? {} : { details: err.details }) })
      throw err
    }
  }
  return options as DfgetFileOptions // each value was converted to its option's type above
}

/**
 * `dfget config check FILE`: the file read as `--config FILE` reads it, then resolved as a
 * download resolves it (with a placeholder URL), so that values only the resolver checks
 * (`ip`, `headers`) fail here too. @throws DF_ERR_CONFIG_INVALID naming the key and the value
 */
export async function checkDfgetConfigFile (path: string): Promise<void> {
  resolveDfgetConfig({ ...(await loadDfgetConfigFile(path)), url: 'http://config-check.invalid/file' })
}

/** File options under the flags: a flag given on the command line wins. */
export function mergeDfgetOptions<T extends object> (fromFile: DfgetFileOptions, fromFlags: T): T {
  const merged: Record<string, unknown> = { ...fromFile }
  for (const [key, value] of Object.entries(fromFlags)) {
    if (value !== undefined && !(Array.isArray(value) && value.length === 0)) merged[key] = value
  }
  return merged as T // the file's keys are option keys of the same types
}

/** `dfget config default`: every setting with its default, as YAML. */
export function formatDfgetDefaultConfig (): string {
  return formatConfigYaml(`Damselfly dfget configuration (dfget --config FILE; default ${DEFAULT_DFGET_CONFIG_PATH})`,
    Object.entries(SETTINGS).map(([key, setting]) => ({ key, value: setting.defaultValue, help: setting.help })))
}

/** DF_ERR_CONFIG_INVALID naming the file's key and the value. */
function keyInvalid (key: string, value: string, problem: string): DfError {
  return new DfError('DF_ERR_CONFIG_INVALID', `config: ${key}: invalid value ${value}: ${problem}`, { details: { field: key, value } })
}

function text (value: unknown, key: string): string {
  if ((typeof value !== 'string' || value === '') && typeof value !== 'number') throw keyInvalid(key, JSON.stringify(value), 'must be a non-empty string')
  return String(value)
}

function stringList (value: unknown, key: string): string[] {
  if (typeof value === 'string') return value.split(',').map((item) => item.trim()).filter((item) => item !== '')
  if (!Array.isArray(value)) throw keyInvalid(key, JSON.stringify(value), 'must be a list of strings')
  return value.map((item, i) => text(item, `${key}[${i}]`))
}

/** Supernodes, checked as -n checks them (common/node-list.ts). */
function nodeList (value: unknown, key: string): string[] {
  const nodes = stringList(value, key)
  parseNodeList(nodes, { label: `config: ${key}`, field: key })
  return nodes
}

/** DNS servers, checked as --dns-server checks them (common/node-list.ts). */
function dnsServerList (value: unknown, key: string): string[] {
  const servers = stringList(value, key)
  parseDnsServers(servers, { label: `config: ${key}`, field: key })
  return servers
}

function httpUrl (value: unknown, key: string): string {
  const url = text(value, key)
  if (!/^https?:\/\/[^/]/i.test(url) || !URL.canParse(url)) throw keyInvalid(key, JSON.stringify(value), 'must be an http or https URL')
  return url
}

function flag (value: unknown, key: string): boolean {
  if (typeof value !== 'boolean') throw keyInvalid(key, JSON.stringify(value), 'must be true or false')
  return value
}

function oneOf (value: unknown, key: string, allowed: readonly string[]): string {
  if (typeof value !== 'string' || !allowed.includes(value)) throw keyInvalid(key, JSON.stringify(value), `must be one of ${allowed.join(', ')}`)
  return value
}

/** YAML numbers of durations count seconds, like the flags. */
function durationOf (key: string, value: string | number): number {
  return resolveDuration(key, typeof value === 'number' ? String(value) : value, 0)
}

/** Validates with the flag's own resolver, under the file's key; hands on the text form. */
function checked (value: unknown, key: string, resolve: (key: string, value: string | number) => number): string {
  if (typeof value !== 'string' && typeof value !== 'number') throw keyInvalid(key, JSON.stringify(value), 'must be a string or a number')
  resolve(key, value)
  return String(value)
}
