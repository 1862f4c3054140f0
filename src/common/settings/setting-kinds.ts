/**
 * The kinds of value a setting may hold (int, port, size, rate, duration, bool, string, ip,
 * url, enum, list, node list, and structured YAML values), each with its one parser. A kind
 * says how its value is written in a YAML file (a TypeBox schema, checked first), how it is
 * read from a flag or an environment variable (text) and from YAML, and how its default is
 * printed. The same kind validates the same flag the same way in every program.
 */
import { isIP } from 'node:net'
import { Type, type TSchema } from '@sinclair/typebox'
import { parseDurationMs } from '../duration.js'
import { parseDnsServers, parseNodeList } from '../node-list.js'
import { parseRate, parseSize } from '../rate-limiter.js'

/** Why a raw value was refused: the expected form, e.g. "must be a size like 512M". */
export type Refusal = { readonly problem: string }

/** One kind of setting value. */
export interface SettingKind<T> {
  /** Short name in docs: "duration", "size", "list". */
  readonly name: string
  /** What a bad value is told: "must be a duration like 500ms, 30s, 3m or 1h". */
  readonly expected: string
  /** The value's placeholder after a flag: "<duration>". */
  readonly placeholder: string
  /** What YAML may hold, checked before `parse`. */
  readonly schema: TSchema
  /** A flag that takes no value (true when given). */
  readonly isSwitch?: boolean
  /** The only words a flag may take (commander refuses others when parsing). */
  readonly choices?: readonly string[]
  /** A flag that may be repeated; its values are collected into a list. */
  readonly isRepeatable?: boolean
  /**
   * Raw value → typed value. Raw is a flag's or variable's text (a string, or a list of
   * strings for repeatable flags, true for switches) or a YAML value that passed `schema`.
   * Returns a Refusal when the value is malformed; `name` is how errors name the setting.
   */
  parse (raw: unknown, name: string): T | Refusal
  /** The value as it is written in YAML and docs (method syntax: kinds are compared bivariantly in tables). */
  format (value: T): unknown
}

/** The value type of a kind. */
export type KindValue<K> = K extends SettingKind<infer T> ? T : never

/** True when `parse` refused the value. */
export function isRefusal (value: unknown): value is Refusal {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 1 && typeof (value as { problem?: unknown }).problem === 'string'
}

const NUMBER_OR_TEXT = Type.Union([Type.Number(), Type.String()])
const identity = <T>(value: T): T => value

/** A whole number from `min` to `max`, in YAML a number or its text. */
export function int (min = 0, max = Number.MAX_SAFE_INTEGER, expected = `must be a whole number from ${min} to ${max}`): SettingKind<number> {
  return {
    name: 'int',
    expected,
    placeholder: '<n>',
    schema: NUMBER_OR_TEXT,
    parse: (raw) => {
      const value = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d+$/.test(raw.trim()) ? Number(raw) : Number.NaN
      return Number.isInteger(value) && value >= min && value <= max ? value : { problem: expected }
    },
    format: identity,
  }
}

/** A TCP port, 0 (pick a free one) to 65535. */
export const port: SettingKind<number> = { ...int(0, 65535, 'must be a port number 0-65535'), name: 'port', placeholder: '<port>' }

/** Bytes: "512M", "10G", "64MiB" (binary units) or a number of bytes. Prints in the largest whole unit. */
export const size: SettingKind<number> = {
  name: 'size',
  expected: 'must be a size like 512M, 10G or a number of bytes',
  placeholder: '<size>',
  schema: NUMBER_OR_TEXT,
  parse: (raw) => {
    const bytes = typeof raw === 'number' ? raw : typeof raw === 'string' ? parseSize(raw) : undefined
    return bytes !== undefined && Number.isSafeInteger(bytes) && bytes >= 0 ? bytes : { problem: size.expected }
  },
  format: (bytes) => {
    for (const [unit, power] of [['T', 4], ['G', 3], ['M', 2], ['K', 1]] as const) {
      if (bytes > 0 && bytes % 1024 ** power === 0) return `${bytes / 1024 ** power}${unit}`
    }
    return bytes
  },
}

/** Bytes per second: "20M" (binary), "100mbit" (bits, decimal) or a number; 0 = no limit. */
export const rate: SettingKind<number> = {
  name: 'rate',
  expected: 'must be a rate like 20M, 512K or 100mbit',
  placeholder: '<rate>',
  schema: NUMBER_OR_TEXT,
  parse: (raw) => {
    const value = typeof raw === 'number' ? raw : typeof raw === 'string' ? parseRate(raw) : undefined
    return value !== undefined && Number.isFinite(value) && value >= 0 ? value : { problem: rate.expected }
  },
  format: identity,
}

/** Milliseconds, written "500ms", "30s", "5m", "1h30m"; a bare number counts seconds. Prints in the largest whole unit. */
export const duration: SettingKind<number> = {
  name: 'duration',
  expected: 'must be a duration like 500ms, 30s, 3m or 1h',
  placeholder: '<duration>',
  schema: NUMBER_OR_TEXT,
  parse: (raw) => {
    const ms = typeof raw === 'number' ? (Number.isFinite(raw) && raw >= 0 ? Math.round(raw * 1000) : undefined) : typeof raw === 'string' ? parseDurationMs(raw) : undefined
    return ms === undefined ? { problem: duration.expected } : ms
  },
  format: formatDuration,
}

