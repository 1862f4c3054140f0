/**
 * The layout of a dfget `--home` directory (DESIGN.md §10): everything one host's dfget
 * runs and its peer server keep, and nothing outside it.
 *
 *   <home>/peer-id              the host's stable peer id
 *   <home>/peer-server.json     {pid, port, peerId} of the running peer server
 *   <home>/peer-server.lock     O_EXCL lock (holding a pid) while a peer server is started
 *   <home>/agent.sock           the host agent's socket: dfget hands it its downloads
 *   <home>/data/<taskId>-<cid>  task data files the peer server serves
 *   <home>/logs/peer-server.log the detached peer server's output
 */
import { mkdir } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'

export interface HomeLayout {
  readonly homeDir: string
  readonly peerIdPath: string
  readonly statePath: string
  readonly lockPath: string
  readonly agentSocketPath: string
  readonly dataDir: string
  readonly logsDir: string
  readonly peerServerLogPath: string
}

/** The default --home: ~/.damselfly. */
export function defaultHomeDir (): string {
  return join(homedir(), '.damselfly')
}

/** The paths of a home directory (no I/O). */
export function createHomeLayout (homeDir: string): HomeLayout {
  const root = resolve(homeDir)
  return {
    homeDir: root,
    peerIdPath: join(root, 'peer-id'),
    statePath: join(root, 'peer-server.json'),
    lockPath: join(root, 'peer-server.lock'),
    agentSocketPath: join(root, 'agent.sock'),
    dataDir: join(root, 'data'),
    logsDir: join(root, 'logs'),
    peerServerLogPath: join(root, 'logs', 'peer-server.log'),
  }
}

/** The path of a task's data file for one cid. */
export function dataFilePath (layout: HomeLayout, taskId: string, cid: string): string {
  return join(layout.dataDir, `${taskId}-${cid}`)
}

/** Creates the home, data and logs directories. */
export async function ensureHomeDirs (layout: HomeLayout): Promise<void> {
  await mkdir(layout.dataDir, { recursive: true })
  await mkdir(layout.logsDir, { recursive: true })
}
