/**
 * The control-plane benchmark's load generator (scripts/lib/control-plane/simulated-swarm.ts)
 * against a real supernode over loopback: every simulated client registers, is handed each
 * piece once, reports it, and ends with `finished`, with no more requests in flight than
 * allowed — in both of its modes (pulls in the shared queue; long-polls on their own
 * connections). The benchmark's figures are only as good as this loop.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createTestData, startOrigin } from './harness/origin.js'
import { startTestSupernode } from './harness/supernode.js'
import { runSimulatedSwarm } from '../scripts/lib/control-plane/simulated-swarm.js'

const MiB = 1024 * 1024
const PEERS = 120

for (const waitMs of [0, 500]) {
  test(`the simulated swarm downloads every piece once per client (${waitMs > 0 ? 'long-polls' : 'pulls in the shared queue'})`, async (t) => {
    const origin = await startOrigin({ files: { '/load.bin': { data: createTestData(6 * MiB, 31) } } })
    t.after(() => origin.close())
    const supernode = await startTestSupernode(t)
    const result = await runSimulatedSwarm({
      apiUrl: supernode.apiUrl,
      taskUrl: origin.url('/load.bin'),
      peers: PEERS,
      concurrency: 8,
      maxPiecesPerPull: 4,
      maxBackoffMs: 20,
      waitMs,
      signal: AbortSignal.timeout(60_000),
    })
    assert.equal(result.errors, 0, result.firstError)
    assert.equal(result.finishedClients, PEERS)
    assert.equal(result.outcomes.finished, PEERS)
    assert.ok(result.pieceCount >= 6, `${result.pieceCount} pieces`)
    // Each client is handed every piece exactly once and reports each once.
    assert.equal(result.report.count, PEERS * result.pieceCount)
    assert.equal(result.registerPeer.count, PEERS)
    assert.equal(result.registerTask.count, PEERS)
    assert.ok(result.pull.count >= result.outcomes.pieces + result.outcomes.finished)
  })
}
