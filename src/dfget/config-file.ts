/**
 * dfget's configuration file (per host, like Dragonfly's /etc/dragonfly/dfget.yml): the
 * file keys of the settings table (settings.ts) — supernodes, home, rate limits, timeouts,
 * the peer server's alive and expire times. `--config FILE` names it; without the flag the
 * default path is read when it exists. Flags override the file; a bad key or value is
 * DF_ERR_CONFIG_INVALID naming both. `dfget config default` prints every key with its default.
 */
import { formatSettingsYaml } from '../common/settings/settings-output.js'
import { fileSettingKeys, loadSettingsFile, parseSettingsYaml, valuesByFlagName } from '../common/settings/settings-table.js'
import { resolveDfgetConfig, type DfgetOptions } from './config.js'
import { DFGET_SETTINGS } from './settings.js'
import type { PeerServerOptions } from './uploader/peer-server-config.js'

/** Where dfget looks for its configuration when no --config is given. */
export const DEFAULT_DFGET_CONFIG_PATH = '/etc/damselfly/dfget.yml'

/** Settings of the file, as the options of a download and of the peer server (durations in ms, rates in bytes per second). */
export type DfgetFileOptions = DfgetOptions & PeerServerOptions

/** The keys a dfget configuration file may hold. */
export const DFGET_CONFIG_KEYS: readonly string[] = fileSettingKeys(DFGET_SETTINGS)

/**
 * Reads the configuration file: `path` when given (it must exist), else the default path
 * when it exists. @throws DF_ERR_CONFIG_INVALID naming the key and the value
 */
export async function loadDfgetConfigFile (path: string | undefined, defaultPath = DEFAULT_DFGET_CONFIG_PATH): Promise<DfgetFileOptions> {
  return valuesByFlagName(await loadSettingsFile(path ?? defaultPath, DFGET_SETTINGS, 'dfget', path === undefined), DFGET_SETTINGS) as DfgetFileOptions // parsed values under the options' names
}

/** Parses the YAML of a configuration file. @throws DF_ERR_CONFIG_INVALID naming the key and the value */
export function parseDfgetConfigText (text: string): DfgetFileOptions {
  return valuesByFlagName(parseSettingsYaml(text, DFGET_SETTINGS, 'dfget'), DFGET_SETTINGS) as DfgetFileOptions // parsed values under the options' names
}

/**
 * `dfget config check FILE`: the file read as `--config FILE` reads it, then resolved as a
 * download resolves it (with a placeholder URL), so that values only the resolver checks
 * (`headers`) fail here too. @throws DF_ERR_CONFIG_INVALID naming the key and the value
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
  return formatSettingsYaml(`Damselfly dfget configuration (dfget --config FILE; default ${DEFAULT_DFGET_CONFIG_PATH})`, DFGET_SETTINGS)
}
