/**
 * Lab: the emulated hosts of one swarm benchmark, and every process started in them. It
 * wraps bench/lab/netlab.sh (namespaces `<prefix>-hI` on a bridge in `<prefix>-sw`,
 * addresses in 198.18.0.0/15, tc shaping) and owns teardown: `close()` stops the children it
 * spawned (by PID), then netlab.sh kills whatever else runs inside its own namespaces (the
 * detached dfget peer servers) and deletes them. The prefix is `dfb<pid>`, so a lab never
 * touches another run's namespaces; `removeStaleLabs()` deletes those of runs whose process
 * is gone (a run killed with SIGKILL could not clean up after itself).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { mkdir, readFile, rmdir } from 'node:fs/promises'
import { join } from 'node:path'

const ROOT = new URL('../../..', import.meta.url).pathname
export const NETLAB_SCRIPT = join(ROOT, 'bench/lab/netlab.sh')

/** The result of a command run to completion. */
export interface CommandResult {
  readonly exitCode: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs a command in the root namespace and collects its output. */
export async function runCommand (command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<CommandResult> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const exitCode = await new Promise<number>((resolve) => {
    child.once('error', (err) => { stderr += err.message; resolve(127) })
    child.once('close', (code) => { resolve(code ?? 1) })
  })
  return { exitCode, stdout, stderr }
}

/** Options of a lab. */
export interface LabOptions {
  /** Number of hosts (namespaces). */
  readonly hosts: number
  /** Upload limit of every host, in tc units ("100mbit"). */
  readonly upRate: string
  /** Download limit of every host, or "none". */
  readonly downRate: string
  /** netlab.sh shaper: htb (default), htb1, tbf. */
  readonly shaper: string
}

/** One process started inside a lab host. */
export interface LabProcess {
  readonly child: ChildProcess
  /** Resolves with the exit code (signals count as 1) and the time of exit (performance.now()). */
  readonly exited: Promise<{ exitCode: number, atMs: number }>
  /** The last 64 KiB of stdout and stderr. */
  output(): { stdout: string, stderr: string }
}

/** One reading of the upload sampler. */
export interface UploadSample {
  readonly atMs: number
  /** Bytes sent since the sampler started, by host number (index 0 unused). */
  readonly uploadedBytes: readonly number[]
}

/** Whose CPU a process's time counts as (cpuacct group of the lab). */
export type CpuRole = 'origin' | 'supernode' | 'hosts'
export const CPU_ROLES: readonly CpuRole[] = ['origin', 'supernode', 'hosts']

/** cgroup v1 CPU accounting: a group's usage counts every process ever in it, exited ones too. */
const CPUACCT_ROOT = '/sys/fs/cgroup/cpuacct'

export class Lab {
  readonly prefix: string
  readonly options: LabOptions
  readonly #children = new Set<ChildProcess>()
  /** Host number → role, for CPU accounting (set by the caller: setCpuRoles). */
  #roles = new Map<number, CpuRole>()
  #cpuacct: string | undefined
  #isUp = false

  constructor (options: LabOptions, prefix = `dfb${process.pid}`) {
    this.options = options
    this.prefix = prefix
  }

  /** Host `i`'s address (1-based), as netlab.sh computes it: 198.18.0.1 … */
  ip (i: number): string {
    return `198.18.${Math.floor((i - 1) / 250)}.${((i - 1) % 250) + 1}`
  }

  namespace (i: number): string {
    return `${this.prefix}-h${i}`
  }

  /** Creates the namespaces, the bridge and the shapers. @throws when netlab.sh fails */
  async start (): Promise<void> {
    this.#isUp = true // from here on close() must run netlab.sh down, even if "up" fails half-way
    const { hosts, upRate, downRate, shaper } = this.options
    const result = await this.#netlab(['up', String(hosts), upRate, downRate, shaper])
    if (result.exitCode !== 0) throw new Error(`netlab.sh up failed: ${result.stderr.trim() || result.stdout.trim()}`)
  }

  /**
   * Counts the CPU time of every process started in host `i` (and of its children, detached
   * ones too) as `role`'s, in a cpuacct group of this lab. Without cgroup v1 CPU accounting
   * (`cpuUsageMs` then answers NaN) nothing changes.
   */
  async setCpuRoles (roles: ReadonlyMap<number, CpuRole>): Promise<void> {
    const root = join(CPUACCT_ROOT, this.prefix)
    try {
      for (const role of CPU_ROLES) await mkdir(join(root, role), { recursive: true })
      this.#cpuacct = root
      this.#roles = new Map(roles)
    } catch {
      this.#cpuacct = undefined
    }
  }

