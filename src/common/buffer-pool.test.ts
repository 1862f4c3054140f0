import { test } from 'node:test'
import assert from 'node:assert/strict'
import { BufferPool } from './buffer-pool.js'

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
