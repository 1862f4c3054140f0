import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { BufferPool, isHeldForReader, releaseWritten } from '../../common/buffer-pool.js'
import { DfError, isCode } from '../../protocol/errors.js'
import { StreamWindow } from './stream-window.js'

const PIECE = 1024

/** A piece from the pool filled with `value`, as the piece fetcher hands it over (its own hold released after). */
async function writePooled (window: StreamWindow, pool: BufferPool, pieceNum: number, value: number): Promise<ReturnType<BufferPool['acquireShared']>> {
  const shared = pool.acquireShared(PIECE)
  shared.bytes.fill(value)
  try {
    await window.writePieceChunks(pieceNum, [shared.bytes], shared)
  } finally {
    shared.release()
  }
  return shared
}

test('pooled pieces reach a writing reader in order with a hold of their own, and go back to the pool once written out', async () => {
  const pool = new BufferPool()
  const window = new StreamWindow({}, { geometry: { fileLengthBytes: 3 * PIECE, pieceSizeBytes: PIECE }, windowPieces: 2 })
  const second = await writePooled(window, pool, 1, 2)
  const first = await writePooled(window, pool, 0, 1)
  const seen: number[] = []
  // As the agent's frame writer: each chunk is written out, then its hold released.
  await pipeline(window.body, new Writable({
    write (chunk: Buffer, _encoding, callback) {
      seen.push(chunk[0] ?? -1)
      assert.equal(chunk.length, PIECE)
      assert.ok(isHeldForReader(chunk), 'a pooled piece comes with the reader\'s hold')
      releaseWritten(chunk)
      if (seen.length === 2) writePooled(window, pool, 2, 3).then(() => { callback() }, callback)
      else callback()
    },
  }))
  await window.whenDelivered()
  assert.deepEqual(seen, [1, 2, 3])
  assert.equal(first.holds, 0)
  assert.equal(second.holds, 0)
  assert.equal(pool.allocatedBytes, 2 * 64 * 1024, 'the third piece reused a buffer the reader had written out')
  assert.equal(pool.idleBytes, 2 * 64 * 1024, 'both back')
})

test('a failed stream lets go of the pieces that waited for the reader', async () => {
  const pool = new BufferPool()
  const window = new StreamWindow({}, { geometry: { fileLengthBytes: 3 * PIECE, pieceSizeBytes: PIECE }, windowPieces: 3 })
  window.body.on('error', () => {})
  const waiting = await writePooled(window, pool, 2, 3)
  assert.equal(waiting.holds, 1, 'the window holds it')
  window.fail(new DfError('DF_ERR_INTERNAL', 'test'))
  await assert.rejects(window.whenDelivered(), (err: unknown) => isCode(err, 'DF_ERR_INTERNAL'))
  assert.equal(waiting.holds, 0)
  assert.equal(pool.idleBytes, 64 * 1024)
})
