import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ManualClock } from '../../common/clock.js'
import { CloseStack } from '../../common/lifecycle.js'
import { HttpClient } from '../../common/http/client.js'
import type { DashboardSnapshot } from '../../protocol/messages/dashboard.js'
import { SUPERNODE_PATHS } from '../../protocol/paths.js'
import { rangeOfPiece } from '../../protocol/piece-range.js'
import { createTestData, startOrigin } from '../../../test/harness/origin.js'
import { startTestSupernode, waitForCdn } from '../../../test/harness/supernode.js'
import { decodePieceMap, encodePieceList, encodePieceMap } from './piece-map.js'

const MiB = 1024 * 1024

test('piece maps round-trip through base64 in PieceBitset layout', () => {
  const pieces = [0, 1, 7, 8, 12, 99]
  const map = encodePieceMap(100, (pieceNum) => pieces.includes(pieceNum))
  assert.equal(Buffer.from(map, 'base64').length, 13)
  assert.equal(Buffer.from(map, 'base64')[0], 0b1000_0011)
  assert.deepEqual(decodePieceMap(map, 100), pieces)
  assert.equal(encodePieceMap(0, () => true), '')
  assert.equal(encodePieceList(100, [99, 12, 8, 7, 1, 0, 100, -1]), map)
})

/** Reads server-sent events from a response body, one `snapshot` at a time. */
function createEventReader (body: AsyncIterable<unknown>): () => Promise<DashboardSnapshot> {
  const iterator = body[Symbol.asyncIterator]()
  let buffer = ''
  return async () => {
    for (;;) {
      const end = buffer.indexOf('\n\n')
      if (end >= 0) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        const lines = block.split('\n')
        if (!lines.includes('event: snapshot')) continue
        const data = lines.find((line) => line.startsWith('data: '))
        return JSON.parse(data?.slice(6) ?? '') as DashboardSnapshot
      }
      const next = await iterator.next()
      if (next.done === true) throw new Error('event stream ended')
      buffer += String(next.value)
    }
  }
}

