/**
 * The processes of a soak, each started and stopped by PID: two supernodes (the second is
 * the one killed and restarted: the first is where clients fail over to), N host agents
 * (`dfget server --home H`, children of this process so their exits are seen), one
 * dfdaemon. Every exit this fleet did not cause is a crash, recorded with the tail of the
 * process's output. A killed process comes back on the same ports and home.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { BIN, spawnSupernode, stopChild, type StartedSupernode } from '../../../test/harness/processes.js'
import { spawnDfdaemon, type StartedDfdaemon } from '../../../test/harness/dfdaemon-process.js'

/** An exit the fleet did not cause. */
export interface Crash {
  readonly role: string
  readonly pid: number
  readonly code: number | null
  readonly signal: string | null
  readonly atMs: number
  readonly outputTail: string
}

/** One long-lived process to sample: its current PID and where its `/metrics` are. */
export interface FleetMember {
  readonly role: string
  readonly pid: number
  readonly metricsUrl: string
}

export interface SoakFleetOptions {
  readonly dir: string
  readonly hosts: number
  /** The supernodes' short expiry settings and the host agents' `--expiretime`. */
  readonly supernodeArgs: readonly string[]
  readonly peerExpireTime: string
  readonly registryUrl: string
  /** Milliseconds since the soak started (crash times). */
  readonly now: () => number
}

interface Tracked { role: string, child: ChildProcess, tail: () => string, expectedExit: boolean }

const keepTail = (child: ChildProcess): (() => string) => {
  let tail = ''
  const keep = (chunk: Buffer): void => { tail = (tail + chunk.toString()).slice(-4000) }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  return () => tail
}

export class SoakFleet {
  readonly #options: SoakFleetOptions
  readonly #crashes: Crash[] = []
  readonly #tracked = new Map<string, Tracked>()
  readonly #supernodes: StartedSupernode[] = []
  readonly #hostDown = new Set<number>()
  #dfdaemon: StartedDfdaemon | undefined
  #restartFailures = 0
  #closed = false

  constructor (options: SoakFleetOptions) {
    this.#options = options
  }

