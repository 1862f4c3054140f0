/**
 * `npm run bench -- swarm --hosts N --rate R --size S` (issue 6): the multi-host lab. N
 * emulated hosts in network namespaces on one bridge (addresses in 198.18.0.0/15 only), each
 * host's upload (and with --down-rate its download) shaped with tc; host 1 is the origin,
 * host 2 the supernode, the rest download. In the same run and topology it measures
 * Damselfly (cold supernode, one dfget per host), a BitTorrent swarm (opentracker + aria2c,
 * seeded from the supernode's host) and plain HTTP from the origin (curl), and computes the
 * Kumar–Ross bound from the configured rates. `--hosts 6,10,18` sweeps N.
 *
 * Writes bench/results/swarm-<time>.{json,md,svg} and the "swarm" section of
 * docs/benchmarks.md. Needs root. Teardown (also on Ctrl-C and on failure) stops every
 * process it started and deletes every namespace it made. See docs/benchmarks-lab.md.
 */
import { randomBytes, randomFillSync } from 'node:crypto'
import { access, mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises'
import { cpus, release, totalmem } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { parseSize } from '../src/common/rate-limiter.js'
import { ROOT } from '../test/harness/processes.js'
import { writeBenchmarkSection } from './lib/benchmarks-doc.js'
import { computeKumarRossBound, parseRateBitsPerSec } from './lib/swarm/bound.js'
import { AGENT_MODES, SYSTEM_NAMES, cpuBusyBetween, readCpuTimes, sha256File, type AgentMode, type SwarmContext, type SystemName, type SystemResult, type SystemRunner } from './lib/swarm/context.js'
import { ensureTools, toolsFor } from './lib/swarm/debian-tools.js'
import { Lab, listLabNamespaces, removeStaleLabs } from './lib/swarm/lab.js'
import { completionStats, renderChart, renderMarkdown, type SwarmBenchResult, type SwarmRunResult } from './lib/swarm/report.js'
import { runBitTorrentBaseline } from './lib/swarm/system-bittorrent.js'
import { runDamselfly } from './lib/swarm/system-damselfly.js'
import { runHttpBaseline } from './lib/swarm/system-http.js'

const USAGE = `usage: npm run bench -- swarm [--hosts 10 | --hosts 6,10,18] [--rate 100mbit] [--down-rate none]
                      [--size 128MiB] [--systems damselfly,bittorrent,http] [--shaper htb|htb1|tbf]
                      [--timeout SECONDS] [--wait-idle SECONDS] [--agents warm|running|cold] [--private] [--no-docs]
  Runs as root. Host 1 = origin, host 2 = supernode (and BitTorrent seed), hosts 3..N download.`

const RUNNERS: Record<SystemName, SystemRunner> = { damselfly: runDamselfly, bittorrent: runBitTorrentBaseline, http: runHttpBaseline }
const ORIGIN_PORT = 8080
/** Below this CPU use (other work) the machine counts as idle enough to measure. */
const IDLE_BUSY_FRACTION = 0.1
const ORIGIN_SERVER = join(ROOT, 'bench/lab/origin-server.mjs')

interface Settings {
  readonly hostCounts: readonly number[]
  readonly upRate: string
  readonly downRate: string
  readonly sizeBytes: number
  readonly systems: readonly SystemName[]
  readonly shaper: string
  readonly timeoutMs: number | undefined
  readonly writeDocs: boolean
  readonly waitIdleMs: number
  /** Damselfly's host agents (AGENT_MODES). */
  readonly agents: AgentMode
  /** The file is private: the origin wants a bearer token, every dfget sends it (Damselfly only). */
  readonly private: boolean
}

function parseSettings (argv: readonly string[]): Settings | string {
  let values
  try {
    values = parseArgs({
      args: [...argv],
      options: {
        hosts: { type: 'string', default: '10' },
        rate: { type: 'string', default: '100mbit' },
        'down-rate': { type: 'string', default: 'none' },
        size: { type: 'string', default: '128MiB' },
        systems: { type: 'string', default: SYSTEM_NAMES.join(',') },
        shaper: { type: 'string', default: 'htb' },
        timeout: { type: 'string' },
        'no-docs': { type: 'boolean', default: false },
        'wait-idle': { type: 'string', default: '120' },
        agents: { type: 'string', default: 'warm' },
        private: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    }).values
  } catch (err) {
    return (err as Error).message
  }
  if (values.help) return ''
  const hostCounts = values.hosts.split(',').map((h) => Number(h.trim()))
  if (hostCounts.some((n) => !Number.isInteger(n) || n < 3 || n > 500)) return '--hosts: each N must be an integer from 3 to 500 (origin + supernode + at least one downloader)'
  const up = parseRateBitsPerSec(values.rate)
  if (up === undefined || !Number.isFinite(up)) return `--rate: not a tc rate: ${values.rate} (e.g. 100mbit)`
  if (parseRateBitsPerSec(values['down-rate']) === undefined) return `--down-rate: not a tc rate: ${values['down-rate']} (e.g. 100mbit, or none)`
  const sizeBytes = parseSize(values.size)
  if (sizeBytes === undefined || sizeBytes < 1) return `--size: not a size: ${values.size} (e.g. 128MiB)`
  const systems = values.systems.split(',').map((s) => s.trim())
  const unknown = systems.filter((s) => !(SYSTEM_NAMES as readonly string[]).includes(s))
  if (unknown.length > 0 || systems.length === 0) return `--systems: unknown ${unknown.join(', ')} (choose from ${SYSTEM_NAMES.join(', ')})`
  if (!['htb', 'htb1', 'tbf'].includes(values.shaper)) return `--shaper: ${values.shaper} (htb, htb1 or tbf)`
  const timeoutSec = values.timeout === undefined ? undefined : Number(values.timeout)
  if (timeoutSec !== undefined && !(timeoutSec > 0)) return '--timeout: seconds, > 0'
  if (values.private && systems.some((s) => s !== 'damselfly')) return '--private: only with --systems damselfly (the baselines send no credentials)'
  if (!(AGENT_MODES as readonly string[]).includes(values.agents)) return `--agents: ${values.agents} (${AGENT_MODES.join(', ')})`
  const waitIdleSec = Number(values['wait-idle'])
  if (!(waitIdleSec >= 0)) return '--wait-idle: seconds, >= 0'
  return {
    hostCounts,
    upRate: values.rate,
    downRate: values['down-rate'],
    sizeBytes,
    systems: SYSTEM_NAMES.filter((s) => systems.includes(s)),
    shaper: values.shaper,
    timeoutMs: timeoutSec === undefined ? undefined : timeoutSec * 1000,
    writeDocs: !values['no-docs'],
    waitIdleMs: waitIdleSec * 1000,
    agents: values.agents as AgentMode,
    private: values.private,
  }
}

const started = performance.now()
let isAborting = false
function log (message: string): void {
  if (isAborting) return // the lab is being torn down under the running steps; their failures are expected
  console.log(`[swarm +${((performance.now() - started) / 1000).toFixed(1)}s] ${message}`)
}

export async function runSwarmBench (argv: readonly string[]): Promise<number> {
  const settings = parseSettings(argv)
  if (typeof settings === 'string') {
    if (settings !== '') console.error(`bench swarm: ${settings}`)
    console.error(USAGE)
    return settings === '' ? 0 : 2
  }
  if (process.getuid?.() !== 0) {
    console.error('bench swarm: must run as root: it creates network namespaces, a bridge and tc shapers.\n  Run it as root, e.g. `sudo npm run bench -- swarm ' + argv.join(' ') + '`.')
    return 2
  }
  if (settings.systems.includes('damselfly')) {
    try {
      await access(join(ROOT, 'dist/dfget/main.js'))
      await access(join(ROOT, 'dist/supernode/main.js'))
    } catch {
      console.error('bench swarm: bin/dfget and bin/supernode need the build: run `npm run build` (npm ci does it too)')
      return 2
    }
  }
  try {
    await ensureTools(toolsFor(settings.systems), log)
  } catch (err) {
    console.error(`bench swarm: ${(err as Error).message}`)
    return 2
  }
  const stale = await removeStaleLabs()
  if (stale.length > 0) log(`removed namespaces left by earlier runs: ${stale.join(', ')}`)

  const work = await mkdtemp('/dev/shm/damselfly-swarm-')
  let lab: Lab | undefined
  let cleaning: Promise<void> | undefined
  const cleanup = async (): Promise<void> => {
    cleaning ??= (async () => {
      await lab?.close().catch((err: unknown) => { console.error(`bench swarm: teardown: ${(err as Error).message}`) })
      await rm(work, { recursive: true, force: true })
    })()
    await cleaning
  }
  const onSignal = (signal: NodeJS.Signals): void => {
    console.error(`bench swarm: ${signal}: tearing the lab down`)
    isAborting = true
    void cleanup().finally(() => process.exit(130))
  }
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal)

  const bench: SwarmBenchResult & { runs: SwarmRunResult[], idleCpuBusyFraction: number } = {
    date: new Date().toISOString(),
    machine: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 1024 ** 3)} GiB RAM, Linux ${release()}, node ${process.version}`,
    command: `npm run bench -- swarm ${argv.join(' ')}`.trim(),
    upRate: settings.upRate,
    downRate: settings.downRate,
    shaper: settings.shaper,
    idleCpuBusyFraction: Number.NaN,
    runs: [],
  }
  let failed = false
  try {
    const originDir = join(work, 'origin')
    await mkdir(originDir, { recursive: true })
    const originFile = join(originDir, 'data.bin')
    log(`writing a ${settings.sizeBytes} byte random file to ${originFile}`)
    await writeRandomFile(originFile, settings.sizeBytes)
    const fileSha256 = await sha256File(originFile)
    // Other work on this machine skews every system's times: wait (up to --wait-idle
    // seconds) for a 2 s window in which the CPU is mostly idle, and record how busy it was.
    const waitUntilMs = performance.now() + settings.waitIdleMs
    for (;;) {
      const cpuBefore = await readCpuTimes()
      await new Promise((resolve) => setTimeout(resolve, 2_000))
      bench.idleCpuBusyFraction = cpuBusyBetween(cpuBefore, await readCpuTimes())
      if (bench.idleCpuBusyFraction <= IDLE_BUSY_FRACTION || performance.now() >= waitUntilMs) break
      log(`the machine is ${(bench.idleCpuBusyFraction * 100).toFixed(0)} % busy with other work; waiting for it to calm down`)
    }
    log(`machine CPU busy before the run (other work): ${(bench.idleCpuBusyFraction * 100).toFixed(0)} %${bench.idleCpuBusyFraction > IDLE_BUSY_FRACTION ? ' (the figures below are skewed by it)' : ''}`)

    for (const hosts of settings.hostCounts) {
      const run = await runOneN(hosts, settings, work, originFile, fileSha256, (l) => { lab = l })
      bench.runs.push(run)
      if (run.error !== undefined || run.systems.some((s) => completionStats(s).lastMs === null)) failed = true
      await lab?.close()
      lab = undefined
    }
  } catch (err) {
    console.error(`bench swarm: ${(err as Error).stack ?? String(err)}`)
    failed = true
  } finally {
    await cleanup()
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(signal, onSignal)
  }

  const left = (await listLabNamespaces()).filter((name) => name.startsWith(`dfb${process.pid}-`))
  if (left.length > 0) {
    console.error(`bench swarm: namespaces left behind: ${left.join(', ')}`)
    failed = true
  } else {
    log('teardown done: no namespace and no process of this run left')
  }
  if (bench.runs.length > 0) await writeOutputs(bench, settings.writeDocs)
  return failed ? 1 : 0
}

async function runOneN (hosts: number, settings: Settings, work: string, originFile: string, fileSha256: string, onLab: (lab: Lab) => void): Promise<SwarmRunResult> {
  const downloaders = hosts - 2
  const up = parseRateBitsPerSec(settings.upRate) ?? 1
  const bound = computeKumarRossBound({
    fileSizeBytes: settings.sizeBytes,
    downloaders,
    seedUploadBitsPerSec: up,
    downloaderUploadBitsPerSec: up,
    minDownloadBitsPerSec: parseRateBitsPerSec(settings.downRate) ?? Number.POSITIVE_INFINITY,
  })
  // Plain HTTP needs N·F/u_origin; give every system three times that, plus start-up.
  const timeoutMs = settings.timeoutMs ?? 30_000 + 3 * downloaders * ((settings.sizeBytes * 8) / up) * 1000
  const systems: SystemResult[] = []
  const lab = new Lab({ hosts, upRate: settings.upRate, downRate: settings.downRate, shaper: settings.shaper })
  onLab(lab)
  try {
    log(`N=${downloaders}: starting ${hosts} hosts (${lab.ip(1)}..${lab.ip(hosts)}), upload ${settings.upRate}, download ${settings.downRate}, namespaces ${lab.prefix}-h1..h${hosts}`)
    await lab.start()
    await lab.setCpuRoles(new Map([[1, 'origin'], [2, 'supernode'], ...Array.from({ length: downloaders }, (_, k) => [k + 3, 'hosts'] as const)]))
    // A private file: a token of this run only, for the origin and the dfgets' --header.
    const originToken = settings.private ? randomBytes(16).toString('hex') : undefined
    const origin = lab.spawn(1, process.execPath, [ORIGIN_SERVER, '--listen', lab.ip(1), '--port', String(ORIGIN_PORT), '--file', originFile, ...(originToken === undefined ? [] : ['--token', originToken])])
    const ready = await lab.waitForLine(origin, /origin ready (\S+)/, 10_000, 'origin')
    const workDir = join(work, `n${downloaders}`)
    await mkdir(workDir, { recursive: true })
    const context: SwarmContext = {
      lab,
      workDir,
      originHost: 1,
      supernodeHost: 2,
      peerHosts: Array.from({ length: downloaders }, (_, k) => k + 3),
      originUrl: ready[1] ?? '',
      originFile,
      fileSizeBytes: settings.sizeBytes,
      fileSha256,
      timeoutMs,
      agents: settings.agents,
      ...(originToken === undefined ? {} : { originHeaders: [`Authorization: Bearer ${originToken}`] }),
      log,
    }
    log(`N=${downloaders}: bound ${(bound.boundMs / 1000).toFixed(2)} s; origin ${context.originUrl}`)
    for (const name of settings.systems) {
      log(`N=${downloaders}: ${name} …`)
      try {
        const result = await RUNNERS[name](context)
        systems.push(result)
        const stats = completionStats(result)
        log(`N=${downloaders}: ${name}: ${stats.done}/${stats.total} done, last ${stats.lastMs === null ? '—' : `${(stats.lastMs / 1000).toFixed(2)} s (${(stats.lastMs / bound.boundMs).toFixed(2)}× bound)`}, origin read ${(result.originReadBytes / settings.sizeBytes).toFixed(2)}×`)
        for (const peer of result.peers) if (peer.error !== undefined) log(`  ${name} ${peer.ip}: ${peer.error.slice(0, 400)}`)
      } catch (err) {
        log(`N=${downloaders}: ${name} failed: ${(err as Error).message}`)
        systems.push(failedResult(name, context, (err as Error).message))
      }
    }
    return { hosts, downloaders, fileSizeBytes: settings.sizeBytes, bound, systems }
  } catch (err) {
    return { hosts, downloaders, fileSizeBytes: settings.sizeBytes, bound, systems, error: (err as Error).message }
  }
}

function failedResult (system: SystemName, context: SwarmContext, error: string): SystemResult {
  return {
    system,
    peers: context.peerHosts.map((i) => ({ host: i, ip: context.lab.ip(i), completionMs: null, error })),
    originReadBytes: 0,
    supernodeServedBytes: 0,
    peersServedBytes: 0,
    servedBytesSource: 'the run failed',
    wireTxBytes: { origin: 0, supernode: 0, peers: 0 },
    cpuBusyFraction: Number.NaN,
    cpuMsByRole: { origin: Number.NaN, supernode: Number.NaN, hosts: Number.NaN },
    uploadTimeline: [],
    notes: [error],
  }
}

async function writeOutputs (bench: SwarmBenchResult, writeDocs: boolean): Promise<void> {
  const dir = join(ROOT, 'bench/results')
  await mkdir(dir, { recursive: true })
  const stamp = bench.date.replace(/[:]/g, '').replace(/\.\d+Z$/, 'Z')
  const base = `swarm-${stamp}`
  // Arrays of numbers (the upload timeline) on one line each: the file stays readable and small.
  const json = JSON.stringify(bench, null, 2).replace(/\[\s*(-?[\d.e+]+(?:,\s*-?[\d.e+]+)*)\s*\]/g, (_, list: string) => `[${list.replace(/\s+/g, '')}]`)
  await writeFile(join(dir, `${base}.json`), `${json}\n`)
  await writeFile(join(dir, `${base}.svg`), renderChart(bench))
  const markdown = renderMarkdown(bench, `../bench/results/${base}.svg`)
  await writeFile(join(dir, `${base}.md`), renderMarkdown(bench, `${base}.svg`))
  if (writeDocs) await writeBenchmarkSection('swarm', markdown)
  console.log(`\n${renderMarkdown(bench, undefined)}`)
  console.log(`Wrote bench/results/${base}.json, .md, .svg${writeDocs ? ' and the swarm section of docs/benchmarks.md' : ''}.`)
}

/** Writes `sizeBytes` random bytes (incompressible, so no layer can cheat). */
async function writeRandomFile (path: string, sizeBytes: number): Promise<void> {
  const file = await open(path, 'w')
  try {
    const chunk = Buffer.alloc(Math.min(sizeBytes, 8 * 1024 * 1024))
    for (let written = 0; written < sizeBytes; written += chunk.length) {
      randomFillSync(chunk)
      await file.write(chunk, 0, Math.min(chunk.length, sizeBytes - written))
    }
  } finally {
    await file.close()
  }
}
