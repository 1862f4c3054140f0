/**
 * The fault scenarios of issue 5, each one run of the real binaries (bin/supernode,
 * bin/dfget and its detached peer servers) against a real origin on loopback, with the
 * fault produced for real: a peer server killed by PID, bytes flipped in a peer's data file,
 * a supernode killed mid-download or restarted, origin faults on the socket, a full tmpfs.
 * Each scenario cleans up after itself and returns figures (downloads, completed, corrupt
 * outputs, bytes re-fetched from the origin) and named checks. The e2e tests assert on
 * them; `scripts/reliability.ts` runs each R times and writes docs/reliability.md.
 */
import { execFileSync } from 'node:child_process'
import { mkdir, open, readdir, readFile, writeFile, access } from 'node:fs/promises'
import { join } from 'node:path'
import { CloseStack } from '../../src/common/lifecycle.js'
import { SupernodeClient } from '../../src/supernode/client.js'
import { computeTaskId } from '../../src/protocol/task-id.js'
import { parseNodeList } from '../../src/common/node-list.js'
import { orderSupernodes } from '../../src/dfget/supernode-locator.js'
import { createTestData, sha256Hex, startOrigin, type Origin } from './origin.js'
import { createTmpDir } from './tmp-dir.js'
import { metricValue, parseSummary, runDfgetProcess, spawnSupernode, stopChild, stopPeerServer, type DfgetRun, type StartedSupernode } from './processes.js'

const MiB = 1024 * 1024

/** One named check of a scenario. */
export interface ScenarioCheck {
  readonly name: string
  readonly ok: boolean
  readonly detail: string
}

/** What one run of a scenario measured. */
export interface ScenarioResult {
  /** Downloads that should have completed. */
  readonly downloads: number
  readonly completed: number
  /** Outputs that exist but differ from the source (must be 0). */
  readonly corrupt: number
  /** Downloads that had to fail cleanly (non-zero exit, a clear error, no output), and did. */
  readonly failedCleanly: number
  /** Origin body bytes beyond one copy of each file version served. */
  readonly refetchedBytes: number
  readonly checks: readonly ScenarioCheck[]
}

/** A scenario: a title and one run. */
export interface Scenario {
  readonly name: string
  readonly title: string
  /** Needs root (mounts a tmpfs). */
  readonly needsRoot?: boolean
  run(): Promise<ScenarioResult>
}

/** Collects figures and checks during a run. */
class Tally {
  downloads = 0
  completed = 0
  corrupt = 0
  failedCleanly = 0
  readonly checks: ScenarioCheck[] = []

  check (name: string, ok: boolean, detail = ''): void {
    this.checks.push({ name, ok, detail })
  }

  /** Counts a download that should complete: exit 0 and the expected bytes. */
  async expectComplete (label: string, run: DfgetRun, output: string, digest: string): Promise<void> {
    this.downloads += 1
    const actual = await readFile(output).then(sha256Hex, () => undefined)
    if (actual !== undefined && actual !== digest) this.corrupt += 1
    const ok = run.exitCode === 0 && actual === digest
    if (ok) this.completed += 1
    this.check(`${label} completes with the source's bytes`, ok, ok ? '' : `exit ${run.exitCode}, digest ${actual ?? 'none'}: ${tail(run.stderr)}`)
  }

  /** Counts a download that must fail cleanly: non-zero exit, `codePattern` on its last line, no output. */
  async expectCleanFailure (label: string, run: DfgetRun, output: string, codePattern: RegExp): Promise<void> {
    const last = run.stderr.trim().split('\n').filter((line) => line.startsWith('dfget:')).at(-1) ?? ''
    const ok = run.exitCode !== 0 && codePattern.test(last) && !await exists(output)
    if (ok) this.failedCleanly += 1
    this.check(`${label} fails cleanly (non-zero exit, ${codePattern.source}, no output)`, ok, `exit ${run.exitCode}: ${last}`)
  }

