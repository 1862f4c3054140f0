import { test } from 'node:test'
import assert from 'node:assert/strict'
import { formatContentRange, parseRangeHeader, resolveRange } from './byte-range.js'

test('Range headers of snapshotters are read; other forms are multi or invalid', () => {
  assert.deepEqual(parseRangeHeader('bytes=0-1023'), { kind: 'single', first: 0, last: 1023 })
  assert.deepEqual(parseRangeHeader('bytes=100-'), { kind: 'single', first: 100, last: undefined })
  assert.deepEqual(parseRangeHeader('bytes=-512'), { kind: 'suffix', suffix: 512 })
  assert.deepEqual(parseRangeHeader('Bytes = 5 - 9'), { kind: 'single', first: 5, last: 9 })
  assert.deepEqual(parseRangeHeader('bytes=0-1,5-9'), { kind: 'multi' })
  for (const bad of ['bytes=9-5', 'bytes=-', 'bytes=', 'items=0-1', 'bytes=a-b', '0-1', 'bytes=0-1,x', `bytes=0-${'9'.repeat(30)}`]) {
    assert.deepEqual(parseRangeHeader(bad), { kind: 'invalid' }, bad)
  }
})

test('a range applied to a length: clamped to the end, unsatisfiable when it selects nothing', () => {
  assert.deepEqual(resolveRange({ kind: 'single', first: 0, last: 9 }, 100), { start: 0, end: 9 })
  assert.deepEqual(resolveRange({ kind: 'single', first: 90, last: 200 }, 100), { start: 90, end: 99 })
  assert.deepEqual(resolveRange({ kind: 'single', first: 10, last: undefined }, 100), { start: 10, end: 99 })
  assert.equal(resolveRange({ kind: 'single', first: 100, last: undefined }, 100), undefined)
  assert.deepEqual(resolveRange({ kind: 'suffix', suffix: 10 }, 100), { start: 90, end: 99 })
  assert.deepEqual(resolveRange({ kind: 'suffix', suffix: 1000 }, 100), { start: 0, end: 99 })
  assert.equal(resolveRange({ kind: 'suffix', suffix: 0 }, 100), undefined)
  assert.equal(resolveRange({ kind: 'suffix', suffix: 5 }, 0), undefined)
  assert.equal(formatContentRange({ start: 90, end: 99 }, 100), 'bytes 90-99/100')
})
