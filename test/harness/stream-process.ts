/**
 * runStreamingDfget(): bin/dfget --stream -o - as a child process whose stdout the caller
 * reads like `| sha256sum` would (hashed, never kept), with its peak memory (VmHWM of
 * /proc/<pid>/status, Linux) sampled while it runs. `pause` stops reading for a while at
 * an offset, as a slow consumer does, and records the child's memory before and after.
 */
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { BIN, exitedAndRead } from './processes.js'

export interface StreamingRun {
  /** The exit status; 1 when a signal ended the process (then `signal` names it). */
  readonly exitCode: number
  readonly signal?: NodeJS.Signals
  readonly stderr: string
  readonly sha256: string
  readonly bytes: number
  readonly wallMs: number
  /** Peak resident memory of the dfget process, bytes (0 where /proc is missing). */
  readonly peakRssBytes: number
  /** With `pause`: resident memory when the pause began and when it ended. */
  readonly rssAtPauseBytes?: { readonly start: number, readonly end: number }
}

/** Reads a /proc/<pid>/status field in bytes (0 when the process or the field is gone). */
export async function readProcMemoryBytes (pid: number, field: 'VmHWM' | 'VmRSS'): Promise<number> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8')
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)
    return match === null ? 0 : Number(match[1]) * 1024
  } catch {
    return 0
  }
}

export async function runStreamingDfget (args: readonly string[], options: { pause?: { atBytes: number, ms: number } } = {}): Promise<StreamingRun> {
  const started = performance.now()
  const child = spawn(BIN('dfget'), ['--stream', '-o', '-', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const pid = child.pid ?? 0
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  let peak = 0
  const sampler = setInterval(() => {
    readProcMemoryBytes(pid, 'VmHWM').then((bytes) => { peak = Math.max(peak, bytes) }, () => {})
  }, 100)
  const hash = createHash('sha256')
  let bytes = 0
  let rssAtPause: { start: number, end: number } | undefined
  let paused = false
  child.stdout.on('data', (chunk: Buffer) => {
    hash.update(chunk)
    bytes += chunk.length
    const pause = options.pause
    if (pause !== undefined && !paused && bytes >= pause.atBytes) {
      paused = true
      child.stdout.pause()
      void (async () => {
        const start = await readProcMemoryBytes(pid, 'VmRSS')
        await new Promise((resolve) => setTimeout(resolve, pause.ms))
        rssAtPause = { start, end: await readProcMemoryBytes(pid, 'VmRSS') }
        child.stdout.resume()
      })()
    }
  })
  const { code, signal } = await exitedAndRead(child)
  clearInterval(sampler)
  return { exitCode: code ?? 1, ...(signal === null ? {} : { signal }), stderr, sha256: hash.digest('hex'), bytes, wallMs: performance.now() - started, peakRssBytes: peak, ...(rssAtPause === undefined ? {} : { rssAtPauseBytes: rssAtPause }) }
}

/** Runs bin/dfget (any mode) to completion with its peak memory sampled, like runStreamingDfget. */
export async function runDfgetWithPeakMemory (args: readonly string[]): Promise<{ exitCode: number, signal?: NodeJS.Signals, stderr: string, wallMs: number, peakRssBytes: number }> {
  const started = performance.now()
  const child = spawn(BIN('dfget'), args, { stdio: ['ignore', 'ignore', 'pipe'] })
  const pid = child.pid ?? 0
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  let peak = 0
  const sampler = setInterval(() => {
    readProcMemoryBytes(pid, 'VmHWM').then((bytes) => { peak = Math.max(peak, bytes) }, () => {})
  }, 100)
  const { code, signal } = await exitedAndRead(child)
  clearInterval(sampler)
  return { exitCode: code ?? 1, ...(signal === null ? {} : { signal }), stderr, wallMs: performance.now() - started, peakRssBytes: peak }
}
