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

test('a bitset travels as base64 and a bitmap of another size or with bits past the end is refused', () => {
  const bitset = new PieceBitset(13)
  for (const pieceNum of [0, 5, 12]) bitset.add(pieceNum)
  const text = bitset.toBase64()
  assert.deepEqual(PieceBitset.fromBase64(text, 13)?.toArray(), [0, 5, 12])
  assert.equal(PieceBitset.fromBase64(text, 17), undefined)
  assert.equal(PieceBitset.fromBase64(Buffer.from([0, 0xff]).toString('base64'), 13), undefined)
  assert.equal(PieceBitset.fromBase64('', 0)?.count, 0)
})

test('nextFrom finds the next piece in the set, skipping empty bytes, and -1 past the last', () => {
  const bitset = new PieceBitset(40)
  assert.equal(bitset.nextFrom(0), -1)
  for (const pieceNum of [3, 8, 9, 31, 39]) bitset.add(pieceNum)
  assert.equal(bitset.nextFrom(0), 3)
  assert.equal(bitset.nextFrom(3), 3)
  assert.equal(bitset.nextFrom(4), 8)
  assert.equal(bitset.nextFrom(10), 31)
  assert.equal(bitset.nextFrom(32), 39)
  assert.equal(bitset.nextFrom(40), -1)
  assert.equal(bitset.nextFrom(-5), 3)
  const walked: number[] = []
  for (let pieceNum = bitset.nextFrom(0); pieceNum >= 0; pieceNum = bitset.nextFrom(pieceNum + 1)) walked.push(pieceNum)
  assert.deepEqual(walked, bitset.toArray())
})

test('nextNotIn finds the pieces of one bitset missing from another of the same size', () => {
  const a = new PieceBitset(30)
  const b = new PieceBitset(30)
  for (const pieceNum of [0, 2, 9, 17, 29]) a.add(pieceNum)
  for (const pieceNum of [2, 9, 10, 28]) b.add(pieceNum)
  const walk = (from: PieceBitset, other: PieceBitset): number[] => {
    const out: number[] = []
    for (let pieceNum = from.nextNotIn(other, 0); pieceNum >= 0; pieceNum = from.nextNotIn(other, pieceNum + 1)) out.push(pieceNum)
    return out
  }
  assert.deepEqual(walk(a, b), [0, 17, 29])
  assert.deepEqual(walk(b, a), [10, 28])
  assert.deepEqual(walk(a, a), [])
  assert.equal(a.nextNotIn(b, 18), 29)
  assert.throws(() => a.nextNotIn(new PieceBitset(31), 0), RangeError)
})

test('a bitmap from base64 counts its pieces and keeps them', () => {
  const bitset = new PieceBitset(21)
  for (const pieceNum of [0, 7, 8, 15, 20]) bitset.add(pieceNum)
  const copy = PieceBitset.fromBase64(bitset.toBase64(), 21)
  assert.equal(copy?.count, 5)
  assert.deepEqual(copy?.toArray(), [0, 7, 8, 15, 20])
  assert.equal(PieceBitset.fromBase64(PieceBitset.full(21).toBase64(), 21)?.isFull, true)
  assert.equal(PieceBitset.fromBase64(PieceBitset.full(24).toBase64(), 21), undefined, 'bits past the last piece')
})
