/**
 * Supernode configuration: `SupernodeOptions` (all optional) → `resolveSupernodeConfig()`
 * applies defaults and validates, throwing DF_ERR_CONFIG_INVALID naming the key and value.
 * Settings come from a YAML file (`--config`) and from flags, with flags winning; both use
 * the same names (camelCase or the flags' kebab-case) and the same value forms: durations
 * as "500ms", "30s", "3m", "1h" (a bare number is seconds).
 */
import { readFile } from 'node:fs/promises'
import { isIP } from 'node:net'
import { homedir, networkInterfaces } from 'node:os'
import { join } from 'node:path'
import { parseConfigYaml } from '../common/config-yaml.js'
import { parseDurationMs } from '../common/duration.js'
import { parseSize } from '../common/rate-limiter.js'
import { DfError } from '../protocol/errors.js'

/** Everything a Supernode can be told; every field optional. */
export interface SupernodeOptions {
  /** Bind address. Default "0.0.0.0". */
  readonly listen?: string
  /** API port. Default 8002; 0 picks a free port. */
  readonly port?: number
  /** Piece-data port. Default 8001; equal to `port` → one server for both. */
  readonly downloadPort?: number
  /** Address peers are told. Default: `listen` if specific, else the first non-loopback IPv4, else 127.0.0.1. */
  readonly advertiseIp?: string
  /** CDN cache and metadata. Default ~/.damselfly/supernode. */
  readonly homeDir?: string
  readonly logLevel?: string
  /** Most uploads in flight from one peer. Default 5. */
  readonly maxUploadsPerPeer?: number
  /** Most uploads in flight from the supernode, per task. Default 8. */
  readonly supernodeMaxUploads?: number
  /** Parallel ranged source requests per task. Default 4. */
  readonly cdnConcurrency?: number
  /** A hand-out not reported within this is released. Default 30 s. */
  readonly pieceTimeoutMs?: number
  /** A task nobody uses leaves memory after this. Default 3 min. */
  readonly taskExpireTimeMs?: number
  /** A cache file unused for this long is deleted. Default 24 h. */
  readonly cacheExpireTimeMs?: number
  /** How often GC runs. Default 1 min. */
  readonly gcIntervalMs?: number
  /** Most bytes of CDN cache files; least recently used files are evicted past it. 0 (default) = no limit. */
  readonly cacheMaxSizeBytes?: number
  /** Least free bytes on the cache's filesystem; files are evicted to keep it. Default 0 (no limit). */
  readonly cacheMinFreeBytes?: number
  /** Bytes of just-cached pieces kept in memory to serve the first requests from. Default 64 MiB; 0 = none. */
  readonly cdnMemoryCacheBytes?: number
  /** Source deadline for headers and between body chunks. Default 30 s. */
  readonly sourceTimeoutMs?: number
  /** Attempts per source piece read before the task fails. Default 3. */
  readonly sourceAttempts?: number
  /** Seed of the scheduler's random tie-breaking (tests). Default: random. */
  readonly randomSeed?: number
  /** Sources the CDN may fetch (host names, `*.domain`, IPs, CIDR networks); empty = any. */
  readonly sourceAllow?: readonly string[]
  /** Sources the CDN never fetches (same forms; wins over sourceAllow). */
  readonly sourceDeny?: readonly string[]
  /** Shared token required on the API and piece data (Authorization: Bearer); default none (or DAMSELFLY_TOKEN). */
  readonly token?: string
  /** PEM certificate and key files: serve the API over HTTPS. */
  readonly tlsCert?: string
  readonly tlsKey?: string
  /**
   * Serve the piece-data port over HTTPS too, with tlsCert and tlsKey, and hand out peers'
   * piece URLs as https (every host agent then serves TLS: `dfget server --tls-cert --tls-key`). Default false.
   */
  readonly tlsData?: boolean
  /** The Ed25519 private key (PEM) that signs piece grants; created when missing. Default `<homeDir>/grant-key.pem`. */
  readonly grantKeyFile?: string
  /** How long a piece grant opens its task's pieces. Default 60 s. */
  readonly grantLifetimeMs?: number
  /** How long a registration's proven access to its source stands (per task, URL and headers). Default 60 s. */
  readonly accessCheckTtlMs?: number
}

