/**
 * The package's name and version, read from package.json: the one version that
 * `--version` prints on all three programs and the supernode's `/version` reports.
 * Every module that reads it sits two directories below the package root (`src/common/`,
 * `dist/common/`, and the dfget bundle's `dist/dfget-bundle/`), so the file is found the same
 * way from source, from the build and from the bundle.
 */
import { readFileSync } from 'node:fs'

/** Name and version of the package. */
export interface PackageVersion {
  readonly name: string
  readonly version: string
}

let cached: PackageVersion | undefined

/** Name and version from package.json; `damselfly` / `unknown` when it cannot be read. Reads once. */
export function readPackageVersion (): PackageVersion {
  if (cached !== undefined) return cached
  try {
    const parsed = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { name?: unknown, version?: unknown } // fields checked below
    cached = {
      name: typeof parsed.name === 'string' ? parsed.name : 'damselfly',
      version: typeof parsed.version === 'string' ? parsed.version : 'unknown',
    }
  } catch {
    cached = { name: 'damselfly', version: 'unknown' }
  }
  return cached
}
