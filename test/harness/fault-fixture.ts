/**
 * The fixture of the fault scenarios (issue 5; test/e2e/faults-*.test.ts): the set-up every
 * scenario repeats, in one place — an origin on loopback, a temp dir, supernodes spawned from
 * bin/, dfget runs of the built binary with their outputs' digests, the peer servers of
 * every `--home` used stopped at the end — while each test makes its faults and asserts its
 * checks at its own site.
 *
 * The fixture also keeps the figures of docs/reliability.md's table, counted from what
 * happened rather than from the tests' checks: dfget runs, runs that completed with the bytes
 * of a version the origin served, corrupt outputs (bytes of no served version), runs that
 * failed cleanly (non-zero exit, no output), and origin body bytes beyond one copy of each
 * version. When `DF_FAULT_FIGURES` names a file, `close()` appends them to it as one JSON
 * line under the test's name (`npm run reliability` collects them).
 */
import type { TestContext } from 'node:test'
import { appendFile, access, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CloseStack } from '../../src/common/lifecycle.js'
import { SupernodeClient } from '../../src/supernode/client.js'
import { createTestData, sha256Hex, startOrigin, type Origin, type OriginFile } from './origin.js'
import { createTmpDir } from './tmp-dir.js'
import { runDfgetProcess, spawnSupernode, stopChild, stopPeerServer, type DfgetRun, type StartedSupernode } from './processes.js'

export const MiB = 1024 * 1024

/** One dfget run and what it left at its output path. */
export interface DfgetOutcome extends DfgetRun {
  readonly output: string
  /** sha256 of the output file, undefined when there is none. */
  readonly outputDigest: string | undefined
  /** The last `dfget:` line of stderr (the error line of a failed run). */
  readonly lastLine: string
}

/** The figures of one scenario run (docs/reliability.md). */
export interface FaultFigures {
  readonly scenario: string
  readonly runs: number
  readonly completed: number
  readonly corrupt: number
  readonly failedCleanly: number
  readonly refetchedBytes: number
}

export class FaultFixture {
  readonly origin: Origin
  /** The scenario's temp dir. */
  readonly dir: string
  readonly #stack: CloseStack
  #name: string
  readonly #paths = new Set<string>()
  readonly #homes = new Set<string>()
  readonly #versions = new Map<string, number>()
  readonly #outcomes: DfgetOutcome[] = []
  #expectedOriginBytes: number | undefined

  private constructor (name: string, stack: CloseStack, origin: Origin, dir: string) {
    this.#name = name
    this.#stack = stack
    this.origin = origin
    this.dir = dir
  }