/** The resolved configuration: every value present and valid. */
export interface SupernodeConfig {
  readonly listen: string
  readonly port: number
  readonly downloadPort: number
  readonly advertiseIp: string
  readonly homeDir: string
  readonly logLevel: string
  readonly maxUploadsPerPeer: number
  readonly supernodeMaxUploads: number
  readonly cdnConcurrency: number
  readonly pieceTimeoutMs: number
  readonly taskExpireTimeMs: number
  readonly cacheExpireTimeMs: number
  readonly gcIntervalMs: number
  readonly cacheMaxSizeBytes: number
  readonly cacheMinFreeBytes: number
  readonly cdnMemoryCacheBytes: number
  readonly sourceTimeoutMs: number
  readonly sourceAttempts: number
  readonly randomSeed: number | undefined
  readonly sourceAllow: readonly string[]
  readonly sourceDeny: readonly string[]
  readonly token: string | undefined
  readonly tlsCert: string | undefined
  readonly tlsKey: string | undefined
  readonly tlsData: boolean
  readonly grantKeyFile: string | undefined
  readonly grantLifetimeMs: number
  readonly accessCheckTtlMs: number
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

/** Applies defaults and validates. @throws DF_ERR_CONFIG_INVALID naming the key and value */
export function resolveSupernodeConfig (options: SupernodeOptions = {}): SupernodeConfig {
  const listen = options.listen ?? '0.0.0.0'
  if (isIP(listen) === 0) throw configError('listen', listen, 'must be an IP address')
  const advertiseIp = options.advertiseIp ?? defaultAdvertiseIp(listen)
  if (isIP(advertiseIp) === 0) throw configError('advertiseIp', advertiseIp, 'must be an IP address')
  const logLevel = options.logLevel ?? 'info'
  if (!LOG_LEVELS.includes(logLevel)) throw configError('logLevel', logLevel, `must be one of ${LOG_LEVELS.join(', ')}`)
  const homeDir = options.homeDir ?? join(homedir(), '.damselfly', 'supernode')
  if (homeDir === '') throw configError('homeDir', homeDir, 'must not be empty')
  return {
    listen,
    port: integer('port', options.port ?? 8002, 0, 65535),
    downloadPort: integer('downloadPort', options.downloadPort ?? 8001, 0, 65535),
    advertiseIp,
    homeDir,
    logLevel,
    maxUploadsPerPeer: integer('maxUploadsPerPeer', options.maxUploadsPerPeer ?? 5, 1, 1024),
    supernodeMaxUploads: integer('supernodeMaxUploads', options.supernodeMaxUploads ?? 8, 1, 4096),
    cdnConcurrency: integer('cdnConcurrency', options.cdnConcurrency ?? 1, 1, 64),
    pieceTimeoutMs: integer('pieceTimeoutMs', options.pieceTimeoutMs ?? 30_000, 1, 3_600_000),
    taskExpireTimeMs: integer('taskExpireTimeMs', options.taskExpireTimeMs ?? 180_000, 0, Number.MAX_SAFE_INTEGER),
    cacheExpireTimeMs: integer('cacheExpireTimeMs', options.cacheExpireTimeMs ?? 86_400_000, 0, Number.MAX_SAFE_INTEGER),
    gcIntervalMs: integer('gcIntervalMs', options.gcIntervalMs ?? 60_000, 10, 86_400_000),
    cacheMaxSizeBytes: integer('cacheMaxSize', options.cacheMaxSizeBytes ?? 0, 0, Number.MAX_SAFE_INTEGER),
    cacheMinFreeBytes: integer('cacheMinFreeSpace', options.cacheMinFreeBytes ?? 0, 0, Number.MAX_SAFE_INTEGER),
    cdnMemoryCacheBytes: integer('cdnMemoryCache', options.cdnMemoryCacheBytes ?? 64 * 1024 * 1024, 0, Number.MAX_SAFE_INTEGER),
    sourceTimeoutMs: integer('sourceTimeoutMs', options.sourceTimeoutMs ?? 30_000, 100, 3_600_000),
    sourceAttempts: integer('sourceAttempts', options.sourceAttempts ?? 3, 1, 100),
    randomSeed: options.randomSeed === undefined ? undefined : integer('randomSeed', options.randomSeed, 0, 2 ** 32 - 1),
    sourceAllow: options.sourceAllow ?? [],
    sourceDeny: options.sourceDeny ?? [],
    token: options.token === undefined || options.token === '' ? undefined : options.token,
    ...tlsFiles(options.tlsCert, options.tlsKey),
    tlsData: tlsData(options.tlsData ?? false, options.tlsCert),
    grantKeyFile: options.grantKeyFile === undefined || options.grantKeyFile === '' ? undefined : options.grantKeyFile,
    grantLifetimeMs: integer('grantLifetime', options.grantLifetimeMs ?? 60_000, 100, 3_600_000),
    accessCheckTtlMs: integer('accessCheckTtl', options.accessCheckTtlMs ?? 60_000, 0, 3_600_000),
  }
}

/** Settings by name (file keys or flags), turned into options; unknown names are rejected. */
const SETTINGS: Readonly<Record<string, (value: unknown, key: string) => Partial<Record<keyof SupernodeOptions, unknown>>>> = {
  listen: (v, k) => ({ listen: text(k, v) }),
  port: (v, k) => ({ port: count(k, v) }),
  downloadPort: (v, k) => ({ downloadPort: count(k, v) }),
  advertiseIp: (v, k) => ({ advertiseIp: text(k, v) }),
  homeDir: (v, k) => ({ homeDir: text(k, v) }),
  logLevel: (v, k) => ({ logLevel: text(k, v) }),
  maxUploadsPerPeer: (v, k) => ({ maxUploadsPerPeer: count(k, v) }),
  supernodeMaxUploads: (v, k) => ({ supernodeMaxUploads: count(k, v) }),
  cdnConcurrency: (v, k) => ({ cdnConcurrency: count(k, v) }),
  pieceTimeout: (v, k) => ({ pieceTimeoutMs: durationMs(k, v) }),
  taskExpireTime: (v, k) => ({ taskExpireTimeMs: durationMs(k, v) }),
  cacheExpireTime: (v, k) => ({ cacheExpireTimeMs: durationMs(k, v) }),
  gcInterval: (v, k) => ({ gcIntervalMs: durationMs(k, v) }),
  cacheMaxSize: (v, k) => ({ cacheMaxSizeBytes: sizeBytes(k, v) }),
  cacheMinFreeSpace: (v, k) => ({ cacheMinFreeBytes: sizeBytes(k, v) }),
  cdnMemoryCache: (v, k) => ({ cdnMemoryCacheBytes: sizeBytes(k, v) }),
  sourceTimeout: (v, k) => ({ sourceTimeoutMs: durationMs(k, v) }),
  sourceAllow: (v, k) => ({ sourceAllow: list(k, v) }),
  sourceDeny: (v, k) => ({ sourceDeny: list(k, v) }),
  token: (v, k) => ({ token: text(k, v) }),
  tlsCert: (v, k) => ({ tlsCert: text(k, v) }),
  tlsKey: (v, k) => ({ tlsKey: text(k, v) }),
  tlsData: (v, k) => ({ tlsData: flag(k, v) }),
  grantKeyFile: (v, k) => ({ grantKeyFile: text(k, v) }),
  grantLifetime: (v, k) => ({ grantLifetimeMs: durationMs(k, v) }),
  accessCheckTtl: (v, k) => ({ accessCheckTtlMs: durationMs(k, v) }),
}

/** The setting names a config file or the flags may use (camelCase). */
export const SETTING_NAMES: readonly string[] = Object.keys(SETTINGS)

/**
 * Turns named settings (from YAML or flags; undefined values skipped) into options.
 * @throws DF_ERR_CONFIG_INVALID naming the key and value
 */
export function optionsFromSettings (settings: Readonly<Record<string, unknown>>): SupernodeOptions {
  let options: Record<string, unknown> = {}
  for (const [rawKey, value] of Object.entries(settings)) {
    if (value === undefined || value === null) continue
    const key = rawKey.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase())
    // Own keys only: "__proto__" or "toString" in a file names no setting.
    const convert = Object.hasOwn(SETTINGS, key) ? SETTINGS[key] : undefined
    if (convert === undefined) throw configError(rawKey, value, 'is not a known setting')
    options = { ...options, ...convert(value, rawKey) }
  }
  return options as SupernodeOptions // every value was converted to its option's type above
}

