import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseTaskId } from '../../protocol/ids.js'
import { HotPieces } from './hot-pieces.js'

const A = parseTaskId('a'.repeat(64))
const B = parseTaskId('b'.repeat(64))
const PIECE = 100

test('hot pieces serve ranges inside a held piece from its chunks, oldest out past the budget, a task dropped whole', () => {
  const data = Buffer.from(Array.from({ length: 3 * PIECE }, (_, i) => i % 251))
  const hot = new HotPieces(2 * PIECE)
  hot.add(A, 0, 0, [data.subarray(0, 30), data.subarray(30, PIECE)])
  hot.add(A, 1, PIECE, [data.subarray(PIECE, 2 * PIECE)])
  const read = (taskId: typeof A, start: number, end: number): Buffer | undefined => {
    const chunks = hot.read(taskId, PIECE, { start, end })
    return chunks === undefined ? undefined : Buffer.concat(chunks)
  }
  for (const [start, end] of [[0, PIECE - 1], [10, 29], [25, 35], [30, 30], [PIECE, 2 * PIECE - 1]] as const) {
    assert.deepEqual(read(A, start, end), data.subarray(start, end + 1), `${start}-${end}`)
  }
  assert.equal(read(A, 50, PIECE + 10), undefined, 'a range across pieces comes from the file')
  assert.equal(read(B, 0, 9), undefined)
  hot.add(A, 2, 2 * PIECE, [data.subarray(2 * PIECE)])
  assert.equal(read(A, 0, 9), undefined, 'the oldest piece left past the budget')
  assert.equal(hot.heldBytes, 2 * PIECE)
  hot.add(B, 0, 0, [data.subarray(0, PIECE)])
  hot.dropTask(A)
  assert.equal(read(A, 2 * PIECE, 2 * PIECE + 5), undefined)
  assert.deepEqual(read(B, 0, 4), data.subarray(0, 5))
  assert.equal(hot.heldBytes, PIECE)
  new HotPieces(0).add(A, 0, 0, [data.subarray(0, PIECE)])
})
