/**
 * Where a file of a listing (an object under an s3:// prefix, a file of a Hugging Face
 * repository) is written: its name in the listing, under the output directory, never
 * outside it.
 */
import { isAbsolute, join, normalize, relative, resolve, sep } from 'node:path'
import { DfError } from '../../protocol/errors.js'

/**
 * The output path of `key` (a listed name that starts with `prefix`): its rest after the
 * prefix, under `dir`. A name that would leave `dir` (`..`, an absolute path) is refused
 * before anything is downloaded. @throws DF_ERR_SOURCE_FORBIDDEN
 */
export function outputOfKey (dir: string, prefix: string, key: string): string {
  const rest = key.slice(prefix.length)
  const inside = relative(dir, resolve(dir, normalize(rest)))
  if (rest === '' || isAbsolute(rest) || inside === '' || inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside)) {
    throw new DfError('DF_ERR_SOURCE_FORBIDDEN', `the name ${JSON.stringify(key)} would be written outside ${dir}`, { details: { key } })
  }
  return join(dir, inside)
}