/** Reads a YAML config file into options. @throws DF_ERR_CONFIG_INVALID */
export async function loadConfigFile (path: string): Promise<SupernodeOptions> {
  let textValue: string
  try {
    textValue = await readFile(path, 'utf8')
  } catch (err) {
    throw new DfError('DF_ERR_CONFIG_INVALID', `config: cannot read ${path}`, { cause: err, details: { field: 'config', value: path } })
  }
  let parsed: unknown
  try {
    parsed = parseConfigYaml(textValue)
  } catch (err) {
    throw new DfError('DF_ERR_CONFIG_INVALID', `config: ${path} is not valid YAML: ${(err as Error).message}`, { cause: err, details: { field: 'config', value: path } })
  }
  if (parsed === null || parsed === undefined) return {}
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw configError('config', path, 'must hold a mapping of settings')
  return optionsFromSettings(parsed as Record<string, unknown>) // an object, checked key by key
}

/** `listen` if it is a specific address, else the first non-loopback IPv4, else 127.0.0.1. */
export function defaultAdvertiseIp (listen: string, interfaces = networkInterfaces()): string {
  if (listen !== '0.0.0.0' && listen !== '::') return listen
  for (const addresses of Object.values(interfaces)) {
    for (const address of addresses ?? []) if (address.family === 'IPv4' && !address.internal) return address.address
  }
  return '127.0.0.1'
}

