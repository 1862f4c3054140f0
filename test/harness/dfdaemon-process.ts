/**
 * dfdaemon for end-to-end tests and benchmarks: bin/dfdaemon as a child process on a free
 * port (waits for its `dfdaemon ready proxy=<url>` line), its metrics, and the client-side
 * configuration files that point engines at it (skopeo's registries.conf, containerd's
 * hosts.toml). Stopped by PID.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { BIN, exitedAndRead, metricValue, spawnWith, stopChild, type SpawnOptions } from './processes.js'

export interface StartedDfdaemon {
  readonly child: ChildProcess
  /** "http://127.0.0.1:port". */
  readonly baseUrl: string
  /** "127.0.0.1:port". */
  readonly host: string
  /** Its log (stderr), for assertions. */
  logs(): string
  metric(name: string, label?: string): Promise<number>
  close(): Promise<void>
}

/** Starts bin/dfdaemon with `args` (add --registry, -n, --home ...). */
export async function spawnDfdaemon (args: readonly string[], options: SpawnOptions = {}): Promise<StartedDfdaemon> {
  const child = spawnWith(BIN('dfdaemon'), ['--port', '0', ...args], options)
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const baseUrl = await new Promise<string>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`dfdaemon did not start: ${stderr}`)) }, 20_000)
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      const match = /dfdaemon ready proxy=(\S+)/.exec(out)
      if (match !== null) { clearTimeout(timer); resolve(match[1] ?? '') }
    })
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`dfdaemon exited with ${code}: ${stderr}`)) })
  })
  return {
    child,
    baseUrl,
    host: new URL(baseUrl).host,
    logs: () => stderr,
    metric: async (name, label = '') => {
      const text = await (await fetch(`${baseUrl}/metrics`)).text()
      return metricValue(text.split('\n').filter((l) => l.includes(label)).join('\n'), name)
    },
    close: async () => { await stopChild(child) },
  }
}

/** A registries.conf making `docker.io` pulls go through the mirror at `mirrorHost` first. */
export async function writeRegistriesConf (path: string, mirrorHost: string): Promise<string> {
  await writeFile(path, [
    'unqualified-search-registries = ["docker.io"]',
    '[[registry]]',
    'prefix = "docker.io"',
    'location = "registry-1.docker.io"',
    '[[registry.mirror]]',
    `location = "${mirrorHost}"`,
    'insecure = true',
    '',
  ].join('\n'))
  return path
}

/** A containerd hosts dir: pulls of `registryHost` go through the mirror at `mirrorUrl`. */
export async function writeHostsDir (dir: string, registryHost: string, mirrorUrl: string): Promise<string> {
  await mkdir(join(dir, registryHost), { recursive: true })
  await writeFile(join(dir, registryHost, 'hosts.toml'), [
    `server = "http://${registryHost}"`,
    `[host."${mirrorUrl}"]`,
    '  capabilities = ["pull", "resolve"]',
    '',
  ].join('\n'))
  return dir
}

/** Runs a command to completion; resolves with its exit code and output. */
export async function runCommand (command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number, output: string, wallMs: number }> {
  const started = performance.now()
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const { code } = await exitedAndRead(child)
  return { code: code ?? 1, output, wallMs: performance.now() - started }
}
