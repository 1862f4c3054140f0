/**
 * `node --import tsx scripts/bench-ab.ts`: the loopback single download of `npm run bench`
 * for two or more builds side by side, for a before/after of a change to the byte path:
 * CPU of the downloading host (dfget + its agent) and of the supernode per GiB, rounds
 * alternating between the builds, every round on a new agent warmed by one download of
 * another file (as `npm run bench` does). It writes nothing outside its temp directory.
 *
 *   node --import tsx scripts/bench-ab.ts [--rounds 3] [--size 512MiB] [--link 100mbit]
 *        [--prof DIR] [--perf DIR] ROOT[#node-flag...] ROOT[#node-flag...] ...
 *
 * ROOT is a directory holding a build (bin/, dist/ and a node_modules link): a worktree, or a
 * copy of one's dist taken before a change. `#--flag` adds Node flags to that build's agent.
 * `--link RATE` runs everything in a private network namespace whose loopback is shaped to
 * RATE with MTU 1500 (root only; the machine's own loopback is untouched): a host on a link
 * of the swarm lab, where pieces arrive at link speed, not at memory speed.
 * `--prof DIR` writes V8 CPU profiles of the agent's and the supernode's main threads over
 * each measured download (through the inspector); `--perf DIR` records both processes with
 * `perf record -g` over it.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createTestData, sha256Hex, startOrigin } from '../test/harness/origin.js'
import { exitedAndRead, stopChild } from '../test/harness/processes.js'
import { parseSize } from '../src/common/rate-limiter.js'
import { endedChildrenCpuMs, processCpuMs } from './lib/process-cpu.js'

const USAGE = 'usage: node --import tsx scripts/bench-ab.ts [--rounds 3] [--size 512MiB] [--link 100mbit] [--prof DIR] [--perf DIR] ROOT[#node-flag...] ...'
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: 'string', default: '3' },
    size: { type: 'string', default: '512MiB' },
    link: { type: 'string' },
    prof: { type: 'string' },
    perf: { type: 'string' },
    shaped: { type: 'boolean', default: false },
  },
})
const rounds = Number(values.rounds)
const sizeBytes = parseSize(values.size) ?? 0
if (positionals.length === 0 || !(rounds >= 1) || sizeBytes <= 0) {
  console.error(USAGE)
  process.exit(2)
}

if (values.link !== undefined && !values.shaped) {
  // Once more, inside a new network namespace with a shaped loopback.
  const shape = `ip link set lo up && ip link set lo mtu 1500 && tc qdisc add dev lo root tbf rate "$0" burst 64kb latency 20ms && exec "$@"`
  const child = spawn('unshare', ['--net', '--', 'sh', '-c', shape, values.link, process.execPath, ...process.execArgv, ...process.argv.slice(1), '--shaped'], { stdio: 'inherit' })
  const { code } = await exitedAndRead(child)
  process.exit(code ?? 1)
}

interface Build { readonly label: string, readonly root: string, readonly agentFlags: readonly string[] }
const builds: Build[] = positionals.map((spec) => {
  const [root = '', ...agentFlags] = spec.split('#')
  return { label: spec, root, agentFlags }
})

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2
}

interface Started { readonly child: ChildProcess, readonly inspector: Promise<string> | undefined }

/** Starts a build's program; with --prof under the inspector (its URL read from stderr). */
function startProgram (build: Build, program: 'supernode' | 'dfget', args: readonly string[], nodeFlags: readonly string[]): Started {
  const main = join(build.root, program === 'dfget' ? 'dist/dfget-bundle/dfget.js' : 'dist/supernode/main.js')
  const inspect = values.prof === undefined ? [] : ['--inspect=127.0.0.1:0']
  const child = spawn(process.execPath, [...nodeFlags, ...inspect, main, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  const inspector = values.prof === undefined
    ? undefined
    : new Promise<string>((resolve) => {
      child.stderr?.on('data', (chunk: Buffer) => {
        stderr += chunk.toString()
        const match = /Debugger listening on (ws:\S+)/.exec(stderr)
        if (match !== null) resolve(match[1] ?? '')
      })
    })
  child.stdout?.resume()
  if (inspector === undefined) child.stderr?.resume()
  return { child, inspector }
}

async function startSupernode (build: Build, home: string): Promise<Started & { node: string }> {
  const started = startProgram(build, 'supernode', ['--port', '0', '--download-port', '0', '--listen', '127.0.0.1', '--home-dir', home], [])
  const node = await new Promise<string>((resolve, reject) => {
    let out = ''
    started.child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      const match = /supernode ready api=(\S+)/.exec(out)
      if (match !== null) resolve(new URL(match[1] ?? '').host)
    })
    started.child.once('exit', (code) => { reject(new Error(`the supernode of ${build.root} exited with ${code}`)) })
  })
  return { ...started, node }
}