  result (refetchedBytes: number): ScenarioResult {
    return { downloads: this.downloads, completed: this.completed, corrupt: this.corrupt, failedCleanly: this.failedCleanly, refetchedBytes: Math.max(0, refetchedBytes), checks: this.checks }
  }
}

function tail (text: string): string {
  return text.trim().split('\n').slice(-3).join(' | ')
}

/** Polls `condition` every 20 ms until true or the deadline. */
export async function waitFor (condition: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await condition()) return
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
}

/** Pieces the running clients of a task have, from the supernode's task info (0 when unknown). */
async function donePieces (client: SupernodeClient, taskId: string): Promise<number> {
  try {
    const info = await client.getTask(taskId)
    return Math.max(0, ...info.clients.filter((c) => c.status === 'running').map((c) => c.donePieces))
  } catch {
    return 0
  }
}

/** The fewest pieces any of the task's `clients` running clients holds (0 until all of them registered). */
async function donePiecesOfEach (client: SupernodeClient, taskId: string, clients: number): Promise<number> {
  try {
    const running = (await client.getTask(taskId)).clients.filter((c) => c.status === 'running')
    return running.length < clients ? 0 : Math.min(...running.map((c) => c.donePieces))
  } catch {
    return 0
  }
}

async function peerServerPid (home: string): Promise<number | undefined> {
  try {
    const pid = (JSON.parse(await readFile(join(home, 'peer-server.json'), 'utf8')) as { pid?: unknown }).pid
    return typeof pid === 'number' ? pid : undefined
  } catch {
    return undefined
  }
}

function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function exists (path: string): Promise<boolean> {
  return await access(path).then(() => true, () => false)
}

/** Common set-up: an origin, a temp dir, teardown of peer servers of every home used. */
async function setUp (stack: CloseStack, files: Record<string, Buffer>, prefix: string): Promise<{ origin: Origin, dir: string, home: (name: string) => string }> {
  const origin = stack.push(await startOrigin({ files: Object.fromEntries(Object.entries(files).map(([path, data]) => [path, { data }])) }))
  const dir = stack.push(await createTmpDir(prefix)).path
  const homes: string[] = []
  stack.defer(async () => { await Promise.all(homes.map(stopPeerServer)) })
  return { origin, dir, home: (name) => { const path = join(dir, name); homes.push(path); return path } }
}

async function startSupernode (stack: CloseStack, home: string, args: readonly string[] = []): Promise<StartedSupernode> {
  const sn = await spawnSupernode(home, args)
  stack.defer(() => stopChild(sn.child))
  return sn
}

function dfgetArgs (url: string, output: string, nodes: readonly string[], home: string, extra: readonly string[] = []): string[] {
  return ['-u', url, '-o', output, '-n', nodes.join(','), '--home', home, ...extra]
}

/** 1. A peer dies mid-transfer: its client moves to other sources; nothing restarts. */
async function peerDies (): Promise<ScenarioResult> {
  const stack = new CloseStack()
  try {
    const data = createTestData(12 * MiB, 51)
    const digest = sha256Hex(data)
    const { origin, dir, home } = await setUp(stack, { '/f.bin': data }, 'df-peer-dies-')
    const sn = await startSupernode(stack, join(dir, 'sn'))
    const tally = new Tally()
    const url = origin.url('/f.bin')
    const homeA = home('a')
    await tally.expectComplete('seed host A', await runDfgetProcess(dfgetArgs(url, join(dir, 'out-a'), [sn.node], homeA)), join(dir, 'out-a'), digest)
    const client = stack.push(new SupernodeClient({ baseUrl: sn.apiUrl }))
    const taskId = computeTaskId({ url })
    const running = runDfgetProcess(dfgetArgs(url, join(dir, 'out-b'), [sn.node], home('b'), ['--locallimit', '6M']))
    await waitFor(async () => await donePieces(client, taskId) >= 3, 20_000, 'host B to hold 3 pieces')
    const pid = await peerServerPid(homeA)
    if (pid !== undefined) process.kill(pid, 'SIGKILL')
    tally.check('host A\'s peer server was killed mid-transfer', pid !== undefined)
    const runB = await running
    await tally.expectComplete('host B', runB, join(dir, 'out-b'), digest)
    const summary = parseSummary(runB.stderr)
    tally.check('host B fetched nothing from the source (no restart)', summary?.source === 0, runB.stderr)
    tally.check('host B got pieces from the peer before it died', (summary?.peers ?? 0) > 0, runB.stderr)
    return tally.result(origin.stats('/f.bin').bytesSent - data.length)
  } finally {
    await stack.close()
  }
}

