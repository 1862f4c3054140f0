/**
 * runSoak(): a fleet (two supernodes, host agents, a dfdaemon; soak-fleet.ts) under a mixed
 * load for a given time, while faults are produced for real: host agents and the second
 * supernode SIGKILLed at random and started again, the origin flapping (503s, connections
 * cut part-way, for a few seconds at a time), and short expiry settings so tasks, cache
 * files and served files expire and are fetched again all the time. The load: `files`
 * origin files downloaded over and over (hot ones more often) by `dfget` in file and stream
 * mode through the hosts' agents, and image pulls (manifest and blobs) through dfdaemon from
 * a docker-registry. Every output is checked by sha256 (a wrong one is corrupt; a failed
 * download is only counted), every process exit the soak did not cause is a crash, and so
 * is a dfget that exits 1 or prints a stack. Samples of every long-lived process (soak-stats.ts)
 * give the trends after warm-up. Randomness is seeded.
 */
import { createHash } from 'node:crypto'
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { request } from 'undici'
import { createSeededRandom, type Random } from '../../../src/supernode/scheduler/random.js'
import { createTestData, startOrigin, type Origin, type OriginFaults } from '../../../test/harness/origin.js'
import { createTmpDir } from '../../../test/harness/tmp-dir.js'
import { runDfgetProcess } from '../../../test/harness/processes.js'
import { runStreamingDfget } from '../../../test/harness/stream-process.js'
import { startRegistry } from '../../../test/harness/registry.js'
import { buildTestImage, pushImage, type TestImage } from '../../../test/harness/oci-image.js'
import { SoakFleet, type Crash } from './soak-fleet.js'
import { fetchEventLoopP99Ms, quantile, readProcessUsage, summarizeTrends, type ProcessSample, type ProcessTrend } from './soak-stats.js'

export interface SoakOptions {
  readonly durationMs: number
  /** Samples before this are left out of the trends (default a fifth of the run, at most 5 min). */
  readonly warmUpMs?: number
  readonly sampleIntervalMs?: number
  readonly hosts?: number
  readonly files?: number
  /** Downloads in flight at once. */
  readonly concurrency?: number
  /** Mean time between faults of each kind (default: a twentieth of the run, 5 s to 60 s). */
  readonly faultIntervalMs?: number
  readonly seed?: number
  readonly log?: (line: string) => void
}

export type DownloadKind = 'dfget-file' | 'dfget-stream' | 'dfdaemon-pull'

export interface DownloadRecord {
  readonly kind: DownloadKind
  readonly atMs: number
  readonly wallMs: number
  readonly outcome: 'ok' | 'failed' | 'corrupt' | 'crashed'
  /** The error code or status of a failure. */
  readonly reason?: string
}

export interface SoakReport {
  readonly startedAt: string
  readonly durationMs: number
  readonly warmUpMs: number
  readonly options: Required<Omit<SoakOptions, 'log'>>
  readonly totals: { downloads: number, ok: number, failed: number, corrupt: number, crashedRuns: number, bytesVerified: number }
  readonly byKind: Record<DownloadKind, { ok: number, failed: number, corrupt: number, p50Ms: number, p95Ms: number }>
  readonly failureReasons: Record<string, number>
  readonly faults: { agentKills: number, supernodeKills: number, originFlaps: number, slowRestarts: number }
  readonly crashes: readonly Crash[]
  readonly trends: readonly ProcessTrend[]
  /** Pull latency per minute: p50/p95 of the downloads that finished in it, all kinds. */
  readonly latencyByMinute: readonly { minute: number, downloads: number, p50Ms: number, p95Ms: number }[]
  readonly samples: readonly ProcessSample[]
}

const KiB = 1024
const MiB = 1024 * KiB
const STACK_LINE = /^\s+at .+:\d+:\d+\)?$/m
const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }
const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex')

