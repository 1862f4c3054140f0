import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { ManualClock } from '../../common/clock.js'
import { isCode } from '../../protocol/errors.js'
import type { PieceTask, PullPieceTasksResponse } from '../../protocol/messages/pull-piece-task.js'
import { parsePieceRange } from '../../protocol/piece-range.js'
import { createTestData, startOrigin, type OriginFaults } from '../../../test/harness/origin.js'
import { metricValue, startTestSupernode, waitForCdn, type TestSupernodeOptions } from '../../../test/harness/supernode.js'
import type { SupernodeClient } from '../client.js'

const MiB = 1024 * 1024

interface Swarm {
  readonly client: SupernodeClient
  readonly taskId: string
  readonly pieceCount: number
  /** Registers peer `name` (port 40000+index) and its cid `cid-<name>`. */
  join(name: string, heldPieces?: number[]): Promise<void>
}

async function startSwarm (t: TestContext, options: { fileBytes?: number, faults?: OriginFaults, supernode?: TestSupernodeOptions, waitForCdn?: boolean } = {}): Promise<Swarm> {
  const data = createTestData(options.fileBytes ?? 5 * MiB, 11)
  const origin = await startOrigin({ files: { '/f.bin': { data, ...(options.faults === undefined ? {} : { faults: options.faults }) } } })
  t.after(() => origin.close())
  const { client } = await startTestSupernode(t, options.supernode)
  let port = 40000
  let taskId = ''
  let count = 0
  const join = async (name: string, heldPieces?: number[]): Promise<void> => {
    await client.registerPeer({ peerId: `peer-${name}`, ip: '127.0.0.1', port: ++port })
    const task = await client.registerTask({ peerId: `peer-${name}`, cid: `cid-${name}`, url: origin.url('/f.bin'), ...(heldPieces === undefined ? {} : { heldPieces }) })
    taskId = task.taskId
    count = task.pieceCount
  }
  await join('seed')
  if (options.waitForCdn !== false) assert.equal(await waitForCdn(client, taskId), 'success')
  return { client, taskId, pieceCount: count, join }
}

function piecesOf (outcome: PullPieceTasksResponse): PieceTask[] {
  return outcome.result === 'pieces' ? outcome.pieces : []
}

/** Pulls everything for `cid` from wherever the scheduler says and reports success, without moving bytes. */
async function completeAll (swarm: Swarm, cid: string): Promise<void> {
  for (;;) {
    const outcome = await swarm.client.pullPieceTasks(swarm.taskId, { cid, max: 8, waitMs: 2_000 })
    if (outcome.result === 'finished') return
    for (const piece of piecesOf(outcome)) {
      await swarm.client.reportPiece(swarm.taskId, parsePieceRange(piece.pieceRange), { cid, result: 'success', sourcePeerId: piece.sourcePeerId })
    }
  }
}

test('a pull long-polls: wait after waitMs while the source is slow, pieces as soon as one is cached', async (t) => {
  const swarm = await startSwarm(t, { fileBytes: 2 * MiB, faults: { throttleBytesPerSec: 2 * MiB }, waitForCdn: false })
  const early = await swarm.client.pullPieceTasks(swarm.taskId, { cid: 'cid-seed', waitMs: 50 })
  assert.equal(early.result, 'wait')
  const startedMs = Date.now()
  const later = await swarm.client.pullPieceTasks(swarm.taskId, { cid: 'cid-seed', waitMs: 10_000 })
  assert.equal(later.result, 'pieces')
  assert.ok(Date.now() - startedMs < 5_000)
  assert.equal(piecesOf(later)[0]?.sourceKind, 'supernode')
})

test('a piece reported by one peer is handed out from that peer, with its URL', async (t) => {
  const swarm = await startSwarm(t)
  await completeAll(swarm, 'cid-seed')
  await swarm.join('b')
  const outcome = await swarm.client.pullPieceTasks(swarm.taskId, { cid: 'cid-b', max: 4 })
  const pieces = piecesOf(outcome)
  assert.equal(pieces.length, 4)
  for (const piece of pieces) {
    assert.equal(piece.sourceKind, 'peer')
    assert.equal(piece.sourcePeerId, 'peer-seed')
    assert.equal(piece.url, `http://127.0.0.1:40001/peer/tasks/${swarm.taskId}/data?cid=cid-seed`)
    assert.match(piece.digest, /^sha256:[0-9a-f]{64}$/)
  }
  const info = await swarm.client.getPeer('peer-seed')
  assert.equal(info.uploadsInFlight, 4)
})