/** 2. Corrupt data at a peer: detected by digest, never written, the peer dropped for the task. */
async function corruptPeer (): Promise<ScenarioResult> {
  const stack = new CloseStack()
  try {
    const data = createTestData(8 * MiB, 52)
    const digest = sha256Hex(data)
    const { origin, dir, home } = await setUp(stack, { '/f.bin': data }, 'df-corrupt-')
    const sn = await startSupernode(stack, join(dir, 'sn'))
    const tally = new Tally()
    const url = origin.url('/f.bin')
    const homeA = home('a')
    await tally.expectComplete('seed host A', await runDfgetProcess(dfgetArgs(url, join(dir, 'out-a'), [sn.node], homeA)), join(dir, 'out-a'), digest)
    // Flip one byte in every piece of A's stored data (the file its peer server serves).
    const names = await readdir(join(homeA, 'data'))
    const dataFile = names.find((name) => name.startsWith(computeTaskId({ url })))
    tally.check('host A stores the task data', dataFile !== undefined, names.join(','))
    if (dataFile !== undefined) {
      const handle = await open(join(homeA, 'data', dataFile), 'r+')
      try {
        for (let offset = 100; offset < data.length; offset += 256 * 1024) {
          await handle.write(Buffer.from([(data[offset] ?? 0) ^ 0xff]), 0, 1, offset)
        }
      } finally {
        await handle.close()
      }
    }
    const homeB = home('b')
    await tally.expectComplete('host B', await runDfgetProcess(dfgetArgs(url, join(dir, 'out-b'), [sn.node], homeB)), join(dir, 'out-b'), digest)
    const logB = await readFile(join(homeB, 'logs', 'dfget.log'), 'utf8').catch(() => '')
    tally.check('host B detected the corrupt pieces by digest', logB.includes('DF_ERR_PIECE_DIGEST_MISMATCH'))
    const homeC = home('c')
    await tally.expectComplete('host C', await runDfgetProcess(dfgetArgs(url, join(dir, 'out-c'), [sn.node], homeC)), join(dir, 'out-c'), digest)
    const logC = await readFile(join(homeC, 'logs', 'dfget.log'), 'utf8').catch(() => '')
    tally.check('host C was never sent to the corrupt peer', !logC.includes('DF_ERR_PIECE_DIGEST_MISMATCH'), 'C saw a digest mismatch')
    return tally.result(origin.stats('/f.bin').bytesSent - data.length)
  } finally {
    await stack.close()
  }
}