export async function runSoak (options: SoakOptions): Promise<SoakReport> {
  const resolved: Required<Omit<SoakOptions, 'log'>> = {
    durationMs: options.durationMs,
    warmUpMs: options.warmUpMs ?? Math.min(5 * 60_000, options.durationMs / 5),
    sampleIntervalMs: options.sampleIntervalMs ?? Math.min(10_000, Math.max(1_000, options.durationMs / 60)),
    hosts: options.hosts ?? 4,
    files: options.files ?? 240,
    concurrency: options.concurrency ?? 3,
    faultIntervalMs: options.faultIntervalMs ?? Math.min(60_000, Math.max(5_000, options.durationMs / 20)),
    seed: options.seed ?? 16,
  }
  const log = options.log ?? (() => {})
  const random = createSeededRandom(resolved.seed)
  const startedAt = new Date()
  // The run's clock starts once the fleet is up (set again below): on a loaded machine the
  // set-up alone can take longer than a short run.
  let t0 = performance.now()
  const now = (): number => performance.now() - t0

  const dir = await createTmpDir('damselfly-soak-', true)
  const closers: (() => Promise<void>)[] = [async () => { await dir.close() }]
  try {
    // Files of 16 KiB to 3 MiB (log-uniform): hundreds of tasks, most of them small.
    const files = Array.from({ length: resolved.files }, (_, i) => {
      const size = Math.round(16 * KiB * Math.pow((3 * MiB) / (16 * KiB), random()))
      return { path: `/f/${i}.bin`, data: createTestData(size, 1000 + i) }
    })
    const expected = new Map(files.map((f) => [f.path, sha256(f.data)]))
    const origin = await startOrigin({ files: Object.fromEntries(files.map((f) => [f.path, { data: f.data }])) })
    closers.push(async () => { await origin.close() })
    const registry = await startRegistry(join(dir.path, 'registry'))
    closers.push(async () => { await registry.close() })
    const images: { repository: string, image: TestImage }[] = []
    for (let i = 0; i < 6; i++) {
      const image = buildTestImage([MiB + i * 200 * KiB, 300 * KiB], 500 + i)
      await pushImage(registry.baseUrl, `soak/img${i}`, '1', image)
      images.push({ repository: `soak/img${i}`, image })
    }
    const fleet = new SoakFleet({
      dir: dir.path,
      hosts: resolved.hosts,
      supernodeArgs: ['--task-expire-time', '20s', '--cache-expire-time', '60s', '--gc-interval', '10s', '--piece-timeout', '10s', '--source-timeout', '5s', '--log-level', 'warn'],
      peerExpireTime: '30s',
      registryUrl: registry.baseUrl,
      now,
    })
    closers.push(async () => { await fleet.close() })
    await fleet.start()
    t0 = performance.now()
    log(`soak: fleet up (${resolved.hosts} agents, 2 supernodes, dfdaemon), ${files.length} files, ${images.length} images; running ${(resolved.durationMs / 60_000).toFixed(1)} min`)

    const records: DownloadRecord[] = []
    const samples: ProcessSample[] = []
    const faults = { agentKills: 0, supernodeKills: 0, originFlaps: 0, slowRestarts: 0 }
    let bytesVerified = 0
    let stoppedAtMs: number | undefined
    const running = (): boolean => now() < (stoppedAtMs ?? resolved.durationMs)

    const pickHost = (): number | undefined => {
      const up = Array.from({ length: resolved.hosts }, (_, i) => i).filter((i) => fleet.isHostUp(i))
      return up[Math.floor(random() * up.length)]
    }
    const worker = async (id: number): Promise<void> => {
      let n = 0
      while (running()) {
        n += 1
        const roll = random()
        const kind: DownloadKind = roll < 0.6 ? 'dfget-file' : roll < 0.85 ? 'dfget-stream' : 'dfdaemon-pull'
        const started = now()
        let record: Omit<DownloadRecord, 'kind' | 'atMs' | 'wallMs'>
        try {
          if (kind === 'dfdaemon-pull') {
            const pick = images[Math.floor(random() * images.length)]
            record = pick === undefined ? { outcome: 'failed', reason: 'no image' } : await pullImage(fleet.dfdaemonUrl, pick.repository, pick.image, (bytes) => { bytesVerified += bytes })
          } else {
            const host = pickHost()
            // Hot files come up more often: index ~ files · u².
            const file = files[Math.floor(files.length * random() ** 2)]
            if (host === undefined || file === undefined) { await sleep(200); continue }
            const args = ['-u', origin.url(file.path), '-n', fleet.nodes, '--home', fleet.homeOf(host), '--expiretime', '30s']
            const want = expected.get(file.path) ?? ''
            if (kind === 'dfget-stream') {
              const run = await runStreamingDfget(args)
              record = judgeRun(run, () => run.sha256 === want)
              if (record.outcome === 'ok') bytesVerified += run.bytes
            } else {
              const out = join(dir.path, `out-${id}-${n}`)
              const run = await runDfgetProcess([...args, '-o', out])
              const got = run.exitCode === 0 ? sha256(await readFile(out)) : ''
              record = judgeRun(run, () => got === want)
              if (record.outcome === 'ok') bytesVerified += file.data.length
              await rm(out, { force: true })
            }
          }
        } catch (err) {
          record = { outcome: 'failed', reason: `driver: ${err instanceof Error ? err.message.slice(0, 80) : String(err)}` }
        }
        records.push({ kind, atMs: started, wallMs: now() - started, ...record })
        if (record.outcome === 'corrupt' || record.outcome === 'crashed') log(`soak: ${kind} ${record.outcome}: ${record.reason ?? ''}`)
      }
    }

    /** Sleeps `ms`, or less when the run ends meanwhile. */
    const pause = async (ms: number): Promise<void> => {
      const until = now() + ms
      while (running() && now() < until) await sleep(Math.min(500, until - now()))
    }
    const faultLoop = async (every: number, fault: () => Promise<void>): Promise<void> => {
      while (running()) {
        await pause(every * (0.5 + random()))
        if (!running()) return
        await fault()
      }
    }
    const agentFaults = faultLoop(resolved.faultIntervalMs, async () => {
      const host = Math.floor(random() * resolved.hosts)
      if (!fleet.isHostUp(host)) return
      faults.agentKills += 1
      await fleet.killAgent(host, 1_000 + random() * 3_000).catch((err: unknown) => { log(`soak: agent ${host} did not come back: ${err instanceof Error ? err.message : String(err)}`) })
    })
    const supernodeFaults = faultLoop(resolved.faultIntervalMs * 1.5, async () => {
      faults.supernodeKills += 1
      await fleet.killSupernode(2_000 + random() * 4_000).catch((err: unknown) => { log(`soak: supernode-2 did not come back: ${err instanceof Error ? err.message : String(err)}`) })
    })
    const originFaults = faultLoop(resolved.faultIntervalMs, async () => {
      faults.originFlaps += 1
      await flapOrigin(origin, files.map((f) => f.path), random, 3_000 + random() * 5_000)
    })
    const sampler = (async () => {
      while (running()) {
        const at = now()
        for (const member of await fleet.members()) {
          const usage = await readProcessUsage(member.pid)
          if (usage === undefined) continue
          samples.push({ atMs: at, role: member.role, pid: member.pid, ...usage, eventLoopP99Ms: await fetchEventLoopP99Ms(member.metricsUrl) })
        }
        const done = records.length
        const recent = records.filter((r) => r.atMs + r.wallMs >= at - resolved.sampleIntervalMs)
        if (Math.floor(at / 60_000) !== Math.floor((at - resolved.sampleIntervalMs) / 60_000)) {
          log(`soak: ${(at / 60_000).toFixed(1)} min: ${done} downloads (${records.filter((r) => r.outcome === 'ok').length} ok, ${records.filter((r) => r.outcome === 'corrupt').length} corrupt), ${fleet.crashes.length} crashes, last window p50 ${quantile(recent.map((r) => r.wallMs), 0.5).toFixed(0)} ms`)
        }
        await pause(Math.max(0, resolved.sampleIntervalMs - (now() - at)))
      }
    })()
    // Ctrl-C or SIGTERM ends the run early, with its report, and everything started is stopped.
    const stopEarly = (): void => { stoppedAtMs = now() }
    process.once('SIGINT', stopEarly)
    process.once('SIGTERM', stopEarly)
    try {
      await Promise.all([...Array.from({ length: resolved.concurrency }, async (_, i) => { await worker(i) }), agentFaults, supernodeFaults, originFaults, sampler])
    } finally {
      process.off('SIGINT', stopEarly)
      process.off('SIGTERM', stopEarly)
    }
    for (const f of files) origin.setFaults(f.path, undefined)
    const crashes = [...fleet.crashes]
    faults.slowRestarts = fleet.restartFailures
    await fleet.close()

    const byKind = {} as SoakReport['byKind']
    for (const kind of ['dfget-file', 'dfget-stream', 'dfdaemon-pull'] as const) {
      const of = records.filter((r) => r.kind === kind)
      const okTimes = of.filter((r) => r.outcome === 'ok').map((r) => r.wallMs)
      byKind[kind] = { ok: okTimes.length, failed: of.filter((r) => r.outcome === 'failed').length, corrupt: of.filter((r) => r.outcome === 'corrupt').length, p50Ms: quantile(okTimes, 0.5), p95Ms: quantile(okTimes, 0.95) }
    }
    const failureReasons: Record<string, number> = {}
    for (const r of records) if (r.outcome !== 'ok') failureReasons[r.reason ?? 'unknown'] = (failureReasons[r.reason ?? 'unknown'] ?? 0) + 1
    const minutes = Math.ceil(resolved.durationMs / 60_000)
    const latencyByMinute = Array.from({ length: minutes }, (_, minute) => {
      const times = records.filter((r) => r.outcome === 'ok' && Math.floor((r.atMs + r.wallMs) / 60_000) === minute).map((r) => r.wallMs)
      return { minute, downloads: times.length, p50Ms: quantile(times, 0.5), p95Ms: quantile(times, 0.95) }
    })
    return {
      startedAt: startedAt.toISOString(),
      durationMs: now(),
      warmUpMs: resolved.warmUpMs,
      options: resolved,
      totals: {
        downloads: records.length,
        ok: records.filter((r) => r.outcome === 'ok').length,
        failed: records.filter((r) => r.outcome === 'failed').length,
        corrupt: records.filter((r) => r.outcome === 'corrupt').length,
        crashedRuns: records.filter((r) => r.outcome === 'crashed').length,
        bytesVerified,
      },
      byKind,
      failureReasons,
      faults,
      crashes,
      trends: summarizeTrends(samples, resolved.warmUpMs),
      latencyByMinute,
      samples,
    }
  } finally {
    for (const close of closers.reverse()) await close().catch(() => undefined)
  }
}

