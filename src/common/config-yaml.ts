/**
 * The reading of a configuration file's YAML, shared by the three programs' settings
 * tables (common/settings/settings-table.ts).
 */
import { parse as parseYaml } from 'yaml'

/**
 * Parses the YAML text of a configuration file, as every program's `--config` loader does.
 * An alias inside the node it names (`a: &x [*x]`) makes a value that contains itself; no
 * setting can hold one, and the loaders could not even show it in their message, so it is
 * refused here. @throws Error (a YAML syntax error, or such an alias): the caller names the file
 */
export function parseConfigYaml (text: string): unknown {
  // logLevel 'error': a warning (an unknown tag such as !!js/function) is not printed; errors still throw.
  const value: unknown = parseYaml(text, { logLevel: 'error' })
  if (containsItself(value, new Set())) throw new Error('an alias is used inside the node it names (the value would contain itself)')
  return value
}

function containsItself (value: unknown, ancestors: Set<object>): boolean {
  if (typeof value !== 'object' || value === null) return false
  if (ancestors.has(value)) return true
  ancestors.add(value)
  const children = value instanceof Map ? [...value.keys(), ...value.values()] : Object.values(value)
  const found = children.some((child) => containsItself(child, ancestors))
  ancestors.delete(value)
  return found
}
