/**
 * `npm run bench -- dfdaemon`: one skopeo pull straight from a docker-registry vs the same
 * pull through dfdaemon as a registry mirror, same run, medians of several rounds.
 *
 * The supernode and the host's dfdaemon (with its own --home; it hosts the home's peer server
 * itself) are started once before the rounds and kept for all of them, as long-lived daemons
 * on a real host are; one unmeasured warm-up pull through dfdaemon (a separate image, one
 * 1 MiB layer) takes both past their start-up. Each round then pulls a new image (3 layers,
 * 5/20/50 MiB), so the supernode's CDN cache is cold for it, and checks that dfdaemon did not
 * fall back to the registry. Direct and proxied pulls alternate which goes first.
 *
 * Loopback (default): everything on 127.0.0.1; writes the "dfdaemon" section of
 * docs/benchmarks.md.
 *
 * Lab (`--rate R`, root only): three emulated hosts of the swarm lab (network namespaces,
 * every host's upload shaped to R with tc htb): host 1 docker-registry, host 2 the
 * supernode, host 3 dfdaemon and skopeo. Images are pushed beforehand through a temporary
 * registry on 127.0.0.1 over the same storage. Also gives the link-rate floor (the layers'
 * bytes once over one link). Writes the "dfdaemon-lab-<rate>" section.
 *
 *   npm run bench -- dfdaemon [--rounds 3] [--no-docs]
 *   npm run bench -- dfdaemon --rate 1gbit [--rounds 3] [--no-docs]
 */
import type { ChildProcess } from 'node:child_process'
import { access, mkdir, mkdtemp, rm } from 'node:fs/promises'
import { cpus, loadavg, release, totalmem } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { CloseStack } from '../src/common/lifecycle.js'
import { startRegistry, writeRegistryConfig } from '../test/harness/registry.js'
import { buildTestImage, pushImage, type TestImage } from '../test/harness/oci-image.js'
import { BIN, ROOT, metricValue, spawnSupernode, stopChild } from '../test/harness/processes.js'
import { runCommand, spawnDfdaemon, writeRegistriesConf } from '../test/harness/dfdaemon-process.js'
import { writeBenchmarkSection } from './lib/benchmarks-doc.js'
import { processCpuMs } from './lib/process-cpu.js'
import { parseRateBitsPerSec } from './lib/swarm/bound.js'
import { Lab, listLabNamespaces, removeStaleLabs, sleep, type LabProcess } from './lib/swarm/lab.js'

const MiB = 1024 * 1024
const LAYER_SIZES = [5 * MiB, 20 * MiB, 50 * MiB]
const WARMUP_LAYER_SIZES = [1 * MiB]
const WARMUP_REPOSITORY = 'bench/warmup'
const BACK_SOURCE_METRIC = 'dragonfly_dfdaemon_back_source_total'
const LAB_REGISTRY_PORT = 5000

const USAGE = `usage: npm run bench -- dfdaemon [--rounds 3] [--no-docs]
       npm run bench -- dfdaemon --rate 1gbit [--rounds 3] [--no-docs]   (swarm lab, as root)`

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2
}

type PullPath = 'direct' | 'dfdaemon'

/** One measured round. */
interface Round {
  readonly directMs: number
  readonly proxiedMs: number
  /** Which pull of the round ran first. */
  readonly first: PullPath
  /** Bytes of the image's layers (gzipped, as served). */
  readonly layerBytes: number
  /** CPU time (user + system, /proc) the supernode and dfdaemon spent during the pull through dfdaemon. */
  readonly supernodeCpuMs: number
  readonly dfdaemonCpuMs: number
}

/** One pull's outcome. */
interface Pull { readonly code: number, readonly output: string, readonly wallMs: number }

/** What a mode provides to the common round loop. */
interface Setup {
  /** Puts an image into the registry (before or during the rounds). */
  readonly push: (repository: string, image: TestImage) => Promise<void>
  readonly pullDirect: (repository: string, dest: string) => Promise<Pull>
  readonly pullThroughDfdaemon: (repository: string, dest: string) => Promise<Pull>
  /** dfdaemon's back-source counter now. */
  readonly backSourceCount: () => Promise<number>
  /** dfdaemon's log tail, for errors. */
  readonly dfdaemonLogs: () => string
  /** PIDs of the supernode and dfdaemon (their CPU per pull is reported). */
  readonly pids: { readonly supernode: number, readonly dfdaemon: number }
}