/** 3a. With two supernodes, the task's supernode dies: the client moves to the next on the ring. */
async function supernodeDiesFailover (): Promise<ScenarioResult> {
  const stack = new CloseStack()
  try {
    const data = createTestData(12 * MiB, 53)
    const digest = sha256Hex(data)
    const { origin, dir, home } = await setUp(stack, { '/f.bin': data }, 'df-sn-failover-')
    const sn1 = await startSupernode(stack, join(dir, 'sn1'))
    const sn2 = await startSupernode(stack, join(dir, 'sn2'))
    const tally = new Tally()
    const url = origin.url('/f.bin')
    const taskId = computeTaskId({ url })
    const [first] = orderSupernodes(parseNodeList([sn1.node, sn2.node]), taskId)
    const owner = first?.baseUrl === sn1.apiUrl ? sn1 : sn2
    const other = owner === sn1 ? sn2 : sn1
    const client = stack.push(new SupernodeClient({ baseUrl: owner.apiUrl }))
    const homeA = home('a')
    const running = runDfgetProcess(dfgetArgs(url, join(dir, 'out'), [sn1.node, sn2.node], homeA, ['--locallimit', '6M']))
    await waitFor(async () => await donePieces(client, taskId) >= 3, 20_000, 'the client to hold 3 pieces at its supernode')
    owner.child.kill('SIGKILL')
    const run = await running
    await tally.expectComplete('the client', run, join(dir, 'out'), digest)
    const log = await readFile(join(homeA, 'logs', 'dfget.log'), 'utf8').catch(() => '')
    tally.check('the client fetched nothing from the source itself', parseSummary(run.stderr)?.source === 0, `${run.stderr}\n${log.split('\n').filter((line) => line.includes('"level":40')).slice(-8).join('\n')}`)
    const otherClient = stack.push(new SupernodeClient({ baseUrl: other.apiUrl }))
    const metrics = await (await fetch(`${other.apiUrl}/metrics`)).text()
    const fromSecond = metricValue(metrics, 'dragonfly_supernode_pieces_downloaded_size_bytes_total')
    tally.check('the next supernode served only the pieces the client lacked', fromSecond > 0 && fromSecond < data.length, `${fromSecond} bytes`)
    await otherClient.close()
    // The second supernode reads the file from the origin once more (its own CDN cache).
    return tally.result(origin.stats('/f.bin').bytesSent - data.length)
  } finally {
    await stack.close()
  }
}

/** 3c. The task's supernode dies and the source changes meanwhile: the output is one version, never a mix. */
async function supernodeFailoverAcrossChange (): Promise<ScenarioResult> {
  const stack = new CloseStack()
  try {
    const v1 = createTestData(12 * MiB, 62)
    const v2 = createTestData(12 * MiB, 63)
    const { origin, dir, home } = await setUp(stack, { '/f.bin': v1 }, 'df-sn-change-')
    const sn1 = await startSupernode(stack, join(dir, 'sn1'))
    const sn2 = await startSupernode(stack, join(dir, 'sn2'))
    const tally = new Tally()
    const url = origin.url('/f.bin')
    const taskId = computeTaskId({ url })
    const [first] = orderSupernodes(parseNodeList([sn1.node, sn2.node]), taskId)
    const owner = first?.baseUrl === sn1.apiUrl ? sn1 : sn2
    const client = stack.push(new SupernodeClient({ baseUrl: owner.apiUrl }))
    const running = runDfgetProcess(dfgetArgs(url, join(dir, 'out'), [sn1.node, sn2.node], home('a'), ['--locallimit', '6M']))
    await waitFor(async () => await donePieces(client, taskId) >= 3, 20_000, 'the client to hold 3 pieces at its supernode')
    origin.setFile('/f.bin', { data: v2 })
    owner.child.kill('SIGKILL')
    const run = await running
    await tally.expectComplete('the client (whole new version)', run, join(dir, 'out'), sha256Hex(v2))
    return tally.result(origin.stats('/f.bin').bytesSent - v1.length - v2.length)
  } finally {
    await stack.close()
  }
}

