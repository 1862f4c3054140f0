/**
 * The system under test: a cold supernode (empty --home-dir) on host 2, and one dfget per
 * peer host, all started together. Each host's agent (`dfget server`, which runs the host's
 * downloads and serves its pieces) runs before the clock, as the host daemon it is
 * (`--agents running`, default), or is started by the dfget (`--agents cold`: detached, in
 * the host's namespace); agents are stopped by PID from each home's peer-server.json after
 * the run (and by the lab's teardown in any case).
 * Completion is dfget's exit; where the bytes came from is read from each dfget's summary
 * line and from the supernode's metrics.
 */
import { access, mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { BIN, metricValue, parseSummary, stopPeerServer } from '../../../test/harness/processes.js'
import { checkOutput, startCpuMeter, diffWireBytes, fetchOriginBytesSent, fetchWireBytes, resetOriginStats, waitForAll, type AgentMode, type PeerOutcome, type SwarmContext, type SystemResult } from './context.js'

const API_PORT = 8002
const DOWNLOAD_PORT = 8001

export async function runDamselfly (context: SwarmContext): Promise<SystemResult> {
  const { lab } = context
  const supernodeIp = lab.ip(context.supernodeHost)
  const dir = join(context.workDir, 'damselfly')
  const supernodeHome = join(dir, 'supernode')
  await mkdir(supernodeHome, { recursive: true })
  await resetOriginStats(context)
  const supernode = lab.spawn(context.supernodeHost, BIN('supernode'), [
    '--port', String(API_PORT), '--download-port', String(DOWNLOAD_PORT),
    '--listen', supernodeIp, '--advertise-ip', supernodeIp, '--home-dir', supernodeHome,
  ])
  const homes = context.peerHosts.map((i) => join(dir, `home-h${i}`))
  try {
    const ready = await lab.waitForLine(supernode, /supernode ready api=(\S+) download=(\S+)/, 30_000, 'supernode')
    const apiUrl = ready[1] ?? ''
    const node = new URL(apiUrl).host
    const outputs = context.peerHosts.map((i) => join(dir, `h${i}.bin`))
    if (context.agents !== 'cold') {
      context.peerHosts.forEach((i, k) => { lab.spawn(i, BIN('dfget'), ['server', '--home', homes[k] ?? '']) })
      await Promise.all(homes.map(async (home) => { await waitForFile(join(home, 'peer-server.json'), 30_000) }))
    }
    if (context.agents === 'warm') await warmAgents(context, { node, homes, dir })
    const wireBefore = await fetchWireBytes(context)
    const cpuMeter = await startCpuMeter(lab)
    const stopSampler = lab.startUploadSampler(250)
    const startMs = performance.now()
    const procs = context.peerHosts.map((i, k) => lab.spawn(i, BIN('dfget'), [
      '-u', context.originUrl, '-o', outputs[k] ?? '', '-n', node, '--home', homes[k] ?? '', '--ip', lab.ip(i),
      ...(context.originHeaders ?? []).flatMap((header) => ['--header', header]),
    ]))
    const exits = await waitForAll(lab, procs, startMs, context.timeoutMs)
    const uploadTimeline = await stopSampler()
    const { cpuBusyFraction, cpuMsByRole } = await cpuMeter.read()
    const wireTxBytes = diffWireBytes(await fetchWireBytes(context), wireBefore)
    const originReadBytes = await fetchOriginBytesSent(context)
    const metrics = await lab.run(context.supernodeHost, 'curl', ['-sS', '-f', `${apiUrl}/metrics`])
    const metricsText = metrics.exitCode === 0 ? metrics.stdout : ''

    const peers: PeerOutcome[] = []
    for (const [k, i] of context.peerHosts.entries()) {
      const exit = exits[k]
      const stderr = procs[k]?.output().stderr ?? ''
      let error: string | undefined
      if (exit === null || exit === undefined) error = `timed out after ${context.timeoutMs} ms`
      else if (exit.exitCode !== 0) error = `dfget exited with ${exit.exitCode}: ${stderr.trim().slice(-1000)}`
      else error = await checkOutput(outputs[k] ?? '', context.fileSha256)
      const summary = parseSummary(stderr)
      peers.push({
        host: i,
        ip: lab.ip(i),
        completionMs: error === undefined ? (exit?.elapsedMs ?? null) : null,
        ...(error === undefined ? {} : { error }),
        ...(summary === undefined ? {} : { bytesFromSource: summary.source, bytesFromSupernode: summary.supernode, bytesFromPeers: summary.peers }),
      })
      await rm(outputs[k] ?? '', { force: true })
    }

    const fromSummaries = (key: 'bytesFromSupernode' | 'bytesFromPeers' | 'bytesFromSource'): number => peers.reduce((sum, p) => sum + (p[key] ?? 0), 0)
    const supernodeMetric = metricValue(metricsText, 'dragonfly_supernode_pieces_downloaded_size_bytes_total')
    const cdnMetric = metricValue(metricsText, 'dragonfly_supernode_cdn_download_size_bytes_total')
    const hasMetric = metricsText.includes('dragonfly_supernode_pieces_downloaded_size_bytes_total')
    const notes = [
      `supernode metrics: cdn_download_size_bytes_total ${cdnMetric}, pieces_downloaded_size_bytes_total ${supernodeMetric}`,
      `dfget summaries: from source ${fromSummaries('bytesFromSource')}, supernode ${fromSummaries('bytesFromSupernode')}, peers ${fromSummaries('bytesFromPeers')} bytes`,
    ]
    return {
      system: 'damselfly',
      variant: context.originHeaders === undefined ? AGENT_VARIANT[context.agents] : `${AGENT_VARIANT[context.agents]}, private file (each host proves its access)`,
      peers,
      originReadBytes,
      supernodeServedBytes: hasMetric ? supernodeMetric : fromSummaries('bytesFromSupernode'),
      peersServedBytes: fromSummaries('bytesFromPeers'),
      servedBytesSource: hasMetric ? 'supernode: its metric pieces_downloaded_size_bytes_total; peers: dfget summaries' : 'dfget summaries',
      wireTxBytes,
    cpuBusyFraction,
    cpuMsByRole,
    uploadTimeline,
      notes,
    }
  } finally {
    await Promise.all(homes.map(async (home) => { await stopPeerServer(home) }))
    await lab.stop(supernode, 5_000)
    await rm(dir, { recursive: true, force: true })
  }
}

async function waitForFile (path: string, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (performance.now() < deadline) {
    if (await access(path).then(() => true, () => false)) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`${path} did not appear in ${timeoutMs} ms`)
}

const AGENT_VARIANT: Readonly<Record<AgentMode, string>> = {
  warm: 'host agents running, warmed by an earlier download',
  running: 'host agents started just before',
  cold: 'host agents started by dfget',
}

/**
 * Every host's agent makes one download of another file (8 MiB from the origin's `/_warm/`,
 * not counted as origin reads), as a host daemon that has worked before would have: the
 * measured run then pays for the byte path, not for compiling it. The machine settles after.
 */
async function warmAgents (context: SwarmContext, run: { node: string, homes: readonly string[], dir: string }): Promise<void> {
  const { lab } = context
  const url = new URL('/_warm/8.bin', context.originUrl).href
  const procs = context.peerHosts.map((i, k) => lab.spawn(i, BIN('dfget'), [
    '-u', url, '-o', join(run.dir, `warm-h${i}.bin`), '-n', run.node, '--home', run.homes[k] ?? '', '--ip', lab.ip(i),
  ]))
  const exits = await waitForAll(lab, procs, performance.now(), 120_000)
  const failed = exits.findIndex((exit) => exit?.exitCode !== 0)
  if (failed >= 0) throw new Error(`the warm-up download of host ${context.peerHosts[failed] ?? '?'} failed: ${procs[failed]?.output().stderr.trim().slice(-300) ?? ''}`)
  await Promise.all(context.peerHosts.map(async (i) => { await rm(join(run.dir, `warm-h${i}.bin`), { force: true }) }))
  await new Promise((resolve) => setTimeout(resolve, 2_000))
}