const layerBytesOf = (image: TestImage): number => image.layers.reduce((sum, l) => sum + l.data.length, 0)
const roundImage = (round: number): TestImage => buildTestImage(LAYER_SIZES, 50 + round)
const roundRepository = (round: number): string => `bench/img${round}`

let isAborting = false
const started = performance.now()
function log (message: string): void {
  if (isAborting) return
  console.log(`[dfdaemon +${((performance.now() - started) / 1000).toFixed(1)}s] ${message}`)
}

/** Runs the suite; returns the exit status. */
export async function runDfdaemonBench (argv: readonly string[]): Promise<number> {
  let values
  try {
    values = parseArgs({
      args: [...argv],
      options: {
        rounds: { type: 'string', default: '3' },
        rate: { type: 'string' },
        'no-docs': { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    }).values
  } catch (err) {
    console.error(`bench dfdaemon: ${(err as Error).message}\n${USAGE}`)
    return 2
  }
  if (values.help) { console.log(USAGE); return 0 }
  const rounds = Number(values.rounds)
  if (!Number.isInteger(rounds) || rounds < 1) { console.error(`bench dfdaemon: bad --rounds\n${USAGE}`); return 2 }
  const writeDocs = !values['no-docs']
  const command = `npm run bench -- dfdaemon ${argv.join(' ')}`.trim()
  if (values.rate === undefined) return await runLoopback(rounds, writeDocs, command)
  const rate = values.rate.trim().toLowerCase()
  const bitsPerSec = parseRateBitsPerSec(rate)
  if (bitsPerSec === undefined || !Number.isFinite(bitsPerSec)) { console.error(`bench dfdaemon: --rate: not a tc rate: ${values.rate} (e.g. 100mbit, 1gbit)`); return 2 }
  if (process.getuid?.() !== 0) {
    console.error('bench dfdaemon: --rate runs the swarm lab, which must run as root: it creates network namespaces, a bridge and tc shapers.\n  Run it as root, e.g. `sudo npm run bench -- dfdaemon ' + argv.join(' ') + '`.')
    return 2
  }
  return await runLab(rounds, rate, bitsPerSec, writeDocs, command)
}

/** Tears down with `cleanup` on SIGINT/SIGTERM/SIGHUP while `body` runs. */
async function withSignalCleanup (what: string, cleanup: () => Promise<void>, body: () => Promise<number>): Promise<number> {
  const onSignal = (signal: NodeJS.Signals): void => {
    console.error(`bench dfdaemon: ${signal}: ${what}`)
    isAborting = true
    void cleanup().finally(() => process.exit(130))
  }
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal)
  try {
    return await body()
  } finally {
    await cleanup()
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(signal, onSignal)
  }
}

/** The warm-up pull and the measured rounds, common to both modes. */
async function runRounds (setup: Setup, rounds: number, work: string, pushEachRound: boolean): Promise<Round[]> {
  const warmupDest = join(work, 'warmup')
  const warmup = await setup.pullThroughDfdaemon(WARMUP_REPOSITORY, warmupDest)
  if (warmup.code !== 0) throw new Error(`warm-up skopeo through dfdaemon: ${warmup.output}`)
  await rm(warmupDest, { recursive: true, force: true })
  log(`warm-up pull through dfdaemon (not measured): ${warmup.wallMs.toFixed(0)} ms`)
  const results: Round[] = []
  for (let round = 0; round < rounds; round++) {
    const repository = roundRepository(round)
    const image = roundImage(round)
    if (pushEachRound) await setup.push(repository, image)
    const first: PullPath = round % 2 === 0 ? 'direct' : 'dfdaemon'
    const times: Partial<Record<PullPath, number>> = {}
    let cpu = { supernode: Number.NaN, dfdaemon: Number.NaN }
    for (const path of first === 'direct' ? ['direct', 'dfdaemon'] as const : ['dfdaemon', 'direct'] as const) {
      const dest = join(work, `${path}-${round}`)
      if (path === 'direct') {
        const pull = await setup.pullDirect(repository, dest)
        if (pull.code !== 0) throw new Error(`direct skopeo: ${pull.output}`)
        times.direct = pull.wallMs
      } else {
        const before = await setup.backSourceCount()
        const cpuBefore = { supernode: await processCpuMs(setup.pids.supernode), dfdaemon: await processCpuMs(setup.pids.dfdaemon) }
        const pull = await setup.pullThroughDfdaemon(repository, dest)
        cpu = { supernode: await processCpuMs(setup.pids.supernode) - cpuBefore.supernode, dfdaemon: await processCpuMs(setup.pids.dfdaemon) - cpuBefore.dfdaemon }
        if (pull.code !== 0) throw new Error(`skopeo through dfdaemon: ${pull.output}\n${setup.dfdaemonLogs().slice(-4000)}`)
        const after = await setup.backSourceCount()
        if (after > before) throw new Error(`dfdaemon fell back to the registry (${BACK_SOURCE_METRIC} ${before} -> ${after}): ${setup.dfdaemonLogs().slice(-4000)}`)
        times.dfdaemon = pull.wallMs
      }
      await rm(dest, { recursive: true, force: true })
    }
    const result: Round = { directMs: times.direct ?? Number.NaN, proxiedMs: times.dfdaemon ?? Number.NaN, first, layerBytes: layerBytesOf(image), supernodeCpuMs: cpu.supernode, dfdaemonCpuMs: cpu.dfdaemon }
    results.push(result)
    log(`round ${round + 1} (${first} first): direct ${result.directMs.toFixed(0)} ms, through dfdaemon ${result.proxiedMs.toFixed(0)} ms (${(result.proxiedMs / result.directMs).toFixed(2)}×)`)
  }
  return results
}

/** "CPU per pull through dfdaemon (medians, /proc): supernode X ms, dfdaemon Y ms". */
const cpuText = (results: readonly Round[]): string =>
  `CPU per pull through dfdaemon (medians, user + system from /proc): supernode ${median(results.map((r) => r.supernodeCpuMs)).toFixed(0)} ms, dfdaemon ${median(results.map((r) => r.dfdaemonCpuMs)).toFixed(0)} ms.`

const roundsText = (results: readonly Round[]): string =>
  results.map((r, k) => `${k + 1} (${r.first} first): direct ${r.directMs.toFixed(0)} ms, dfdaemon ${r.proxiedMs.toFixed(0)} ms (${(r.proxiedMs / r.directMs).toFixed(2)}×)`).join('; ')

const SETUP_TEXT = 'The supernode and the host\'s dfdaemon (own `--home`; it hosts the home\'s peer server itself) are long-lived: started once before the rounds and kept for all of them, and both are past their start-up through one unmeasured warm-up pull through dfdaemon of a separate image (one 1 MiB layer). Each round pulls a new image, so the supernode\'s CDN cache is cold for that image (the registry is read through it); dfdaemon never fell back to the registry (`dragonfly_dfdaemon_back_source_total` unchanged over every round). Direct and through-dfdaemon pulls alternate which goes first.'

async function runLoopback (rounds: number, writeDocs: boolean, command: string): Promise<number> {
  const work = await mkdtemp('/dev/shm/damselfly-bench-dfdaemon-')
  const cleanup = new CloseStack()
  cleanup.defer(() => rm(work, { recursive: true, force: true }))
  const close = async (): Promise<void> => { await cleanup.close().catch(() => undefined) }
  return await withSignalCleanup('stopping the registry, supernode and dfdaemon', close, async () => {
    try {
      const registry = cleanup.push(await startRegistry(join(work, 'registry')))
      const sn = await spawnSupernode(join(work, 'supernode'))
      cleanup.defer(() => stopChild(sn.child))
      // dfdaemon hosts the home's peer server itself (no other one runs for this home).
      const daemon = cleanup.push(await spawnDfdaemon(['--registry', registry.baseUrl, '-n', sn.node, '--home', join(work, 'home')]))
      const conf = await writeRegistriesConf(join(work, 'registries.conf'), daemon.host)
      log(`registry ${registry.baseUrl}, supernode ${sn.node}, dfdaemon ${daemon.baseUrl}`)
      await pushImage(registry.baseUrl, WARMUP_REPOSITORY, '1', buildTestImage(WARMUP_LAYER_SIZES, 40))
      const results = await runRounds({
        push: async (repository, image) => { await pushImage(registry.baseUrl, repository, '1', image) },
        pullDirect: async (repository, dest) => await runCommand('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${registry.host}/${repository}:1`, `dir:${dest}`]),
        pullThroughDfdaemon: async (repository, dest) => await runCommand('skopeo', ['--registries-conf', conf, 'copy', '--quiet', `docker://docker.io/${repository}:1`, `dir:${dest}`]),
        backSourceCount: async () => await daemon.metric(BACK_SOURCE_METRIC),
        dfdaemonLogs: () => daemon.logs(),
        pids: { supernode: pidOf(sn.child), dfdaemon: pidOf(daemon.child) },
      }, rounds, work, true)
      const directMs = results.map((r) => r.directMs)
      const proxiedMs = results.map((r) => r.proxiedMs)
      const ratio = median(proxiedMs) / median(directMs)
      const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}`
      const markdown = [
        '## dfdaemon',
        '',
        `Run ${new Date().toISOString()} on ${machine}. One \`skopeo copy\` of a 3-layer image (5, 20, 50 MiB of data, gzipped) to \`dir:\` in /dev/shm, straight from a local docker-registry vs through dfdaemon as a registry mirror, everything on loopback. ${SETUP_TEXT} Medians of ${rounds} rounds.`,
        '',
        '| | median time |',
        '| --- | --- |',
        `| skopeo from the registry | ${median(directMs).toFixed(0)} ms |`,
        `| skopeo through dfdaemon (swarm) | ${median(proxiedMs).toFixed(0)} ms |`,
        '',
        `**through dfdaemon / direct: ${ratio.toFixed(2)}×** (no link here: the ≤ 1.2× goal is for pulls over a network, measured in the lab sections below). Rounds: ${roundsText(results)}.`,
        `dfdaemon streams each layer through dfget's stream mode (bytes reach skopeo as pieces arrive, nothing on disk); on loopback the links are free and the comparison is one of CPU: skopeo straight from the registry costs the registry and skopeo, while through dfdaemon every layer byte also passes two Node processes sharing the same ${cpus().length} cores (the supernode receives it, hashes it for its piece digest, writes its cache and sends it; dfdaemon receives it, checks the piece digest and the blob digest and sends it). ${cpuText(results)} Load average of the machine at the end: ${loadavg()[0]?.toFixed(1) ?? '?'}.`,
        '',
        'Command: `npm run bench -- dfdaemon [--rounds 3]`.',
        '',
      ].join('\n')
      if (writeDocs) await writeBenchmarkSection('dfdaemon', markdown)
      console.log(`\n${markdown}`)
      if (!writeDocs) console.log(`(--no-docs: docs/benchmarks.md not written; command: ${command})`)
      return 0
    } catch (err) {
      console.error(`bench dfdaemon: ${(err as Error).message}`)
      return 1
    }
  })
}