test('a peer registered without a port (its peer server still starting) holds pieces but is no source until it registers its port', async (t) => {
  const swarm = await startSwarm(t)
  await swarm.client.registerPeer({ peerId: 'peer-early', ip: '127.0.0.1' })
  assert.equal((await swarm.client.getPeer('peer-early')).port, 0)
  await swarm.client.registerTask({ peerId: 'peer-early', cid: 'cid-early', url: (await swarm.client.getTask(swarm.taskId)).url })
  await completeAll(swarm, 'cid-early')
  await swarm.join('b')
  const before = piecesOf(await swarm.client.pullPieceTasks(swarm.taskId, { cid: 'cid-b', max: 4 }))
  assert.ok(before.length > 0 && before.every((p) => p.sourcePeerId !== 'peer-early'), 'nobody is sent to a peer without a port')
  for (const piece of before) await swarm.client.reportPiece(swarm.taskId, parsePieceRange(piece.pieceRange), { cid: 'cid-b', result: 'failed', sourcePeerId: piece.sourcePeerId, reason: 'DF_ERR_NETWORK' })
  await swarm.client.registerPeer({ peerId: 'peer-early', ip: '127.0.0.1', port: 40100 })
  assert.equal((await swarm.client.getPeer('peer-early')).port, 40100)
  await swarm.join('c')
  const after = piecesOf(await swarm.client.pullPieceTasks(swarm.taskId, { cid: 'cid-c', max: 4 }))
  assert.ok(after.some((p) => p.sourcePeerId === 'peer-early' && p.url.startsWith('http://127.0.0.1:40100/')), 'with its port it is a source')
  await assert.rejects(swarm.client.registerPeer({ ip: '127.0.0.1' }), (err: unknown) => isCode(err, 'DF_ERR_ARG_INVALID'))
})

test('a failed report blacklists that peer for that cid only', async (t) => {
  const swarm = await startSwarm(t)
  await completeAll(swarm, 'cid-seed')
  await swarm.join('b')
  await swarm.join('c')
  const [first] = piecesOf(await swarm.client.pullPieceTasks(swarm.taskId, { cid: 'cid-b', max: 1 }))
  assert.equal(first?.sourcePeerId, 'peer-seed')
  await swarm.client.reportPiece(swarm.taskId, parsePieceRange(first.pieceRange), { cid: 'cid-b', result: 'failed', sourcePeerId: 'peer-seed', reason: 'DF_ERR_PIECE_DIGEST_MISMATCH' })
  const again = piecesOf(await swarm.client.pullPieceTasks(swarm.taskId, { cid: 'cid-b', max: 8 }))
  assert.equal(again.length, 5)
  assert.ok(again.every((piece) => piece.sourceKind === 'supernode'))
  const other = piecesOf(await swarm.client.pullPieceTasks(swarm.taskId, { cid: 'cid-c', max: 2 }))
  assert.ok(other.every((piece) => piece.sourcePeerId === 'peer-seed'))
  const metrics = await swarm.client.fetchMetricsText()
  assert.equal(metricValue(metrics, 'dragonfly_supernode_piece_reports_total', { source: 'peer', result: 'failed' }), 1)
})

test('a peer at its upload limit is not used and the answer is limited', async (t) => {
  const swarm = await startSwarm(t, { supernode: { maxUploadsPerPeer: 2 } })
  await completeAll(swarm, 'cid-seed')
  await swarm.join('b')
  await swarm.join('c')
  const b = piecesOf(await swarm.client.pullPieceTasks(swarm.taskId, { cid: 'cid-b', max: 4 }))
  assert.equal(b.length, 2)
  const c = await swarm.client.pullPieceTasks(swarm.taskId, { cid: 'cid-c', max: 4, waitMs: 20 })
  assert.equal(c.result, 'limited')
  const done = b[0]
  assert.ok(done !== undefined)
  const waiting = swarm.client.pullPieceTasks(swarm.taskId, { cid: 'cid-c', max: 4, waitMs: 5_000 })
  await swarm.client.reportPiece(swarm.taskId, parsePieceRange(done.pieceRange), { cid: 'cid-b', result: 'success', sourcePeerId: 'peer-seed' })
  const woken = piecesOf(await waiting)
  assert.ok(woken.length >= 1, 'a report wakes the long-poll')
})

test('the supernode hands out at most supernode-max-uploads pieces of a task at once', async (t) => {
  const swarm = await startSwarm(t, { supernode: { supernodeMaxUploads: 2 } })
  await swarm.join('b')
  assert.equal(piecesOf(await swarm.client.pullPieceTasks(swarm.taskId, { cid: 'cid-seed', max: 4 })).length, 2)
  assert.equal((await swarm.client.pullPieceTasks(swarm.taskId, { cid: 'cid-b', max: 4 })).result, 'limited')
})

