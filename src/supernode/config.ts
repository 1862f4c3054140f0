/**
 * Supernode configuration: `SupernodeOptions` (all optional) → `resolveSupernodeConfig()`
 * applies defaults and validates, throwing DF_ERR_CONFIG_INVALID naming the key and value.
 * The settings (flags, environment, YAML file; flags > environment > file > defaults) are
 * declared once in settings.ts; this module maps their values to options.
 */
import { homedir, networkInterfaces } from 'node:os'
import { join } from 'node:path'
import { formatSettingsYaml } from '../common/settings/settings-output.js'
import { loadSettingsFile, parseSettingValue, parseSettingsObject, settingInvalid, type Setting, type SettingValues } from '../common/settings/settings-table.js'
import { SUPERNODE_SETTINGS } from './settings.js'

/** Settings whose option names carry their unit (STYLE.md B7). */
const OPTION_OF = {
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
} as const satisfies Partial<Record<keyof typeof SUPERNODE_SETTINGS, string>>

/** The values of the settings table. */
export type SupernodeSettingValues = SettingValues<typeof SUPERNODE_SETTINGS>
type Values = Required<SupernodeSettingValues>

/**
 * Everything a Supernode can be told, every field optional: the settings of settings.ts
 * (their help is there) under their option names, durations in ms and sizes in bytes; and
 * two for tests: attempts per source piece read (default 3) and the seed of the
 * scheduler's random tie-breaking (default random).
 */
export type SupernodeOptions = { readonly [K in keyof Values as K extends keyof typeof OPTION_OF ? typeof OPTION_OF[K] : K]?: Values[K] extends string ? string : Values[K] } & {
  readonly sourceAttempts?: number
  readonly randomSeed?: number
}

/** Options without a default: undefined when unset. */
type UnsetOption = 'randomSeed' | 'token' | 'tlsCert' | 'tlsKey' | 'grantKeyFile'

/** The resolved configuration: every value present and valid. */
export type SupernodeConfig = { readonly [K in Exclude<keyof SupernodeOptions, UnsetOption>]-?: NonNullable<SupernodeOptions[K]> } & { readonly [K in UnsetOption]: SupernodeOptions[K] | undefined }

/** Setting values (from any layer) → options. */
export function optionsFromValues (values: SupernodeSettingValues): SupernodeOptions {
  const options: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(values)) if (value !== undefined) options[(OPTION_OF as Record<string, string>)[key] ?? key] = value
  return options as SupernodeOptions // every value was parsed by its setting's kind
}

/** The setting names a config file may use (camelCase; kebab-case is accepted too). */
export const SETTING_NAMES: readonly string[] = Object.keys(SUPERNODE_SETTINGS)

/** The default of a setting that has one. */
function defaultOf<T> (setting: Setting<T>): T {
  if (setting.default === undefined) throw new Error('a setting without a default') // the table gives these a default
  return setting.default
}

/** An option given by a library caller (or its default), checked by its setting's kind: counts, ports, addresses, levels. */
function checked<K extends 'port' | 'downloadPort' | 'maxUploadsPerPeer' | 'supernodeMaxUploads' | 'cdnConcurrency' | 'listen' | 'logLevel'> (key: K, value: Values[K] | string | undefined): Values[K] {
  const setting = SUPERNODE_SETTINGS[key] as Setting<Values[K]> // each of these keys has a default
  return parseSettingValue(setting, value ?? defaultOf(setting), key)
}

/** Applies defaults and validates. @throws DF_ERR_CONFIG_INVALID naming the key and value */
export function resolveSupernodeConfig (options: SupernodeOptions = {}): SupernodeConfig {
  const s = SUPERNODE_SETTINGS
  const listen = checked('listen', options.listen)
  const advertiseIp = parseSettingValue(s.advertiseIp, options.advertiseIp ?? defaultAdvertiseIp(listen), 'advertiseIp')
  const logLevel = checked('logLevel', options.logLevel)
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
    tlsData: tlsData(options.tlsData ?? defaultOf(s.tlsData), options.tlsCert),
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

function integer (key: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) throw settingInvalid(key, value, `must be an integer from ${min} to ${max}`)
  return value
}

function tlsData (on: boolean, cert: string | undefined): boolean {
  if (on && cert === undefined) throw settingInvalid('tlsData', on, 'needs tlsCert and tlsKey (the data ports use the API\'s certificate)')
  return on
}

function tlsFiles (cert: string | undefined, key: string | undefined): { tlsCert: string | undefined, tlsKey: string | undefined } {
  if ((cert === undefined) !== (key === undefined)) throw settingInvalid(cert === undefined ? 'tlsCert' : 'tlsKey', '', 'tlsCert and tlsKey go together')
  return { tlsCert: cert, tlsKey: key }
}