function pidOf (child: ChildProcess): number {
  if (child.pid === undefined) throw new Error('a process of the bench did not start')
  return child.pid
}

/** Waits for `pattern` on a lab process's stdout or stderr (docker-registry logs on stderr). */
async function waitForOutput (proc: LabProcess, pattern: RegExp, timeoutMs: number, what: string): Promise<RegExpExecArray> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    const { stdout, stderr } = proc.output()
    const match = pattern.exec(stdout) ?? pattern.exec(stderr)
    if (match !== null) return match
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) throw new Error(`${what} exited before it was ready: ${stderr.trim().slice(-2000)}`)
    if (performance.now() > deadline) throw new Error(`${what} was not ready within ${timeoutMs} ms: ${stderr.trim().slice(-2000)}`)
    await sleep(50)
  }
}

/** Runs a command in lab host `i` to completion (stopped after `timeoutMs`), timed. */
async function runInHost (lab: Lab, i: number, command: string, args: readonly string[], timeoutMs: number): Promise<Pull> {
  const startMs = performance.now()
  const proc = lab.spawn(i, command, args)
  let timedOut = false
  const timer = setTimeout(() => { timedOut = true; void lab.stop(proc) }, timeoutMs)
  const { exitCode, atMs } = await proc.exited
  clearTimeout(timer)
  await Promise.all([proc.child.stdout, proc.child.stderr].map(async (s) => {
    if (s !== null && !s.readableEnded && !s.destroyed) await new Promise((resolve) => s.once('close', resolve))
  }))
  const { stdout, stderr } = proc.output()
  return { code: timedOut ? 124 : exitCode, output: `${timedOut ? `timed out after ${timeoutMs} ms\n` : ''}${stdout}${stderr}`, wallMs: atMs - startMs }
}

