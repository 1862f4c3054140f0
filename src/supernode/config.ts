/**
 * Supernode configuration: `SupernodeOptions` (all optional) → `resolveSupernodeConfig()`
 * applies defaults and validates, throwing DF_ERR_CONFIG_INVALID naming the key and value.
 * The settings (flags, environment, YAML file; flags > environment > file > defaults) are
 * declared once in settings.ts; this module maps their values to options.
 */
import { homedir, networkInterfaces } from 'node:os'
import { join } from 'node:path'
import { isRefusal } from '../common/settings/setting-kinds.js'
import { formatSettingsYaml } from '../common/settings/settings-output.js'
import { loadSettingsFile, parseSettingsObject, settingInvalid, type Setting, type SettingValues } from '../common/settings/settings-table.js'
import { SUPERNODE_SETTINGS } from './settings.js'

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
  readonly grantKeyFile: string | undefined
  readonly grantLifetimeMs: number
  readonly accessCheckTtlMs: number
}

/** The values of the settings table. */
export type SupernodeSettingValues = SettingValues<typeof SUPERNODE_SETTINGS>

/** The option each setting sets, where its name differs (units in names: STYLE.md B7). */
const OPTION_OF: Partial<Record<keyof typeof SUPERNODE_SETTINGS, keyof SupernodeOptions>> = {
  pieceTimeout: 'pieceTimeoutMs',
  taskExpireTime: 'taskExpireTimeMs',
  cacheExpireTime: 'cacheExpireTimeMs',
  gcInterval: 'gcIntervalMs',
  cacheMaxSize: 'cacheMaxSizeBytes',
  cacheMinFreeSpace: 'cacheMinFreeBytes',
  cdnMemoryCache: 'cdnMemoryCacheBytes',
  sourceTimeout: 'sourceTimeoutMs',
  grantLifetime: 'grantLifetimeMs',
  accessCheckTtl: 'accessCheckTtlMs',
}

/** Setting values (from any layer) → options. */
export function optionsFromValues (values: SupernodeSettingValues): SupernodeOptions {
  const options: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(values)) if (value !== undefined) options[OPTION_OF[key as keyof typeof SUPERNODE_SETTINGS] ?? key] = value // keys of the table
  return options as SupernodeOptions // every value was parsed by its setting's kind
}

/** The setting names a config file may use (camelCase; kebab-case is accepted too). */
export const SETTING_NAMES: readonly string[] = Object.keys(SUPERNODE_SETTINGS)

/** The default of a setting that has one. */
function defaultOf<T> (setting: Setting<T>): T {
  if (setting.default === undefined) throw new Error('a setting without a default') // the table gives these a default
  return setting.default
}

/** An option given by a library caller, checked by its setting's kind (ranges of counts and ports). */
function checked (key: keyof typeof SUPERNODE_SETTINGS, value: number | undefined): number {
  const setting = SUPERNODE_SETTINGS[key] as Setting<number> // the callers name number settings
  if (value === undefined) return defaultOf(setting)
  const parsed = setting.kind.parse(value, key)
  if (isRefusal(parsed)) throw settingInvalid(key, value, parsed.problem)
  return parsed
}

