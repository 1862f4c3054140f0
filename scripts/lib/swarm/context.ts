/**
 * What one system's run in the swarm lab gets (the lab, the hosts' roles, the origin) and
 * what it gives back (per-peer completion times and who served the bytes), plus the steps
 * the systems share: waiting for a set of downloads with a deadline and checking outputs.
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { readFile } from 'node:fs/promises'
import type { CpuRole, Lab, LabProcess, UploadSample } from './lab.js'

/** The systems the lab compares. */
export type SystemName = 'damselfly' | 'bittorrent' | 'http'
export const SYSTEM_NAMES: readonly SystemName[] = ['damselfly', 'bittorrent', 'http']

/** One run's fixed setting. Host 1 is the origin, host 2 the supernode (and BitTorrent seed), 3… the peers. */
export interface SwarmContext {
  readonly lab: Lab
  /** A per-N work directory in /dev/shm. */
  readonly workDir: string
  readonly originHost: number
  readonly supernodeHost: number
  readonly peerHosts: readonly number[]
  /** The file on the origin host, e.g. http://198.18.0.1:8080/data.bin. */
  readonly originUrl: string
  /** The origin's copy on disk (for building a torrent). */
  readonly originFile: string
  readonly fileSizeBytes: number
  readonly fileSha256: string
  /** Deadline for one system's downloads. */
  readonly timeoutMs: number
  /** Damselfly: how the hosts' agents start (AGENT_MODES). */
  readonly agents: AgentMode
  /** `--private`: the headers every download of the file must send (credentials: never logged). */
  readonly originHeaders?: readonly string[]
  readonly log: (message: string) => void
}

/**
 * Damselfly's host agents: `warm`, running before the clock and each having made one earlier
 * download of another file (a host daemon that has worked before: its JIT has compiled the
 * byte path); `running`, started just before the clock (a fresh daemon, which spends its first
 * seconds of work compiling); `cold`, started by the first dfget.
 */
export const AGENT_MODES = ['warm', 'running', 'cold'] as const
export type AgentMode = typeof AGENT_MODES[number]

/** One downloader's outcome. */
export interface PeerOutcome {
  readonly host: number
  readonly ip: string
  /** From the common start of all downloaders to this one's completion; null when it failed. */
  readonly completionMs: number | null
  readonly error?: string
  /** Damselfly only: where its bytes came from (dfget's summary line). */
  readonly bytesFromSource?: number
  readonly bytesFromSupernode?: number
  readonly bytesFromPeers?: number
}

/** Bytes each role sent on the wire during a system's run (TCP/IP headers included). */
export interface WireBytes {
  readonly origin: number
  readonly supernode: number
  readonly peers: number
}

/** What a system's run measured. */
export interface SystemResult {
  readonly system: SystemName
  readonly peers: readonly PeerOutcome[]
  /** Bytes the origin sent (its own counter). */
  readonly originReadBytes: number
  /** Payload bytes the supernode (BitTorrent: the seed) served to downloaders. */
  readonly supernodeServedBytes: number
  /** Payload bytes downloaders served to each other. */
  readonly peersServedBytes: number
  /** How the two figures above were obtained. */
  readonly servedBytesSource: string
  readonly wireTxBytes: WireBytes
  /** Every host's upload since the downloads started, sampled every 250 ms. */
  readonly uploadTimeline: readonly UploadSample[]
  /** Share of the machine's CPU time (all cores) that was busy while the downloads ran. */
  readonly cpuBusyFraction: number
  /**
   * CPU milliseconds each role's processes used while the downloads ran (lab cpuacct groups:
   * every process started in that role's hosts, detached children and exited ones too): the
   * origin, the supernode (BitTorrent: the seed), the downloading hosts. NaN when not measured.
   */
  readonly cpuMsByRole: Readonly<Record<CpuRole, number>>
  /** How this run differs from the system's usual set-up, shown after its name ("agents running"). */
  readonly variant?: string
  /** BitTorrent: the seed's own fetch of the file from the origin, before the swarm started. */
  readonly seedFetchMs?: number
  readonly notes: readonly string[]
}

/** Runs one system in the lab. */
export type SystemRunner = (context: SwarmContext) => Promise<SystemResult>

/** sha256 hex of a file. */
export async function sha256File (path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * 1024 * 1024 })) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/**
 * Waits until every process has exited or the deadline passes (then the rest are stopped).
 * Returns each one's exit code and exit time relative to `startMs`, or null when it timed out.
 */
