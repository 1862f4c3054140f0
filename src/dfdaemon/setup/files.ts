/**
 * Writing an engine's configuration file the way every `dfdaemon setup` command does:
 * nothing when the file already holds the content (idempotent), else the file as it was
 * is kept next to it as `<file>.damselfly-backup` and the new content replaces it
 * atomically (a temporary file renamed over it, with the old file's mode).
 */
import { chmod, copyFile, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { DfError } from '../../protocol/errors.js'

/** Suffix of the copy a setup command keeps of a file it changes. */
export const BACKUP_SUFFIX = '.damselfly-backup'

/** What a write did. */
export type WriteOutcome = 'unchanged' | 'created' | 'updated'

/** The file's text, or undefined when it does not exist. @throws DF_ERR_CONFIG_UNUSABLE when it cannot be read */
export async function readOptionalFile (path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw unusable(path, 'read', err)
  }
}

/**
 * Makes `path` hold `content`. `before` is its current text (undefined: absent), as the
 * caller read it. @throws DF_ERR_CONFIG_UNUSABLE when it cannot be written
 */
export async function writeWithBackup (path: string, before: string | undefined, content: string): Promise<WriteOutcome> {
  if (before === content) return 'unchanged'
  try {
    await mkdir(dirname(path), { recursive: true })
    const mode = before === undefined ? 0o644 : (await stat(path)).mode & 0o777
    if (before !== undefined) await copyFile(path, `${path}${BACKUP_SUFFIX}`)
    const temporary = `${path}.damselfly-tmp-${process.pid}`
    await writeFile(temporary, content, { mode })
    await chmod(temporary, mode)
    await rename(temporary, path)
  } catch (err) {
    throw unusable(path, 'write', err)
  }
  return before === undefined ? 'created' : 'updated'
}

function unusable (path: string, what: string, err: unknown): DfError {
  const errno = (err as NodeJS.ErrnoException).code ?? 'error'
  return new DfError('DF_ERR_CONFIG_UNUSABLE', `cannot ${what} ${path}: ${errno}`, { details: { field: path, errno }, cause: err })
}