  /** Starts the origin with `files` (path → bytes) and the temp dir; closed after the test. */
  static async start (t: Pick<TestContext, 'after' | 'name'>, files: Readonly<Record<string, Buffer>>): Promise<FaultFixture> {
    const stack = new CloseStack()
    try {
      const origin = stack.push(await startOrigin({ files: Object.fromEntries(Object.entries(files).map(([path, data]) => [path, { data }])) }))
      const dir = stack.push(await createTmpDir('df-fault-')).path
      const fixture = new FaultFixture(t.name, stack, origin, dir)
      for (const [path, data] of Object.entries(files)) fixture.#noteVersion(path, data)
      stack.defer(async () => { await Promise.all([...fixture.#homes].map(stopPeerServer)) })
      t.after(async () => { await fixture.close() })
      return fixture
    } catch (err) {
      await stack.close()
      throw err
    }
  }

  /** Test data of `lengthBytes` from `seed` (origin.ts). */
  static data (lengthBytes: number, seed: number): Buffer {
    return createTestData(lengthBytes, seed)
  }

  /** A path in the scenario's dir. */
  path (name: string): string {
    return join(this.dir, name)
  }

  /** A `--home` in the scenario's dir; its peer server is stopped at the end. */
  home (name: string): string {
    const path = name.startsWith('/') ? name : join(this.dir, name)
    this.#homes.add(path)
    return path
  }

  /** Changes an origin file (a new version: new bytes and ETag). */
  setFile (path: string, file: OriginFile): void {
    this.#noteVersion(path, file.data)
    this.origin.setFile(path, file)
  }

  /** Origin body bytes that are not re-fetches (default: one copy of each version served). */
  expectOriginBytes (bytes: number): void {
    this.#expectedOriginBytes = bytes
  }

  /** Runs `fn` at the end, before what was started earlier is stopped (last in, first out). */
  defer (fn: () => Promise<void> | void): void {
    this.#stack.defer(fn)
  }

  /** Spawns bin/supernode with `--home-dir <dir>/<name>`; stopped at the end. */
  async startSupernode (name: string, args: readonly string[] = []): Promise<StartedSupernode> {
    const sn = await spawnSupernode(name.startsWith('/') ? name : join(this.dir, name), args)
    this.#stack.defer(() => stopChild(sn.child))
    return sn
  }

  /** A SupernodeClient of `sn`; closed at the end. */
  client (sn: StartedSupernode): SupernodeClient {
    return this.#stack.push(new SupernodeClient({ baseUrl: sn.apiUrl }))
  }

  /** Runs bin/dfget for `url` into `<dir>/<output>` (or an absolute path) with `--home` `home`. */
  async dfget (url: string, output: string, nodes: readonly string[], home: string, extra: readonly string[] = []): Promise<DfgetOutcome> {
    const outputPath = output.startsWith('/') ? output : join(this.dir, output)
    const run = await runDfgetProcess(['-u', url, '-o', outputPath, '-n', nodes.join(','), '--home', this.home(home), ...extra])
    const outputDigest = await readFile(outputPath).then(sha256Hex, () => undefined)
    const lastLine = run.stderr.trim().split('\n').filter((line) => line.startsWith('dfget:')).at(-1) ?? ''
    const outcome = { ...run, output: outputPath, outputDigest, lastLine }
    this.#outcomes.push(outcome)
    return outcome
  }

  /** The figures so far. */
  figures (): FaultFigures {
    const isServed = (digest: string | undefined): boolean => digest !== undefined && this.#versions.has(digest)
    const sent = [...this.#paths].reduce((sum, path) => sum + this.origin.stats(path).bytesSent, 0)
    const expected = this.#expectedOriginBytes ?? [...this.#versions.values()].reduce((sum, bytes) => sum + bytes, 0)
    return {
      scenario: this.#name,
      runs: this.#outcomes.length,
      completed: this.#outcomes.filter((o) => o.exitCode === 0 && isServed(o.outputDigest)).length,
      corrupt: this.#outcomes.filter((o) => o.outputDigest !== undefined && !isServed(o.outputDigest)).length,
      failedCleanly: this.#outcomes.filter((o) => o.exitCode !== 0 && o.outputDigest === undefined).length,
      refetchedBytes: Math.max(0, sent - expected),
    }
  }

  /** Stops everything started and records the figures (DF_FAULT_FIGURES). Idempotent. */
  async close (): Promise<void> {
    const figures = this.figures()
    await this.#stack.close()
    const file = process.env.DF_FAULT_FIGURES
    if (file !== undefined && file !== '' && this.#name !== '') {
      await appendFile(file, `${JSON.stringify(figures)}\n`)
      this.#name = ''
    }
  }

  #noteVersion (path: string, data: Buffer): void {
    this.#paths.add(path)
    this.#versions.set(sha256Hex(data), data.length)
  }
}

/** Polls `condition` every 20 ms until true; throws after `timeoutMs`. */
export async function waitFor (condition: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await condition()) return
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
}

/** Pieces the running clients of a task hold, the most of any (0 when unknown). */
export async function donePieces (client: SupernodeClient, taskId: string): Promise<number> {
  try {
    const info = await client.getTask(taskId)
    return Math.max(0, ...info.clients.filter((c) => c.status === 'running').map((c) => c.donePieces))
  } catch {
    return 0
  }
}

/** The fewest pieces any of the task's `clients` running clients holds (0 until all of them registered). */
export async function donePiecesOfEach (client: SupernodeClient, taskId: string, clients: number): Promise<number> {
  try {
    const running = (await client.getTask(taskId)).clients.filter((c) => c.status === 'running')
    return running.length < clients ? 0 : Math.min(...running.map((c) => c.donePieces))
  } catch {
    return 0
  }
}

/** The pid of the peer server of `home`, from its state file. */
export async function peerServerPid (home: string): Promise<number | undefined> {
  try {
    const pid = (JSON.parse(await readFile(join(home, 'peer-server.json'), 'utf8')) as { pid?: unknown }).pid
    return typeof pid === 'number' ? pid : undefined
  } catch {
    return undefined
  }
}

export function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

export async function exists (path: string): Promise<boolean> {
  return await access(path).then(() => true, () => false)
}
