/**
 * `npm run bench`: loopback benchmarks (`npm run bench -- swarm …` runs the multi-host lab,
 * scripts/bench-swarm.ts; `npm run bench -- control-plane` the supernode load test,
 * scripts/bench-control-plane.ts), as ratios against baselines measured in the same run
 * (machines are shared and noisy: medians of several rounds, files in /dev/shm).
 *
 *   single   one dfget through a warm supernode vs curl of the same file from the same
 *            origin (throughput ratio dfget/curl; goal >= 0.9)
 *   swarm    N dfget runs (N homes) started together vs N curls started together from the
 *            same origin: time of the last one, origin bytes read, supernode share
 *   stream   one dfget in stream mode (--stream -o -) vs file mode, same run: throughput and
 *            peak memory (scripts/bench-stream.ts; its own section of docs/benchmarks.md)
 *
 *   npm run bench -- [--size 512MiB] [--rounds 5] [--peers 8] [--swarm-size 64MiB] [--only single|swarm|stream] [--no-docs]
 *
 * Writes docs/benchmarks.md and bench/results/loopback-<date>.json; with --no-docs it only
 * prints (a run on a loaded machine, or a before/after comparison, must not replace the figures).
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { parseArgs } from 'node:util'
import { startOrigin, createTestData, sha256Hex } from '../test/harness/origin.js'
import { formatMiB, startPeerServer, metricValue, parseSummary, ROOT, runDfgetProcess, spawnSupernode, stopChild, stopPeerServer } from '../test/harness/processes.js'
import { parseSize } from '../src/common/rate-limiter.js'
import { writeBenchmarkSection } from './lib/benchmarks-doc.js'
import { endedChildrenCpuMs, processCpuMs } from './lib/process-cpu.js'
import { formatMachineSpeed, measureMachineSpeed } from './lib/machine-speed.js'
import type { StreamBenchResult } from './bench-stream.js'

if (process.argv[2] === 'swarm') {
  const { runSwarmBench } = await import('./bench-swarm.js')
  process.exitCode = await runSwarmBench(process.argv.slice(3))
  process.exit()
}
if (process.argv[2] === 'control-plane') {
  const { runControlPlaneBench } = await import('./bench-control-plane.js')
  process.exitCode = await runControlPlaneBench(process.argv.slice(3))
  process.exit()
}

if (process.argv[2] === 'fleet') {
  const { runFleetBench } = await import('./bench-fleet.js')
  process.exitCode = await runFleetBench(process.argv.slice(3))
  process.exit()
}

if (process.argv[2] === 'dfdaemon') {
  const { runDfdaemonBench } = await import('./bench-dfdaemon.js')
  process.exitCode = await runDfdaemonBench(process.argv.slice(3))
  process.exit()
}

const USAGE = `usage: npm run bench -- [--size 512MiB] [--rounds 5] [--peers 8] [--swarm-size 64MiB] [--only single|swarm|stream] [--no-docs]
       npm run bench -- swarm …          the multi-host lab (as root; scripts/bench-swarm.ts)
       npm run bench -- dfdaemon …       skopeo through dfdaemon vs direct (scripts/bench-dfdaemon.ts)
       npm run bench -- control-plane …  the supernode load test (scripts/bench-control-plane.ts)
       npm run bench -- fleet …          the fleet simulator (scripts/bench-fleet.ts)`
let parsed
try {
  parsed = parseArgs({
    options: {
      size: { type: 'string', default: '512MiB' },
      rounds: { type: 'string', default: '5' },
      peers: { type: 'string', default: '8' },
      'swarm-size': { type: 'string', default: '64MiB' },
      only: { type: 'string' },
      'no-docs': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  })
} catch (err) {
  console.error(`bench: ${(err as Error).message}\n${USAGE}`)
  process.exit(2)
}
const { values } = parsed
if (values.help === true) {
  console.log(USAGE)
  process.exit(0)
}
const sizeBytes = parseSize(values.size) ?? 0
const swarmSizeBytes = parseSize(values['swarm-size']) ?? 0
const rounds = Number(values.rounds)
const noDocs = values['no-docs'] === true
const peers = Number(values.peers)
if (sizeBytes <= 0 || swarmSizeBytes <= 0 || !(rounds >= 1) || !(peers >= 1)) {
  console.error('bench: bad --size, --swarm-size, --rounds or --peers')
  process.exit(2)
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2
}

async function curl (url: string, output: string): Promise<number> {
  return (await timedCurl(url, output)).wallMs
}

/** curl of `url` to `output`: wall time and the CPU it used. */
async function timedCurl (url: string, output: string): Promise<{ wallMs: number, cpuMs: number }> {
  const started = performance.now()
  const cpuBefore = await endedChildrenCpuMs()
  const code = await new Promise<number>((resolve) => {
    spawn('curl', ['-sS', '-f', '-o', output, url], { stdio: 'inherit' }).once('exit', (c) => { resolve(c ?? 1) })
  })
  if (code !== 0) throw new Error(`curl exited with ${code}`)
  return { wallMs: performance.now() - started, cpuMs: await endedChildrenCpuMs() - cpuBefore }
}