/** 3b. With one supernode, it dies: the client fetches only the missing pieces from the source. */
async function supernodeDiesBackSource (): Promise<ScenarioResult> {
  const stack = new CloseStack()
  try {
    const data = createTestData(12 * MiB, 54)
    const digest = sha256Hex(data)
    const { origin, dir, home } = await setUp(stack, { '/f.bin': data }, 'df-sn-dies-')
    const sn = await startSupernode(stack, join(dir, 'sn'))
    const tally = new Tally()
    const url = origin.url('/f.bin')
    const client = stack.push(new SupernodeClient({ baseUrl: sn.apiUrl }))
    const running = runDfgetProcess(dfgetArgs(url, join(dir, 'out'), [sn.node], home('a'), ['--locallimit', '6M']))
    const strict = runDfgetProcess(dfgetArgs(url, join(dir, 'out-notbs'), [sn.node], home('b'), ['--locallimit', '6M', '--notbs']))
    // Both clients hold 3 pieces (the one that back-sources, not only the faster of the two).
    await waitFor(async () => await donePiecesOfEach(client, computeTaskId({ url }), 2) >= 3, 20_000, 'both clients to hold 3 pieces')
    sn.child.kill('SIGKILL')
    const run = await running
    await tally.expectComplete('the client', run, join(dir, 'out'), digest)
    await tally.expectCleanFailure('a --notbs client', await strict, join(dir, 'out-notbs'), /DF_ERR_TASK_SWARM_FAILED/)
    const summary = parseSummary(run.stderr)
    const fromSource = summary?.source ?? Number.NaN
    // Each piece once: what came from the source is what the swarm had not delivered.
    const total = fromSource + (summary?.supernode ?? Number.NaN) + (summary?.peers ?? Number.NaN)
    tally.check('the client fetched only the missing pieces from the source', fromSource > 0 && fromSource <= data.length - 3 * MiB && Math.abs(total - data.length) < 0.2 * MiB, run.stderr)
    return tally.result(origin.stats('/f.bin').bytesSent - data.length)
  } finally {
    await stack.close()
  }
}

/** 3d. The only supernode dies and the source changes meanwhile: back-source never mixes versions. */
async function supernodeDiesAcrossChange (): Promise<ScenarioResult> {
  const stack = new CloseStack()
  try {
    const v1 = createTestData(12 * MiB, 64)
    const v2 = createTestData(12 * MiB, 65)
    const { origin, dir, home } = await setUp(stack, { '/f.bin': v1 }, 'df-sn-dies-change-')
    const sn = await startSupernode(stack, join(dir, 'sn'))
    const tally = new Tally()
    const url = origin.url('/f.bin')
    const client = stack.push(new SupernodeClient({ baseUrl: sn.apiUrl }))
    const running = runDfgetProcess(dfgetArgs(url, join(dir, 'out'), [sn.node], home('a'), ['--locallimit', '6M']))
    await waitFor(async () => await donePieces(client, computeTaskId({ url })) >= 3, 20_000, 'the client to hold 3 pieces')
    origin.setFile('/f.bin', { data: v2 })
    sn.child.kill('SIGKILL')
    const run = await running
    await tally.expectComplete('the client (whole new version)', run, join(dir, 'out'), sha256Hex(v2))
    return tally.result(origin.stats('/f.bin').bytesSent - v1.length - v2.length)
  } finally {
    await stack.close()
  }
}

/** 4. A supernode restart reuses its CDN cache: an unchanged source is not read again. */
async function supernodeRestart (): Promise<ScenarioResult> {
  const stack = new CloseStack()
  try {
    const data = createTestData(8 * MiB, 55)
    const digest = sha256Hex(data)
    const { origin, dir, home } = await setUp(stack, { '/f.bin': data }, 'df-sn-restart-')
    const tally = new Tally()
    const url = origin.url('/f.bin')
    const first = await startSupernode(stack, join(dir, 'sn'))
    await tally.expectComplete('before the restart', await runDfgetProcess(dfgetArgs(url, join(dir, 'out-a'), [first.node], home('a'))), join(dir, 'out-a'), digest)
    await stopChild(first.child)
    const before = origin.stats('/f.bin').bytesSent
    const second = await startSupernode(stack, join(dir, 'sn'))
    const run = await runDfgetProcess(dfgetArgs(url, join(dir, 'out-b'), [second.node], home('b')))
    await tally.expectComplete('after the restart', run, join(dir, 'out-b'), digest)
    const readAgain = origin.stats('/f.bin').bytesSent - before
    tally.check('the unchanged source was not read again', readAgain <= 1, `${readAgain} bytes`)
    const metrics = await (await fetch(`${second.apiUrl}/metrics`)).text()
    tally.check('the restarted supernode counted a cache hit', metricValue(metrics, 'dragonfly_supernode_cdn_cache_hit_total') === 1)
    return tally.result(origin.stats('/f.bin').bytesSent - data.length)
  } finally {
    await stack.close()
  }
}

