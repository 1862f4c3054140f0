/**
 * A program's settings table: each setting declared once — its YAML key (dotted for a key
 * inside a mapping, `registry_mirror.remote`), its flag, its environment variable, its kind,
 * default and help. From the table come the commander options (help with defaults), the
 * YAML loader (a TypeBox schema that refuses unknown keys and wrong kinds, then the kinds'
 * parsers), the environment, and the `config default` output and docs
 * (settings-output.ts). Layers merge as flags > environment > file > defaults.
 *
 * Adding a setting is adding one entry to the program's table (e.g. src/supernode/settings.ts)
 * and mapping its value to the program's option in that program's config.ts; docs/configuration.md
 * is regenerated with `npm run docs:config`.
 */
import { readFile } from 'node:fs/promises'
import { Option, type Command } from 'commander'
import { Kind, Type, type TSchema } from '@sinclair/typebox'
import { TypeCompiler, ValueErrorType, type TypeCheck } from '@sinclair/typebox/compiler'
import { stringify } from 'yaml'
import { parseConfigYaml } from '../config-yaml.js'
import { DfError } from '../../protocol/errors.js'
import { isRefusal, type SettingKind } from './setting-kinds.js'

/** One setting. `T` is its value's type once parsed. */
export interface Setting<T> {
  readonly kind: SettingKind<T>
  /** One line of help: the flag's help, the comment of `config default`, the docs' meaning. */
  readonly help: string
  /** The default; absent = unset (or derived at run time: say how in `defaultText`). */
  readonly default?: T
  /** How help and docs show a default that is absent or derived: "the listen address if specific". */
  readonly defaultText?: string
  /** Commander flags without the value: "-s, --locallimit". Absent: file only. */
  readonly flag?: string
  /** For a switch flag: the value it sets (default true; `--notbs` sets back_source false). */
  readonly flagValue?: T
  /** Environment variable read when no flag gives the value. */
  readonly env?: string
  /** Other YAML keys accepted for this one (kebab-case, Dragonfly's snake_case). */
  readonly aliases?: readonly string[]
  /** False for a flag that is no key of the file. */
  readonly inFile?: boolean
  /** Longer text for docs/configuration.md (Markdown); default `help`. */
  readonly doc?: string
}

/** A table: YAML key → setting. Settings are bivariant in their value type through the kind's methods. */
export type SettingsTable = Readonly<Record<string, Setting<never> | Setting<unknown>>>

/** Parsed values by key; a key is present only when some layer set it. */
export type SettingValues<T extends SettingsTable> = { -readonly [K in keyof T]?: T[K] extends { readonly kind: SettingKind<infer V> } ? V : never }

/** A setting's long flag name, "--locallimit", or undefined. */
export function longFlag (setting: Setting<unknown>): string | undefined {
  return /--[a-z0-9-]+(?!.*--)/.exec(setting.flag ?? '')?.[0]
}

/**
 * Values by the name commander gives the setting's flag ("--locallimit" → "locallimit",
 * "--s3-endpoint" → "s3Endpoint"; the key when there is no flag): how programs whose
 * options follow their flags take file values.
 */
export function valuesByFlagName (values: Readonly<Record<string, unknown>>, table: SettingsTable): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(values)) {
    const setting = table[key]
    const flag = setting === undefined ? undefined : longFlag(setting)
    out[flag === undefined ? key : flag.slice(2).replace(/-([a-z0-9])/g, (_, letter: string) => letter.toUpperCase())] = value
  }
  return out
}

/** How help and docs show a setting's default, or undefined when it has none. */
export function describeDefault (setting: Setting<unknown>): string | undefined {
  if (setting.defaultText !== undefined) return setting.defaultText
  if (setting.default === undefined) return undefined
  const shown = setting.kind.format(setting.default)
  return typeof shown === 'object' && shown !== null ? stringify(shown, { collectionStyle: 'flow' }).trim() : String(shown)
}

/** DF_ERR_CONFIG_INVALID naming the setting (a key or a --flag) and the value: "port: must be … (got "lots")". */
export function settingInvalid (name: string, value: unknown, problem: string): DfError {
  const shown = typeof value === 'string' ? value : JSON.stringify(value) ?? String(value)
  return new DfError('DF_ERR_CONFIG_INVALID', `${name}: ${problem} (got ${JSON.stringify(shown)})`, { details: { field: name.replace(/^--/, ''), value: shown } })
}

/**
 * One raw value of a setting (a flag's text, a YAML value, or an option a library caller
 * gave) parsed by its kind. @throws DF_ERR_CONFIG_INVALID naming `name` and the value
 */