/** true or false; as a flag, a switch. */
export const bool: SettingKind<boolean> = {
  name: 'bool',
  expected: 'must be true or false',
  placeholder: '',
  schema: Type.Boolean(),
  isSwitch: true,
  parse: (raw) => typeof raw === 'boolean' ? raw : { problem: bool.expected },
  format: identity,
}

/** Non-empty text (YAML numbers are taken as their text). */
export function text (placeholder = '<text>'): SettingKind<string> {
  const kind: SettingKind<string> = {
    name: 'string',
    expected: 'must be a non-empty string',
    placeholder,
    schema: NUMBER_OR_TEXT,
    parse: (raw) => (typeof raw === 'string' && raw !== '') || typeof raw === 'number' ? String(raw) : { problem: kind.expected },
    format: identity,
  }
  return kind
}

/** An IPv4 or IPv6 address (not a host name, which may resolve to either family). */
export const ip: SettingKind<string> = {
  name: 'ip',
  expected: 'must be an IP address',
  placeholder: '<ip>',
  schema: Type.String(),
  parse: (raw) => typeof raw === 'string' && isIP(raw) !== 0 ? raw : { problem: ip.expected },
  format: identity,
}

/** An absolute http or https URL. */
export const httpUrl: SettingKind<string> = {
  name: 'url',
  expected: 'must be an http or https URL',
  placeholder: '<url>',
  schema: Type.String(),
  parse: (raw) => typeof raw === 'string' && /^https?:\/\/[^/]/i.test(raw) && URL.canParse(raw) ? raw : { problem: httpUrl.expected },
  format: identity,
}

/** One of a closed set of words. */
export function oneOf<const T extends string> (values: readonly T[]): SettingKind<T> {
  const expected = `must be one of ${values.join(', ')}`
  return {
    name: 'enum',
    expected,
    placeholder: `<${values.join('|')}>`,
    schema: Type.String(),
    choices: values,
    parse: (raw) => typeof raw === 'string' && (values as readonly string[]).includes(raw) ? raw as T : { problem: expected }, // checked to be one of values
    format: identity,
  }
}

/**
 * A list of strings: a YAML sequence, or a repeatable flag. With `split`, each value may
 * also hold comma-separated items (then a YAML string is a comma-separated list too).
 */
export function list (options: { readonly split: boolean, readonly placeholder?: string } = { split: true }): SettingKind<readonly string[]> {
  const expected = options.split ? 'must be a list of strings (or one comma-separated string)' : 'must be a list of strings'
  return {
    name: 'list',
    expected,
    placeholder: options.placeholder ?? '<list>',
    schema: Type.Union([Type.Array(Type.String()), Type.String()]),
    isRepeatable: true,
    parse: (raw) => {
      const values = typeof raw === 'string' ? [raw] : Array.isArray(raw) && raw.every((item) => typeof item === 'string') ? raw as string[] : undefined // checked item by item
      if (values === undefined) return { problem: expected }
      return options.split ? values.flatMap((value) => value.split(',')).map((item) => item.trim()).filter((item) => item !== '') : values
    },
    format: (value) => [...value],
  }
}

/**
 * Supernodes, `host:port[=weight]`, a list (comma-separated or repeated), each entry checked
 * by the one node-list parser (common/node-list.ts); the value stays text.
 */
export const nodeList: SettingKind<readonly string[]> = {
  ...list({ split: true, placeholder: '<host:port[=weight]>' }),
  name: 'node list',
  expected: 'must be a list of supernodes, host:port[=weight]',
  parse: (raw, name) => {
    const nodes = list({ split: true }).parse(raw, name)
    if (isRefusal(nodes)) return { problem: nodeList.expected }
    parseNodeList(nodes, { label: name, field: name.replace(/^--/, '') }) // throws DF_ERR_CONFIG_INVALID naming the bad entry
    return nodes
  },
}

/** DNS servers `ip[:port]` of DNS supernode entries, a list, each checked by node-list.ts; the value stays text. */
export const dnsServerList: SettingKind<readonly string[]> = {
  ...list({ split: true, placeholder: '<ip[:port]>' }),
  name: 'list',
  expected: 'must be a list of DNS servers, ip[:port]',
  parse: (raw, name) => {
    const servers = list({ split: true }).parse(raw, name)
    if (isRefusal(servers)) return { problem: dnsServerList.expected }
    parseDnsServers(servers, { label: name, field: name.replace(/^--/, '') }) // throws DF_ERR_CONFIG_INVALID naming the bad entry
    return servers
  },
}

/** A YAML-only value of a given shape (TypeBox checks it, naming the nested key at fault). */
export function structured<S extends TSchema, T> (schema: S, placeholder: string, convert: (raw: unknown) => T, format: (value: T) => unknown): SettingKind<T> {
  return { name: 'mapping', expected: `must be ${placeholder}`, placeholder, schema, parse: convert, format }
}

/** Milliseconds in the largest whole unit: 30000 → "30s", 180000 → "3m", 1500 → "1500ms". */
export function formatDuration (ms: number): string {
  for (const [unit, unitMs] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms >= unitMs && ms % unitMs === 0) return `${ms / unitMs}${unit}`
  }
  return ms === 0 ? '0s' : `${ms}ms`
}
