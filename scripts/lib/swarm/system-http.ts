/**
 * Baseline (a): every peer host fetches the file straight from the origin with curl, all
 * started at once. The origin's uplink carries N copies.
 */
import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { checkOutput, startCpuMeter, diffWireBytes, fetchOriginBytesSent, fetchWireBytes, resetOriginStats, waitForAll, type PeerOutcome, type SwarmContext, type SystemResult } from './context.js'

export async function runHttpBaseline (context: SwarmContext): Promise<SystemResult> {
  const { lab } = context
  const dir = join(context.workDir, 'http')
  await mkdir(dir, { recursive: true })
  await resetOriginStats(context)
  const wireBefore = await fetchWireBytes(context)
  const outputs = context.peerHosts.map((i) => join(dir, `h${i}.bin`))
  const cpuMeter = await startCpuMeter(lab)
  const stopSampler = lab.startUploadSampler(250)
  const startMs = performance.now()
  const procs = context.peerHosts.map((i, k) => lab.spawn(i, 'curl', ['-sS', '-f', '-o', outputs[k] ?? '', context.originUrl]))
  const exits = await waitForAll(lab, procs, startMs, context.timeoutMs)
  const uploadTimeline = await stopSampler()
  const { cpuBusyFraction, cpuMsByRole } = await cpuMeter.read()
  const wireTxBytes = diffWireBytes(await fetchWireBytes(context), wireBefore)
  const originReadBytes = await fetchOriginBytesSent(context)
  const peers: PeerOutcome[] = []
  for (const [k, i] of context.peerHosts.entries()) {
    const exit = exits[k]
    const output = outputs[k] ?? ''
    let error: string | undefined
    if (exit === null || exit === undefined) error = `timed out after ${context.timeoutMs} ms`
    else if (exit.exitCode !== 0) error = `curl exited with ${exit.exitCode}: ${procs[k]?.output().stderr.trim() ?? ''}`
    else error = await checkOutput(output, context.fileSha256)
    peers.push({ host: i, ip: lab.ip(i), completionMs: error === undefined ? (exit?.elapsedMs ?? null) : null, ...(error === undefined ? {} : { error }) })
    await rm(output, { force: true })
  }
  return {
    system: 'http',
    peers,
    originReadBytes,
    supernodeServedBytes: 0,
    peersServedBytes: 0,
    servedBytesSource: 'all bytes come from the origin',
    wireTxBytes,
    cpuBusyFraction,
    cpuMsByRole,
    uploadTimeline,
    notes: [],
  }
}
