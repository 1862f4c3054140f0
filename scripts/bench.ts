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
 *   npm run bench -- [--size 512MiB] [--rounds 5] [--peers 8] [--swarm-size 64MiB] [--only single|swarm|stream]
 *
 * Writes docs/benchmarks.md and bench/results/loopback-<date>.json.
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

if (process.argv[2] === 'dfdaemon') {
  const { runDfdaemonBench } = await import('./bench-dfdaemon.js')
  process.exitCode = await runDfdaemonBench(process.argv.slice(3))
  process.exit()
}

const USAGE = `usage: npm run bench -- [--size 512MiB] [--rounds 5] [--peers 8] [--swarm-size 64MiB] [--only single|swarm|stream]
       npm run bench -- swarm …          the multi-host lab (as root; scripts/bench-swarm.ts)
       npm run bench -- dfdaemon …       skopeo through dfdaemon vs direct (scripts/bench-dfdaemon.ts)
       npm run bench -- control-plane …  the supernode load test (scripts/bench-control-plane.ts)`
let parsed
try {
  parsed = parseArgs({
    options: {
      size: { type: 'string', default: '512MiB' },
      rounds: { type: 'string', default: '5' },
      peers: { type: 'string', default: '8' },
      'swarm-size': { type: 'string', default: '64MiB' },
      only: { type: 'string' },
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
  const started = performance.now()
  const code = await new Promise<number>((resolve) => {
    spawn('curl', ['-sS', '-f', '-o', output, url], { stdio: 'inherit' }).once('exit', (c) => { resolve(c ?? 1) })
  })
  if (code !== 0) throw new Error(`curl exited with ${code}`)
  return performance.now() - started
}

const work = await mkdtemp('/dev/shm/damselfly-bench-')
const children: (() => Promise<void>)[] = []
const cleanup = async (): Promise<void> => {
  for (const stop of children.reverse()) await stop().catch(() => undefined)
  await rm(work, { recursive: true, force: true })
}
process.once('SIGINT', () => { void cleanup().finally(() => process.exit(130)) })

interface SingleResult { curlMs: number[], dfgetMs: number[], ratio: number }
interface SwarmResult { peers: number, sizeBytes: number, curlLastMs: number[], dfgetLastMs: number[], originReadRatio: number[], supernodeShare: number[], ratio: number }
const results: { date: string, machine: string, single?: SingleResult, swarm?: SwarmResult, stream?: StreamBenchResult } = {
  date: new Date().toISOString(),
  machine: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}`,
}

try {
  if (values.only === undefined || values.only === 'single') {
    const data = createTestData(sizeBytes, 11)
    const digest = sha256Hex(data)
    const origin = await startOrigin({ files: { '/single.bin': { data } } })
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
    const curlMs: number[] = []
    const dfgetMs: number[] = []
    for (let round = 0; round < rounds; round++) {
      const out = join(work, `single-${round}.bin`)
      curlMs.push(await curl(url, out))
      await rm(out, { force: true })
      const home = join(work, `single-home-${round}`)
      children.push(async () => { await stopPeerServer(home) })
      // The host's peer server is a long-lived daemon (DESIGN.md §2): start it before the
      // clock, as it would be running on a real host.
      await startPeerServer(home)
      const run = await runDfgetProcess(['-u', url, '-o', out, '-n', sn.node, '--home', home])
      if (run.exitCode !== 0) throw new Error(`dfget failed: ${run.stderr}`)
      if (sha256Hex(await readFile(out)) !== digest) throw new Error('dfget output is corrupt')
      dfgetMs.push(run.wallMs)
      await stopPeerServer(home)
      await rm(out, { force: true })
      await rm(home, { recursive: true, force: true })
      console.log(`single round ${round + 1}: curl ${(curlMs.at(-1) ?? 0).toFixed(0)} ms, dfget ${run.wallMs.toFixed(0)} ms`)
    }
    results.single = { curlMs, dfgetMs, ratio: median(curlMs) / median(dfgetMs) }
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
    console.log(await writeStreamBenchSection(results.stream, { date: results.date, machine: results.machine, rounds }))
  }

  await mkdir(join(ROOT, 'bench/results'), { recursive: true })
  // A stream-only run gets its own file, so it never replaces a full run's figures of the same day.
  const resultsName = values.only === 'stream' ? 'loopback-stream' : 'loopback'
  await writeFile(join(ROOT, `bench/results/${resultsName}-${results.date.slice(0, 10)}.json`), `${JSON.stringify(results, null, 2)}\n`)
  if (results.single !== undefined || results.swarm !== undefined) {
    await writeBenchmarkSection('loopback', renderMarkdown())
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
    `Run ${results.date} on ${results.machine}. Files in /dev/shm; medians of ${rounds} rounds; ratios are`,
    'measured against baselines taken in the same run, so they hold across machines better than times do.',
    '',
  ]
  if (results.single !== undefined) {
    const s = results.single
    lines.push(
      '### One dfget through a warm supernode vs curl (loopback)',
      '',
      `File ${formatMiB(sizeBytes)} from the same origin. dfget's time is the whole process (start, register, pieces, verify, publish); the host's peer server is already running, as the long-lived daemon it is on a real host.`,
      '',
      '| | median time | throughput |',
      '| --- | --- | --- |',
      `| curl | ${median(s.curlMs).toFixed(0)} ms | ${formatMiB(sizeBytes / (median(s.curlMs) / 1000))}/s |`,
      `| dfget | ${median(s.dfgetMs).toFixed(0)} ms | ${formatMiB(sizeBytes / (median(s.dfgetMs) / 1000))}/s |`,
      '',
      `**dfget / curl throughput: ${s.ratio.toFixed(2)}×** (goal ≥ 0.9×). Rounds: curl ${s.curlMs.map((x) => x.toFixed(0)).join(', ')} ms; dfget ${s.dfgetMs.map((x) => x.toFixed(0)).join(', ')} ms.`,
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
  lines.push('Command: `npm run bench` (options: `-- --size 512MiB --rounds 5 --peers 8 --swarm-size 64MiB --only single|swarm|stream`). Stream mode against file mode is its own section below.', '')
  return lines.join('\n')
}
