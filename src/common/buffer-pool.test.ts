import { test } from 'node:test'
import assert from 'node:assert/strict'
import { BufferPool, holdForReader, isHeldForReader, releaseWritten } from './buffer-pool.js'

test('a released buffer is handed out again (no new memory), in shared memory, sized to the request', () => {
  const pool = new BufferPool({ maxIdleBytes: 8 * 1024 * 1024 })
  const a = pool.acquire(2 * 1024 * 1024)
  assert.equal(a.length, 2 * 1024 * 1024)
  assert.ok(a.buffer instanceof SharedArrayBuffer)
  const allocated = pool.allocatedBytes
  pool.release(a)
  const b = pool.acquire(2 * 1024 * 1024 - 5) // the last, shorter piece of a file: the same size class
  assert.equal(b.length, 2 * 1024 * 1024 - 5)
  assert.equal(b.buffer, a.buffer)
  assert.equal(pool.allocatedBytes, allocated)
  const c = pool.acquire(1000)
  assert.equal(c.length, 1000)
  assert.notEqual(c.buffer, a.buffer)
})

test('idle buffers stay within maxIdleBytes; foreign buffers are not taken', () => {
  const pool = new BufferPool({ maxIdleBytes: 3 * 1024 * 1024 })
  const buffers = [pool.acquire(1024 * 1024), pool.acquire(1024 * 1024), pool.acquire(1024 * 1024), pool.acquire(1024 * 1024)]
  for (const buffer of buffers) pool.release(buffer)
  assert.equal(pool.idleBytes, 3 * 1024 * 1024)
  pool.release(Buffer.alloc(1024 * 1024))
  pool.release(pool.acquire(1024 * 1024).subarray(10))
  assert.ok(pool.idleBytes <= 3 * 1024 * 1024)
  assert.throws(() => pool.acquire(-1), RangeError)
})

test('shared bytes go back to the pool when the last holder lets go, the reader\'s hold included, and never twice', () => {
  const pool = new BufferPool({ maxIdleBytes: 8 * 1024 * 1024 })
  const shared = pool.acquireShared(1024 * 1024)
  shared.hold() // a second holder (the window)
  holdForReader(shared.bytes, shared)
  assert.ok(isHeldForReader(shared.bytes))
  shared.release()
  shared.release()
  assert.equal(pool.idleBytes, 0, 'the reader still holds them')
  releaseWritten(shared.bytes)
  assert.equal(shared.holds, 0)
  assert.equal(pool.idleBytes, 1024 * 1024)
  assert.ok(!isHeldForReader(shared.bytes))
  releaseWritten(shared.bytes) // a second "written" is no hold any more
  shared.release()
  assert.equal(pool.idleBytes, 1024 * 1024, 'released once only')
  assert.throws(() => { shared.hold() }, RangeError)
  releaseWritten(Buffer.alloc(10)) // a chunk nobody held: nothing happens
  assert.equal(pool.acquire(1024 * 1024).buffer, shared.bytes.buffer)
})
