/**
 * Writing a file so that its path never holds a partial file: write a temp file beside it,
 * fsync, rename.
 */
import { open, rename, rm } from 'node:fs/promises'
import { dirname, basename, join } from 'node:path'

/** A temp path in the same directory as `target` (same filesystem, so rename is atomic). */
export function tempPathFor (target: string): string {
  // node:crypto on first use: dfget's thin client imports this module and rarely calls it.
  const { randomBytes } = process.getBuiltinModule('node:crypto')
  return join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`)
}

/** Writes `data` to `target` atomically. */
export async function writeFileAtomic (target: string, data: string | Uint8Array): Promise<void> {
  const temp = tempPathFor(target)
  try {
    const handle = await open(temp, 'w', 0o644)
    try {
      await handle.writeFile(data)
      await handle.sync()
    } finally {
      await handle.close()
    }
    await rename(temp, target)
  } catch (err) {
    await rm(temp, { force: true })
    throw err
  }
}
