/**
 * `npm run bench -- fleet --hosts N --size S --rate R [--no-docs]` (issue 17): the fleet
 * simulator (scripts/lib/fleet/): the real supernode scheduler and the real host piece loop
 * on simulated hosts and links, in one process on a ManualClock. `--hosts` counts hosts as
 * the swarm lab does (origin, supernode, N downloaders), and a comma list sweeps it;
 * `--rate` is every host's upload (the supernode's and origin's too, unless given). Runs
 * whose layout matches a swarm lab result in bench/results/ (same hosts, rate and size) are
 * shown beside the lab's times.
 *
 * Writes bench/results/fleet-<time>.{json,md} and the "fleet" section of docs/benchmarks.md
 * (the "fleet-vs-lab" section when every run has a lab to compare with).
 */
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { parseDurationMs } from '../src/common/duration.js'
import { parseSize } from '../src/common/rate-limiter.js'
import { writeBenchmarkSection } from './lib/benchmarks-doc.js'
import type { ControlProtocol } from '../src/dfget/downloader/piece-loop-runner.js'
import { runFleet, type FleetResult } from './lib/fleet/fleet-simulator.js'
import { parseRateBitsPerSec } from './lib/swarm/bound.js'
import { formatBytes } from './lib/swarm/report.js'
import { LatencyRecorder } from './lib/control-plane/simulated-swarm.js'
import { FILE_HAVES_PIECES_PER_ANSWER } from '../src/dfget/uploader/peer-server.js'

const ROOT = new URL('..', import.meta.url).pathname
const USAGE = `usage: npm run bench -- fleet --hosts N[,N…] --size S --rate R [--down-rate none] [--supernode-rate R] [--origin-rate R]
                      [--latency 0.1ms] [--start-delay 0[,…]] [--join-over 0] [--fail 0%] [--seed 1]
                      [--protocol v2|v1] [--haves-coalesce 200ms] [--service-time measured|none] [--tick 1ms] [--lab-machine CORES:CPU_S_PER_GIB] [--wall-limit 30m] [--no-docs]
  --hosts counts the origin and the supernode (as the swarm lab): --hosts 10 is 8 downloaders.`

interface Settings {
  readonly hostCounts: readonly number[]
  readonly sizeBytes: number
  readonly rate: string
  readonly downRate: string
  readonly supernodeRate: string | undefined
  readonly originRate: string | undefined
  readonly latencyMs: number
  readonly startDelaysMs: readonly number[]
  readonly joinOverMs: number
  readonly failFraction: number
  readonly seed: number
  readonly protocol: ControlProtocol
  readonly havesCoalesceMs: number | undefined
  readonly serviceTime: 'measured' | 'none'
  readonly tickMs: number
  readonly labMachine: { readonly cores: number, readonly cpuSecPerGiB: number } | undefined
  readonly wallLimitMs: number | undefined
  readonly writeDocs: boolean
}

/** Durations as "0.7s", "250ms" or a bare number of milliseconds (sub-millisecond allowed). */
function parseMs (text: string): number | undefined {
  const trimmed = text.trim().toLowerCase()
  if (/^\d+(?:\.\d+)?$/.test(trimmed)) return Number(trimmed)
  const ms = /^(\d+(?:\.\d+)?)ms$/.exec(trimmed)
  if (ms !== null) return Number(ms[1])
  return parseDurationMs(trimmed)
}

