import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ManualClock } from '../../common/clock.js'
import { PieceBitset } from '../../protocol/piece-bitset.js'
import { PieceAvailability, type HavesAnswer } from './piece-availability.js'

const TASK = 'a'.repeat(64)

/** A child's long-poll from `since`: its answer once it comes (undefined while it waits). */
function poll (availability: PieceAvailability, cid: string, since: number): { readonly answer: () => HavesAnswer | 'waiting' } {
  let answer: HavesAnswer | 'waiting' = 'waiting'
  void availability.waitForChange(TASK, cid, since, 20_000).then((value) => { answer = value })
  return { answer: () => answer }
}

async function settle (): Promise<void> {
  await new Promise<void>((resolve) => { setImmediate(resolve) })
}

function heldOf (answer: HavesAnswer | 'waiting'): number[] {
  assert.ok(answer !== 'waiting' && answer !== undefined, 'answered with a bitmap')
  return PieceBitset.fromBase64(answer.held, 8)?.toArray() ?? []
}

test('a file\'s held-back change goes as soon as filePiecesPerAnswer new pieces wait, a lone piece after fileCoalesceMs', async () => {
  const clock = new ManualClock()
  const availability = new PieceAvailability({ clock }, { coalesceMs: 20, fileCoalesceMs: 200, filePiecesPerAnswer: 2 })
  availability.open(TASK, 'file', 8, 'file')

  const first = poll(availability, 'file', 1)
  availability.add(TASK, 'file', [0])
  clock.advance(199)
  await settle()
  assert.equal(first.answer(), 'waiting', 'one piece is held back')
  availability.add(TASK, 'file', [0])
  await settle()
  assert.equal(first.answer(), 'waiting', 'a piece it already had is no new piece')
  availability.add(TASK, 'file', [1])
  await settle()
  assert.deepEqual(heldOf(first.answer()), [0, 1], 'the second piece sends both at once')

  const answered = first.answer()
  const second = poll(availability, 'file', answered !== 'waiting' && answered !== undefined ? answered.seq : 0)
  availability.add(TASK, 'file', [2])
  clock.advance(199)
  await settle()
  assert.equal(second.answer(), 'waiting', 'the count starts again after a flush')
  clock.advance(1)
  await settle()
  assert.deepEqual(heldOf(second.answer()), [0, 1, 2], 'a lone piece goes after fileCoalesceMs')
})

test('a stream\'s changes wait coalesceMs however many pieces come', async () => {
  const clock = new ManualClock()
  const availability = new PieceAvailability({ clock }, { coalesceMs: 20, fileCoalesceMs: 200, filePiecesPerAnswer: 2 })
  availability.open(TASK, 'stream', 8, 'stream')
  const waiting = poll(availability, 'stream', 1)
  availability.add(TASK, 'stream', [0, 1, 2, 3])
  clock.advance(19)
  await settle()
  assert.equal(waiting.answer(), 'waiting')
  clock.advance(1)
  await settle()
  assert.deepEqual(heldOf(waiting.answer()), [0, 1, 2, 3])
})