async function startAgent (build: Build, home: string): Promise<Started> {
  const started = startProgram(build, 'dfget', ['server', '--home', home], build.agentFlags)
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    try {
      await readFile(join(home, 'peer-server.json'))
      return started
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
  }
  throw new Error(`the agent of ${build.root} did not start`)
}

async function runDfget (build: Build, args: readonly string[]): Promise<number> {
  const started = performance.now()
  const child = spawn(process.execPath, [join(build.root, 'dist/dfget-bundle/dfget.js'), ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const { code } = await exitedAndRead(child)
  if (code !== 0) throw new Error(`dfget of ${build.root} exited with ${code}: ${stderr}`)
  return performance.now() - started
}

/** Starts the CPU profiler of a process under the inspector; the function returned stops it and writes the profile. */
async function startProfile (url: string, file: string): Promise<() => Promise<void>> {
  const { WebSocket } = await import('undici')
  const ws = new WebSocket(url)
  await new Promise((resolve) => { ws.addEventListener('open', resolve, { once: true }) })
  let lastId = 0
  const pending = new Map<number, (result: unknown) => void>()
  ws.addEventListener('message', (event) => {
    const message = JSON.parse(String(event.data)) as { id?: number, result?: unknown }
    if (message.id !== undefined) pending.get(message.id)?.(message.result)
  })
  const call = async (method: string, params: object = {}): Promise<unknown> => await new Promise((resolve) => {
    const id = ++lastId
    pending.set(id, resolve)
    ws.send(JSON.stringify({ id, method, params }))
  })
  await call('Profiler.enable')
  await call('Profiler.setSamplingInterval', { interval: 200 })
  await call('Profiler.start')
  return async () => {
    const { profile } = await call('Profiler.stop') as { profile: unknown }
    await writeFile(file, JSON.stringify(profile))
    ws.close()
  }
}

/** Control requests the supernode answered so far (its /metrics). */
async function fetchApiRequests (node: string): Promise<number> {
  const text = await (await fetch(`http://${node}/metrics`)).text()
  return [...text.matchAll(/^dragonfly_supernode_api_requests_total\{[^}]*\} (\d+)/gm)].reduce((sum, match) => sum + Number(match[1]), 0)
}

interface Figures { wallMs: number[], dfgetCpuMs: number[], agentCpuMs: number[], supernodeCpuMs: number[], apiRequests: number[] }

const work = await mkdtemp('/dev/shm/damselfly-ab-')
const data = createTestData(sizeBytes, 11)
const digest = sha256Hex(data)
const origin = await startOrigin({ files: { '/single.bin': { data }, '/agent-warm.bin': { data: createTestData(64 * 1024 * 1024, 12) } } })
const supernodes: (Started & { node: string })[] = []
const figures: Figures[] = builds.map(() => ({ wallMs: [], dfgetCpuMs: [], agentCpuMs: [], supernodeCpuMs: [], apiRequests: [] }))
try {
  // One supernode per build, its CDN cache warmed by one download (not measured).
  for (const [i, build] of builds.entries()) {
    const sn = await startSupernode(build, join(work, `sn-${i}`))
    supernodes.push(sn)
    const warmHome = join(work, `warm-${i}`)
    const agent = await startAgent(build, warmHome)
    await runDfget(build, ['-u', origin.url('/single.bin'), '-o', join(work, 'warm.bin'), '-n', sn.node, '--home', warmHome])
    await stopChild(agent.child)
    await rm(join(work, 'warm.bin'), { force: true })
  }
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? [...builds.keys()] : [...builds.keys()].reverse()
    for (const i of order) {
      const build = builds[i]
      const sn = supernodes[i]
      const figure = figures[i]
      if (build === undefined || sn === undefined || figure === undefined) continue
      const home = join(work, `home-${i}-${round}`)
      const out = join(work, 'out.bin')
      const agent = await startAgent(build, home)
      await runDfget(build, ['-u', origin.url('/agent-warm.bin'), '-o', join(work, 'agent-warm.bin'), '-n', sn.node, '--home', home])
      await rm(join(work, 'agent-warm.bin'), { force: true })
      const stops: (() => Promise<void>)[] = []
      if (values.prof !== undefined) {
        stops.push(await startProfile(await (agent.inspector ?? ''), join(values.prof, `agent-${i}-${round}.cpuprofile`)))
        stops.push(await startProfile(await (sn.inspector ?? ''), join(values.prof, `supernode-${i}-${round}.cpuprofile`)))
      }
      const recorders = values.perf === undefined
        ? []
        : ([['agent', agent.child.pid], ['supernode', sn.child.pid]] as const).map(([name, pid]) => spawn('perf', ['record', '-F', '2999', '-g', '-p', String(pid), '-o', join(values.perf ?? '', `${name}-${i}-${round}.data`)], { stdio: 'ignore' }))
      if (recorders.length > 0) await new Promise((resolve) => setTimeout(resolve, 500))
      const apiBefore = await fetchApiRequests(sn.node)
      const agentBefore = await processCpuMs(agent.child.pid ?? 0)
      const supernodeBefore = await processCpuMs(sn.child.pid ?? 0)
      const childrenBefore = await endedChildrenCpuMs()
      const wallMs = await runDfget(build, ['-u', origin.url('/single.bin'), '-o', out, '-n', sn.node, '--home', home])
      figure.dfgetCpuMs.push(await endedChildrenCpuMs() - childrenBefore)
      figure.agentCpuMs.push(await processCpuMs(agent.child.pid ?? 0) - agentBefore)
      figure.supernodeCpuMs.push(await processCpuMs(sn.child.pid ?? 0) - supernodeBefore)
      figure.apiRequests.push(await fetchApiRequests(sn.node) - apiBefore)
      figure.wallMs.push(wallMs)
      for (const stop of stops) await stop()
      for (const recorder of recorders) {
        const exited = new Promise((resolve) => recorder.once('exit', resolve))
        recorder.kill('SIGINT')
        await exited
      }
      if (sha256Hex(await readFile(out)) !== digest) throw new Error(`the download of ${build.root} is corrupt`)
      await stopChild(agent.child)
      await rm(out, { force: true })
      await rm(home, { recursive: true, force: true })
      const load = (await readFile('/proc/loadavg', 'utf8')).split(' ')[0] ?? '?'
      console.log(`${build.label} round ${round + 1}: ${wallMs.toFixed(0)} ms; CPU dfget ${figure.dfgetCpuMs.at(-1)} + agent ${figure.agentCpuMs.at(-1)} ms, supernode ${figure.supernodeCpuMs.at(-1)} ms; ${figure.apiRequests.at(-1)} API requests (load ${load})`)
    }
  }
  const gib = sizeBytes / 1024 ** 3
  console.log(`\n${(sizeBytes / 1024 ** 2).toFixed(0)} MiB${values.link === undefined ? ' on loopback' : ` over a ${values.link} loopback`}, medians of ${rounds}:`)
  for (const [i, build] of builds.entries()) {
    const f = figures[i]
    if (f === undefined) continue
    const host = f.dfgetCpuMs.map((cpu, k) => cpu + (f.agentCpuMs[k] ?? 0))
    console.log(`${build.label}: ${median(f.wallMs).toFixed(0)} ms (${(sizeBytes / 1024 ** 2 / (median(f.wallMs) / 1000)).toFixed(0)} MiB/s); host ${(median(host) / 1000 / gib).toFixed(2)} CPU-s/GiB (dfget ${median(f.dfgetCpuMs)} + agent ${median(f.agentCpuMs)} ms); supernode ${(median(f.supernodeCpuMs) / 1000 / gib).toFixed(2)} CPU-s/GiB; ${median(f.apiRequests)} API requests`)
  }
} finally {
  for (const sn of supernodes) await stopChild(sn.child)
  await origin.close()
  await rm(work, { recursive: true, force: true })
}
