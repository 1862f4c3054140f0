/**
 * The fleet simulator (`npm run bench -- fleet`): the real supernode control plane
 * (in-process-supernode.ts) and the real host piece loop of every host (simulated-host.ts)
 * in one process, on one ManualClock, over a flow-level network (flow-network.ts).
 *
 * The hosts speak control protocol v2 by default (`protocol: 'v1'` for the pulls and
 * reports of v1): the supernode's TaskSync and ParentScheduler, each host's ParentDownloader
 * and the have feeds between hosts (simulated-host.ts).
 *
 * Layout, as in the swarm lab: host 0 is the origin, host 1 the supernode (its CDN reads
 * the origin once), hosts 2… download one file. Hosts join at `startDelayMs` plus a
 * seeded uniform share of `joinOverMs`; a seeded `failFraction` of them fails at a random
 * moment before the Kumar–Ross bound (it stops serving and downloading).
 *
 * The loop: let every promise settle (one macrotask turn drains the microtasks), then move
 * the clock to the next timer (a flow ending, a long-poll's deadline, a host joining) and
 * run it; repeat until every host is done. Nothing waits on real time, so a run is
 * deterministic for a seed.
 */
import { EventEmitter } from 'node:events'
import { performance } from 'node:perf_hooks'
import type { ControlProtocol } from '../../../src/dfget/downloader/piece-loop-runner.js'
import { FILE_HAVES_COALESCE_MS } from '../../../src/dfget/uploader/peer-server.js'
import { ManualClock } from '../../../src/common/clock.js'
import { createSilentLogger } from '../../../src/common/log.js'
import { computePieceSizeBytes, pieceCount } from '../../../src/protocol/piece-range.js'
import { createSeededRandom } from '../../../src/supernode/scheduler/random.js'
import { LatencyRecorder } from '../control-plane/simulated-swarm.js'
import { computeKumarRossBound, type Bound } from '../swarm/bound.js'
import { FlowNetwork } from './flow-network.js'
import { InProcessSupernode } from './in-process-supernode.js'
import { SimulatedHost } from './simulated-host.js'

/** TCP payload per Ethernet frame at MTU 1500 with timestamps: 1448 of 1514 bytes on the wire. */
export const TCP_PAYLOAD_SHARE = 1448 / 1514

export interface FleetOptions {
  /** All hosts, origin and supernode included (the swarm lab's --hosts). */
  readonly hosts: number
  readonly fileSizeBytes: number
  /** Every host's upload, line rate in bits per second. */
  readonly upBitsPerSec: number
  /** Every host's download (Infinity: unshaped, as in the lab). */
  readonly downBitsPerSec: number
  /** The supernode's and the origin's upload; default upBitsPerSec. */
  readonly supernodeUpBitsPerSec?: number
  readonly originUpBitsPerSec?: number
  /** One-way latency of every host to the network core. */
  readonly latencyMs: number
  /** Time from the start to a host's first request (process start, agent hand-over). */
  readonly startDelayMs: number
  /** Hosts join spread uniformly over this time after the start delay. */
  readonly joinOverMs: number
  /** Share of the downloaders that fail during the run. */
  readonly failFraction: number
  readonly seed: number
  /** The control protocol every host speaks. Default v2. */
  readonly protocol?: ControlProtocol
  /** v2, a what-if: how long a host's have feed holds back a file's changes. Default the peer server's (200 ms). */
  readonly fileHavesCoalesceMs?: number
  /** Payload share of the line rate. Default TCP_PAYLOAD_SHARE. */
  readonly payloadShare?: number
  /** Flow completions are rounded up to this. Default 1 ms. */
  readonly tickMs?: number
  /** The supernode's settings (config.ts defaults). */
  readonly maxUploadsPerPeer?: number
  readonly supernodeMaxUploads?: number
  readonly pieceTimeoutMs?: number
  /** dfget's stall timeout (back-source after this long without a piece). */
  readonly stallTimeoutMs?: number
  /**
   * The swarm lab's machine (flow-network.ts): its cores, shared by every emulated host,
   * and the CPU each GiB delivered costs there. Absent: every host has its own CPU.
   */
  readonly labMachine?: { readonly cores: number, readonly cpuSecPerGiB: number }
  /** Whether the supernode's measured CPU takes simulated time (in-process-supernode.ts). Default 'measured'. */
  readonly serviceTime?: 'measured' | 'none'
  /** Stop after this much simulated time. Default 1 hour. */
  readonly maxSimulatedMs?: number
  /** Stop after this much wall time (the result then covers the hosts done so far). Default none. */
  readonly maxWallMs?: number
}