export function parseSettingValue<T> (setting: Setting<T>, raw: unknown, name: string): T {
  const value = setting.kind.parse(raw, name)
  if (isRefusal(value)) throw settingInvalid(name, raw, value.problem)
  return value
}

/** The part of a table named by `keys` (a command that takes some of the program's flags). */
export function pickSettings<T extends SettingsTable, K extends keyof T & string> (table: T, keys: readonly K[]): Pick<T, K> {
  return Object.fromEntries(keys.map((key) => [key, table[key]])) as Pick<T, K> // the named entries of the table
}

/** The keys of a table that a file may hold (not the flag-only settings). */
export function fileSettingKeys (table: SettingsTable): string[] {
  return Object.entries(table).filter(([, setting]) => setting.inFile !== false).map(([key]) => key)
}

/** The defaults of a table. */
export function settingDefaults<T extends SettingsTable> (table: T): SettingValues<T> {
  const out: Record<string, unknown> = {}
  for (const [key, setting] of Object.entries(table)) if (setting.default !== undefined) out[key] = setting.default
  return out as SettingValues<T> // built from the table's own keys and defaults
}

/** Layers merged key by key; a later layer wins where it sets a key. */
export function mergeSettingValues<T extends SettingsTable> (...layers: readonly SettingValues<T>[]): SettingValues<T> {
  const out: Record<string, unknown> = {}
  for (const layer of layers) for (const [key, value] of Object.entries(layer)) if (value !== undefined) out[key] = value
  return out as SettingValues<T> // keys and values of SettingValues<T> layers
}

/**
 * Adds an option to `command` for every setting with a flag, its help ending in the
 * default. No default is given to commander, so an absent flag leaves the file's value.
 */
export function addSettingFlags (command: Command, table: SettingsTable): Command {
  for (const setting of Object.values(table)) {
    if (setting.flag === undefined) continue
    // A switch that is off and an empty list need no "[default: …]".
    const isEmpty = setting.default === false || (Array.isArray(setting.default) && setting.default.length === 0)
    const shown = isEmpty ? undefined : describeDefault(setting)
    const option = new Option(setting.kind.isSwitch === true ? setting.flag : `${setting.flag} ${setting.kind.placeholder}`, shown === undefined ? setting.help : `${setting.help} [default: ${shown}]`)
    if (setting.kind.choices !== undefined) option.choices(setting.kind.choices)
    if (setting.kind.isRepeatable === true) option.argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value])
    command.addOption(option)
  }
  return command
}

/** The values the flags given on `command`'s line set, parsed. @throws DF_ERR_CONFIG_INVALID naming the flag */
export function readSettingFlags<T extends SettingsTable> (command: Command, table: T): SettingValues<T> {
  const out: Record<string, unknown> = {}
  const options = new Map(command.options.map((option) => [option.long, option]))
  for (const [key, setting] of Object.entries(table)) {
    const flag = longFlag(setting)
    const option = flag === undefined ? undefined : options.get(flag)
    if (flag === undefined || option === undefined || command.getOptionValueSource(option.attributeName()) !== 'cli') continue
    out[key] = setting.kind.isSwitch === true ? (setting.flagValue ?? true) : parseSettingValue(setting, command.getOptionValue(option.attributeName()), flag)
  }
  return out as SettingValues<T> // parsed by each key's own kind
}

/** The values the environment sets (non-empty variables), parsed. @throws DF_ERR_CONFIG_INVALID naming the variable */
export function readSettingEnv<T extends SettingsTable> (table: T, env: NodeJS.ProcessEnv = process.env): SettingValues<T> {
  const out: Record<string, unknown> = {}
  for (const [key, setting] of Object.entries(table)) {
    const text = setting.env === undefined ? undefined : env[setting.env]
    if (setting.env !== undefined && text !== undefined && text !== '') out[key] = parseSettingValue(setting, setting.kind.isSwitch === true ? text === 'true' || text === '1' : text, setting.env)
  }
  return out as SettingValues<T> // parsed by each key's own kind
}

/** The compiled schema of a table's file, cached per table. */
const checkers = new WeakMap<SettingsTable, TypeCheck<TSchema>>()

/** The YAML keys of a table, aliases included, each with its setting's key. */
function fileKeys (table: SettingsTable): Map<string, string> {
  const keys = new Map<string, string>()
  for (const [key, setting] of Object.entries(table)) {
    if (setting.inFile === false) continue
    keys.set(key, key)
    for (const alias of setting.aliases ?? []) keys.set(alias, key)
  }
  return keys
}

