/**
 * The peer server's state file `<home>/peer-server.json` ({pid, port, peerId}), written
 * atomically once the server listens and removed by it when it stops, and the start lock
 * `<home>/peer-server.lock` (created with O_EXCL, holding the starter's pid) that makes two
 * dfgets of one home starting at once end up with one peer server. A lock whose pid is dead
 * is stale and is taken over.
 */
import { open, readFile, rm } from 'node:fs/promises'
import { writeFileAtomic } from '../../common/fs/atomic-write.js'
import type { HomeLayout } from '../home-layout.js'

/** What the state file holds. */
export interface PeerServerState {
  readonly pid: number
  readonly port: number
  readonly peerId: string
}

/** Reads the state file; undefined when missing or malformed. */
export async function readPeerServerState (layout: HomeLayout): Promise<PeerServerState | undefined> {
  let text: string
  try {
    text = await readFile(layout.statePath, 'utf8')
  } catch {
    return undefined
  }
  try {
    const value = JSON.parse(text) as Record<string, unknown> // checked field by field below
    if (typeof value.pid !== 'number' || typeof value.port !== 'number' || typeof value.peerId !== 'string') return undefined
    return { pid: value.pid, port: value.port, peerId: value.peerId }
  } catch {
    return undefined
  }
}

/** Writes the state file atomically. */
export async function writePeerServerState (layout: HomeLayout, state: PeerServerState): Promise<void> {
  await writeFileAtomic(layout.statePath, `${JSON.stringify(state)}\n`)
}

/** Removes the state file when it still names `pid` (a newer server's file is left alone). */
export async function removePeerServerState (layout: HomeLayout, pid: number): Promise<void> {
  const state = await readPeerServerState(layout)
  if (state !== undefined && state.pid !== pid) return
  await rm(layout.statePath, { force: true })
}

/** True when a process with that pid exists (signal 0 probes without signalling). */
export function isProcessAlive (pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Tries to take the start lock for `pid`. Returns true when taken; false when a live
 * process holds it. A lock of a dead process (or an unreadable one left by a crash between
 * create and write) is removed and the take retried.
 */
export async function tryAcquireStartLock (layout: HomeLayout, pid: number, staleUnreadableMs = 2_000): Promise<boolean> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(layout.lockPath, 'wx', 0o644)
      try {
        await handle.writeFile(`${pid}\n`)
      } finally {
        await handle.close()
      }
      return true
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    const holder = await readLockHolder(layout)
    if (holder.pid !== undefined && isProcessAlive(holder.pid)) return false
    if (holder.pid === undefined && holder.ageMs < staleUnreadableMs) return false
    await rm(layout.lockPath, { force: true })
  }
  return false
}

/** Releases the lock if `pid` holds it. */
export async function releaseStartLock (layout: HomeLayout, pid: number): Promise<void> {
  const holder = await readLockHolder(layout)
  if (holder.pid === pid) await rm(layout.lockPath, { force: true })
}

async function readLockHolder (layout: HomeLayout): Promise<{ pid: number | undefined, ageMs: number }> {
  try {
    const handle = await open(layout.lockPath, 'r')
    try {
      const stats = await handle.stat()
      const text = await handle.readFile('utf8')
      const pid = /^\d+$/.test(text.trim()) ? Number(text.trim()) : undefined
      return { pid, ageMs: Date.now() - stats.mtimeMs }
    } finally {
      await handle.close()
    }
  } catch {
    return { pid: undefined, ageMs: Number.POSITIVE_INFINITY }
  }
}