export interface FleetResult {
  readonly hosts: number
  readonly downloaders: number
  readonly fileSizeBytes: number
  readonly pieceSizeBytes: number
  readonly pieceCount: number
  readonly upBitsPerSec: number
  readonly downBitsPerSec: number | null
  readonly supernodeUpBitsPerSec: number
  readonly originUpBitsPerSec: number
  readonly latencyMs: number
  readonly startDelayMs: number
  readonly joinOverMs: number
  readonly failFraction: number
  readonly payloadShare: number
  readonly tickMs: number
  readonly seed: number
  readonly protocol: ControlProtocol
  readonly fileHavesCoalesceMs: number
  readonly serviceTime: 'measured' | 'none'
  readonly labMachine: { readonly cores: number, readonly cpuSecPerGiB: number } | null
  readonly bound: Bound
  readonly boundMs: number
  readonly firstMs: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly lastMs: number
  readonly lastOverBound: number
  readonly completedHosts: number
  /** Hosts that failed before their download completed (a host failing later only stops serving). */
  readonly failedHosts: number
  readonly backSourcedHosts: number
  readonly originReadBytes: number
  readonly originReadRatio: number
  readonly supernodeServedBytes: number
  /** When the CDN held the whole file, and when the supernode's uplink sent its last piece (from the start). */
  readonly cdnCachedAllMs: number | null
  readonly supernodeLastUploadMs: number | null
  readonly peersServedBytes: number
  readonly controlRequests: number
  readonly controlRequestsPerHost: number
  readonly controlRequestsMaxPerHost: number
  /** v2: syncs among the control requests; evaluations of waiting syncs woken by their task's events, and their supernode CPU. */
  readonly syncs: number
  readonly syncWakeups: number
  readonly syncWakeupCpuMs: number
  /** v2: have requests between hosts (not the supernode's control traffic), in all and per downloader. */
  readonly haveRequests: number
  readonly haveRequestsPerHost: number
  /** Milliseconds spent in the real supernode code (see in-process-supernode.ts). */
  readonly supernodeCpuMs: number
  /** Pull evaluations of the scheduler (a waiting pull evaluates again at each event of its task). */
  readonly pullEvaluations: number
  readonly timedOutHandOuts: number
  /** The whole simulation's process CPU and wall time. */
  readonly processCpuMs: number
  readonly wallMs: number
  readonly steps: number
  readonly flows: number
  readonly peakFlows: number
  /** Set when the run hit maxSimulatedMs with hosts unfinished. */
  readonly error?: string
}

/** Bits per second of line rate → payload bytes per millisecond. */
function payloadBytesPerMs (bitsPerSec: number, share: number): number {
  return Number.isFinite(bitsPerSec) ? (bitsPerSec * share) / 8 / 1000 : Number.POSITIVE_INFINITY
}

