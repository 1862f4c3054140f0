/** Temp directories for tests, removed at teardown. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface TmpDir { readonly path: string, close(): Promise<void> }

/** A fresh directory under the OS temp dir (or `/dev/shm` when `inMemory`). */
export async function createTmpDir (prefix = 'damselfly-', inMemory = false): Promise<TmpDir> {
  const path = await mkdtemp(join(inMemory ? '/dev/shm' : tmpdir(), prefix))
  return { path, close: async () => { await rm(path, { recursive: true, force: true }) } }
}
