import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseContentRange, parseRangeHeader } from './range-header.js'

test('a Content-Range that ends before it starts, ends past its total or holds numbers past 2^53 is no range', () => {
  assert.deepEqual(parseContentRange('bytes 0-9/10'), { range: { start: 0, end: 9 }, totalBytes: 10 })
  assert.deepEqual(parseContentRange('bytes 5-9/*'), { range: { start: 5, end: 9 }, totalBytes: undefined })
  // Found by the fuzz (test/fuzz/parser-surfaces.ts): these were read as ranges.
  assert.equal(parseContentRange('bytes 2147483644-1851068125/1'), undefined)
  assert.equal(parseContentRange('bytes 5-2/100'), undefined)
  assert.equal(parseContentRange('bytes 0-10/10'), undefined)
  assert.equal(parseContentRange('bytes 9007199254740994-9007199254740995/*'), undefined)
  assert.equal(parseContentRange('bytes 0-1/99999999999999999999'), undefined)
})

test('a Range header reads as a range inside the file, unsatisfiable, or none', () => {
  assert.deepEqual(parseRangeHeader('bytes=0-99999', 10), { start: 0, end: 9 })
  assert.deepEqual(parseRangeHeader('bytes=-3', 10), { start: 7, end: 9 })
  assert.equal(parseRangeHeader('bytes=10-', 10), 'unsatisfiable')
  assert.equal(parseRangeHeader('bytes=0-1,3-4', 10), undefined)
})