export async function waitForAll (lab: Lab, procs: readonly LabProcess[], startMs: number, timeoutMs: number): Promise<({ exitCode: number, elapsedMs: number } | null)[]> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => { resolve('timeout') }, timeoutMs) })
  const results = await Promise.all(procs.map(async (proc) => {
    const outcome = await Promise.race([proc.exited, deadline])
    if (outcome === 'timeout') {
      await lab.stop(proc)
      return null
    }
    return { exitCode: outcome.exitCode, elapsedMs: outcome.atMs - startMs }
  }))
  clearTimeout(timer)
  return results
}

/** Checks a downloaded file against the origin's digest; returns an error text or undefined. */
export async function checkOutput (path: string, expectedSha256: string): Promise<string | undefined> {
  try {
    const actual = await sha256File(path)
    return actual === expectedSha256 ? undefined : `content differs (sha256 ${actual.slice(0, 12)}…)`
  } catch (err) {
    return `no output (${(err as Error).message})`
  }
}

/** Reads the tx counters of the origin, the supernode and the peer hosts. */
export async function fetchWireBytes (context: SwarmContext): Promise<WireBytes> {
  const { lab } = context
  const peers = await Promise.all(context.peerHosts.map(async (i) => await lab.fetchTxBytes(i)))
  return {
    origin: await lab.fetchTxBytes(context.originHost),
    supernode: await lab.fetchTxBytes(context.supernodeHost),
    peers: peers.reduce((sum, x) => sum + x, 0),
  }
}

/** after − before, per role. */
export function diffWireBytes (after: WireBytes, before: WireBytes): WireBytes {
  return { origin: after.origin - before.origin, supernode: after.supernode - before.supernode, peers: after.peers - before.peers }
}

/** Resets the origin's byte counter (host 1's /_stats). */
export async function resetOriginStats (context: SwarmContext): Promise<void> {
  const url = new URL('/_stats/reset', context.originUrl).href
  const result = await context.lab.run(context.originHost, 'curl', ['-sS', '-f', '-X', 'POST', url])
  if (result.exitCode !== 0) throw new Error(`origin stats reset failed: ${result.stderr.trim()}`)
}

/** Bytes the origin sent since the last reset. */
export async function fetchOriginBytesSent (context: SwarmContext): Promise<number> {
  const url = new URL('/_stats', context.originUrl).href
  const result = await context.lab.run(context.originHost, 'curl', ['-sS', '-f', url])
  if (result.exitCode !== 0) throw new Error(`origin stats failed: ${result.stderr.trim()}`)
  const stats = JSON.parse(result.stdout) as { bytesSent?: unknown }
  return typeof stats.bytesSent === 'number' ? stats.bytesSent : Number.NaN
}

/** Cumulative CPU times of the whole machine (all cores), in clock ticks, from /proc/stat. */
export interface CpuTimes {
  readonly busy: number
  readonly total: number
}

export async function readCpuTimes (): Promise<CpuTimes> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? ''
  // "cpu user nice system idle iowait irq softirq steal guest guest_nice"; guest time is
  // already inside user, so it is left out of the total.
  const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number)
  const total = ticks.reduce((sum, x) => sum + x, 0)
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0)
  return { busy: total - idle, total }
}

/** A meter of the machine's busy share and each role's CPU time, from `startCpuMeter` to `read`. */
export interface CpuMeter {
  read(): Promise<{ cpuBusyFraction: number, cpuMsByRole: Record<CpuRole, number> }>
}

export async function startCpuMeter (lab: Lab): Promise<CpuMeter> {
  const machine = await readCpuTimes()
  const roles = await lab.cpuUsageMs()
  return {
    read: async () => {
      const after = await lab.cpuUsageMs()
      const cpuMsByRole = { origin: after.origin - roles.origin, supernode: after.supernode - roles.supernode, hosts: after.hosts - roles.hosts }
      return { cpuBusyFraction: cpuBusyBetween(machine, await readCpuTimes()), cpuMsByRole }
    },
  }
}

/** Busy share of the CPU time between two readings (0..1). */
export function cpuBusyBetween (before: CpuTimes, after: CpuTimes): number {
  const total = after.total - before.total
  return total > 0 ? (after.busy - before.busy) / total : Number.NaN
}
