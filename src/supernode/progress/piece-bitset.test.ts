import { test } from 'node:test'
import assert from 'node:assert/strict'
import { PieceBitset } from './piece-bitset.js'

test('a bitset counts, finds the first missing piece and ignores out-of-range numbers', () => {
  const bitset = new PieceBitset(20)
  assert.equal(bitset.firstMissing(), 0)
  for (let pieceNum = 0; pieceNum < 9; pieceNum++) assert.equal(bitset.add(pieceNum), true)
  assert.equal(bitset.add(3), false)
  assert.equal(bitset.add(20), false)
  assert.equal(bitset.add(-1), false)
  assert.equal(bitset.count, 9)
  assert.equal(bitset.firstMissing(), 9)
  assert.equal(bitset.delete(4), true)
  assert.equal(bitset.firstMissing(), 4)
  assert.deepEqual(bitset.toArray(), [0, 1, 2, 3, 5, 6, 7, 8])
  assert.equal(PieceBitset.full(13).isFull, true)
  assert.equal(PieceBitset.full(13).firstMissing(), 13)
  assert.equal(new PieceBitset(0).isFull, true)
})