function parseSettings (argv: readonly string[]): Settings | string {
  let values
  try {
    values = parseArgs({
      args: [...argv],
      options: {
        hosts: { type: 'string', default: '1000' },
        size: { type: 'string', default: '1GiB' },
        rate: { type: 'string', default: '10gbit' },
        'down-rate': { type: 'string', default: 'none' },
        'supernode-rate': { type: 'string' },
        'origin-rate': { type: 'string' },
        latency: { type: 'string', default: '0.1ms' },
        'start-delay': { type: 'string', default: '0' },
        'join-over': { type: 'string', default: '0' },
        fail: { type: 'string', default: '0%' },
        seed: { type: 'string', default: '1' },
        protocol: { type: 'string', default: 'v2' },
        'haves-coalesce': { type: 'string' },
        'service-time': { type: 'string', default: 'measured' },
        tick: { type: 'string', default: '1ms' },
        'lab-machine': { type: 'string' },
        'wall-limit': { type: 'string' },
        'no-docs': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }).values
  } catch (err) {
    return (err as Error).message
  }
  if (values.help) return 'help'
  const hostCounts = values.hosts.split(',').map(Number)
  if (hostCounts.some((n) => !Number.isInteger(n) || n < 3)) return '--hosts: integers ≥ 3 (origin, supernode and at least one downloader)'
  const sizeBytes = parseSize(values.size) ?? 0
  if (sizeBytes < 1) return `--size: not a size: ${values.size}`
  for (const [flag, rate] of [['--rate', values.rate], ['--down-rate', values['down-rate']], ['--supernode-rate', values['supernode-rate']], ['--origin-rate', values['origin-rate']]] as const) {
    if (rate !== undefined && parseRateBitsPerSec(rate) === undefined) return `${flag}: not a rate (like 100mbit, 10gbit, none): ${rate}`
  }
  if (!Number.isFinite(parseRateBitsPerSec(values.rate))) return '--rate: uploads must be limited'
  const latencyMs = parseMs(values.latency)
  const startDelaysMs = values['start-delay'].split(',').map(parseMs)
  const joinOverMs = parseMs(values['join-over'])
  const tickMs = parseMs(values.tick)
  if (latencyMs === undefined || joinOverMs === undefined || tickMs === undefined || !(tickMs > 0)) return '--latency, --join-over, --tick: durations like 0.1ms, 2s'
  if (startDelaysMs.some((ms) => ms === undefined) || (startDelaysMs.length !== 1 && startDelaysMs.length !== hostCounts.length)) return '--start-delay: one duration, or one per --hosts entry'
  const fail = /^(\d+(?:\.\d+)?)%$/.exec(values.fail.trim())
  if (fail === null || Number(fail[1]) > 100) return '--fail: a percentage of the downloaders, like 1%'
  const seed = Number(values.seed)
  if (!Number.isInteger(seed) || seed < 0) return '--seed: a non-negative integer'
  const serviceTime = values['service-time']
  if (serviceTime !== 'measured' && serviceTime !== 'none') return '--service-time: measured or none'
  const protocol = values.protocol
  if (protocol !== 'v1' && protocol !== 'v2') return '--protocol: v2 or v1'
  const havesCoalesceMs = values['haves-coalesce'] === undefined ? undefined : parseMs(values['haves-coalesce'])
  if (values['haves-coalesce'] !== undefined && havesCoalesceMs === undefined) return '--haves-coalesce: a duration, like 200ms'
  let labMachine
  if (values['lab-machine'] !== undefined) {
    const match = /^(\d+(?:\.\d+)?):(\d+(?:\.\d+)?)$/.exec(values['lab-machine'].trim())
    if (match === null || !(Number(match[1]) > 0) || !(Number(match[2]) > 0)) return '--lab-machine: CORES:CPU_SECONDS_PER_GIB, like 2:13'
    labMachine = { cores: Number(match[1]), cpuSecPerGiB: Number(match[2]) }
  }
  const wallLimitMs = values['wall-limit'] === undefined ? undefined : parseMs(values['wall-limit'])
  if (wallLimitMs === 0 || (values['wall-limit'] !== undefined && wallLimitMs === undefined)) return '--wall-limit: a duration, like 30m'
  return {
    hostCounts,
    labMachine,
    wallLimitMs,
    sizeBytes,
    rate: values.rate,
    downRate: values['down-rate'],
    supernodeRate: values['supernode-rate'],
    originRate: values['origin-rate'],
    latencyMs,
    startDelaysMs: startDelaysMs.map((ms) => ms ?? 0),
    joinOverMs,
    failFraction: Number(fail[1]) / 100,
    seed,
    protocol,
    havesCoalesceMs,
    serviceTime,
    tickMs,
    writeDocs: !values['no-docs'],
  }
}

/** A swarm lab run of Damselfly with the same layout: its result file and its times. */
interface LabComparison {
  readonly file: string
  readonly date: string
  readonly lastMs: readonly number[]
  readonly medianLastMs: number
}

/** The latest swarm lab result (bench/results/swarm-*.json, current code only) with Damselfly runs of this layout. */
async function findLab (hosts: number, rate: string, sizeBytes: number): Promise<LabComparison | undefined> {
  const dir = join(ROOT, 'bench/results')
  const files = (await readdir(dir).catch(() => [])).filter((name) => /^swarm-[0-9TZ-]+\.json$/.test(name)).sort().reverse()
  for (const name of files) {
    const doc = JSON.parse(await readFile(join(dir, name), 'utf8')) as { date: string, upRate: string, downRate: string, runs: { hosts: number, fileSizeBytes: number, systems: { system: string, peers: { completionMs: number | null }[] }[] }[] }
    if (doc.upRate !== rate || doc.downRate !== 'none') continue
    const lastMs = doc.runs
      .filter((run) => run.hosts === hosts && run.fileSizeBytes === sizeBytes)
      .flatMap((run) => run.systems.filter((system) => system.system === 'damselfly'))
      .map((system) => Math.max(...system.peers.map((peer) => peer.completionMs ?? Number.POSITIVE_INFINITY)))
      .filter((ms) => Number.isFinite(ms))
    if (lastMs.length > 0) return { file: `bench/results/${name}`, date: doc.date, lastMs, medianLastMs: median(lastMs) }
  }
  return undefined
}

/** The median (nearest rank: of an even count, the lower middle). */
function median (xs: readonly number[]): number {
  const recorder = new LatencyRecorder()
  for (const x of xs) recorder.record(x)
  return recorder.quantile(0.5)
}

interface FleetRun extends FleetResult {
  readonly lab?: LabComparison
}

export async function runFleetBench (argv: readonly string[]): Promise<number> {
  const settings = parseSettings(argv)
  if (settings === 'help') {
    console.log(USAGE)
    return 0
  }
  if (typeof settings === 'string') {
    console.error(`bench fleet: ${settings}\n${USAGE}`)
    return 2
  }
  const date = new Date().toISOString()
  const runs: FleetRun[] = []
  let failed = false
  for (const [i, hosts] of settings.hostCounts.entries()) {
    const rate = (text: string | undefined): number | undefined => (text === undefined ? undefined : parseRateBitsPerSec(text))
    const supernodeUp = rate(settings.supernodeRate)
    const originUp = rate(settings.originRate)
    const result = await runFleet({
      hosts,
      fileSizeBytes: settings.sizeBytes,
      upBitsPerSec: rate(settings.rate) ?? 0,
      downBitsPerSec: rate(settings.downRate) ?? Number.POSITIVE_INFINITY,
      ...(supernodeUp === undefined ? {} : { supernodeUpBitsPerSec: supernodeUp }),
      ...(originUp === undefined ? {} : { originUpBitsPerSec: originUp }),
      latencyMs: settings.latencyMs,
      startDelayMs: settings.startDelaysMs[i] ?? settings.startDelaysMs[0] ?? 0,
      joinOverMs: settings.joinOverMs,
      failFraction: settings.failFraction,
      seed: settings.seed,
      protocol: settings.protocol,
      ...(settings.havesCoalesceMs === undefined ? {} : { fileHavesCoalesceMs: settings.havesCoalesceMs }),
      serviceTime: settings.serviceTime,
      tickMs: settings.tickMs,
      ...(settings.labMachine === undefined ? {} : { labMachine: settings.labMachine }),
      ...(settings.wallLimitMs === undefined ? {} : { maxWallMs: settings.wallLimitMs }),
    })
    // The lab's result files do not say which control protocol its hosts spoke: v1 unless the lab ran with DAMSELFLY_CONTROL_PROTOCOL=v2.
    const lab = settings.protocol === 'v1' ? await findLab(hosts, settings.rate, settings.sizeBytes) : undefined
    runs.push({ ...result, ...(lab === undefined ? {} : { lab }) })
    if (result.error !== undefined) failed = true
    console.log(`fleet: ${hosts} hosts (${result.downloaders} downloaders), ${formatBytes(settings.sizeBytes)} at ${settings.rate}: last ${s(result.lastMs)} (${Number.isFinite(result.lastOverBound) ? result.lastOverBound.toFixed(2) : '—'}× the bound ${s(result.boundMs)}), p50 ${s(result.p50Ms)}, p99 ${s(result.p99Ms)}, origin read ${result.originReadRatio.toFixed(2)}×, ${result.controlRequestsPerHost.toFixed(1)} control requests per host (${result.protocol}${result.protocol === 'v2' ? `, ${result.haveRequestsPerHost.toFixed(1)} have requests per host` : ''}), supernode CPU ${s(result.supernodeCpuMs)}${result.protocol === 'v2' ? ` (${s(result.syncWakeupCpuMs)} in ${result.syncWakeups} wake-ups of waiting syncs)` : ''}; simulated in ${s(result.wallMs)}${lab === undefined ? '' : `; lab ${s(lab.medianLastMs)} (${signedPercent(result.lastMs / lab.medianLastMs - 1)})`}${result.error === undefined ? '' : `; ERROR ${result.error}`}`)
  }

  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 1024 ** 3)} GiB RAM, node ${process.version}`
  const command = `npm run bench -- fleet ${argv.join(' ')}`.trim()
  const markdown = renderMarkdown({ date, machine, command, runs })
  await mkdir(join(ROOT, 'bench/results'), { recursive: true })
  const base = `fleet-${date.replace(/[:]/g, '').replace(/\.\d+Z$/, 'Z')}`
  await writeFile(join(ROOT, 'bench/results', `${base}.json`), `${JSON.stringify({ date, machine, command, runs }, null, 2)}\n`)
  await writeFile(join(ROOT, 'bench/results', `${base}.md`), markdown)
  const section = runs.every((run) => run.lab !== undefined) ? 'fleet-vs-lab' : 'fleet'
  if (settings.writeDocs) await writeBenchmarkSection(section, markdown)
  console.log(`\n${markdown}\nWrote bench/results/${base}.json and .md${settings.writeDocs ? ` and the ${section} section of docs/benchmarks.md` : ''}.`)
  return failed ? 1 : 0
}

function s (ms: number): string {
  return Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : '—'
}

function signedPercent (x: number): string {
  return `${x >= 0 ? '+' : '−'}${Math.abs(x * 100).toFixed(1)} %`
}

function formatRate (bitsPerSec: number | null): string {
  if (bitsPerSec === null) return 'unshaped'
  return bitsPerSec >= 1e9 ? `${bitsPerSec / 1e9} Gbit/s` : `${bitsPerSec / 1e6} Mbit/s`
}

function renderMarkdown (r: { date: string, machine: string, command: string, runs: readonly FleetRun[] }): string {
  const withLab = r.runs.every((run) => run.lab !== undefined)
  const first = r.runs[0]
  const lines = [
    withLab ? '## Fleet simulator against the swarm lab' : '## Fleet (simulated)',
    '',
    `Run ${r.date} on ${r.machine}. Command: \`${r.command}\`.`,
    '',
    'The real supernode scheduler (with its ProgressManager, TaskManager, PeerManager; under control protocol v2 its TaskSync and ParentScheduler) and every host\'s real piece loop (v1: P2pDownloader; v2: ParentDownloader, with its peer server\'s real have feed) in one process on a ManualClock; links are a flow model (each transfer a flow sharing its uploader\'s and downloader\'s capacity), the CDN reads the origin once over its link. Times run from the common start to each host\'s last verified piece. Control requests are every call a host makes to the supernode (registration; v1: pulls, reports; v2: syncs); v2\'s have requests go from host to host and are counted apart. Supernode CPU is the process CPU spent in the real supernode code; with service time "measured" each call also takes that CPU in simulated time (one thread, in order). How it works and how to use it: [capacity-planning.md](capacity-planning.md).',
    '',
  ]
  if (first !== undefined) {
    lines.push(`File ${formatBytes(first.fileSizeBytes)} (${first.pieceCount} pieces of ${formatBytes(first.pieceSizeBytes)}); every host's upload ${formatRate(first.upBitsPerSec)} (supernode ${formatRate(first.supernodeUpBitsPerSec)}, origin ${formatRate(first.originUpBitsPerSec)}), download ${formatRate(first.downBitsPerSec)}; payload ${(first.payloadShare * 100).toFixed(1)} % of the line rate (TCP over Ethernet, MTU 1500); latency ${first.latencyMs} ms one way per host; control protocol ${first.protocol}${first.protocol === 'v2' ? ` (a file's have feed coalesced over ${first.fileHavesCoalesceMs} ms or ${FILE_HAVES_PIECES_PER_ANSWER} new pieces, whichever comes first)` : ''}; service time ${first.serviceTime}; seed ${first.seed}${first.labMachine === null ? '' : `; lab machine: every host shares ${first.labMachine.cores} cores, ${first.labMachine.cpuSecPerGiB} CPU-s per GiB delivered`}.`, '')
  }
  lines.push(
    '| hosts (downloaders) | start delay | bound | first | p50 | p99 | last | last / bound | origin read | served by supernode | control requests per host (max) | pull evaluations (v1) / syncs (v2) | have requests per host (v2) | supernode CPU | simulated in (CPU) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  )
  for (const run of r.runs) {
    lines.push(`| ${run.hosts} (${run.downloaders})${run.error === undefined ? '' : ` — ${run.error}`} | ${s(run.startDelayMs)} | ${s(run.boundMs)} | ${s(run.firstMs)} | ${s(run.p50Ms)} | ${s(run.p99Ms)} | ${s(run.lastMs)} | ${Number.isFinite(run.lastOverBound) ? `${run.lastOverBound.toFixed(2)}×` : '—'} | ${run.originReadRatio.toFixed(2)}× | ${formatBytes(run.supernodeServedBytes)} (${(run.supernodeServedBytes / (run.fileSizeBytes * run.downloaders) * 100).toFixed(1)} %) | ${run.controlRequestsPerHost.toFixed(1)} (${run.controlRequestsMaxPerHost}) | ${run.protocol === 'v2' ? run.syncs : run.pullEvaluations} | ${run.protocol === 'v2' ? run.haveRequestsPerHost.toFixed(1) : '—'} | ${s(run.supernodeCpuMs)} | ${s(run.wallMs)} (${s(run.processCpuMs)}) |`)
  }
  if (withLab) {
    lines.push('', '| hosts (downloaders) | lab: last done (median of its runs) | simulator: last done | simulator / lab | lab result file |', '| --- | --- | --- | --- | --- |')
    for (const run of r.runs) {
      if (run.lab === undefined) continue
      lines.push(`| ${run.hosts} (${run.downloaders}) | ${s(run.lab.medianLastMs)} (${run.lab.lastMs.map((ms) => (ms / 1000).toFixed(2)).join(', ')} s) | ${s(run.lastMs)} | ${signedPercent(run.lastMs / run.lab.medianLastMs - 1)} | \`${run.lab.file}\` |`)
    }
  }
  lines.push('')
  return lines.join('\n')
}
