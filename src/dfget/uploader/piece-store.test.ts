import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startTestPeer } from '../../../test/harness/peer.js'
import { createTestData } from '../../../test/harness/origin.js'
import { isCode } from '../../protocol/errors.js'
import { ManualClock } from '../../common/clock.js'
import { parseClientId, parseTaskId } from '../../protocol/ids.js'
import { PeerClient } from './peer-client.js'
import { PieceStore } from './piece-store.js'
import { BufferPool } from '../../common/buffer-pool.js'

const TASK = 'a'.repeat(64)
const CID = 'host-1-abc'
const PIECE = 1024

test('a stream store serves the pieces put into it by range, refuses beyond its window, and drops what left it', async (t) => {
  const peer = await startTestPeer(t)
  const client = new PeerClient({ baseUrl: peer.server.localUrl, keepAliveTimeoutMs: 1_000 })
  t.after(() => client.close())
  const data = createTestData(10 * PIECE + 17, 5)
  const pieceOf = (n: number): Buffer => data.subarray(n * PIECE, Math.min(data.length, (n + 1) * PIECE))
  await assert.rejects(client.putStreamPiece(TASK, CID, 0, pieceOf(0)), (err: unknown) => isCode(err, 'DF_ERR_UPLOAD_TASK_NOT_FOUND'))
  await client.openStream({ taskId: TASK, cid: CID, fileLengthBytes: data.length, pieceSizeBytes: PIECE, windowPieces: 2, supernodes: [] })
  for (const n of [0, 1, 2, 3, 4, 5]) await client.putStreamPiece(TASK, CID, n, pieceOf(n))
  // Window 2 plus a grace of 4 pieces: the seventh is refused.
  await assert.rejects(client.putStreamPiece(TASK, CID, 6, pieceOf(6)), (err: unknown) => isCode(err, 'DF_ERR_UPLOAD_STORE_FULL') && err.remote?.status === 507)
  await assert.rejects(client.putStreamPiece(TASK, CID, 7, Buffer.alloc(3)), (err: unknown) => isCode(err, 'DF_ERR_ARG_INVALID'))
  assert.ok((await client.fetchTaskData(TASK, CID, { start: 2 * PIECE + 10, end: 2 * PIECE + 99 })).equals(data.subarray(2 * PIECE + 10, 2 * PIECE + 100)))
  await client.dropStreamPiece(TASK, CID, 2)
  await assert.rejects(client.fetchTaskData(TASK, CID, { start: 2 * PIECE, end: 3 * PIECE - 1 }), (err: unknown) => isCode(err, 'DF_ERR_PIECE_NOT_AVAILABLE') && err.remote?.status === 404)
  await assert.rejects(client.fetchTaskData(TASK, CID, { start: PIECE, end: 3 * PIECE - 1 }), (err: unknown) => isCode(err, 'DF_ERR_PIECE_NOT_AVAILABLE'), 'a range across pieces')
  await client.putStreamPiece(TASK, CID, 10, pieceOf(10))
  assert.ok((await client.fetchTaskData(TASK, CID, { start: 10 * PIECE, end: data.length - 1 })).equals(pieceOf(10)), 'the short last piece')
  assert.equal(peer.server.streamStoreBytes, 5 * PIECE + 17)
  await client.closeStream(TASK, CID)
  assert.equal(peer.server.streamStoreBytes, 0)
  await assert.rejects(client.fetchTaskData(TASK, CID, { start: 0, end: 9 }), (err: unknown) => isCode(err, 'DF_ERR_UPLOAD_TASK_NOT_FOUND'))
  await assert.rejects(client.closeStream(TASK, CID), (err: unknown) => isCode(err, 'DF_ERR_UPLOAD_TASK_NOT_FOUND'))
})

test('the store refuses a stream whose window would pass its cap, and expires streams nobody touched', () => {
  const clock = new ManualClock()
  const store = new PieceStore({ clock }, { maxBytes: 12 * PIECE })
  const spec = { taskId: parseTaskId(TASK), fileLengthBytes: 100 * PIECE, pieceSizeBytes: PIECE, windowPieces: 2, supernodes: [] }
  store.open({ ...spec, cid: parseClientId('c-1') })
  assert.throws(() => { store.open({ ...spec, cid: parseClientId('c-2'), windowPieces: 3 }) }, (err: unknown) => isCode(err, 'DF_ERR_UPLOAD_STORE_FULL'))
  store.open({ ...spec, cid: parseClientId('c-2'), windowPieces: 1 })
  clock.advance(30_000)
  store.put(TASK, 'c-2', 0, Buffer.alloc(PIECE))
  clock.advance(30_000)
  assert.deepEqual(store.takeExpired(60_000).map((s) => s.cid), ['c-1'])
  assert.equal(store.size, 1)
})

test('a piece put as several chunks (in process) reads back by any range inside it', () => {
  const store = new PieceStore({ clock: new ManualClock() })
  const data = createTestData(3 * PIECE, 9)
  store.open({ taskId: parseTaskId(TASK), cid: parseClientId(CID), fileLengthBytes: data.length, pieceSizeBytes: PIECE, windowPieces: 2, supernodes: [] })
  const chunks = [data.subarray(PIECE, PIECE + 100), data.subarray(PIECE + 100, PIECE + 700), data.subarray(PIECE + 700, 2 * PIECE)]
  store.put(TASK, CID, 1, chunks)
  assert.throws(() => { store.put(TASK, CID, 0, chunks.slice(1)) }, (err: unknown) => isCode(err, 'DF_ERR_ARG_INVALID'))
  for (const [start, end] of [[PIECE, 2 * PIECE - 1], [PIECE + 10, PIECE + 20], [PIECE + 99, PIECE + 100], [PIECE + 150, PIECE + 900], [2 * PIECE - 1, 2 * PIECE - 1]] as const) {
    assert.ok(store.read(TASK, CID, { start, end })?.bytes.equals(data.subarray(start, end + 1)), `${start}-${end}`)
  }
  assert.equal(store.heldBytes, PIECE)
})

test('a pooled piece stays out of its pool while an upload sends from it, and goes back once dropped and sent', () => {
  const pool = new BufferPool()
  const store = new PieceStore({ clock: new ManualClock() })
  store.open({ taskId: parseTaskId(TASK), cid: parseClientId(CID), fileLengthBytes: 4 * PIECE, pieceSizeBytes: PIECE, windowPieces: 2, supernodes: [] })
  const shared = pool.acquireShared(PIECE)
  shared.bytes.fill(7)
  store.put(TASK, CID, 1, [shared.bytes], shared)
  shared.release() // the fetcher's hold: the store's keeps it
  const read = store.read(TASK, CID, { start: PIECE + 10, end: PIECE + 19 })
  assert.equal(read?.pooled, true)
  assert.ok(store.drop(TASK, CID, 1))
  assert.equal(pool.idleBytes, 0, 'an upload still sends from it')
  assert.deepEqual([...read?.bytes ?? []], new Array(10).fill(7))
  read?.release()
  read?.release()
  assert.equal(shared.holds, 0)
  assert.equal(pool.idleBytes, 64 * 1024, 'back once, in its size class')
  // A stream closed with pooled pieces in it gives them back too.
  const other = pool.acquireShared(PIECE)
  store.put(TASK, CID, 2, [other.bytes], other)
  other.release()
  assert.ok(store.close(TASK, CID))
  assert.equal(other.holds, 0)
})
