/**
 * The control-plane benchmark's load generator (scripts/lib/control-plane/simulated-swarm.ts)
 * against a real supernode over loopback: every simulated client registers, is handed each
 * piece once, reports it, and ends with `finished`, in both of its modes (pulls in the
 * shared queue; long-polls on their own connections); and its queue keeps at most its
 * slots in flight, first come first served. The benchmark's figures are only as good as
 * this loop.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createTestData, startOrigin } from './harness/origin.js'
import { startTestSupernode } from './harness/supernode.js'
import { RequestSlots, runSimulatedSwarm } from '../scripts/lib/control-plane/simulated-swarm.js'

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

test('the request queue runs at most its slots at once, in the order submitted', async () => {
  let running = 0
  let most = 0
  const started: number[] = []
  const finishers: (() => void)[] = []
  const request = (n: number) => async (): Promise<void> => {
    started.push(n)
    running++
    most = Math.max(most, running)
    await new Promise<void>((resolve) => finishers.push(resolve))
    running--
  }
  const slots = new RequestSlots(3)
  for (let n = 0; n < 10; n++) slots.submit(request(n))
  assert.deepEqual(started, [0, 1, 2])
  // Finish the oldest each time: one more starts, in order, never more than 3 running.
  while (finishers.length > 0) {
    finishers.shift()?.()
    await new Promise((resolve) => setImmediate(resolve))
  }
  assert.deepEqual(started, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
  assert.equal(most, 3)
  assert.equal(running, 0)
})