/** Applies defaults and validates. @throws DF_ERR_CONFIG_INVALID naming the key and value */
export function resolveSupernodeConfig (options: SupernodeOptions = {}): SupernodeConfig {
  const s = SUPERNODE_SETTINGS
  const listen = text('listen', options.listen ?? defaultOf(s.listen))
  const advertiseIp = text('advertiseIp', options.advertiseIp ?? defaultAdvertiseIp(listen))
  const logLevel = text('logLevel', options.logLevel ?? defaultOf(s.logLevel))
  const homeDir = options.homeDir ?? join(homedir(), '.damselfly', 'supernode')
  if (homeDir === '') throw settingInvalid('homeDir', homeDir, 'must not be empty')
  return {
    listen,
    port: checked('port', options.port),
    downloadPort: checked('downloadPort', options.downloadPort),
    advertiseIp,
    homeDir,
    logLevel,
    maxUploadsPerPeer: checked('maxUploadsPerPeer', options.maxUploadsPerPeer),
    supernodeMaxUploads: checked('supernodeMaxUploads', options.supernodeMaxUploads),
    cdnConcurrency: checked('cdnConcurrency', options.cdnConcurrency),
    pieceTimeoutMs: integer('pieceTimeout', options.pieceTimeoutMs ?? defaultOf(s.pieceTimeout), 1, 3_600_000),
    taskExpireTimeMs: integer('taskExpireTime', options.taskExpireTimeMs ?? defaultOf(s.taskExpireTime), 0, Number.MAX_SAFE_INTEGER),
    cacheExpireTimeMs: integer('cacheExpireTime', options.cacheExpireTimeMs ?? defaultOf(s.cacheExpireTime), 0, Number.MAX_SAFE_INTEGER),
    gcIntervalMs: integer('gcInterval', options.gcIntervalMs ?? defaultOf(s.gcInterval), 10, 86_400_000),
    cacheMaxSizeBytes: integer('cacheMaxSize', options.cacheMaxSizeBytes ?? defaultOf(s.cacheMaxSize), 0, Number.MAX_SAFE_INTEGER),
    cacheMinFreeBytes: integer('cacheMinFreeSpace', options.cacheMinFreeBytes ?? defaultOf(s.cacheMinFreeSpace), 0, Number.MAX_SAFE_INTEGER),
    cdnMemoryCacheBytes: integer('cdnMemoryCache', options.cdnMemoryCacheBytes ?? defaultOf(s.cdnMemoryCache), 0, Number.MAX_SAFE_INTEGER),
    sourceTimeoutMs: integer('sourceTimeout', options.sourceTimeoutMs ?? defaultOf(s.sourceTimeout), 100, 3_600_000),
    sourceAttempts: integer('sourceAttempts', options.sourceAttempts ?? 3, 1, 100),
    randomSeed: options.randomSeed === undefined ? undefined : integer('randomSeed', options.randomSeed, 0, 2 ** 32 - 1),
    sourceAllow: options.sourceAllow ?? defaultOf(s.sourceAllow),
    sourceDeny: options.sourceDeny ?? defaultOf(s.sourceDeny),
    token: options.token === undefined || options.token === '' ? undefined : options.token,
    ...tlsFiles(options.tlsCert, options.tlsKey),
    grantKeyFile: options.grantKeyFile === undefined || options.grantKeyFile === '' ? undefined : options.grantKeyFile,
    grantLifetimeMs: integer('grantLifetime', options.grantLifetimeMs ?? defaultOf(s.grantLifetime), 100, 3_600_000),
    accessCheckTtlMs: integer('accessCheckTtl', options.accessCheckTtlMs ?? defaultOf(s.accessCheckTtl), 0, 3_600_000),
  }
}

/**
 * Named settings (a YAML mapping, or flags by name; camelCase or kebab-case; undefined
 * values skipped) → options. @throws DF_ERR_CONFIG_INVALID naming the key and value
 */
export function optionsFromSettings (settings: Readonly<Record<string, unknown>>): SupernodeOptions {
  return optionsFromValues(parseSettingsObject(settings, SUPERNODE_SETTINGS, 'supernode'))
}

/** Reads a YAML config file into options. @throws DF_ERR_CONFIG_INVALID */
export async function loadConfigFile (path: string): Promise<SupernodeOptions> {
  return optionsFromValues(await loadSettingsFile(path, SUPERNODE_SETTINGS, 'supernode'))
}

/** `supernode config default`: every setting with its default, as YAML. */
export function formatSupernodeDefaultConfig (): string {
  return formatSettingsYaml('Damselfly supernode configuration (supernode --config FILE)', SUPERNODE_SETTINGS)
}

/** `listen` if it is a specific address, else the first non-loopback IPv4, else 127.0.0.1. */
export function defaultAdvertiseIp (listen: string, interfaces = networkInterfaces()): string {
  if (listen !== '0.0.0.0' && listen !== '::') return listen
  for (const addresses of Object.values(interfaces)) {
    for (const address of addresses ?? []) if (address.family === 'IPv4' && !address.internal) return address.address
  }
  return '127.0.0.1'
}

/** A text option of a library caller, checked by its setting's kind (ip, enum). */
function text (key: 'listen' | 'advertiseIp' | 'logLevel', value: string): string {
  const parsed = SUPERNODE_SETTINGS[key].kind.parse(value, key)
  if (isRefusal(parsed)) throw settingInvalid(key, value, parsed.problem)
  return parsed
}

function integer (key: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) throw settingInvalid(key, value, `must be an integer from ${min} to ${max}`)
  return value
}

function tlsFiles (cert: string | undefined, key: string | undefined): { tlsCert: string | undefined, tlsKey: string | undefined } {
  if ((cert === undefined) !== (key === undefined)) throw settingInvalid(cert === undefined ? 'tlsCert' : 'tlsKey', '', 'tlsCert and tlsKey go together')
  return { tlsCert: cert, tlsKey: key }
}
