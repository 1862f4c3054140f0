/**
 * Child processes for the demo and the benchmarks: start the built binaries, wait for the
 * supernode's ready line, and stop everything started (by PID), also on failure.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'

export const ROOT = new URL('../..', import.meta.url).pathname
export const BIN = (name: 'supernode' | 'dfget' | 'dfdaemon'): string => join(ROOT, 'bin', name)

export interface StartedSupernode {
  readonly child: ChildProcess
  readonly apiUrl: string
  readonly downloadUrl: string
  /** "host:port" for dfget --node. */
  readonly node: string
}

/** How a built binary is started (default: directly, with this process's environment). */
export interface SpawnOptions {
  /**
   * A command prefix that ends by exec'ing its arguments, so the child's PID stays the
   * program's own (stopChild signals it): privateHostsFile(), say.
   */
  readonly wrap?: readonly string[]
  /** The child's environment. */
  readonly env?: NodeJS.ProcessEnv
}

/** Spawns `command args` as SpawnOptions say, stdout and stderr piped. */
export function spawnWith (command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
  const [program, ...prefix] = [...(options.wrap ?? []), command]
  return spawn(program ?? command, [...prefix, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env })
}

/**
 * A SpawnOptions.wrap running the program in a private mount namespace where `hostsFile`
 * is bind-mounted over /etc/hosts, so it resolves test host names (the machine's
 * /etc/hosts is untouched). unshare without --fork execs, and so does the shell: the PID is
 * the program's. Needs root (CAP_SYS_ADMIN).
 */
export function privateHostsFile (hostsFile: string): readonly string[] {
  return ['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', 'mount --bind "$0" /etc/hosts && exec "$@"', hostsFile]
}

/** Starts bin/supernode on free ports and waits for `supernode ready api=… download=…`. */
export async function spawnSupernode (homeDir: string, extraArgs: readonly string[] = [], listen = '127.0.0.1', options: SpawnOptions = {}): Promise<StartedSupernode> {
  const child = spawnWith(BIN('supernode'), ['--port', '0', '--download-port', '0', '--listen', listen, '--home-dir', homeDir, ...extraArgs], options)
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-4000) })
  return await new Promise((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`supernode did not start in 60 s: ${stderr}`)) }, 60_000)
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      const match = /supernode ready api=(\S+) download=(\S+)/.exec(out)
      if (match !== null) {
        clearTimeout(timer)
        const apiUrl = match[1] ?? ''
        resolve({ child, apiUrl, downloadUrl: match[2] ?? '', node: new URL(apiUrl).host })
      }
    })
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`supernode exited with ${code}: ${stderr}`)) })
  })
}

/**
 * The exit of a child whose output is being read, once that output is read too: the line a
 * program writes just before it exits may still be in the pipe when 'exit' fires ('close'
 * comes after it). A grandchild that kept the pipe open gets `graceMs` after the exit.
 */
export async function exitedAndRead (child: ChildProcess, graceMs = 2_000): Promise<{ code: number | null, signal: NodeJS.Signals | null }> {
  const closed = new Promise<void>((resolve) => child.once('close', () => { resolve() }))
  const exit = child.exitCode !== null || child.signalCode !== null
    ? { code: child.exitCode, signal: child.signalCode }
    : await new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => { resolve({ code, signal }) }))
  let timer: NodeJS.Timeout | undefined
  await Promise.race([closed, new Promise<void>((resolve) => { timer = setTimeout(resolve, graceMs) })])
  clearTimeout(timer)
  return exit
}

export interface DfgetRun {
  /** The exit status; 1 when a signal ended the process (then `signal` names it). */
  readonly exitCode: number
  readonly signal?: NodeJS.Signals
  readonly stderr: string
  readonly wallMs: number
}

/** Runs bin/dfget to completion (with `env` as its environment when given). */
export async function runDfgetProcess (args: readonly string[], options: { env?: NodeJS.ProcessEnv } = {}): Promise<DfgetRun> {
  const started = performance.now()
  const child = spawn(BIN('dfget'), args, { stdio: ['ignore', 'ignore', 'pipe'], env: options.env ?? process.env })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const { code, signal } = await exitedAndRead(child)
  return { exitCode: code ?? 1, ...(signal === null ? {} : { signal }), stderr, wallMs: performance.now() - started }
}

/**
 * Runs a built binary that is expected to exit (a start-up failure, a command), keeping
 * stdout and stderr apart. One still running after `timeoutMs` is killed by its PID and
 * reported with exit code -1, so a program that should have failed fails the test instead
 * of hanging it.
 */
export async function runToExit (name: 'supernode' | 'dfget' | 'dfdaemon', args: readonly string[], timeoutMs = 20_000): Promise<{ exitCode: number, stdout: string, stderr: string }> {
  const child = spawn(BIN(name), args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  let killed = false
  const killer = setTimeout(() => { killed = true; child.kill('SIGKILL') }, timeoutMs)
  const { code } = await exitedAndRead(child)
  clearTimeout(killer)
  return { exitCode: killed ? -1 : code ?? 1, stdout, stderr }
}

/** Stops a child we started: SIGTERM, then SIGKILL after a grace period. */
export async function stopChild (child: ChildProcess, graceMs = 3_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => { resolve() }))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
  await exited
  clearTimeout(timer)
}

/**
 * Starts a host's peer server (`dfget server --home H`, detached, as dfget itself would) and
 * waits until its state file names it: for runs that model a host whose daemon already runs.
 * Stop it with stopPeerServer(home).
 */
export async function startPeerServer (home: string): Promise<void> {
  spawn(BIN('dfget'), ['server', '--home', home], { stdio: 'ignore', detached: true }).unref()
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    try {
      await readFile(join(home, 'peer-server.json'))
      return
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
  }
  throw new Error(`the peer server of ${home} did not start`)
}

/** Stops the peer server of a dfget --home we used (its PID is in the home's state file). */
export async function stopPeerServer (home: string): Promise<void> {
  let pid: number | undefined
  try {
    pid = (JSON.parse(await readFile(join(home, 'peer-server.json'), 'utf8')) as { pid?: number }).pid
  } catch {
    return
  }
  if (typeof pid !== 'number') return
  try { process.kill(pid, 'SIGTERM') } catch { return }
  const deadline = Date.now() + 3_000
  while (Date.now() < deadline) {
    try { process.kill(pid, 0) } catch { return }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  try { process.kill(pid, 'SIGKILL') } catch { /* already gone */ }
}

/** Parses dfget's summary line: "... from source X, supernode Y, peers Z". Sizes in bytes. */
export function parseSummary (stderr: string): { source: number, supernode: number, peers: number } | undefined {
  const match = /from source ([\d.]+ ?[KMGT]?i?B), supernode ([\d.]+ ?[KMGT]?i?B), peers ([\d.]+ ?[KMGT]?i?B)/.exec(stderr)
  if (match === null) return undefined
  return { source: parseBytes(match[1] ?? ''), supernode: parseBytes(match[2] ?? ''), peers: parseBytes(match[3] ?? '') }
}

function parseBytes (text: string): number {
  const match = /^([\d.]+) ?([KMGT]?)i?B$/.exec(text.trim())
  if (match === null) return Number.NaN
  const power = { '': 0, K: 1, M: 2, G: 3, T: 4 }[match[2] ?? ''] ?? 0
  return Number(match[1]) * 1024 ** power
}

/** Reads one counter or gauge (summed over labels) from Prometheus text. */
export function metricValue (text: string, name: string): number {
  let total = 0
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) total += Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return total
}

export function formatMiB (bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`
}
