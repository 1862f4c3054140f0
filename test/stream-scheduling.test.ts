/**
 * The supernode's side of stream mode, through SupernodeClient: the window per cid, una
 * moving with reports, evicted holdings, and a holder whose window moved on.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { CloseStack } from '../src/common/lifecycle.js'
import { parsePieceRange } from '../src/protocol/piece-range.js'
import type { PieceTask } from '../src/protocol/messages/pull-piece-task.js'
import { createTestData, startOrigin } from './harness/origin.js'
import { startTestSupernode, waitForCdn } from './harness/supernode.js'

const MiB = 1024 * 1024

test('a stream cid gets only pieces in [una, una + window); reports move una; evicted pieces and moved-on windows send nobody there', async (t) => {
  const stack = new CloseStack()
  t.after(() => stack.close())
  const origin = stack.push(await startOrigin({ files: { '/w.bin': { data: createTestData(8 * MiB, 61) } } }))
  const { client } = stack.push(await startTestSupernode())
  const join = async (name: string, port: number, windowPieces: number): Promise<string> => {
    await client.registerPeer({ peerId: `peer-${name}`, ip: '127.0.0.1', port })
    return (await client.registerTask({ peerId: `peer-${name}`, cid: `cid-${name}`, url: origin.url('/w.bin'), windowPieces })).taskId
  }
  const taskId = await join('a', 40001, 2)
  assert.equal(await waitForCdn(client, taskId), 'success')
  const pull = async (cid: string, max = 8): Promise<PieceTask[]> => {
    const outcome = await client.pullPieceTasks(taskId, { cid, max, waitMs: 0 })
    return outcome.result === 'pieces' ? outcome.pieces : []
  }
  const report = async (cid: string, piece: PieceTask, result: 'success' | 'evicted' | 'failed', reason?: string): Promise<void> => {
    await client.reportPiece(taskId, parsePieceRange(piece.pieceRange), { cid, result, sourcePeerId: piece.sourcePeerId, ...(reason === undefined ? {} : { reason }) })
  }

  const first = await pull('cid-a')
  assert.deepEqual(first.map((p) => p.pieceNum).sort(), [0, 1], 'only the window [0, 2)')
  const [p0, p1] = [...first].sort((x, y) => x.pieceNum - y.pieceNum)
  assert.ok(p0 !== undefined && p1 !== undefined)
  await report('cid-a', p0, 'success')
  const second = await pull('cid-a')
  assert.deepEqual(second.map((p) => p.pieceNum), [2], 'una moved to 1: the window is [1, 3)')
  await report('cid-a', p1, 'success')

  await join('b', 40002, 4)
  // A holds 0 and 1; B is sent to A for them, to the supernode for the rest of its window.
  const fromA = (await pull('cid-b')).filter((p) => p.sourcePeerId === 'peer-a').map((p) => p.pieceNum).sort()
  assert.deepEqual(fromA, [0, 1])
  // A's window moved on: piece 0 was evicted, piece 1 was gone before A said so.
  await report('cid-a', p0, 'evicted')
  const b1 = { ...p1, sourcePeerId: 'peer-a' }
  await report('cid-b', b1, 'failed', 'DF_ERR_PIECE_NOT_AVAILABLE')
  await client.reportPiece(taskId, parsePieceRange(p0.pieceRange), { cid: 'cid-b', result: 'failed', sourcePeerId: 'peer-a', reason: 'DF_ERR_PIECE_NOT_AVAILABLE' })
  const again = await pull('cid-b')
  assert.ok(again.length > 0)
  assert.ok(again.every((p) => p.sourcePeerId !== 'peer-a'), 'nobody is sent to A for pieces it no longer holds')
  const info = await client.getTask(taskId)
  assert.equal(info.clients.length, 2)
  // A is not blamed: when it holds a piece again, B is sent there.
  const p2 = second[0]
  assert.ok(p2 !== undefined)
  await report('cid-a', p2, 'success')
  for (const piece of again) await report('cid-b', piece, 'success')
  const afterA = await pull('cid-b')
  assert.ok(afterA.some((p) => p.pieceNum === 2 && p.sourcePeerId === 'peer-a'), `A stays a usable source for B: ${JSON.stringify(afterA.map((p) => [p.pieceNum, p.sourcePeerId]))}`)
})