test('the feed shows each cid\'s pieces, bytes by source and exclusions; the stream sends one snapshot per interval however many reports', async (t) => {
  const stack = new CloseStack()
  t.after(() => stack.close())
  const data = createTestData(5 * MiB + 100, 7)
  const origin = stack.push(await startOrigin({ files: { '/f.bin': { data } } }))
  const clock = new ManualClock()
  const sn = stack.push(await startTestSupernode(undefined, { clock }))
  const http = stack.push(new HttpClient({ keepAliveTimeoutMs: 1_000 }))

  const empty = await sn.client.fetchDashboard()
  assert.deepEqual(empty.tasks, [])
  assert.equal(empty.totals.deliveredBytes, 0)

  await sn.client.registerPeer({ peerId: 'peer-a', port: 4001, hostName: 'host-a' })
  await sn.client.registerPeer({ peerId: 'peer-b', port: 4002, hostName: 'host-b' })
  const task = await sn.client.registerTask({ peerId: 'peer-a', cid: 'cid-a', url: origin.url('/f.bin') })
  await sn.client.registerTask({ peerId: 'peer-b', cid: 'cid-b', url: origin.url('/f.bin') })
  assert.equal(await waitForCdn(sn.client, task.taskId), 'success')
  const range = (pieceNum: number): ReturnType<typeof rangeOfPiece> => rangeOfPiece(pieceNum, task.pieceSizeBytes, task.fileLengthBytes)

  // cid-a gets pieces 0-2 from the supernode; cid-b gets piece 0 from peer-a, and piece 1 fails there.
  for (const pieceNum of [0, 1, 2]) await sn.client.reportPiece(task.taskId, range(pieceNum), { cid: 'cid-a', result: 'success', sourcePeerId: 'supernode' })
  await sn.client.reportPiece(task.taskId, range(0), { cid: 'cid-b', result: 'success', sourcePeerId: 'peer-a' })
  await sn.client.reportPiece(task.taskId, range(1), { cid: 'cid-b', result: 'failed', sourcePeerId: 'peer-a', reason: 'DF_ERR_PIECE_DIGEST_MISMATCH' })

  const snapshot = await sn.client.fetchDashboard(task.taskId)
  const listed = snapshot.tasks.find((item) => item.taskId === task.taskId)
  assert.ok(listed !== undefined)
  assert.equal(listed.state, 'success')
  assert.equal(listed.clients, 2)
  assert.equal(listed.cachedPieces, task.pieceCount)
  assert.equal(listed.bytes.fromSupernodeBytes, 3 * task.pieceSizeBytes)
  assert.equal(listed.bytes.fromPeersBytes, task.pieceSizeBytes)
  assert.equal(listed.bytes.originBytes, data.length)
  assert.equal(listed.bytes.peerShare, 0.25)
  assert.equal(snapshot.peers, 2)
  assert.equal(snapshot.totals.deliveredBytes, 4 * task.pieceSizeBytes)
  // The real counter: the file plus the source probe's byte.
  assert.ok(snapshot.totals.originBytes >= data.length && snapshot.totals.originBytes <= data.length + 1024, `origin ${snapshot.totals.originBytes}`)
  const selected = snapshot.selected
  assert.ok(selected !== undefined)
  assert.deepEqual(decodePieceMap(selected.cachedMap, task.pieceCount), [0, 1, 2, 3, 4, 5])
  const a = selected.clients.find((client) => client.cid === 'cid-a')
  const b = selected.clients.find((client) => client.cid === 'cid-b')
  assert.ok(a !== undefined && b !== undefined)
  assert.deepEqual(decodePieceMap(a.doneMap, task.pieceCount), [0, 1, 2])
  assert.equal(a.hostName, 'host-a')
  assert.equal(a.address, '127.0.0.1:4001')
  assert.equal(a.isPeerLive, true)
  assert.deepEqual(decodePieceMap(b.doneMap, task.pieceCount), [0])
  assert.equal(b.excluded.length, 1)
  assert.equal(b.excluded[0]?.sourceId, 'peer-a')
  assert.match(b.excluded[0]?.reason ?? '', /DF_ERR_PIECE_DIGEST_MISMATCH/)
  assert.match(a.problem ?? '', /corrupt piece/, 'a peer that served corrupt bytes is no longer a source of the task')
  await assert.rejects(sn.client.fetchDashboard('0'.repeat(63)), (err: unknown) => (err as { code?: string }).code === 'DF_ERR_ARG_INVALID')

  // The stream: a first snapshot at once, then nothing until the interval has passed,
  // however many reports arrive; then one snapshot holding all of them.
  const events = await http.stream({ url: `${sn.apiUrl}${SUPERNODE_PATHS.dashboardEvents}?taskId=${task.taskId}`, timeoutMs: 10_000 })
  stack.defer(() => { events.body.destroy() })
  assert.equal(events.status, 200)
  const nextSnapshot = createEventReader(events.body)
  clock.advance(0)
  const first = await nextSnapshot()
  assert.equal(first.selected?.clients.length, 2)
  for (let round = 0; round < 20; round++) {
    for (const pieceNum of [3, 4]) {
      await sn.client.reportPiece(task.taskId, range(pieceNum), { cid: 'cid-b', result: 'cached' })
      await sn.client.reportPiece(task.taskId, range(pieceNum), { cid: 'cid-b', result: 'evicted' })
    }
  }
  await sn.client.reportPiece(task.taskId, range(5), { cid: 'cid-a', result: 'success', sourcePeerId: 'supernode' })
  await sn.client.deletePeer('peer-b')
  clock.advance(first.intervalMs)
  const second = await nextSnapshot()
  const a2 = second.selected?.clients.find((client) => client.cid === 'cid-a')
  const b2 = second.selected?.clients.find((client) => client.cid === 'cid-b')
  assert.deepEqual(decodePieceMap(a2?.doneMap ?? '', task.pieceCount), [0, 1, 2, 5], 'the first snapshot after the interval holds every change since')
  assert.equal(b2?.isPeerLive, false)
  assert.match(b2?.problem ?? '', /service down/)
})
