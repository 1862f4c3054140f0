import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { ContentDigestCheck } from './content-digest-check.js'

const digestOf = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`

test('pieces hash in file order whatever order they come in; the last is announced only once the whole file matched', () => {
  const pieces = [Buffer.from('aaaa'), Buffer.from('bbbb'), Buffer.from('cc')]
  const check = new ContentDigestCheck(digestOf(Buffer.concat(pieces)), pieces.length)
  const announced: number[] = []
  for (const pieceNum of [2, 0, 1]) check.add(pieceNum, [pieces[pieceNum]!.subarray(0, 1), pieces[pieceNum]!.subarray(1)], () => { announced.push(pieceNum) })
  assert.deepEqual(announced, [0, 1], 'the last piece waits for the check')
  check.finish()
  assert.deepEqual(announced, [0, 1, 2])
})

test('bytes that are not the digest\'s content fail the check and the last piece is never announced', () => {
  const check = new ContentDigestCheck(digestOf(Buffer.from('the right bytes')), 2)
  const announced: number[] = []
  check.add(0, [Buffer.from('the wrong')], () => { announced.push(0) })
  check.add(1, [Buffer.from(' bytes')], () => { announced.push(1) })
  assert.throws(() => { check.finish() }, { code: 'DF_ERR_TASK_DIGEST_MISMATCH' })
  assert.deepEqual(announced, [0])
})

test('finishing before every piece came is an invariant failure, not a verdict', () => {
  const check = new ContentDigestCheck(digestOf(Buffer.from('ab')), 2)
  check.add(1, [Buffer.from('b')], () => {})
  assert.throws(() => { check.finish() }, { code: 'DF_ERR_INTERNAL_INVARIANT' })
})