/**
 * A dfget run's outcome: ok with the right bytes, corrupt with wrong ones; crashed when it
 * printed a stack or ended without the one-line `dfget: error DF_ERR_…` (a signal, say);
 * else a clean failure, counted by exit status and code.
 */
function judgeRun ({ exitCode, signal, stderr }: { exitCode: number, signal?: NodeJS.Signals, stderr: string }, bytesMatch: () => boolean): Omit<DownloadRecord, 'kind' | 'atMs' | 'wallMs'> {
  if (signal !== undefined) return { outcome: 'crashed', reason: `killed by ${signal}: ${stderr.slice(-300)}` }
  if (exitCode === 0) return bytesMatch() ? { outcome: 'ok' } : { outcome: 'corrupt', reason: 'sha256 mismatch' }
  const code = /^dfget: error (DF_ERR_[A-Z_]+)/m.exec(stderr)?.[1]
  if (code === undefined || STACK_LINE.test(stderr)) return { outcome: 'crashed', reason: `exit ${exitCode}: ${stderr.slice(-300)}` }
  return { outcome: 'failed', reason: `exit ${exitCode} ${code}` }
}

/** An engine's pull through dfdaemon's mirror port: the manifest, then every blob, each checked against its digest. */
async function pullImage (dfdaemonUrl: string, repository: string, image: TestImage, onVerified: (bytes: number) => void): Promise<Omit<DownloadRecord, 'kind' | 'atMs' | 'wallMs'>> {
  const manifest = await request(`${dfdaemonUrl}/v2/${repository}/manifests/1`, { headers: { accept: image.manifest.mediaType } })
  const manifestBody = Buffer.from(await manifest.body.arrayBuffer())
  if (manifest.statusCode !== 200) return { outcome: 'failed', reason: `manifest ${manifest.statusCode}` }
  if (!manifestBody.equals(image.manifest.data)) return { outcome: 'corrupt', reason: 'manifest differs' }
  for (const blob of [image.config, ...image.layers]) {
    const response = await request(`${dfdaemonUrl}/v2/${repository}/blobs/${blob.digest}`)
    const hash = createHash('sha256')
    let bytes = 0
    try {
      for await (const chunk of response.body) { hash.update(chunk as Buffer); bytes += (chunk as Buffer).length }
    } catch {
      return { outcome: 'failed', reason: 'blob body cut short' }
    }
    if (response.statusCode !== 200) return { outcome: 'failed', reason: `blob ${response.statusCode}` }
    if (`sha256:${hash.digest('hex')}` !== blob.digest) return { outcome: 'corrupt', reason: `blob ${blob.digest} differs` }
    onVerified(bytes)
  }
  return { outcome: 'ok' }
}

/** For `forMs`: every file (or a random third) answers 503, or has its connections cut after 64 KiB. */
async function flapOrigin (origin: Origin, paths: readonly string[], random: Random, forMs: number): Promise<void> {
  const all = random() < 0.5
  const faults: OriginFaults = random() < 0.5 ? { status: 503 } : { dropAfterBytes: 64 * KiB }
  const hit = paths.filter(() => all || random() < 1 / 3)
  for (const path of hit) origin.setFaults(path, faults)
  await sleep(forMs)
  for (const path of hit) origin.setFaults(path, undefined)
}