async function writeSourceTimeoutConfig (dir: string): Promise<string> {
  const path = join(dir, 'supernode.yaml')
  await writeFile(path, 'sourceTimeout: 1s\n')
  return path
}

/** 5a. A flaky origin (5xx, reset mid-body, stall): the CDN retries from the last good byte. */
async function flakyOrigin (): Promise<ScenarioResult> {
  const stack = new CloseStack()
  try {
    const data = createTestData(8 * MiB, 56)
    const digest = sha256Hex(data)
    const { origin, dir, home } = await setUp(stack, { '/f.bin': data }, 'df-flaky-')
    // Request 1 is the probe; then a 503, a reset after 300 KiB, a stall after 300 KiB, a 500.
    const plan: Record<number, { status?: number, dropAfterBytes?: number, stallAfterBytes?: number }> = {
      2: { status: 503 }, 3: { dropAfterBytes: 300 * 1024 }, 4: { stallAfterBytes: 300 * 1024 }, 6: { status: 500 }, 7: { dropAfterBytes: 10 },
    }
    origin.setFaults('/f.bin', { perRequest: (n) => plan[n] })
    const sn = await startSupernode(stack, join(dir, 'sn'), ['--config', await writeSourceTimeoutConfig(dir)])
    const tally = new Tally()
    const run = await runDfgetProcess(dfgetArgs(origin.url('/f.bin'), join(dir, 'out'), [sn.node], home('a'), ['--notbs']))
    await tally.expectComplete('the client', run, join(dir, 'out'), digest)
    const sent = origin.stats('/f.bin').bytesSent
    // Bytes the origin wrote into a socket that then stalled or reset may never have arrived
    // (kernel buffers): up to a few hundred KiB per faulty read are sent twice.
    tally.check('the CDN resumed from the last good byte (origin sent about one copy)', sent <= data.length + 1 + 3 * 256 * 1024, `${sent} bytes`)
    return tally.result(sent - data.length)
  } finally {
    await stack.close()
  }
}

/** 5b. An origin that keeps failing: bounded retries, then every client gets a clear error. */
async function brokenOrigin (): Promise<ScenarioResult> {
  const stack = new CloseStack()
  try {
    const data = createTestData(8 * MiB, 57)
    const { origin, dir, home } = await setUp(stack, { '/f.bin': data }, 'df-broken-')
    origin.setFaults('/f.bin', { dropAfterBytes: 64 * 1024 })
    const sn = await startSupernode(stack, join(dir, 'sn'), ['--config', await writeSourceTimeoutConfig(dir)])
    const tally = new Tally()
    const url = origin.url('/f.bin')
    const runs = await Promise.all(['a', 'b'].map(async (name) => await runDfgetProcess(dfgetArgs(url, join(dir, `out-${name}`), [sn.node], home(name), ['--notbs']))))
    for (const [i, run] of runs.entries()) {
      await tally.expectCleanFailure(`client ${i}`, run, join(dir, `out-${['a', 'b'][i] ?? ''}`), /DF_ERR_TASK_(SWARM_)?FAILED.*source/i)
    }
    const requests = origin.stats('/f.bin').requests
    tally.check('the CDN gave up after bounded retries', requests <= 1 + 8 * 3 * 4 + 4, `${requests} requests`)
    tally.check('the supernode still answers', await new SupernodeClient({ baseUrl: sn.apiUrl }).ping().then(() => true, () => false))
    return tally.result(0)
  } finally {
    await stack.close()
  }
}