test('a hand-out not reported within the piece timeout is released', async (t) => {
  const clock = new ManualClock()
  const swarm = await startSwarm(t, { supernode: { clock, supernodeMaxUploads: 1, pieceTimeoutMs: 1_000 } })
  await swarm.join('b')
  assert.equal(piecesOf(await swarm.client.pullPieceTasks(swarm.taskId, { cid: 'cid-seed' })).length, 1)
  assert.equal((await swarm.client.pullPieceTasks(swarm.taskId, { cid: 'cid-b' })).result, 'limited')
  clock.advance(1_001)
  assert.equal(piecesOf(await swarm.client.pullPieceTasks(swarm.taskId, { cid: 'cid-b' })).length, 1)
})

test('a peer leaving takes its pieces out of scheduling and releases its hand-outs', async (t) => {
  const swarm = await startSwarm(t)
  await completeAll(swarm, 'cid-seed')
  await swarm.join('b')
  assert.ok(piecesOf(await swarm.client.pullPieceTasks(swarm.taskId, { cid: 'cid-b', max: 2 })).every((p) => p.sourceKind === 'peer'))
  assert.equal((await swarm.client.getPeer('peer-seed')).uploadsInFlight, 2)
  await swarm.client.deletePeer('peer-seed')
  await assert.rejects(swarm.client.getPeer('peer-seed'), (err: unknown) => isCode(err, 'DF_ERR_PEER_NOT_FOUND'))
  const after = piecesOf(await swarm.client.pullPieceTasks(swarm.taskId, { cid: 'cid-b', max: 8 }))
  assert.equal(after.length, 5) // the two hand-outs from the leaving peer were released too
  assert.ok(after.every((piece) => piece.sourceKind === 'supernode'))
})

test('a cid leaving a task releases its pieces and keeps the others', async (t) => {
  const swarm = await startSwarm(t)
  await completeAll(swarm, 'cid-seed')
  await swarm.join('b')
  await swarm.client.deleteTask(swarm.taskId, 'cid-seed')
  const info = await swarm.client.getTask(swarm.taskId)
  assert.deepEqual(info.clients.map((c) => c.cid), ['cid-b'])
  assert.ok(piecesOf(await swarm.client.pullPieceTasks(swarm.taskId, { cid: 'cid-b', max: 8 })).every((p) => p.sourceKind === 'supernode'))
  await assert.rejects(swarm.client.pullPieceTasks(swarm.taskId, { cid: 'cid-seed' }), (err: unknown) => isCode(err, 'DF_ERR_TASK_CLIENT_NOT_FOUND'))
  await swarm.client.deleteTask(swarm.taskId)
  await assert.rejects(swarm.client.getTask(swarm.taskId), (err: unknown) => isCode(err, 'DF_ERR_TASK_NOT_FOUND'))
})

test('held pieces given at registration count as held and finished', async (t) => {
  const swarm = await startSwarm(t)
  await swarm.join('resumed', [0, 1, 2, 3, 4])
  assert.deepEqual(await swarm.client.pullPieceTasks(swarm.taskId, { cid: 'cid-resumed' }), { result: 'finished' })
  const pieces = piecesOf(await swarm.client.pullPieceTasks(swarm.taskId, { cid: 'cid-seed', max: 4 }))
  assert.ok(pieces.every((piece) => piece.sourcePeerId === 'peer-resumed'))
})

test('reports are validated: the range must be one piece of the task, the cid must be registered', async (t) => {
  const swarm = await startSwarm(t)
  const report = { cid: 'cid-seed', result: 'success' } as const
  await assert.rejects(swarm.client.reportPiece(swarm.taskId, { start: 0, end: 99 }, report), (err: unknown) => isCode(err, 'DF_ERR_ARG_INVALID') && err.details?.field === 'pieceRange' && err.remote?.status === 400)
  await assert.rejects(swarm.client.reportPiece(swarm.taskId, { start: 5 * MiB, end: 6 * MiB - 1 }, report), (err: unknown) => isCode(err, 'DF_ERR_ARG_INVALID') && err.details?.field === 'pieceRange')
  await assert.rejects(swarm.client.reportPiece(swarm.taskId, { start: 0, end: MiB - 1 }, { cid: 'cid-nobody', result: 'success' }), (err: unknown) => isCode(err, 'DF_ERR_TASK_CLIENT_NOT_FOUND'))
  await assert.rejects(swarm.client.reportPiece(swarm.taskId, { start: 0, end: MiB - 1 }, { cid: 'cid-seed', result: 'great' as 'success' }), (err: unknown) => isCode(err, 'DF_ERR_ARG_INVALID') && String(err.details?.field).startsWith('body.result'))
  await assert.rejects(swarm.client.pullPieceTasks(swarm.taskId, { cid: 'cid-seed', max: 0 }), (err: unknown) => isCode(err, 'DF_ERR_ARG_INVALID') && err.details?.field === 'querystring.max')
  await assert.rejects(swarm.client.pullPieceTasks('f'.repeat(64), { cid: 'cid-seed' }), (err: unknown) => isCode(err, 'DF_ERR_TASK_NOT_FOUND'))
})

