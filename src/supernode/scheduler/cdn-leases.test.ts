import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseClientId } from '../../protocol/ids.js'
import { CdnLeases } from './cdn-leases.js'

const A = parseClientId('a')
const B = parseClientId('b')

/** The leases by piece and by cid agree. */
function checked (leases: CdnLeases): CdnLeases {
  const byCid = new Map<string, number[]>()
  for (const [pieceNum, lease] of leases.entries()) byCid.set(lease.cid, [...byCid.get(lease.cid) ?? [], pieceNum])
  assert.equal(leases.lesseeCount, byCid.size)
  for (const [cid, pieceNums] of byCid) assert.deepEqual([...leases.piecesOf(parseClientId(cid))].sort((x, y) => x - y), pieceNums.sort((x, y) => x - y))
  return leases
}

test('CDN leases are found by piece and by cid, moved, extended and ended', () => {
  const leases = new CdnLeases()
  leases.lend(1, A, 100)
  leases.lend(2, A, 100)
  leases.lend(3, B, 100)
  assert.equal(checked(leases).size, 3)
  assert.equal(leases.lesseeCount, 2)
  assert.deepEqual([...leases.piecesOf(A)], [1, 2])
  leases.lend(2, A, 500) // extended
  assert.equal([...leases.entries()].find(([pieceNum]) => pieceNum === 2)?.[1].untilMs, 500)
  leases.lend(2, B, 600) // moved to B
  assert.deepEqual([...checked(leases).piecesOf(A)], [1])
  assert.deepEqual([...leases.piecesOf(B)].sort(), [2, 3])
  leases.end(1)
  assert.equal(checked(leases).lesseeCount, 1, 'a cid whose last lease ended holds none')
  assert.deepEqual([...leases.piecesOf(A)], [])
  assert.equal(leases.has(1), false)
  for (const [pieceNum] of leases.entries()) if (pieceNum === 3) leases.end(pieceNum) // ending while walking
  assert.deepEqual([...checked(leases).piecesOf(B)], [2])
  leases.lend(7, A, 100)
  leases.endAllOf(B)
  assert.equal(checked(leases).size, 1)
  assert.equal(leases.has(2), false)
  assert.deepEqual([...leases.piecesOf(A)], [7])
})