async function runLab (rounds: number, rate: string, bitsPerSec: number, writeDocs: boolean, command: string): Promise<number> {
  try {
    await access(join(ROOT, 'dist/dfdaemon/main.js'))
    await access(join(ROOT, 'dist/supernode/main.js'))
  } catch {
    console.error('bench dfdaemon: bin/dfdaemon and bin/supernode need the build: run `npm run build` (npm ci does it too)')
    return 2
  }
  const stale = await removeStaleLabs()
  if (stale.length > 0) log(`removed namespaces left by earlier runs: ${stale.join(', ')}`)
  const work = await mkdtemp('/dev/shm/damselfly-bench-dfdaemon-lab-')
  const lab = new Lab({ hosts: 3, upRate: rate, downRate: 'none', shaper: 'htb' })
  let tempRegistry: { close: () => Promise<void> } | undefined
  let cleaning: Promise<void> | undefined
  const cleanup = async (): Promise<void> => {
    cleaning ??= (async () => {
      await tempRegistry?.close().catch(() => undefined)
      await lab.close().catch((err: unknown) => { console.error(`bench dfdaemon: teardown: ${(err as Error).message}`) })
      await rm(work, { recursive: true, force: true })
    })()
    await cleaning
  }
  const registryIp = lab.ip(1)
  const supernodeIp = lab.ip(2)
  const registryAddr = `${registryIp}:${LAB_REGISTRY_PORT}`
  let status = await withSignalCleanup('tearing the lab down', cleanup, async () => {
    try {
      // The root namespace cannot reach the lab's addresses: push every image of the run
      // through a temporary registry on 127.0.0.1 over the same storage, then stop it and
      // serve that storage from host 1.
      const registryDir = join(work, 'registry')
      const temp = await startRegistry(registryDir)
      tempRegistry = temp
      await pushImage(temp.baseUrl, WARMUP_REPOSITORY, '1', buildTestImage(WARMUP_LAYER_SIZES, 40))
      const layerBytes: number[] = []
      for (let round = 0; round < rounds; round++) {
        const image = roundImage(round)
        layerBytes.push(layerBytesOf(image))
        await pushImage(temp.baseUrl, roundRepository(round), '1', image)
      }
      await temp.close()
      tempRegistry = undefined
      log(`pushed ${rounds + 1} images (${rounds} × ${(median(layerBytes) / MiB).toFixed(2)} MiB of layers, and the warm-up image)`)

      log(`starting 3 hosts (${lab.ip(1)}..${lab.ip(3)}), upload ${rate} (htb), download unshaped, namespaces ${lab.prefix}-h1..h3`)
      await lab.start()
      const registryConfig = await writeRegistryConfig(registryDir, registryAddr)
      const registry = lab.spawn(1, 'docker-registry', ['serve', registryConfig])
      await waitForOutput(registry, /listening on /, 15_000, 'docker-registry')
      const supernodeHome = join(work, 'supernode')
      await mkdir(supernodeHome, { recursive: true })
      const supernode = lab.spawn(2, BIN('supernode'), ['--listen', supernodeIp, '--advertise-ip', supernodeIp, '--port', '0', '--download-port', '0', '--home-dir', supernodeHome])
      const snReady = await lab.waitForLine(supernode, /supernode ready api=(\S+) download=(\S+)/, 30_000, 'supernode')
      const node = new URL(snReady[1] ?? '').host
      // dfdaemon hosts the home's peer server itself (no other one runs for this home).
      const daemon = lab.spawn(3, BIN('dfdaemon'), ['--port', '0', '--listen', '127.0.0.1', '--registry', `http://${registryAddr}`, '-n', node, '--home', join(work, 'home')])
      const daemonReady = await lab.waitForLine(daemon, /dfdaemon ready proxy=(\S+)/, 30_000, 'dfdaemon')
      const proxyUrl = daemonReady[1] ?? ''
      const conf = await writeRegistriesConf(join(work, 'registries.conf'), new URL(proxyUrl).host)
      log(`registry http://${registryAddr} (host 1), supernode ${node} (host 2), dfdaemon ${proxyUrl} (host 3)`)

      const floorMs = (median(layerBytes) * 8 / bitsPerSec) * 1000
      const timeoutMs = 60_000 + 20 * floorMs
      const results = await runRounds({
        push: async () => { /* pushed before the lab started */ },
        pullDirect: async (repository, dest) => await runInHost(lab, 3, 'skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${registryAddr}/${repository}:1`, `dir:${dest}`], timeoutMs),
        pullThroughDfdaemon: async (repository, dest) => await runInHost(lab, 3, 'skopeo', ['--registries-conf', conf, 'copy', '--quiet', `docker://docker.io/${repository}:1`, `dir:${dest}`], timeoutMs),
        backSourceCount: async () => {
          const metrics = await lab.run(3, 'curl', ['-sS', '-f', `${proxyUrl}/metrics`])
          if (metrics.exitCode !== 0) throw new Error(`dfdaemon metrics: ${metrics.stderr.trim()}`)
          return metricValue(metrics.stdout, BACK_SOURCE_METRIC)
        },
        dfdaemonLogs: () => daemon.output().stderr,
        pids: { supernode: pidOf(supernode.child), dfdaemon: pidOf(daemon.child) },
      }, rounds, work, false)

      const directMs = results.map((r) => r.directMs)
      const proxiedMs = results.map((r) => r.proxiedMs)
      const ratio = median(proxiedMs) / median(directMs)
      const floorText = (ms: number): string => `${(ms / floorMs).toFixed(2)}×`
      const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 1024 ** 3)} GiB RAM, Linux ${release()}, node ${process.version}`
      const markdown = [
        `## dfdaemon over shaped links (swarm lab, ${rate})`,
        '',
        `Run ${new Date().toISOString()} on ${machine}. Three emulated hosts of the swarm lab (network namespaces on one bridge; every host's upload limited to ${rate} with tc htb, downloads unshaped): host 1 runs docker-registry, host 2 the supernode, host 3 dfdaemon and skopeo. One \`skopeo copy\` on host 3 of a 3-layer image (5, 20, 50 MiB of data, gzipped: ${(median(layerBytes) / MiB).toFixed(1)} MiB of layers) to \`dir:\` in /dev/shm, straight from the registry on host 1 vs through dfdaemon as a registry mirror (each layer: registry → the supernode's CDN on host 2 → dfdaemon on host 3 → skopeo). ${SETUP_TEXT} Medians of ${rounds} rounds.`,
        '',
        '| | median time | / link floor |',
        '| --- | --- | --- |',
        `| skopeo from the registry | ${median(directMs).toFixed(0)} ms | ${floorText(median(directMs))} |`,
        `| skopeo through dfdaemon (swarm) | ${median(proxiedMs).toFixed(0)} ms | ${floorText(median(proxiedMs))} |`,
        `| link-rate floor: the layers once over one ${rate} link | ${floorMs.toFixed(0)} ms | 1.00× |`,
        '',
        `**through dfdaemon / direct: ${ratio.toFixed(2)}×** (goal ≤ 1.2×). Rounds: ${roundsText(results)}.`,
        `The floor is the layers' bytes × 8 / ${rate} (no headers, no manifest or config); through dfdaemon the layers cross two shaped links (host 1 → host 2 → host 3), pipelined piece by piece. ${cpuText(results)} Load average of the machine at the end: ${loadavg()[0]?.toFixed(1) ?? '?'} (all hosts share its ${cpus().length} cores).`,
        '',
        `Command: \`${command}\`.`,
        '',
      ].join('\n')
      if (writeDocs) await writeBenchmarkSection(`dfdaemon-lab-${rate}`, markdown)
      console.log(`\n${markdown}`)
      console.log(writeDocs ? `Wrote the dfdaemon-lab-${rate} section of docs/benchmarks.md.` : '(--no-docs: docs/benchmarks.md not written)')
      return 0
    } catch (err) {
      console.error(`bench dfdaemon: ${(err as Error).stack ?? String(err)}`)
      return 1
    }
  })
  const left = (await listLabNamespaces()).filter((name) => name.startsWith(`${lab.prefix}-`))
  if (left.length > 0) {
    console.error(`bench dfdaemon: namespaces left behind: ${left.join(', ')}`)
    status = 1
  } else {
    log('teardown done: no namespace and no process of this run left')
  }
  return status
}
