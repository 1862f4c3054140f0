/**
 * The part of TOML the engines' files use, read and written: tables (`[a."b.c".d]`), arrays
 * of tables (`[[registry]]`), and `key = value` with strings, booleans, integers and arrays
 * of those. Enough for containerd's hosts.toml and `containerd config dump`, and for a
 * registries.conf drop-in; anything else (inline tables, multi-line strings) is refused
 * as DF_ERR_CONFIG_INVALID naming the file and line, never misread.
 */
import { DfError } from '../../protocol/errors.js'

export type TomlValue = string | number | boolean | readonly TomlValue[]

/** One `[table]` or `[[array]]` section, in order: its path and its keys. */
export interface TomlSection {
  /** Header path (`['host', 'http://127.0.0.1:65001']`); `[]` for the keys before any header. */
  readonly path: readonly string[]
  /** True for an `[[array]]` entry. */
  readonly arrayEntry: boolean
  readonly values: ReadonlyMap<string, TomlValue>
}

/**
 * Reads TOML text into its sections. With `lenient` (a whole file an engine printed, such as
 * `containerd config dump`, of which a few keys matter), a line it cannot read is skipped.
 * @throws DF_ERR_CONFIG_INVALID naming `name` and the line
 */
export function parseToml (text: string, name: string, options: { lenient?: boolean } = {}): TomlSection[] {
  const sections: { path: string[], arrayEntry: boolean, values: Map<string, TomlValue> }[] = [{ path: [], arrayEntry: false, values: new Map() }]
  const lines = text.split(/\r?\n/)
  for (const [i, raw] of lines.entries()) {
    const fail = (problem: string): DfError => new DfError('DF_ERR_CONFIG_INVALID', `${name}:${i + 1}: ${problem}`, { details: { field: name } })
    try {
      readLine(raw, sections, fail)
    } catch (err) {
      if (options.lenient !== true) throw err
    }
  }
  return sections
}

function readLine (raw: string, sections: { path: string[], arrayEntry: boolean, values: Map<string, TomlValue> }[], fail: (problem: string) => DfError): void {
  const line = stripComment(raw).trim()
  if (line === '') return
  const header = /^(\[\[?)(.*?)(\]\]?)$/.exec(line)
  if (header !== null) {
    const arrayEntry = header[1] === '[['
    if (arrayEntry !== (header[3] === ']]')) throw fail('unbalanced table header')
    sections.push({ path: parseKeyPath(header[2] ?? '', fail), arrayEntry, values: new Map() })
    return
  }
  const eq = findUnquoted(line, '=')
  if (eq < 0) throw fail('expected key = value')
  const key = parseKeyPath(line.slice(0, eq), fail)
  if (key.length !== 1) throw fail('dotted keys are not supported')
  const reader = { text: line.slice(eq + 1).trim(), pos: 0 }
  const value = readValue(reader, fail)
  if (reader.text.slice(reader.pos).trim() !== '') throw fail('unexpected text after the value')
  sections.at(-1)?.values.set(key[0] ?? '', value)
}

/** A string as a TOML basic string. */
export function tomlString (value: string): string {
  return JSON.stringify(value) // JSON string escapes are valid TOML basic-string escapes
}

/** A value as TOML. */
export function formatTomlValue (value: TomlValue): string {
  if (typeof value === 'string') return tomlString(value)
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  return `[${value.map(formatTomlValue).join(', ')}]`
}

/** A header path as TOML (`host."http://127.0.0.1:65001"`). */
export function formatKeyPath (path: readonly string[]): string {
  return path.map((part) => /^[A-Za-z0-9_-]+$/.test(part) ? part : tomlString(part)).join('.')
}

function stripComment (line: string): string {
  const hash = findUnquoted(line, '#')
  return hash < 0 ? line : line.slice(0, hash)
}

/** Index of `char` outside quotes, or -1. */
function findUnquoted (text: string, char: string): number {
  let quote: string | undefined
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (quote !== undefined) {
      if (c === '\\' && quote === '"') i++
      else if (c === quote) quote = undefined
    } else if (c === '"' || c === '\'') {
      quote = c
    } else if (c === char) {
      return i
    }
  }
  return -1
}

function parseKeyPath (text: string, fail: (problem: string) => DfError): string[] {
  const parts: string[] = []
  const reader = { text: text.trim(), pos: 0 }
  for (;;) {
    skipSpace(reader)
    const c = reader.text[reader.pos]
    if (c === '"' || c === '\'') {
      parts.push(readString(reader, fail))
    } else {
      const bare = /^[A-Za-z0-9_-]+/.exec(reader.text.slice(reader.pos))
      if (bare === null) throw fail(`bad key ${JSON.stringify(text.trim())}`)
      parts.push(bare[0])
      reader.pos += bare[0].length
    }
    skipSpace(reader)
    if (reader.pos >= reader.text.length) return parts
    if (reader.text[reader.pos] !== '.') throw fail(`bad key ${JSON.stringify(text.trim())}`)
    reader.pos++
  }
}

interface Reader { readonly text: string, pos: number }

function skipSpace (reader: Reader): void {
  while (reader.pos < reader.text.length && /[ \t\r\n]/.test(reader.text[reader.pos] ?? '')) reader.pos++
}

function readValue (reader: Reader, fail: (problem: string) => DfError): TomlValue {
  skipSpace(reader)
  const rest = reader.text.slice(reader.pos)
  const c = rest[0]
  if (c === '"' || c === '\'') {
    if (rest.startsWith('"""') || rest.startsWith('\'\'\'')) throw fail('multi-line strings are not supported')
    return readString(reader, fail)
  }
  if (c === '[') {
    reader.pos++
    const items: TomlValue[] = []
    for (;;) {
      skipSpace(reader)
      if (reader.text[reader.pos] === ']') { reader.pos++; return items }
      items.push(readValue(reader, fail))
      skipSpace(reader)
      if (reader.text[reader.pos] === ',') { reader.pos++; continue }
      if (reader.text[reader.pos] === ']') { reader.pos++; return items }
      throw fail('unterminated array (arrays must be on one line)')
    }
  }
  const word = /^(true|false|[+-]?\d[\d_]*(?:\.\d+)?(?:[eE][+-]?\d+)?)(?=[\s,\]]|$)/.exec(rest)
  if (word === null) throw fail(`unsupported value ${JSON.stringify(rest.slice(0, 40))}`)
  reader.pos += word[0].length
  if (word[0] === 'true' || word[0] === 'false') return word[0] === 'true'
  return Number(word[0].replace(/_/g, ''))
}

function readString (reader: Reader, fail: (problem: string) => DfError): string {
  const quote = reader.text[reader.pos]
  const start = reader.pos
  reader.pos++
  if (quote === '\'') {
    const end = reader.text.indexOf('\'', reader.pos)
    if (end < 0) throw fail('unterminated string')
    reader.pos = end + 1
    return reader.text.slice(start + 1, end)
  }
  while (reader.pos < reader.text.length) {
    const c = reader.text[reader.pos]
    if (c === '\\') { reader.pos += 2; continue }
    if (c === '"') {
      reader.pos++
      try {
        return JSON.parse(reader.text.slice(start, reader.pos)) as string // a basic string's escapes are JSON's
      } catch {
        throw fail('bad escape in a string')
      }
    }
    reader.pos++
  }
  throw fail('unterminated string')
}
