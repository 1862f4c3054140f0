import { test } from 'node:test'
import assert from 'node:assert/strict'
import { computePieceSizeBytes, parsePieceRange, pieceCount, pieceNumOfRange, rangeOfPiece } from './piece-range.js'
import { isCode } from './errors.js'

test('piece size is 1 MiB up to 256 MiB and grows as a power of two to 16 MiB', () => {
  const MiB = 1024 * 1024
  assert.equal(computePieceSizeBytes(0), MiB)
  assert.equal(computePieceSizeBytes(256 * MiB), MiB)
  assert.equal(computePieceSizeBytes(256 * MiB + 1), 2 * MiB)
  assert.equal(computePieceSizeBytes(100 * 1024 * MiB), 16 * MiB)
})

test('the last piece is shorter and ranges round-trip to piece numbers', () => {
  assert.equal(pieceCount(10, 4), 3)
  assert.deepEqual(rangeOfPiece(2, 4, 10), { start: 8, end: 9 })
  assert.equal(pieceNumOfRange({ start: 8, end: 9 }, 4, 10), 2)
  assert.equal(pieceNumOfRange({ start: 4, end: 6 }, 4, 10), undefined)
  assert.equal(pieceNumOfRange({ start: 12, end: 15 }, 4, 10), undefined)
})

test('parsePieceRange rejects malformed and reversed ranges with DF_ERR_ARG_INVALID', () => {
  assert.deepEqual(parsePieceRange('0-99'), { start: 0, end: 99 })
  for (const bad of ['', '5', '9-1', 'a-b', '-1-3', 7]) {
    assert.throws(() => parsePieceRange(bad), (err: unknown) => isCode(err, 'DF_ERR_ARG_INVALID'))
  }
})
