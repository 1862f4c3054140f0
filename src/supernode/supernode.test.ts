import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createTestData, startOrigin } from '../../test/harness/origin.js'
import { startTestSupernode } from '../../test/harness/supernode.js'
import { isCode } from '../protocol/errors.js'
import { verifyPieceDigest } from '../protocol/piece-digest.js'
import { HttpClient } from '../common/http/client.js'

const MiB = 1024 * 1024

test('two cids of the same URL meet in one task and the origin is read once', async (t) => {
  const data = createTestData(5 * MiB)
  const origin = await startOrigin({ files: { '/file.bin': { data } } })
  t.after(() => origin.close())
  const { client } = await startTestSupernode(t)

  const peer = await client.registerPeer({ peerId: 'peer-a', ip: '127.0.0.1', port: 40001 })
  const a = await client.registerTask({ peerId: peer.peerId, cid: 'cid-a', url: origin.url('/file.bin') })
  const b = await client.registerTask({ peerId: peer.peerId, cid: 'cid-b', url: origin.url('/file.bin') })
  assert.equal(a.taskId, b.taskId)
  assert.equal(a.fileLengthBytes, data.length)
  assert.equal(a.pieceCount, 5)

  const http = new HttpClient()
  t.after(() => http.close())
  const seen = new Set<number>()
  const deadline = Date.now() + 10_000
  while (seen.size < a.pieceCount && Date.now() < deadline) {
    const outcome = await client.pullPieceTasks(b.taskId, { cid: 'cid-b', max: 4, waitMs: 2_000 })
    if (outcome.result === 'finished') break
    if (outcome.result !== 'pieces') continue
    for (const piece of outcome.pieces) {
      const [start, end] = piece.pieceRange.split('-').map(Number) as [number, number]
      const bytes = await http.fetchRange({ url: piece.url, start, end })
      assert.ok(verifyPieceDigest(piece.digest, bytes), `piece ${piece.pieceNum} digest`)
      assert.ok(bytes.equals(data.subarray(start, end + 1)))
      await client.reportPiece(b.taskId, { start, end }, { cid: 'cid-b', result: 'success', sourcePeerId: piece.sourcePeerId })
      seen.add(piece.pieceNum)
    }
  }
  assert.equal(seen.size, 5)
  assert.deepEqual(await client.pullPieceTasks(b.taskId, { cid: 'cid-b' }), { result: 'finished' })
  assert.ok(origin.readRatio('/file.bin') <= 1.05, `origin read ratio ${origin.readRatio('/file.bin')}`)

  await assert.rejects(client.getTask('0'.repeat(64)), (err: unknown) => isCode(err, 'DF_ERR_TASK_NOT_FOUND') && err.remote?.status === 404)
})

test('close() stops a running CDN fetch and held pulls, and can be called twice', async (t) => {
  const origin = await startOrigin({ files: { '/slow.bin': { data: createTestData(4 * MiB), faults: { throttleBytesPerSec: 256 * 1024 } } } })
  t.after(() => origin.close())
  const sn = await startTestSupernode(t)
  await sn.client.registerPeer({ peerId: 'p', port: 4000 })
  const task = await sn.client.registerTask({ peerId: 'p', cid: 'c', url: origin.url('/slow.bin') })
  const held = sn.client.pullPieceTasks(task.taskId, { cid: 'c', waitMs: 30_000 }).catch((err: unknown) => err)
  const startedMs = Date.now()
  await Promise.all([sn.supernode.close(), sn.supernode.close()])
  await held
  assert.ok(Date.now() - startedMs < 5_000, 'close does not wait for the source')
})