/** 6. The origin's content changes (new ETag): new content fetched, never mixed with old. */
async function contentChanges (): Promise<ScenarioResult> {
  const stack = new CloseStack()
  try {
    const v1 = createTestData(8 * MiB, 58)
    const v2 = createTestData(8 * MiB, 59)
    const { origin, dir, home } = await setUp(stack, { '/f.bin': v1 }, 'df-changes-')
    const sn = await startSupernode(stack, join(dir, 'sn'))
    const tally = new Tally()
    const url = origin.url('/f.bin')
    await tally.expectComplete('the first client (v1)', await runDfgetProcess(dfgetArgs(url, join(dir, 'out-a'), [sn.node], home('a'))), join(dir, 'out-a'), sha256Hex(v1))
    origin.setFile('/f.bin', { data: v2 })
    await tally.expectComplete('a client after the change (v2)', await runDfgetProcess(dfgetArgs(url, join(dir, 'out-b'), [sn.node], home('b'))), join(dir, 'out-b'), sha256Hex(v2))

    // Mid-download: the origin serves v1 slowly, and changes to v3 while the CDN reads it.
    const v3 = createTestData(8 * MiB, 60)
    const slow = { throttleBytesPerSec: 3 * MiB }
    origin.setFile('/g.bin', { data: v1, faults: slow })
    const gUrl = origin.url('/g.bin')
    const client = stack.push(new SupernodeClient({ baseUrl: sn.apiUrl }))
    const running = runDfgetProcess(dfgetArgs(gUrl, join(dir, 'out-c'), [sn.node], home('c')))
    await waitFor(async () => await donePieces(client, computeTaskId({ url: gUrl })) >= 1, 20_000, 'the client to hold a piece')
    origin.setFile('/g.bin', { data: v3 })
    const run = await running
    const out = await readFile(join(dir, 'out-c')).then(sha256Hex, () => undefined)
    tally.downloads += 1
    const whole = out === sha256Hex(v1) || out === sha256Hex(v3)
    if (out !== undefined && !whole) tally.corrupt += 1
    if (run.exitCode === 0 && whole) tally.completed += 1
    tally.check('a download across the change holds one version, never a mix', out === undefined || whole, tail(run.stderr))
    tally.check('a download across the change completes', run.exitCode === 0 && whole, tail(run.stderr))
    const served = origin.stats('/f.bin').bytesSent + origin.stats('/g.bin').bytesSent
    return tally.result(served - 2 * v1.length - v3.length)
  } finally {
    await stack.close()
  }
}