  /** CPU milliseconds used so far by each role's processes (NaN without accounting). */
  async cpuUsageMs (): Promise<Record<CpuRole, number>> {
    const usage = { origin: Number.NaN, supernode: Number.NaN, hosts: Number.NaN }
    const root = this.#cpuacct
    if (root === undefined) return usage
    for (const role of CPU_ROLES) {
      const text = await readFile(join(root, role, 'cpuacct.usage'), 'utf8').catch(() => '')
      if (text.trim() !== '') usage[role] = Number(text.trim()) / 1e6
    }
    return usage
  }

  /**
   * Starts `command` inside host `i` (`ip netns exec` execs it, so the child's PID is the
   * command's own; with CPU roles set, it is moved into its host's cpuacct group at once).
   * The child is tracked and stopped by `close()`.
   */
  spawn (i: number, command: string, args: readonly string[], options: { cwd?: string } = {}): LabProcess {
    const role = this.#roles.get(i)
    const child = spawn('ip', ['netns', 'exec', this.namespace(i), command, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    })
    this.#children.add(child)
    if (this.#cpuacct !== undefined && role !== undefined && child.pid !== undefined) {
      // From here, not inside the host: `ip netns exec` mounts the namespace's own /sys. The
      // child has not forked anything yet; what it starts later inherits the group.
      try { writeFileSync(join(this.#cpuacct, role, 'cgroup.procs'), String(child.pid)) } catch { /* the child is gone already */ }
    }
    let stdout = ''
    let stderr = ''
    child.stdout?.on('data', (chunk: Buffer) => { stdout = (stdout + chunk.toString()).slice(-65_536) })
    child.stderr?.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-65_536) })
    const exited = new Promise<{ exitCode: number, atMs: number }>((resolve) => {
      child.once('error', (err) => { stderr += err.message; resolve({ exitCode: 127, atMs: performance.now() }) })
      child.once('exit', (code) => {
        this.#children.delete(child)
        resolve({ exitCode: code ?? 1, atMs: performance.now() })
      })
    })
    return { child, exited, output: () => ({ stdout, stderr }) }
  }

  /** Runs `command` inside host `i` to completion. */
  async run (i: number, command: string, args: readonly string[]): Promise<CommandResult> {
    const proc = this.spawn(i, command, args)
    const { exitCode } = await proc.exited
    // 'exit' may come before the pipes are drained; wait for them to close.
    await Promise.all([proc.child.stdout, proc.child.stderr].map(async (s) => {
      if (s !== null && !s.readableEnded && !s.destroyed) await new Promise((resolve) => s.once('close', resolve))
    }))
    return { exitCode, ...proc.output() }
  }

  /** Waits for a line matching `pattern` on the stdout of a started process. */
  async waitForLine (proc: LabProcess, pattern: RegExp, timeoutMs: number, what: string): Promise<RegExpExecArray> {
    const deadline = performance.now() + timeoutMs
    for (;;) {
      const match = pattern.exec(proc.output().stdout)
      if (match !== null) return match
      if (proc.child.exitCode !== null || proc.child.signalCode !== null) {
        throw new Error(`${what} exited before it was ready: ${proc.output().stderr.trim().slice(-2000)}`)
      }
      if (performance.now() > deadline) throw new Error(`${what} was not ready within ${timeoutMs} ms: ${proc.output().stderr.trim().slice(-2000)}`)
      await sleep(50)
    }
  }

  /** Bytes sent by host `i`'s eth0 so far (its upload on the wire, headers included). */
  async fetchTxBytes (i: number): Promise<number> {
    const result = await runCommand('ip', ['-n', this.namespace(i), '-s', '-j', 'link', 'show', 'dev', 'eth0'])
    try {
      // `ip -j` prints an array of links; stats64.tx.bytes is the counter (checked by hand).
      const links = JSON.parse(result.stdout) as { stats64?: { tx?: { bytes?: number } } }[]
      return links[0]?.stats64?.tx?.bytes ?? Number.NaN
    } catch {
      return Number.NaN
    }
  }