function configError (key: string, value: unknown, problem: string): DfError {
  const shown = typeof value === 'string' ? value : JSON.stringify(value) ?? String(value)
  return new DfError('DF_ERR_CONFIG_INVALID', `${key}: ${problem} (got ${shown})`, { details: { field: key, value: shown } })
}

function integer (key: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) throw configError(key, value, `must be an integer from ${min} to ${max}`)
  return value
}

function text (key: string, value: unknown): string {
  if (typeof value !== 'string' && typeof value !== 'number') throw configError(key, value, 'must be a string')
  return String(value)
}

function tlsFiles (cert: string | undefined, key: string | undefined): { tlsCert: string | undefined, tlsKey: string | undefined } {
  if ((cert === undefined) !== (key === undefined)) throw configError(cert === undefined ? 'tlsCert' : 'tlsKey', '', 'tlsCert and tlsKey go together')
  return { tlsCert: cert, tlsKey: key }
}

/** A list from YAML (a sequence) or a flag (comma-separated). */
function tlsData (on: boolean, cert: string | undefined): boolean {
  if (on && cert === undefined) throw configError('tlsData', on, 'needs tlsCert and tlsKey (the data ports use the API\'s certificate)')
  return on
}

function flag (key: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw configError(key, value, 'must be true or false')
  return value
}

function list (key: string, value: unknown): string[] {
  const items = Array.isArray(value) ? value : typeof value === 'string' ? value.split(',') : undefined
  if (items === undefined || !items.every((item) => typeof item === 'string')) throw configError(key, value, 'must be a list of hosts or networks')
  return items.map((item: string) => item.trim()).filter((item) => item !== '')
}

function count (key: string, value: unknown): number {
  const number = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN
  if (!Number.isInteger(number)) throw configError(key, value, 'must be a whole number')
  return number
}

function sizeBytes (key: string, value: unknown): number {
  // YAML gives bare numbers as numbers: bytes.
  const bytes = typeof value === 'number' ? (Number.isInteger(value) && value >= 0 ? value : undefined) : typeof value === 'string' ? parseSize(value) : undefined
  if (bytes === undefined) throw configError(key, value, 'must be a size like 512M, 10G or a number of bytes')
  return bytes
}

function durationMs (key: string, value: unknown): number {
  // YAML gives bare numbers as numbers; like the flags, they count seconds.
  const ms = typeof value === 'number' ? (Number.isFinite(value) && value >= 0 ? Math.round(value * 1000) : undefined) : typeof value === 'string' ? parseDurationMs(value) : undefined
  if (ms === undefined) throw configError(key, value, 'must be a duration like 500ms, 30s, 3m or 1h')
  return ms
}
