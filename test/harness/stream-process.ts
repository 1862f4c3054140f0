/**
 * runStreamingDfget(): bin/dfget --stream -o - as a child process whose stdout the caller
 * reads like `| sha256sum` would (hashed, never kept), with its peak memory (VmHWM of
 * /proc/<pid>/status, Linux) sampled while it runs. `pause` stops reading for a while at
 * an offset, as a slow consumer does, and records the child's memory before and after.
 * By default the child's stdout is a socket (Node's own child pipes), so dfget relays the
 * bytes its agent sends. `fifoDir` makes it a real pipe (a FIFO made there) read by
 * `openssl dgst -sha256` (at the machine's SHA-256 speed), as in a shell's
 * `dfget … | openssl dgst -sha256`: the agent may write that pipe itself
 * (src/dfget/agent/stdout-pipe.ts), and a C reader takes a 64 KiB pipe's bytes at the pace
 * a user's `| tar x` would (`bytes` is then NaN: the digest says the stream was whole).
 */
import { execFileSync, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { closeSync, constants, openSync } from 'node:fs'
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
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
  /** With `fifoDir`: the CPU time the reader (openssl) used (a child of the caller too). */
  readonly consumerCpuMs?: number
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

/** Samples a process's peak memory (VmHWM) every 100 ms until stopped. */
function samplePeakMemory (pid: number): { readonly bytes: number, stop: () => void } {
  let bytes = 0
  const sampler = setInterval(() => {
    readProcMemoryBytes(pid, 'VmHWM').then((now) => { bytes = Math.max(bytes, now) }, () => {})
  }, 100)
  return { get bytes () { return bytes }, stop: () => { clearInterval(sampler) } }
}

export async function runStreamingDfget (args: readonly string[], options: { pause?: { atBytes: number, ms: number }, fifoDir?: string } = {}): Promise<StreamingRun> {
  const started = performance.now()
  if (options.fifoDir !== undefined) return await runIntoFifo(args, options.fifoDir)
  const child = spawn(BIN('dfget'), ['--stream', '-o', '-', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const pid = child.pid ?? 0
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const peak = samplePeakMemory(pid)
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
  peak.stop()
  return { exitCode: code ?? 1, ...(signal === null ? {} : { signal }), stderr, sha256: hash.digest('hex'), bytes, wallMs: performance.now() - started, peakRssBytes: peak.bytes, ...(rssAtPause === undefined ? {} : { rssAtPauseBytes: rssAtPause }) }
}

/** runStreamingDfget with `fifoDir`: dfget's stdout a FIFO that `openssl dgst -sha256` reads. */
async function runIntoFifo (args: readonly string[], fifoDir: string): Promise<StreamingRun> {
  const started = performance.now()
  const path = join(fifoDir, `stdout-${process.pid}-${Math.floor(started)}.fifo`)
  execFileSync('mkfifo', [path])
  try {
    // bash's `times` prints the CPU its children used: the consumer's, which the caller may count apart.
    const reader = spawn('bash', ['-c', 'openssl dgst -sha256 -r "$0"; times', path], { stdio: ['ignore', 'pipe', 'inherit'] })
    let readerOutput = ''
    reader.stdout.on('data', (chunk: Buffer) => { readerOutput += chunk.toString() })
    // Blocks until openssl opened its end: the FIFO then has a reader for the child's writes.
    const writeFd = openSync(path, constants.O_WRONLY)
    const child = spawn(BIN('dfget'), ['--stream', '-o', '-', ...args], { stdio: ['ignore', writeFd, 'pipe'] })
    closeSync(writeFd)
    const pid = child.pid ?? 0
    let stderr = ''
    child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
    const peak = samplePeakMemory(pid)
    const { code, signal } = await exitedAndRead(child)
    await exitedAndRead(reader)
    peak.stop()
    const lines = readerOutput.trim().split('\n')
    const consumerCpuMs = (lines.at(-1) ?? '').split(' ').reduce((sum, time) => {
      const match = /^(\d+)m([\d.]+)s$/.exec(time)
      return sum + (match === null ? Number.NaN : (Number(match[1]) * 60 + Number(match[2])) * 1000)
    }, 0)
    return { exitCode: code ?? 1, ...(signal === null ? {} : { signal }), stderr, sha256: (lines[0] ?? '').split(' ')[0] ?? '', bytes: Number.NaN, wallMs: performance.now() - started, peakRssBytes: peak.bytes, consumerCpuMs }
  } finally {
    await rm(path, { force: true })
  }
}

/** Runs bin/dfget (any mode) to completion with its peak memory sampled, like runStreamingDfget. */
export async function runDfgetWithPeakMemory (args: readonly string[]): Promise<{ exitCode: number, signal?: NodeJS.Signals, stderr: string, wallMs: number, peakRssBytes: number }> {
  const started = performance.now()
  const child = spawn(BIN('dfget'), args, { stdio: ['ignore', 'ignore', 'pipe'] })
  const pid = child.pid ?? 0
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const peak = samplePeakMemory(pid)
  const { code, signal } = await exitedAndRead(child)
  peak.stop()
  return { exitCode: code ?? 1, ...(signal === null ? {} : { signal }), stderr, wallMs: performance.now() - started, peakRssBytes: peak.bytes }
}
