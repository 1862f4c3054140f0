/**
 * The loopback suite's stream-mode row: one dfget through a warm supernode, file mode
 * (`-o FILE` in /dev/shm) against stream mode (`--stream -o -` into a FIFO that `openssl dgst`
 * reads, as in a shell's `dfget … | openssl dgst -sha256`), alternating in the same run: throughput and peak memory (VmHWM) of the
 * dfget process. Writes its own section of docs/benchmarks.md (`loopback-stream`), so that
 * `--only stream` keeps the other loopback figures.
 */
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { loadavg } from 'node:os'
import { createTestData, sha256Hex, startOrigin } from '../test/harness/origin.js'
import { formatMiB, runDfgetProcess, spawnSupernode, startPeerServer, stopChild, stopPeerServer } from '../test/harness/processes.js'
import { endedChildrenCpuMs, processCpuMs } from './lib/process-cpu.js'
import { runDfgetWithPeakMemory, runStreamingDfget } from '../test/harness/stream-process.js'
import { writeBenchmarkSection } from './lib/benchmarks-doc.js'

export interface StreamBenchResult {
  readonly sizeBytes: number
  readonly fileMs: number[]
  readonly filePeakBytes: number[]
  /** CPU of the downloading host per round: the dfget process plus its agent. */
  readonly fileCpuMs: number[]
  readonly streamMs: number[]
  readonly streamPeakBytes: number[]
  readonly streamCpuMs: number[]
}

/** Runs `run` with the home's agent started before it (a host daemon); resolves with its result and the host's CPU (dfget + agent). */
async function withRunningAgent<T> (home: string, run: () => Promise<T>): Promise<{ value: T, hostCpuMs: number }> {
  await startPeerServer(home)
  const agentPid = (JSON.parse(await readFile(join(home, 'peer-server.json'), 'utf8')) as { pid: number }).pid
  const agentBefore = await processCpuMs(agentPid)
  const childrenBefore = await endedChildrenCpuMs()
  const value = await run()
  const hostCpuMs = (await endedChildrenCpuMs() - childrenBefore) + (await processCpuMs(agentPid) - agentBefore)
  return { value, hostCpuMs }
}

export interface StreamBenchContext {
  /** Scratch directory (in /dev/shm). */
  readonly work: string
  readonly sizeBytes: number
  readonly rounds: number
  /** Registers a cleanup step (run in reverse order by the caller). */
  readonly defer: (stop: () => Promise<void>) => void
}

export async function runStreamBench (context: StreamBenchContext): Promise<StreamBenchResult> {
  const { work, sizeBytes, rounds, defer } = context
  const data = createTestData(sizeBytes, 17)
  const digest = sha256Hex(data)
  const origin = await startOrigin({ files: { '/stream.bin': { data } } })
  defer(async () => { await origin.close() })
  const sn = await spawnSupernode(join(work, 'sn-stream'))
  defer(async () => { await stopChild(sn.child) })
  const url = origin.url('/stream.bin')
  const warmHome = join(work, 'stream-warm-home')
  defer(async () => { await stopPeerServer(warmHome) })
  const warm = await runDfgetProcess(['-u', url, '-o', join(work, 'stream-warm.bin'), '-n', sn.node, '--home', warmHome])
  if (warm.exitCode !== 0) throw new Error(`warm-up dfget failed: ${warm.stderr}`)
  await stopPeerServer(warmHome)
  await rm(join(work, 'stream-warm.bin'), { force: true })
  const result: StreamBenchResult = { sizeBytes, fileMs: [], filePeakBytes: [], fileCpuMs: [], streamMs: [], streamPeakBytes: [], streamCpuMs: [] }
  for (let round = 0; round < rounds; round++) {
    const fileHome = join(work, `stream-file-home-${round}`)
    defer(async () => { await stopPeerServer(fileHome) })
    const out = join(work, `stream-file-${round}.bin`)
    const fileRun = await withRunningAgent(fileHome, async () => await runDfgetWithPeakMemory(['-u', url, '-o', out, '-n', sn.node, '--home', fileHome]))
    const file = fileRun.value
    result.fileCpuMs.push(fileRun.hostCpuMs)
    if (file.exitCode !== 0) throw new Error(`file-mode dfget failed: ${file.stderr}`)
    if (sha256Hex(await readFile(out)) !== digest) throw new Error('file-mode output is corrupt')
    await rm(out, { force: true })
    await stopPeerServer(fileHome)
    result.fileMs.push(file.wallMs)
    result.filePeakBytes.push(file.peakRssBytes)

    const streamHome = join(work, `stream-home-${round}`)
    defer(async () => { await stopPeerServer(streamHome) })
    const streamRun = await withRunningAgent(streamHome, async () => await runStreamingDfget(['-u', url, '-n', sn.node, '--home', streamHome], { fifoDir: work }))
    const stream = streamRun.value
    // The host's CPU is dfget's and its agent's: openssl, the pipe's reader, ended as a child of this process too.
    result.streamCpuMs.push(streamRun.hostCpuMs - (stream.consumerCpuMs ?? 0))
    if (stream.exitCode !== 0) throw new Error(`stream-mode dfget failed: ${stream.stderr}`)
    if (stream.sha256 !== digest) throw new Error('stream-mode output is corrupt')
    await stopPeerServer(streamHome)
    result.streamMs.push(stream.wallMs)
    result.streamPeakBytes.push(stream.peakRssBytes)
    console.log(`stream round ${round + 1}: file ${file.wallMs.toFixed(0)} ms (peak ${formatMiB(file.peakRssBytes)}, host CPU ${fileRun.hostCpuMs.toFixed(0)} ms), stream ${stream.wallMs.toFixed(0)} ms (peak ${formatMiB(stream.peakRssBytes)}, host CPU ${(streamRun.hostCpuMs - (stream.consumerCpuMs ?? 0)).toFixed(0)} ms, its reader ${stream.consumerCpuMs?.toFixed(0) ?? '?'} ms)`)
  }
  await stopChild(sn.child)
  await origin.close()
  return result
}

