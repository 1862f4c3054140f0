/**
 * Stream mode as a user runs it: `dfget --stream -o - -u URL | sha256sum` with the built
 * binaries, one --home per "host", a 256 MiB file, peak memory of every process sampled.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { startOrigin, createTestData, sha256Hex } from '../harness/origin.js'
import { createTmpDir } from '../harness/tmp-dir.js'
import { CloseStack } from '../../src/common/lifecycle.js'
import { parseSummary, spawnSupernode, stopChild, stopPeerServer } from '../harness/processes.js'
import { readProcMemoryBytes, runStreamingDfget } from '../harness/stream-process.js'

const MiB = 1024 * 1024
const PEAK_LIMIT_BYTES = 160 * 1000 * 1000
/**
 * The host agent's bound: about 80 MB idle (Node, fastify, undici), then while it streams the
 * 16-piece window (16 MiB here), its pool's idle buffers (16 MiB), pieces in flight to the
 * window and to the other streamers, and the hashing thread. On a quiet machine it peaks at
 * 130-140 MB; on a loaded CI machine, where pieces stay in flight longer, at up to 165 MB.
 * A stream that held the file would pass 330 MB (256 MiB + the idle agent).
 */
const AGENT_PEAK_LIMIT_BYTES = 200 * 1000 * 1000

/** Peak memory of the peer server of `home` (its PID is in the state file). */
async function peerServerPeakBytes (home: string): Promise<number> {
  try {
    const { pid } = JSON.parse(await readFile(join(home, 'peer-server.json'), 'utf8')) as { pid: number }
    return await readProcMemoryBytes(pid, 'VmHWM')
  } catch {
    return 0
  }
}

test('4 streaming dfgets of a 256 MiB file started together: right bytes, bounded memory, streamers feed each other; a pausing reader', async (t) => {
  const data = createTestData(256 * MiB, 41)
  const digest = sha256Hex(data)
  const stack = new CloseStack()
  t.after(() => stack.close())
  const origin = stack.push(await startOrigin({ files: { '/big.bin': { data } } }))
  const dir = stack.push(await createTmpDir('damselfly-stream-', true))
  const sn = await spawnSupernode(join(dir.path, 'supernode'))
  stack.defer(() => stopChild(sn.child))
  const homes = Array.from({ length: 5 }, (_, i) => join(dir.path, `host-${i}`))
  stack.defer(async () => { await Promise.all(homes.map(stopPeerServer)) })

  const runs = await Promise.all(homes.slice(0, 4).map(async (home) => await runStreamingDfget(['-u', origin.url('/big.bin'), '-n', sn.node, '--home', home])))
  let fromSupernode = 0
  let total = 0
  for (const [i, run] of runs.entries()) {
    assert.equal(run.exitCode, 0, `dfget ${i}: ${run.stderr}`)
    assert.equal(run.sha256, digest, `stream ${i} differs from the source`)
    const summary = parseSummary(run.stderr)
    assert.ok(summary !== undefined, run.stderr)
    fromSupernode += summary.supernode
    total += summary.supernode + summary.peers + summary.source
    t.diagnostic(`dfget ${i}: ${(run.wallMs / 1000).toFixed(1)} s, peak ${(run.peakRssBytes / MiB).toFixed(1)} MiB, supernode ${(summary.supernode / MiB).toFixed(0)} MiB, peers ${(summary.peers / MiB).toFixed(0)} MiB`)
  }
  const peerPeaks = await Promise.all(homes.slice(0, 4).map(peerServerPeakBytes))
  t.diagnostic(`peer servers peaked at ${peerPeaks.map((bytes) => (bytes / MiB).toFixed(1)).join(', ')} MiB`)
  for (const [i, run] of runs.entries()) assert.ok(run.peakRssBytes < PEAK_LIMIT_BYTES, `dfget ${i} peaked at ${(run.peakRssBytes / MiB).toFixed(1)} MiB`)
  for (const peak of peerPeaks) assert.ok(peak < AGENT_PEAK_LIMIT_BYTES, `a peer server peaked at ${(peak / MiB).toFixed(1)} MiB`)
  t.diagnostic(`supernode share ${(fromSupernode / total).toFixed(3)}`)
  assert.ok(fromSupernode <= 0.75 * total, `the supernode sent ${fromSupernode} of ${total} piece bytes`)

  // A reader that stops for 5 s: the download waits, memory does not grow, the stream is right.
  const paused = await runStreamingDfget(['-u', origin.url('/big.bin'), '-n', sn.node, '--home', homes[4] ?? ''], { pause: { atBytes: 32 * MiB, ms: 5_000 } })
  assert.equal(paused.exitCode, 0, paused.stderr)
  assert.equal(paused.sha256, digest)
  const rss = paused.rssAtPauseBytes
  assert.ok(rss !== undefined)
  t.diagnostic(`pause: rss ${(rss.start / MiB).toFixed(1)} -> ${(rss.end / MiB).toFixed(1)} MiB, peak ${(paused.peakRssBytes / MiB).toFixed(1)} MiB`)
  assert.ok(rss.end <= rss.start + 8 * MiB, `memory grew from ${rss.start} to ${rss.end} bytes during the pause`)
  assert.ok(paused.peakRssBytes < PEAK_LIMIT_BYTES)
})