  /**
   * Bytes each host has sent so far, read in one call from the switch side: what port vhI
   * received is what host I uploaded (headers included). Index i holds host i; index 0 is 0.
   */
  async fetchUploadBytesByHost (): Promise<number[]> {
    const result = await runCommand('ip', ['-n', `${this.prefix}-sw`, '-s', '-j', 'link', 'show'])
    const bytes = new Array<number>(this.options.hosts + 1).fill(0)
    try {
      const links = JSON.parse(result.stdout) as { ifname?: string, stats64?: { rx?: { bytes?: number } } }[]
      for (const link of links) {
        const match = /^vh(\d+)$/.exec(link.ifname ?? '')
        if (match !== null) bytes[Number(match[1])] = link.stats64?.rx?.bytes ?? 0
      }
    } catch { /* an empty sample; the lab is being torn down */ }
    return bytes
  }

  /**
   * Samples every host's upload counter every `intervalMs` until the returned stop function
   * is called; gives (ms since start, bytes sent since start per host) rows.
   */
  startUploadSampler (intervalMs: number): () => Promise<UploadSample[]> {
    const samples: UploadSample[] = []
    const startMs = performance.now()
    let base: number[] | undefined
    let stopped = false
    const loop = (async () => {
      while (!stopped) {
        const bytes = await this.fetchUploadBytesByHost()
        base ??= bytes
        const zero = base
        samples.push({ atMs: Math.round(performance.now() - startMs), uploadedBytes: bytes.map((b, i) => b - (zero[i] ?? 0)) })
        await sleep(intervalMs)
      }
    })()
    return async () => {
      stopped = true
      await loop
      return samples
    }
  }

  /** Stops one tracked child: SIGTERM, then SIGKILL after `graceMs`. */
  async stop (proc: LabProcess, graceMs = 2_000): Promise<void> {
    const { child } = proc
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => { child.kill('SIGKILL') }, graceMs)
    await proc.exited
    clearTimeout(timer)
  }

  /**
   * Tears everything down: the children this lab spawned (by PID), then every process left
   * in its namespaces and the namespaces themselves. Safe to call twice and after a failed
   * start.
   */
  async close (): Promise<void> {
    for (const child of this.#children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    }
    const deadline = performance.now() + 2_000
    while (this.#children.size > 0 && performance.now() < deadline) await sleep(50)
    for (const child of this.#children) child.kill('SIGKILL')
    if (this.#isUp) {
      const result = await this.#netlab(['down'])
      if (result.exitCode !== 0) throw new Error(`netlab.sh down failed: ${result.stderr.trim()}`)
      this.#isUp = false
    }
    if (this.#cpuacct !== undefined) {
      // A group can go only once empty: netlab.sh ended whatever still ran in the namespaces.
      const root = this.#cpuacct
      this.#cpuacct = undefined
      for (const role of CPU_ROLES) await rmdir(join(root, role)).catch(() => undefined)
      await rmdir(root).catch(() => undefined)
    }
  }

  async #netlab (args: readonly string[]): Promise<CommandResult> {
    return await runCommand('bash', [NETLAB_SCRIPT, ...args], { ...process.env, NL_PREFIX: this.prefix })
  }
}

/** Lists the namespaces of this benchmark's labs: `dfb<pid>-hI` and `dfb<pid>-sw`. */
export async function listLabNamespaces (): Promise<string[]> {
  const result = await runCommand('ip', ['netns', 'list'])
  return result.stdout.split('\n').map((line) => line.split(' ')[0] ?? '').filter((name) => /^dfb\d+-(h\d+|sw)$/.test(name))
}

/** Deletes the labs of earlier runs whose process no longer exists. Returns their prefixes. */
export async function removeStaleLabs (): Promise<string[]> {
  const prefixes = new Set((await listLabNamespaces()).map((name) => name.slice(0, name.indexOf('-'))))
  const removed: string[] = []
  for (const prefix of prefixes) {
    const pid = Number(prefix.slice(3))
    if (pid === process.pid || isAlive(pid)) continue
    await runCommand('bash', [NETLAB_SCRIPT, 'down'], { ...process.env, NL_PREFIX: prefix })
    removed.push(prefix)
  }
  return removed
}

function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

export async function sleep (ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms))
}
