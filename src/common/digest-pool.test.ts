import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { DigestPool } from './digest-pool.js'

test('worker-thread digests equal in-place sha256 of the concatenated chunks, in order', async (t) => {
  const pool = new DigestPool({ threads: 2 })
  t.after(() => pool.close())
  const inline = new DigestPool({ threads: 0 })
  const pieces = Array.from({ length: 12 }, (_, i) => [Buffer.alloc(70_000 + i, i), Buffer.from(`tail ${i}`)])
  const expected = pieces.map((chunks) => createHash('sha256').update(Buffer.concat(chunks)).digest('hex'))
  assert.deepEqual(await Promise.all(pieces.map(async (chunks) => await pool.sha256Hex(chunks))), expected)
  assert.deepEqual(await Promise.all(pieces.map(async (chunks) => await inline.sha256Hex(chunks))), expected)
  const chunks = pieces[0] ?? []
  assert.notEqual(await pool.sha256Hex([...chunks].reverse()), expected[0])
  // The caller keeps its buffers: the worker got a copy.
  assert.equal(chunks[0]?.length, 70_000)
})

test('a closed pool still answers, hashing in place', async () => {
  const pool = new DigestPool({ threads: 1 })
  await pool.close()
  await pool.close()
  assert.equal(await pool.sha256Hex([Buffer.from('abc')]), createHash('sha256').update('abc').digest('hex'))
})

test('with inPlaceBytesPerSec it hashes in place until a second brings more than that, then starts its worker', async (t) => {
  let nowMs = 0
  const pool = new DigestPool({ threads: 1, inPlaceBytesPerSec: 3000, now: () => nowMs })
  t.after(() => pool.close())
  const piece = [Buffer.alloc(1000, 7)]
  const expected = createHash('sha256').update(piece[0]!).digest('hex')
  for (let second = 0; second < 3; second++) {
    nowMs = second * 1000
    for (let i = 0; i < 3; i++) assert.equal(await pool.sha256Hex(piece), expected)
  }
  assert.equal(pool.workerCount, 0, 'three pieces a second stay in place')
  assert.equal(await pool.sha256Hex(piece), expected)
  assert.equal(pool.workerCount, 1, 'the fourth within one second starts the worker')
  nowMs += 5000
  assert.equal(await pool.sha256Hex(piece), expected)
  assert.equal(pool.workerCount, 1, 'once started, the worker is used')
})