  get crashes (): readonly Crash[] { return this.#crashes }
  /** "-n" of dfget and dfdaemon: both supernodes. */
  get nodes (): string { return this.#supernodes.map((sn) => sn.node).join(',') }
  get dfdaemonUrl (): string { return this.#dfdaemon?.baseUrl ?? '' }
  homeOf (host: number): string { return join(this.#options.dir, `host-${host}`) }
  isHostUp (host: number): boolean { return !this.#hostDown.has(host) }

  async start (): Promise<void> {
    for (const i of [0, 1]) {
      const sn = await spawnSupernode(join(this.#options.dir, `supernode-${i + 1}`), this.#options.supernodeArgs, '127.0.0.1')
      this.#supernodes.push(sn)
      this.#track(`supernode-${i + 1}`, sn.child, keepTail(sn.child))
    }
    for (let host = 0; host < this.#options.hosts; host++) await this.#startAgent(host)
    const daemon = await spawnDfdaemon(['--registry', this.#options.registryUrl, '-n', this.nodes, '--home', join(this.#options.dir, 'dfdaemon')])
    this.#dfdaemon = daemon
    this.#track('dfdaemon', daemon.child, () => daemon.logs().slice(-4000))
  }

  /** The long-lived processes now running. */
  async members (): Promise<FleetMember[]> {
    const out: FleetMember[] = []
    for (const [i, sn] of this.#supernodes.entries()) {
      const tracked = this.#tracked.get(`supernode-${i + 1}`)
      if (tracked?.child.exitCode === null && tracked.child.signalCode === null) out.push({ role: tracked.role, pid: tracked.child.pid ?? 0, metricsUrl: `${sn.apiUrl}/metrics` })
    }
    for (let host = 0; host < this.#options.hosts; host++) {
      const tracked = this.#tracked.get(`agent-${host}`)
      if (tracked === undefined || tracked.child.exitCode !== null || tracked.child.signalCode !== null) continue
      const port = await this.#agentPort(host)
      if (port !== undefined) out.push({ role: tracked.role, pid: tracked.child.pid ?? 0, metricsUrl: `http://127.0.0.1:${port}/metrics` })
    }
    if (this.#dfdaemon !== undefined) out.push({ role: 'dfdaemon', pid: this.#dfdaemon.child.pid ?? 0, metricsUrl: `${this.#dfdaemon.baseUrl}/metrics` })
    return out
  }

  /** SIGKILLs host `host`'s agent (no new download starts there), then starts it again after `downMs`. */
  async killAgent (host: number, downMs: number): Promise<void> {
    this.#hostDown.add(host)
    await this.#kill(`agent-${host}`)
    await new Promise((resolve) => setTimeout(resolve, downMs))
    if (this.#closed) return
    await this.#startAgent(host)
    this.#hostDown.delete(host)
  }

  /** SIGKILLs the second supernode, then starts it again on its ports and home after `downMs`. */
  async killSupernode (downMs: number): Promise<void> {
    const old = this.#supernodes[1]
    if (old === undefined) return
    await this.#kill('supernode-2')
    await new Promise((resolve) => setTimeout(resolve, downMs))
    if (this.#closed) return
    const api = new URL(old.apiUrl).port
    const download = new URL(old.downloadUrl).port
    // Its old ports first (clients know them); a port taken meanwhile (an outgoing
    // connection's ephemeral port, say) makes it start on free ones: new runs get the new
    // address through `nodes`, running ones fail over to supernode-1.
    for (let attempt = 1; !this.#closed; attempt++) {
      try {
        const ports = attempt === 1 ? ['--port', api, '--download-port', download] : ['--port', '0', '--download-port', '0']
        const sn = await spawnSupernode(join(this.#options.dir, 'supernode-2'), [...this.#options.supernodeArgs, ...ports], '127.0.0.1')
        this.#supernodes[1] = sn
        this.#track('supernode-2', sn.child, keepTail(sn.child))
        if (this.#closed) await stopChild(sn.child)
        return
      } catch (err) {
        if (attempt >= 5) throw err
        this.#restartFailures += 1
      }
    }
  }

  /** Restarts on the old ports that failed (then made on free ports). */
  get restartFailures (): number { return this.#restartFailures }

  /** Stops everything (expected exits). Idempotent. */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const tracked of this.#tracked.values()) tracked.expectedExit = true
    await Promise.all([...this.#tracked.values()].map(async (tracked) => { await stopChild(tracked.child) }))
  }

  async #startAgent (host: number): Promise<void> {
    const home = this.homeOf(host)
    // A SIGKILLed agent leaves its state file; the new one must not wait for it.
    await rm(join(home, 'peer-server.json'), { force: true })
    const child = spawn(BIN('dfget'), ['server', '--home', home, '--ip', '127.0.0.1', '--expiretime', this.#options.peerExpireTime, '--alivetime', '24h'], { stdio: ['ignore', 'pipe', 'pipe'] })
    this.#track(`agent-${host}`, child, keepTail(child))
    if (this.#closed) { await stopChild(child); return }
    const deadline = Date.now() + 60_000
    while (Date.now() < deadline) {
      const state = await readFile(join(home, 'peer-server.json'), 'utf8').then((text) => JSON.parse(text) as { pid?: number }, () => undefined)
      if (state?.pid === child.pid) return
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the agent of host ${host} exited at start`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    throw new Error(`the agent of host ${host} did not start`)
  }

  async #agentPort (host: number): Promise<number | undefined> {
    const state = await readFile(join(this.homeOf(host), 'peer-server.json'), 'utf8').then((text) => JSON.parse(text) as { port?: number }, () => undefined)
    return state?.port
  }

  #track (role: string, child: ChildProcess, tail: () => string): void {
    const tracked: Tracked = { role, child, tail, expectedExit: false }
    this.#tracked.set(role, tracked)
    child.once('exit', (code, signal) => {
      if (tracked.expectedExit) return
      this.#crashes.push({ role, pid: child.pid ?? 0, code, signal, atMs: this.#options.now(), outputTail: tail() })
    })
  }

  async #kill (role: string): Promise<void> {
    const tracked = this.#tracked.get(role)
    if (tracked === undefined || tracked.child.exitCode !== null || tracked.child.signalCode !== null) return
    tracked.expectedExit = true
    const exited = new Promise<void>((resolve) => tracked.child.once('exit', () => { resolve() }))
    tracked.child.kill('SIGKILL')
    await exited
  }
}
