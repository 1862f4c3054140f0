/**
 * The loopback suite's stream-mode row: one dfget through a warm supernode, file mode
 * (`-o FILE` in /dev/shm) against stream mode (`--stream -o -`, the pipe read and hashed by
 * this process), alternating in the same run: throughput and peak memory (VmHWM) of the
 * dfget process. Writes its own section of docs/benchmarks.md (`loopback-stream`), so that
 * `--only stream` keeps the other loopback figures.
 */
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { loadavg } from 'node:os'
import { createTestData, sha256Hex, startOrigin } from '../test/harness/origin.js'
import { formatMiB, runDfgetProcess, spawnSupernode, stopChild, stopPeerServer } from '../test/harness/processes.js'
import { runDfgetWithPeakMemory, runStreamingDfget } from '../test/harness/stream-process.js'
import { writeBenchmarkSection } from './lib/benchmarks-doc.js'

export interface StreamBenchResult {
  readonly sizeBytes: number
  readonly fileMs: number[]
  readonly filePeakBytes: number[]
  readonly streamMs: number[]
  readonly streamPeakBytes: number[]
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
  const result: StreamBenchResult = { sizeBytes, fileMs: [], filePeakBytes: [], streamMs: [], streamPeakBytes: [] }
  for (let round = 0; round < rounds; round++) {
    const fileHome = join(work, `stream-file-home-${round}`)
    defer(async () => { await stopPeerServer(fileHome) })
    const out = join(work, `stream-file-${round}.bin`)
    const file = await runDfgetWithPeakMemory(['-u', url, '-o', out, '-n', sn.node, '--home', fileHome])
    if (file.exitCode !== 0) throw new Error(`file-mode dfget failed: ${file.stderr}`)
    if (sha256Hex(await readFile(out)) !== digest) throw new Error('file-mode output is corrupt')
    await rm(out, { force: true })
    await stopPeerServer(fileHome)
    result.fileMs.push(file.wallMs)
    result.filePeakBytes.push(file.peakRssBytes)

    const streamHome = join(work, `stream-home-${round}`)
    defer(async () => { await stopPeerServer(streamHome) })
    const stream = await runStreamingDfget(['-u', url, '-n', sn.node, '--home', streamHome])
    if (stream.exitCode !== 0) throw new Error(`stream-mode dfget failed: ${stream.stderr}`)
    if (stream.sha256 !== digest) throw new Error('stream-mode output is corrupt')
    await stopPeerServer(streamHome)
    result.streamMs.push(stream.wallMs)
    result.streamPeakBytes.push(stream.peakRssBytes)
    console.log(`stream round ${round + 1}: file ${file.wallMs.toFixed(0)} ms (peak ${formatMiB(file.peakRssBytes)}), stream ${stream.wallMs.toFixed(0)} ms (peak ${formatMiB(stream.peakRssBytes)})`)
  }
  await stopChild(sn.child)
  await origin.close()
  return result
}

export async function writeStreamBenchSection (result: StreamBenchResult, header: { date: string, machine: string, rounds: number }): Promise<string> {
  const median = (xs: readonly number[]): number => {
    const s = [...xs].sort((a, b) => a - b)
    const mid = Math.floor(s.length / 2)
    return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2
  }
  const size = result.sizeBytes
  const markdown = [
    '### Stream mode vs file mode (loopback)',
    '',
    `Run ${header.date} on ${header.machine}; medians of ${header.rounds} rounds, alternating. File ${formatMiB(size)} through a warm supernode, one dfget process each: file mode writes /dev/shm and publishes; stream mode (\`--stream -o -\`) writes the pipe this benchmark reads and hashes, holding a 16-piece window. Peak memory is the dfget process's VmHWM. Load average of the machine at the end: ${loadavg()[0]?.toFixed(1) ?? '?'} (other work shares it; the ratio is what carries over).`,
    '',
    '| | median time | throughput | peak memory |',
    '| --- | --- | --- | --- |',
    `| dfget (file) | ${median(result.fileMs).toFixed(0)} ms | ${formatMiB(size / (median(result.fileMs) / 1000))}/s | ${formatMiB(median(result.filePeakBytes))} |`,
    `| dfget --stream | ${median(result.streamMs).toFixed(0)} ms | ${formatMiB(size / (median(result.streamMs) / 1000))}/s | ${formatMiB(median(result.streamPeakBytes))} |`,
    '',
    `Command: \`npm run bench -- --only stream --size ${formatMiB(size).replace(' ', '')}\`.`,
  ].join('\n')
  await writeBenchmarkSection('loopback-stream', markdown)
  return markdown
}
