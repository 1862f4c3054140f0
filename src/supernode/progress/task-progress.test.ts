import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseClientId, parsePeerId, parseTaskId } from '../../protocol/ids.js'
import type { PieceDigest } from '../../protocol/piece-digest.js'
import { PieceBitset } from '../../protocol/piece-bitset.js'
import { TaskProgress } from './task-progress.js'

const TASK = parseTaskId('c'.repeat(64))
const DIGEST = `sha256:${'0'.repeat(64)}` as PieceDigest
const A = parseClientId('a')
const B = parseClientId('b')

/** The cached pieces nobody holds, by a walk of nextUnheldCached, checked against its count and a look at every piece. */
function unheldCached (progress: TaskProgress): number[] {
  const walked: number[] = []
  for (let pieceNum = progress.nextUnheldCached(0); pieceNum >= 0; pieceNum = progress.nextUnheldCached(pieceNum + 1)) walked.push(pieceNum)
  const expected: number[] = []
  for (let pieceNum = 0; pieceNum < progress.pieceCount; pieceNum++) if (progress.isCached(pieceNum) && progress.holderCount(pieceNum) === 0) expected.push(pieceNum)
  assert.deepEqual(walked, expected, 'the index agrees with the holders and the cache')
  assert.equal(progress.unheldCachedCount, walked.length)
  return walked
}

test('the cached pieces nobody holds follow caching, holdings, bitmap syncs, a leaving cid and a distrusted peer', () => {
  const progress = new TaskProgress(TASK, 20)
  progress.addClient(A, parsePeerId('pa'), undefined)
  progress.addClient(B, parsePeerId('pb'), undefined)
  assert.deepEqual(unheldCached(progress), [])
  progress.addHolding(A, 3, true) // held before it is cached (a resumed download)
  for (const pieceNum of [1, 3, 9, 17]) progress.markCached(pieceNum, DIGEST)
  assert.deepEqual(unheldCached(progress), [1, 9, 17])
  progress.addHolding(B, 9, true)
  progress.addHolding(A, 9, true)
  assert.deepEqual(unheldCached(progress), [1, 17])
  progress.removeHolding(B, 9)
  assert.deepEqual(unheldCached(progress), [1, 17], 'a piece with another holder stays held')
  const bitmap = new PieceBitset(20)
  bitmap.add(17)
  progress.setHoldings(A, bitmap) // A now holds 17 only: 3 and 9 lose their last holder
  assert.deepEqual(unheldCached(progress), [1, 3, 9])
  progress.addHolding(B, 1, true)
  progress.removeClient(A)
  assert.deepEqual(unheldCached(progress), [3, 9, 17])
  progress.distrustPeer('pb')
  assert.deepEqual(unheldCached(progress), [1, 3, 9, 17])
  assert.equal(progress.nextUnheldCached(10), 17)
  assert.equal(progress.nextUnheldCached(18), -1)
})

test('a bitmap sync adds and removes exactly the pieces that differ, marks held pieces received, and says what changed', () => {
  const progress = new TaskProgress(TASK, 20)
  progress.addClient(A, parsePeerId('pa'), undefined)
  const bitmap = (...pieceNums: number[]): PieceBitset => {
    const bits = new PieceBitset(20)
    for (const pieceNum of pieceNums) bits.add(pieceNum)
    return bits
  }
  assert.equal(progress.setHoldings(A, bitmap()), undefined)
  assert.equal(progress.setHoldings(A, bitmap(0, 7, 8, 19)), 'added')
  assert.equal(progress.setHoldings(A, bitmap(0, 7, 8, 19)), undefined, 'the same bitmap again changes nothing')
  progress.addHolding(A, 12, false) // a stream's cached report: held, not received
  assert.equal(progress.getClient(A)?.done.has(12), false)
  assert.equal(progress.setHoldings(A, bitmap(0, 7, 8, 12, 19)), 'added', 'held now counts as received')
  assert.equal(progress.getClient(A)?.done.has(12), true)
  assert.equal(progress.setHoldings(A, bitmap(0, 3, 12, 19)), 'removed')
  assert.deepEqual([0, 3, 7, 8, 12, 19].map((pieceNum) => progress.holderCount(pieceNum)), [1, 1, 0, 0, 1, 1])
  assert.equal(progress.getClient(A)?.held.count, 4)
  assert.equal(progress.getClient(A)?.done.count, 6, 'what it received stays received')
  assert.equal(progress.downloadingCount, 1)
  const all = bitmap(...Array.from({ length: 20 }, (_, pieceNum) => pieceNum))
  assert.equal(progress.setHoldings(A, all), 'added')
  assert.equal(progress.downloadingCount, 0)
  assert.equal(progress.setHoldings(A, bitmap(5)), 'removed')
  assert.equal(progress.downloadingCount, 1)
})