/** A TypeBox object of every file key; dotted keys become nested mappings. No other key is allowed. */
export function settingsFileSchema (table: SettingsTable): TSchema {
  const tree: Record<string, unknown> = {}
  for (const [yamlKey, key] of fileKeys(table)) {
    const setting = table[key]
    if (setting === undefined) continue
    const path = yamlKey.split('.')
    let node = tree
    for (const part of path.slice(0, -1)) node = (node[part] ??= {}) as Record<string, unknown> // groups are plain objects
    node[path[path.length - 1] ?? yamlKey] = setting.kind.schema
  }
  const build = (node: Record<string, unknown>): TSchema => Type.Object(Object.fromEntries(Object.entries(node).map(([name, child]) => [name, Type.Optional(isSchema(child) ? child : build(child as Record<string, unknown>))])), { additionalProperties: false }) // non-schemas are groups
  return build(tree)
}

function isSchema (value: unknown): value is TSchema {
  return typeof value === 'object' && value !== null && Kind in value
}

/** Drops keys whose value is null (an empty YAML key is unset), in the root and in groups. */
function withoutNulls (value: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).filter(([, item]) => item !== null && item !== undefined).map(([key, item]) =>
    [key, typeof item === 'object' && !Array.isArray(item) ? withoutNulls(item as Record<string, unknown>) : item])) // a mapping: checked above
}

/** "/proxies/0/direct" → "proxies[0].direct". */
function keyOfPath (path: string): string {
  return path.split('/').slice(1).map((part) => /^\d+$/.test(part) ? `[${part}]` : `.${part}`).join('').replace(/^\./, '')
}

/**
 * A mapping of settings (a parsed YAML document, or names and values given by a library
 * caller) → parsed values. Unknown keys and wrong kinds fail naming the key.
 * @throws DF_ERR_CONFIG_INVALID naming the key, the value and what was expected
 */
export function parseSettingsObject<T extends SettingsTable> (document: unknown, table: T, program: string): SettingValues<T> {
  if (document === null || document === undefined) return {}
  if (typeof document !== 'object' || Array.isArray(document)) throw settingInvalid('config', document, 'must be a mapping of settings')
  const doc = withoutNulls(document as Record<string, unknown>) // checked to be a mapping just above
  let checker = checkers.get(table)
  if (checker === undefined) {
    checker = TypeCompiler.Compile(settingsFileSchema(table))
    checkers.set(table, checker)
  }
  const keys = fileKeys(table)
  if (!checker.Check(doc)) {
    const first = checker.Errors(doc).First()
    const name = keyOfPath(first?.path ?? '')
    const setting = table[keys.get(name) ?? '']
    if (first?.type === ValueErrorType.ObjectAdditionalProperties && setting === undefined) throw settingInvalid(name, first.value, `is not a ${program} setting`)
    throw settingInvalid(name === '' ? 'config' : name, first?.value, setting === undefined ? `must be ${(first?.message ?? 'valid').replace(/^Expected/, 'a')}` : setting.kind.expected)
  }
  const out: Record<string, unknown> = {}
  const visit = (node: Record<string, unknown>, prefix: string): void => {
    for (const [name, raw] of Object.entries(node)) {
      const yamlKey = `${prefix}${name}`
      const key = keys.get(yamlKey)
      const setting = key === undefined ? undefined : table[key]
      if (key !== undefined && setting !== undefined) out[key] = parseSettingValue(setting, raw, yamlKey)
      else visit(raw as Record<string, unknown>, `${yamlKey}.`) // the schema allows only settings and their groups
    }
  }
  visit(doc, '')
  return out as SettingValues<T> // parsed by each key's own kind
}

/** A YAML text of settings → parsed values. @throws DF_ERR_CONFIG_INVALID */
export function parseSettingsYaml<T extends SettingsTable> (text: string, table: T, program: string): SettingValues<T> {
  let doc: unknown
  try {
    doc = parseConfigYaml(text)
  } catch (err) {
    throw new DfError('DF_ERR_CONFIG_INVALID', `config: not valid YAML: ${(err as Error).message.replace(/\s*\n[\s\S]*/, '')}`, { cause: err, details: { field: 'config' } })
  }
  return parseSettingsObject(doc, table, program)
}

/**
 * Reads a YAML settings file. With `optional`, a file that does not exist is no error (a
 * default path). @throws DF_ERR_CONFIG_INVALID naming the file, or the key at fault
 */
export async function loadSettingsFile<T extends SettingsTable> (path: string, table: T, program: string, optional = false): Promise<SettingValues<T>> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (optional && code === 'ENOENT') return {}
    throw new DfError('DF_ERR_CONFIG_INVALID', `--config: cannot read ${path}: ${code ?? 'error'}`, { cause: err, details: { field: 'config', value: path } })
  }
  return parseSettingsYaml(text, table, program)
}