/** The pid of a home's agent (its state file). */
async function readAgentPid (home: string): Promise<number> {
  return (JSON.parse(await readFile(join(home, 'peer-server.json'), 'utf8')) as { pid: number }).pid
}

const work = await mkdtemp('/dev/shm/damselfly-bench-')
const children: (() => Promise<void>)[] = []
const cleanup = async (): Promise<void> => {
  for (const stop of children.reverse()) await stop().catch(() => undefined)
  await rm(work, { recursive: true, force: true })
}
process.once('SIGINT', () => { void cleanup().finally(() => process.exit(130)) })

interface SingleResult {
  curlMs: number[]
  dfgetMs: number[]
  /** CPU of each curl, of each dfget process (the thin client), of its host's agent, and of the supernode, per round. */
  curlCpuMs: number[]
  dfgetCpuMs: number[]
  agentCpuMs: number[]
  supernodeCpuMs: number[]
  /** Throughput dfget / curl (medians). */
  ratio: number
  /** CPU of the downloading host (dfget + agent) / curl's (medians). */
  cpuRatio: number
}
interface SwarmResult { peers: number, sizeBytes: number, curlLastMs: number[], dfgetLastMs: number[], originReadRatio: number[], supernodeShare: number[], ratio: number }
const results: { date: string, machine: string, speed: string, single?: SingleResult, swarm?: SwarmResult, stream?: StreamBenchResult } = {
  date: new Date().toISOString(),
  machine: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}`,
  speed: formatMachineSpeed(measureMachineSpeed()),
}

try {
  if (values.only === undefined || values.only === 'single') {
    const data = createTestData(sizeBytes, 11)
    const digest = sha256Hex(data)
    const origin = await startOrigin({ files: { '/single.bin': { data }, '/agent-warm.bin': { data: createTestData(64 * 1024 * 1024, 12) } } })
    children.push(async () => { await origin.close() })
    const sn = await spawnSupernode(join(work, 'sn-single'))
    children.push(async () => { await stopChild(sn.child) })
    const url = origin.url('/single.bin')
    // Warm the supernode's CDN cache (not timed).
    const warmHome = join(work, 'warm-home')
    children.push(async () => { await stopPeerServer(warmHome) })
    const warm = await runDfgetProcess(['-u', url, '-o', join(work, 'warm.bin'), '-n', sn.node, '--home', warmHome])
    if (warm.exitCode !== 0) throw new Error(`warm-up dfget failed: ${warm.stderr}`)
    await stopPeerServer(warmHome) // so the timed runs fetch from the supernode, not the warm host
    await rm(join(work, 'warm.bin'), { force: true })
    const single: SingleResult = { curlMs: [], dfgetMs: [], curlCpuMs: [], dfgetCpuMs: [], agentCpuMs: [], supernodeCpuMs: [], ratio: 0, cpuRatio: 0 }
    for (let round = 0; round < rounds; round++) {
      const out = join(work, `single-${round}.bin`)
      const curlRun = await timedCurl(url, out)
      single.curlMs.push(curlRun.wallMs)
      single.curlCpuMs.push(curlRun.cpuMs)
      await rm(out, { force: true })
      const home = join(work, `single-home-${round}`)
      children.push(async () => { await stopPeerServer(home) })
      // The host agent is a long-lived daemon: it runs before the clock, and it has run a
      // download already (of another file, so that it is no source of this one), as it would
      // have on a real host.
      await startPeerServer(home)
      const agentWarm = await runDfgetProcess(['-u', origin.url('/agent-warm.bin'), '-o', join(work, 'agent-warm.bin'), '-n', sn.node, '--home', home])
      if (agentWarm.exitCode !== 0) throw new Error(`agent warm-up failed: ${agentWarm.stderr}`)
      await rm(join(work, 'agent-warm.bin'), { force: true })
      const agentPid = await readAgentPid(home)
      const agentBefore = await processCpuMs(agentPid)
      const supernodeBefore = await processCpuMs(sn.child.pid ?? 0)
      const childrenBefore = await endedChildrenCpuMs()
      const run = await runDfgetProcess(['-u', url, '-o', out, '-n', sn.node, '--home', home])
      single.dfgetCpuMs.push(await endedChildrenCpuMs() - childrenBefore)
      single.agentCpuMs.push(await processCpuMs(agentPid) - agentBefore)
      single.supernodeCpuMs.push(await processCpuMs(sn.child.pid ?? 0) - supernodeBefore)
      if (run.exitCode !== 0) throw new Error(`dfget failed: ${run.stderr}`)
      if (sha256Hex(await readFile(out)) !== digest) throw new Error('dfget output is corrupt')
      single.dfgetMs.push(run.wallMs)
      await stopPeerServer(home)
      await rm(out, { force: true })
      await rm(home, { recursive: true, force: true })
      console.log(`single round ${round + 1}: curl ${(single.curlMs.at(-1) ?? 0).toFixed(0)} ms (${(single.curlCpuMs.at(-1) ?? 0).toFixed(0)} ms CPU), dfget ${run.wallMs.toFixed(0)} ms (dfget ${(single.dfgetCpuMs.at(-1) ?? 0).toFixed(0)} + agent ${(single.agentCpuMs.at(-1) ?? 0).toFixed(0)} ms CPU; supernode ${(single.supernodeCpuMs.at(-1) ?? 0).toFixed(0)} ms)`)
    }
    single.ratio = median(single.curlMs) / median(single.dfgetMs)
    single.cpuRatio = median(single.dfgetCpuMs.map((cpu, i) => cpu + (single.agentCpuMs[i] ?? 0))) / median(single.curlCpuMs)
    results.single = single
    await stopChild(sn.child)
    await origin.close()
  }

  if (values.only === undefined || values.only === 'swarm') {
    const data = createTestData(swarmSizeBytes, 13)
    const digest = sha256Hex(data)
    const origin = await startOrigin({ files: { '/swarm.bin': { data } } })
    children.push(async () => { await origin.close() })
    const url = origin.url('/swarm.bin')
    const curlLastMs: number[] = []
    const dfgetLastMs: number[] = []
    const originReadRatio: number[] = []
    const supernodeShare: number[] = []
    for (let round = 0; round < rounds; round++) {
      const started = performance.now()
      await Promise.all(Array.from({ length: peers }, async (_, i) => { await curl(url, join(work, `c-${i}.bin`)) }))
      curlLastMs.push(performance.now() - started)
      for (let i = 0; i < peers; i++) await rm(join(work, `c-${i}.bin`), { force: true })

      origin.resetStats()
      const sn = await spawnSupernode(join(work, `sn-swarm-${round}`))
      children.push(async () => { await stopChild(sn.child) })
      const homes = Array.from({ length: peers }, (_, i) => join(work, `swarm-${round}-host-${i}`))
      for (const home of homes) children.push(async () => { await stopPeerServer(home) })
      const t0 = performance.now()
      const runs = await Promise.all(homes.map(async (home, i) => await runDfgetProcess(['-u', url, '-o', join(work, `d-${i}.bin`), '-n', sn.node, '--home', home])))
      dfgetLastMs.push(performance.now() - t0)
      for (const [i, run] of runs.entries()) {
        if (run.exitCode !== 0) throw new Error(`swarm dfget ${i} failed: ${run.stderr}`)
        if (sha256Hex(await readFile(join(work, `d-${i}.bin`))) !== digest) throw new Error(`swarm output ${i} is corrupt`)
        await rm(join(work, `d-${i}.bin`), { force: true })
      }
      const metrics = await (await fetch(`${sn.apiUrl}/metrics`)).text()
      originReadRatio.push(origin.readRatio('/swarm.bin'))
      const bySummary = runs.map((r) => parseSummary(r.stderr)).reduce((sum, s) => sum + (s?.supernode ?? 0), 0)
      const served = metricValue(metrics, 'dragonfly_supernode_pieces_downloaded_size_bytes_total') || bySummary
      supernodeShare.push(served / (swarmSizeBytes * peers))
      for (const home of homes) await stopPeerServer(home)
      await stopChild(sn.child)
      console.log(`swarm round ${round + 1}: ${peers} curls ${(curlLastMs.at(-1) ?? 0).toFixed(0)} ms, ${peers} dfgets ${(dfgetLastMs.at(-1) ?? 0).toFixed(0)} ms, origin read ${(originReadRatio.at(-1) ?? 0).toFixed(2)}×, supernode share ${((supernodeShare.at(-1) ?? 0) * 100).toFixed(0)} %`)
    }
    results.swarm = { peers, sizeBytes: swarmSizeBytes, curlLastMs, dfgetLastMs, originReadRatio, supernodeShare, ratio: median(curlLastMs) / median(dfgetLastMs) }
  }

  if (values.only === undefined || values.only === 'stream') {
    const { runStreamBench, writeStreamBenchSection } = await import('./bench-stream.js')
    results.stream = await runStreamBench({ work, sizeBytes, rounds, defer: (stop) => { children.push(stop) } })
    console.log(await writeStreamBenchSection(results.stream, { date: results.date, machine: results.machine, speed: results.speed, rounds }, { writeDocs: !noDocs }))
  }

  if (!noDocs) {
    await mkdir(join(ROOT, 'bench/results'), { recursive: true })
    // A stream-only run gets its own file, so it never replaces a full run's figures of the same day.
    const resultsName = values.only === 'stream' ? 'loopback-stream' : 'loopback'
    await writeFile(join(ROOT, `bench/results/${resultsName}-${results.date.slice(0, 10)}.json`), `${JSON.stringify(results, null, 2)}\n`)
  }
  if (results.single !== undefined || results.swarm !== undefined) {
    if (!noDocs) await writeBenchmarkSection('loopback', renderMarkdown())
    console.log(renderMarkdown())
  }
} catch (err) {
  console.error(`bench: ${(err as Error).message}`)
  process.exitCode = 1
} finally {
  await cleanup()
}

function renderMarkdown (): string {
  const lines = [
    '## Loopback',
    '',
    `Run ${results.date} on ${results.machine} (${results.speed}). Files in /dev/shm; medians of ${rounds} rounds; ratios are`,
    'measured against baselines taken in the same run, so they hold across machines better than times do.',
    '',
  ]
  if (results.single !== undefined) {
    const s = results.single
    const gib = sizeBytes / 1024 ** 3
    const perGiB = (ms: number): string => `${(ms / 1000 / gib).toFixed(2)} CPU-s/GiB`
    const hostCpu = s.dfgetCpuMs.map((cpu, i) => cpu + (s.agentCpuMs[i] ?? 0))
    lines.push(
      '### One dfget through a warm supernode and a running agent vs curl (loopback)',
      '',
      `File ${formatMiB(sizeBytes)} from the same origin. dfget's time is the whole process (start, hand-over to the host agent, register, pieces, verify, publish); the host's agent (\`dfget server\`) is already running and has downloaded another file before, as the long-lived daemon it is on a real host. CPU: curl's process; the downloading host's dfget process plus its agent (from /proc), every round.`,
      '',
      '| | median time | throughput | CPU of the downloading host |',
      '| --- | --- | --- | --- |',
      `| curl | ${median(s.curlMs).toFixed(0)} ms | ${formatMiB(sizeBytes / (median(s.curlMs) / 1000))}/s | ${median(s.curlCpuMs).toFixed(0)} ms (${perGiB(median(s.curlCpuMs))}) |`,
      `| dfget + agent | ${median(s.dfgetMs).toFixed(0)} ms | ${formatMiB(sizeBytes / (median(s.dfgetMs) / 1000))}/s | ${median(hostCpu).toFixed(0)} ms (${perGiB(median(hostCpu))}): dfget ${median(s.dfgetCpuMs).toFixed(0)} ms, agent ${median(s.agentCpuMs).toFixed(0)} ms |`,
      '',
      `**dfget / curl throughput: ${s.ratio.toFixed(2)}×** (goal ≥ 0.7×); **host CPU per GiB, dfget + agent / curl: ${s.cpuRatio.toFixed(2)}×** (goal ≤ 2.5×). The supernode used ${median(s.supernodeCpuMs).toFixed(0)} ms CPU per run to serve the file. Rounds: curl ${s.curlMs.map((x) => x.toFixed(0)).join(', ')} ms; dfget ${s.dfgetMs.map((x) => x.toFixed(0)).join(', ')} ms.`,
      '',
    )
  }
  if (results.swarm !== undefined) {
    const w = results.swarm
    lines.push(
      `### ${w.peers} hosts at once (loopback, cold supernode)`,
      '',
      `File ${formatMiB(w.sizeBytes)}; ${w.peers} dfget runs with separate --home directories started together, against ${w.peers} curls started together from the same origin. On loopback every "host" shares two cores and no link is slow, so this shows the origin and supernode load, not the network-limited speed-up (see the swarm lab for that).`,
      '',
      '| | median time of the last | origin bytes read | supernode share of piece bytes |',
      '| --- | --- | --- | --- |',
      `| ${w.peers} × curl | ${median(w.curlLastMs).toFixed(0)} ms | ${w.peers.toFixed(2)}× | — |`,
      `| ${w.peers} × dfget | ${median(w.dfgetLastMs).toFixed(0)} ms | ${median(w.originReadRatio).toFixed(2)}× | ${(median(w.supernodeShare) * 100).toFixed(0)} % |`,
      '',
      `curl / dfget time: ${w.ratio.toFixed(2)}×.`,
      '',
    )
  }
  lines.push('Command: `npm run bench` (options: `-- --size 512MiB --rounds 5 --peers 8 --swarm-size 64MiB --only single|swarm|stream --no-docs`). Stream mode against file mode is its own section below.', '')
  return lines.join('\n')
}
