/**
 * The host's peer id, stable per --home: created once (`<host>-<random>`) and kept in
 * `<home>/peer-id`, so a restarted peer server is the same peer to the supernodes. Two
 * processes creating it at once agree: the file is created exclusively and the loser reads
 * the winner's id.
 */
import { open, readFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { randomBytes } from 'node:crypto'
import { parsePeerId, type PeerId } from '../../protocol/ids.js'
import type { HomeLayout } from '../home-layout.js'

/** Reads the home's peer id, creating it when missing. */
export async function loadOrCreatePeerId (layout: HomeLayout): Promise<PeerId> {
  const existing = await readPeerId(layout)
  if (existing !== undefined) return existing
  const host = hostname().replace(/[^A-Za-z0-9.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 64)
  const candidate = parsePeerId(`${host === '' ? 'peer' : host}-${randomBytes(6).toString('hex')}`)
  try {
    const handle = await open(layout.peerIdPath, 'wx', 0o644)
    try {
      await handle.writeFile(`${candidate}\n`)
      await handle.sync()
    } finally {
      await handle.close()
    }
    return candidate
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
  }
  // Another process created it first; its content may be a moment away.
  for (let attempt = 0; attempt < 50; attempt++) {
    const raced = await readPeerId(layout)
    if (raced !== undefined) return raced
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  throw new Error(`unreadable peer id file ${layout.peerIdPath}`)
}

async function readPeerId (layout: HomeLayout): Promise<PeerId | undefined> {
  let text: string
  try {
    text = await readFile(layout.peerIdPath, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  try {
    return parsePeerId(text.trim())
  } catch {
    return undefined
  }
}