export async function writeStreamBenchSection (result: StreamBenchResult, header: { date: string, machine: string, speed?: string, rounds: number }, options: { writeDocs?: boolean } = {}): Promise<string> {
  const median = (xs: readonly number[]): number => {
    const s = [...xs].sort((a, b) => a - b)
    const mid = Math.floor(s.length / 2)
    return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2
  }
  const size = result.sizeBytes
  const markdown = [
    '### Stream mode vs file mode (loopback)',
    '',
    `Run ${header.date} on ${header.machine}${header.speed === undefined ? '' : ` (${header.speed})`}; medians of ${header.rounds} rounds, alternating. File ${formatMiB(size)} through a warm supernode, one dfget each, the host's agent running before the clock: file mode writes /dev/shm and publishes; stream mode (\`--stream -o -\`) writes a pipe that \`openssl dgst -sha256\` reads (a FIFO, as in a shell's \`dfget … | openssl dgst -sha256\`; the agent writes it), holding a 16-piece window (in the agent). Peak memory is the dfget process's VmHWM; host CPU is the dfget process plus its agent. Load average of the machine at the end: ${loadavg()[0]?.toFixed(1) ?? '?'} (other work shares it; the ratio is what carries over).`,
    '',
    '| | median time | throughput | peak memory (dfget) | host CPU (dfget + agent) |',
    '| --- | --- | --- | --- | --- |',
    `| dfget (file) | ${median(result.fileMs).toFixed(0)} ms | ${formatMiB(size / (median(result.fileMs) / 1000))}/s | ${formatMiB(median(result.filePeakBytes))} | ${median(result.fileCpuMs).toFixed(0)} ms (${(median(result.fileCpuMs) / 1000 / (size / 1024 ** 3)).toFixed(2)} CPU-s/GiB) |`,
    `| dfget --stream | ${median(result.streamMs).toFixed(0)} ms | ${formatMiB(size / (median(result.streamMs) / 1000))}/s | ${formatMiB(median(result.streamPeakBytes))} | ${median(result.streamCpuMs).toFixed(0)} ms (${(median(result.streamCpuMs) / 1000 / (size / 1024 ** 3)).toFixed(2)} CPU-s/GiB) |`,
    '',
    `**Stream / file throughput: ${(median(result.fileMs) / median(result.streamMs)).toFixed(2)}×** (goal ≥ 0.8×).`,
    '',
    `Command: \`npm run bench -- --only stream --size ${formatMiB(size).replace(' ', '')}\`.`,
  ].join('\n')
  if (options.writeDocs !== false) await writeBenchmarkSection('loopback-stream', markdown)
  return markdown
}