/** Mounts a tmpfs of `sizeBytes` at `path`; unmounted at teardown. */
async function mountTmpfs (stack: CloseStack, path: string, sizeBytes: number): Promise<{ resize(sizeBytes: number): void }> {
  await mkdir(path, { recursive: true })
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes}`, 'tmpfs', path])
  stack.defer(() => { execFileSync('umount', ['-l', path]) })
  return { resize: (size) => { execFileSync('mount', ['-o', `remount,size=${size}`, path]) } }
}

/** 7. Disk full (output dir, --home, supernode home): clear error, no partial output, recovery. */
async function diskFull (): Promise<ScenarioResult> {
  const stack = new CloseStack()
  try {
    const data = createTestData(8 * MiB, 61)
    const digest = sha256Hex(data)
    const { origin, dir, home } = await setUp(stack, { '/f.bin': data }, 'df-disk-')
    const url = origin.url('/f.bin')
    const tally = new Tally()
    const small = join(dir, 'small')
    await mountTmpfs(stack, small, 2 * MiB)
    const snSmall = join(dir, 'sn-small')
    const snDisk = await mountTmpfs(stack, snSmall, 2 * MiB)
    const sn = await startSupernode(stack, join(snSmall, 'home'))

    // The supernode's cache cannot hold the file: the client still completes (back-source).
    const first = await runDfgetProcess(dfgetArgs(url, join(dir, 'out-a'), [sn.node], home('a')))
    await tally.expectComplete('a client while the supernode\'s disk is full', first, join(dir, 'out-a'), digest)

    // The output directory is full: a clear error, non-zero exit, nothing left there.
    const homeB = home('b')
    const outFull = await runDfgetProcess(dfgetArgs(url, join(small, 'out'), [sn.node], homeB))
    const pidB = await peerServerPid(homeB)
    tally.check('the host\'s peer server keeps running after the failed write', pidB !== undefined && isAlive(pidB))
    tally.check('a full output directory fails with DF_ERR_TASK_WRITE_FAILED', outFull.exitCode !== 0 && /DF_ERR_TASK_WRITE_FAILED/.test(outFull.stderr), tail(outFull.stderr))
    tally.check('a full output directory holds no partial output', (await readdir(small)).length === 0, (await readdir(small)).join(','))

    // The --home is full: the same.
    const homeFull = await runDfgetProcess(dfgetArgs(url, join(dir, 'out-c'), [sn.node], join(small, 'home')))
    await stopPeerServer(join(small, 'home'))
    tally.check('a full --home fails with DF_ERR_TASK_WRITE_FAILED', homeFull.exitCode !== 0 && /DF_ERR_TASK_WRITE_FAILED/.test(homeFull.stderr), tail(homeFull.stderr))
    tally.check('a full --home leaves no output', !await exists(join(dir, 'out-c')))

    // Space returns: the same supernode caches the file and serves it.
    snDisk.resize(64 * MiB)
    tally.check('the supernode kept running', await new SupernodeClient({ baseUrl: sn.apiUrl }).ping().then(() => true, () => false))
    const after = await runDfgetProcess(dfgetArgs(url, join(dir, 'out-d'), [sn.node], home('d')))
    await tally.expectComplete('a client once space returned', after, join(dir, 'out-d'), digest)
    tally.check('once space returned the client got the file from the swarm', parseSummary(after.stderr)?.source === 0, after.stderr)
    return tally.result(origin.stats('/f.bin').bytesSent - 2 * data.length)
  } finally {
    await stack.close()
  }
}

/** Every scenario, in the order of the issue. */
export const SCENARIOS: readonly Scenario[] = [
  { name: 'peer-dies', title: 'peer server killed mid-transfer', run: peerDies },
  { name: 'corrupt-peer', title: 'corrupt data at a peer', run: corruptPeer },
  { name: 'supernode-failover', title: 'supernode killed, two configured (failover on the ring)', run: supernodeDiesFailover },
  { name: 'supernode-failover-change', title: 'supernode killed while the source changes (no mixed versions)', run: supernodeFailoverAcrossChange },
  { name: 'supernode-dies', title: 'supernode killed, one configured (back-source of missing pieces)', run: supernodeDiesBackSource },
  { name: 'supernode-dies-change', title: 'supernode killed, one configured, while the source changes (no mixed versions)', run: supernodeDiesAcrossChange },
  { name: 'supernode-restart', title: 'supernode restart (CDN cache reused)', run: supernodeRestart },
  { name: 'flaky-origin', title: 'flaky origin (503, reset, stall, 500)', run: flakyOrigin },
  { name: 'broken-origin', title: 'origin failing every read (clear error to every client)', run: brokenOrigin },
  { name: 'content-changes', title: 'origin content changes (new ETag)', run: contentChanges },
  { name: 'disk-full', title: 'disk full: output dir, --home, supernode home', needsRoot: true, run: diskFull },
]