/** Runs one simulated fleet download to the end. */
export async function runFleet (options: FleetOptions): Promise<FleetResult> {
  if (!Number.isInteger(options.hosts) || options.hosts < 3) throw new RangeError('hosts must be an integer ≥ 3 (origin, supernode, downloaders)')
  const wallStart = performance.now()
  const cpuStart = process.cpuUsage()
  // Thousands of simulated hosts' requests listen on the same few signals (the process-wide default, restored at the end).
  const maxListeners = EventEmitter.defaultMaxListeners
  EventEmitter.defaultMaxListeners = 0
  const share = options.payloadShare ?? TCP_PAYLOAD_SHARE
  const tickMs = options.tickMs ?? 1
  const supernodeUp = options.supernodeUpBitsPerSec ?? options.upBitsPerSec
  const originUp = options.originUpBitsPerSec ?? options.upBitsPerSec
  const clock = new ManualClock()
  const startMs = clock.now()
  const random = createSeededRandom(options.seed)
  const logger = createSilentLogger()
  const lab = options.labMachine
  const network = new FlowNetwork({ clock }, { tickMs, ...(lab === undefined ? {} : { sharedCpuBytesPerMs: (lab.cores / lab.cpuSecPerGiB) * 2 ** 30 / 1000 }) })
  const link = (up: number, down: number): { upBytesPerMs: number, downBytesPerMs: number, latencyMs: number } => ({ upBytesPerMs: payloadBytesPerMs(up, share), downBytesPerMs: payloadBytesPerMs(down, share), latencyMs: options.latencyMs })
  const originHost = network.addHost(link(originUp, options.downBitsPerSec))
  const supernodeHost = network.addHost(link(supernodeUp, options.downBitsPerSec))
  const supernode = new InProcessSupernode({ clock, network, random: createSeededRandom(options.seed + 1), logger }, {
    fileLengthBytes: options.fileSizeBytes,
    originHost,
    supernodeHost,
    maxUploadsPerPeer: options.maxUploadsPerPeer ?? 5,
    supernodeMaxUploads: options.supernodeMaxUploads ?? 8,
    pieceTimeoutMs: options.pieceTimeoutMs ?? 30_000,
    serviceTime: options.serviceTime ?? 'measured',
  })
  await supernode.start()
  const downloaders = options.hosts - 2
  const bound = computeKumarRossBound({
    fileSizeBytes: options.fileSizeBytes,
    downloaders,
    seedUploadBitsPerSec: supernodeUp,
    downloaderUploadBitsPerSec: options.upBitsPerSec,
    minDownloadBitsPerSec: options.downBitsPerSec,
  })
  const byPeerId = new Map<string, SimulatedHost>()
  const directory = { supernodeHost, hostOfPeer: (peerId: string) => byPeerId.get(peerId) }
  const hosts: SimulatedHost[] = []
  for (let i = 0; i < downloaders; i++) {
    const host = new SimulatedHost({ network, clock, logger, directory, supernode, originHost }, {
      index: i,
      host: network.addHost(link(options.upBitsPerSec, options.downBitsPerSec)),
      taskUrl: 'http://origin.sim/fleet.bin',
      startAtMs: startMs + options.startDelayMs + random() * options.joinOverMs,
      stallTimeoutMs: options.stallTimeoutMs ?? 20_000,
      protocol: options.protocol ?? 'v2',
      seed: options.seed * 1_000_003 + i,
      ...(options.fileHavesCoalesceMs === undefined ? {} : { fileHavesCoalesceMs: options.fileHavesCoalesceMs }),
    })
    hosts.push(host)
    byPeerId.set(host.peerId, host)
  }
  const failing = Math.round(options.failFraction * downloaders)
  const order = hosts.map((_, i) => i)
  for (let k = 0; k < failing; k++) {
    // A partial Fisher–Yates shuffle: `failing` distinct hosts.
    const pick = k + Math.floor(random() * (downloaders - k))
    const chosen = order[pick] ?? k
    order[pick] = order[k] ?? pick
    order[k] = chosen
    const host = hosts[chosen]
    const atMs = options.startDelayMs + options.joinOverMs * random() + random() * bound.boundMs
    if (host !== undefined) clock.setTimeout(() => { host.fail() }, atMs)
  }

  let settled = 0
  const errors: unknown[] = []
  for (const host of hosts) {
    host.run().then(() => { settled++ }, (err: unknown) => { errors.push(err); settled++ })
  }
  const maxSimulatedMs = options.maxSimulatedMs ?? 3_600_000
  const maxWallMs = options.maxWallMs ?? Number.POSITIVE_INFINITY
  let steps = 0
  let error: string | undefined
  try {
    for (;;) {
      await new Promise<void>((resolve) => { setImmediate(resolve) })
      if (settled >= hosts.length) break
      const nextMs = clock.nextDueMs()
      if (nextMs === undefined) { error = `stuck: ${hosts.length - settled} hosts unfinished and nothing scheduled`; break }
      if (nextMs - startMs > maxSimulatedMs) { error = `${hosts.length - settled} hosts unfinished after ${maxSimulatedMs} ms simulated`; break }
      if (performance.now() - wallStart > maxWallMs) { error = `stopped after ${Math.round(maxWallMs / 1000)} s of wall time at ${((clock.now() - startMs) / 1000).toFixed(2)} s simulated, ${hosts.length - settled} hosts unfinished`; break }
      clock.advance(Math.max(0, nextMs - clock.now()))
      steps++
    }
    if (errors.length > 0) error ??= `${errors.length} hosts threw: ${String((errors[0] as Error).message)}`
    if (error !== undefined) {
      const phases = new Map<string, number>()
      for (const host of hosts) if (host.phase !== 'done') phases.set(host.phase, (phases.get(host.phase) ?? 0) + 1)
      error += ` (${[...phases].map(([phase, count]) => `${count} in ${phase}`).join(', ')}; the supernode: ${supernode.queueState})`
    }
  } finally {
    for (const host of hosts) host.fail()
    await new Promise<void>((resolve) => { setImmediate(resolve) })
    await supernode.close()
    EventEmitter.defaultMaxListeners = maxListeners
  }

  const times = new LatencyRecorder()
  let completedHosts = 0
  let failedHosts = 0
  let backSourcedHosts = 0
  let controlRequests = 0
  let controlRequestsMaxPerHost = 0
  let haveRequests = 0
  let supernodeServed = 0
  let peersServed = 0
  let sourceServed = 0
  for (const host of hosts) {
    controlRequests += host.requests
    haveRequests += host.haveRequests
    controlRequestsMaxPerHost = Math.max(controlRequestsMaxPerHost, host.requests)
    supernodeServed += host.stats.bytesFromSupernode
    peersServed += host.stats.bytesFromPeers
    sourceServed += host.stats.bytesFromSource
    if (host.outcome === 'failed') { failedHosts++; continue }
    if (host.completedAtMs === undefined) continue
    completedHosts++
    if (host.outcome === 'backSource') backSourcedHosts++
    times.record(host.completedAtMs - startMs)
  }
  const sinceStart = (ms: number | undefined): number | null => (ms === undefined ? null : ms - startMs)
  const cpu = process.cpuUsage(cpuStart)
  const originReadBytes = supernode.cdn.originReadBytes + sourceServed
  const lastMs = times.quantile(1)
  return {
    hosts: options.hosts,
    downloaders,
    fileSizeBytes: options.fileSizeBytes,
    pieceSizeBytes: computePieceSizeBytes(options.fileSizeBytes),
    pieceCount: pieceCount(options.fileSizeBytes, computePieceSizeBytes(options.fileSizeBytes)),
    upBitsPerSec: options.upBitsPerSec,
    downBitsPerSec: Number.isFinite(options.downBitsPerSec) ? options.downBitsPerSec : null,
    supernodeUpBitsPerSec: supernodeUp,
    originUpBitsPerSec: originUp,
    latencyMs: options.latencyMs,
    startDelayMs: options.startDelayMs,
    joinOverMs: options.joinOverMs,
    failFraction: options.failFraction,
    payloadShare: share,
    tickMs,
    seed: options.seed,
    protocol: options.protocol ?? 'v2',
    fileHavesCoalesceMs: options.fileHavesCoalesceMs ?? FILE_HAVES_COALESCE_MS,
    serviceTime: options.serviceTime ?? 'measured',
    labMachine: options.labMachine ?? null,
    bound,
    boundMs: bound.boundMs,
    firstMs: times.quantile(0),
    p50Ms: times.quantile(0.5),
    p99Ms: times.quantile(0.99),
    lastMs,
    lastOverBound: lastMs / bound.boundMs,
    completedHosts,
    failedHosts,
    backSourcedHosts,
    originReadBytes,
    originReadRatio: originReadBytes / options.fileSizeBytes,
    supernodeServedBytes: supernodeServed,
    cdnCachedAllMs: sinceStart(supernode.cdn.cachedAllAtMs),
    supernodeLastUploadMs: sinceStart(network.lastUploadEndOf(supernodeHost)),
    peersServedBytes: peersServed,
    controlRequests,
    controlRequestsPerHost: controlRequests / downloaders,
    controlRequestsMaxPerHost,
    syncs: supernode.syncs,
    syncWakeups: supernode.syncWakeups,
    syncWakeupCpuMs: supernode.syncWakeupCpuMs,
    haveRequests,
    haveRequestsPerHost: haveRequests / downloaders,
    supernodeCpuMs: supernode.cpuMs,
    pullEvaluations: supernode.evaluations,
    timedOutHandOuts: supernode.timedOutHandOuts,
    processCpuMs: (cpu.user + cpu.system) / 1000,
    wallMs: performance.now() - wallStart,
    steps,
    flows: network.flowsStarted,
    peakFlows: network.peakFlows,
    ...(error === undefined ? {} : { error }),
  }
}