/**
 * Eight clients start together and move no bytes: each pull is answered, each piece
 * reported at once. The supernode must send each piece into the swarm about once; the
 * peers give each other the rest.
 */
async function runEightClients (t: TestContext, cold: boolean): Promise<{ supernodeBytes: number, totalBytes: number, fileBytes: number }> {
  const fileBytes = 24 * MiB
  const swarm = await startSwarm(t, { fileBytes, ...(cold ? { faults: { throttleBytesPerSec: 16 * MiB } } : {}), waitForCdn: !cold })
  const names = Array.from({ length: 8 }, (_, index) => `n${index}`)
  for (const name of names) await swarm.join(name)
  await Promise.all(names.map(async (name) => {
    const cid = `cid-${name}`
    for (;;) {
      const outcome = await swarm.client.pullPieceTasks(swarm.taskId, { cid, max: 4, waitMs: 5_000 })
      if (outcome.result === 'finished') return
      await Promise.all(piecesOf(outcome).map(async (piece) => {
        await new Promise<void>((resolve) => { setImmediate(resolve) })
        await swarm.client.reportPiece(swarm.taskId, parsePieceRange(piece.pieceRange), { cid, result: 'success', sourcePeerId: piece.sourcePeerId })
      }))
    }
  }))
  const metrics = await swarm.client.fetchMetricsText()
  const supernodeBytes = metricValue(metrics, 'dragonfly_supernode_piece_report_size_bytes_total', { source: 'supernode' })
  const totalBytes = metricValue(metrics, 'dragonfly_supernode_piece_report_size_bytes_total')
  return { supernodeBytes, totalBytes, fileBytes }
}

test('eight clients starting together on a warm CDN get at most half their bytes from the supernode', async (t) => {
  const { supernodeBytes, totalBytes, fileBytes } = await runEightClients(t, false)
  assert.equal(totalBytes, 8 * fileBytes)
  assert.ok(supernodeBytes / totalBytes <= 0.5, `supernode share ${(supernodeBytes / totalBytes).toFixed(3)}`)
  t.diagnostic(`supernode share ${(supernodeBytes / totalBytes).toFixed(3)} (${(supernodeBytes / fileBytes).toFixed(2)} file copies)`)
})

test('eight clients starting together on a cold CDN get at most half their bytes from the supernode', async (t) => {
  const { supernodeBytes, totalBytes, fileBytes } = await runEightClients(t, true)
  assert.equal(totalBytes, 8 * fileBytes)
  assert.ok(supernodeBytes / totalBytes <= 0.5, `supernode share ${(supernodeBytes / totalBytes).toFixed(3)}`)
  t.diagnostic(`supernode share ${(supernodeBytes / totalBytes).toFixed(3)} (${(supernodeBytes / fileBytes).toFixed(2)} file copies)`)
})

test('a long-poll whose client went away hands nothing out', async (t) => {
  const swarm = await startSwarm(t, { supernode: { supernodeMaxUploads: 1 } })
  await swarm.join('b')
  await swarm.join('c')
  const [held] = piecesOf(await swarm.client.pullPieceTasks(swarm.taskId, { cid: 'cid-seed' }))
  assert.ok(held !== undefined)
  const gone = new AbortController()
  const abandoned = swarm.client.pullPieceTasks(swarm.taskId, { cid: 'cid-b', waitMs: 10_000 }, gone.signal)
  const waitingPulls = async (): Promise<number> => metricValue(await swarm.client.fetchMetricsText(), 'dragonfly_supernode_waiting_pulls')
  for (const deadline = Date.now() + 5_000; await waitingPulls() < 1;) assert.ok(Date.now() < deadline, 'the supernode holds the pull')
  gone.abort()
  await assert.rejects(abandoned)
  for (const deadline = Date.now() + 5_000; await waitingPulls() > 0;) assert.ok(Date.now() < deadline, 'the supernode noticed the client left')
  await swarm.client.reportPiece(swarm.taskId, parsePieceRange(held.pieceRange), { cid: 'cid-seed', result: 'success', sourcePeerId: 'supernode' })
  const c = piecesOf(await swarm.client.pullPieceTasks(swarm.taskId, { cid: 'cid-c', max: 8, waitMs: 2_000 }))
  assert.ok(c.some((piece) => piece.sourceKind === 'supernode'), 'the supernode slot was not taken by the abandoned pull')
})
