import { strict as assert } from 'node:assert'
import { test } from 'node:test'
import { ManualClock } from './clock.js'

test('ManualClock runs timers in due order (ties in the order set), also after most of them were cancelled and the heap rebuilt', () => {
  const clock = new ManualClock(0)
  const fired: number[] = []
  const handles = []
  // 20,000 timers at due times 0, 7, 14, … mod 1,000 (many ties); cancel 3 of every 4.
  for (let i = 0; i < 20_000; i++) handles.push(clock.setTimeout(() => { fired.push(i) }, (i * 7) % 1_000))
  for (const [i, handle] of handles.entries()) if (i % 4 !== 0) handle.cancel()
  // Setting more timers rebuilds the heap without the cancelled ones; these fire too.
  for (let i = 20_000; i < 20_010; i++) clock.setTimeout(() => { fired.push(i) }, 500)
  clock.advance(1_000)
  const expected = [...Array.from({ length: 5_000 }, (_, k) => 4 * k), ...Array.from({ length: 10 }, (_, k) => 20_000 + k)]
  expected.sort((a, b) => {
    const due = (i: number): number => (i >= 20_000 ? 500 : (i * 7) % 1_000)
    return due(a) - due(b) || a - b
  })
  assert.deepEqual(fired, expected)
  assert.equal(clock.nextDueMs(), undefined)
  // A timer cancelled after it fired, or twice, changes nothing.
  handles[0]?.cancel()
  handles[1]?.cancel()
  let late = false
  clock.setTimeout(() => { late = true }, 5)
  clock.advance(5)
  assert.equal(late, true)
})
