import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ManualClock } from '../../common/clock.js'
import { createSilentLogger } from '../../common/log.js'
import { parseClientId, parsePeerId, parseTaskId, type ClientId } from '../../protocol/ids.js'
import type { PieceDigest } from '../../protocol/piece-digest.js'
import { ProgressManager } from './progress-manager.js'
import { TaskEvents, waitInterestOf, type SyncWaitInterest, type WakeReason } from './task-events.js'
import { PieceBitset } from '../../protocol/piece-bitset.js'

const TASK = parseTaskId('b'.repeat(64))
const DIGEST = `sha256:${'0'.repeat(64)}` as PieceDigest
const WAIT_MS = 5_000
const cid = (index: number): ClientId => parseClientId(`c${index}`)

/**
 * A task of `pieceCount` pieces, all cached, with clients c0..c(clients-1) on peers
 * p0..; peers serve at most 2 uploads. `wait(i)` starts a long-poll of ci as the
 * scheduler does (its interest from its real progress); `woken` lists who woke, in order.
 */
function setUp (clients: number, pieceCount = 4): {
  clock: ManualClock
  events: TaskEvents
  progress: ProgressManager
  woken: ClientId[]
  wait: (index: number, limited?: boolean) => void
  decline: (index: number) => void
  succeed: (index: number, pieceNum: number) => void
} {
  const clock = new ManualClock()
  const events = new TaskEvents({ clock })
  const progress = new ProgressManager({ clock, events, logger: createSilentLogger() }, { pieceTimeoutMs: 60_000, maxUploadsPerPeer: 2, supernodeMaxUploads: 2 })
  progress.createTask(TASK, pieceCount)
  for (let pieceNum = 0; pieceNum < pieceCount; pieceNum++) progress.markCached(TASK, pieceNum, DIGEST)
  for (let index = 0; index < clients; index++) progress.addClient(TASK, cid(index), parsePeerId(`p${index}`))
  const woken: ClientId[] = []
  const interests = new Map<number, ReturnType<typeof waitInterestOf>>()
  const wait = (index: number, limited = false): void => {
    const client = progress.getTask(TASK)?.getClient(cid(index))
    assert.ok(client !== undefined)
    const interest = waitInterestOf(client, limited)
    interests.set(index, interest)
    void events.waitFor(TASK, WAIT_MS, undefined, interest).then((reason: WakeReason) => { if (reason === 'notified') woken.push(cid(index)) })
  }
  const decline = (index: number): void => {
    const interest = interests.get(index)
    assert.ok(interest !== undefined)
    events.decline(TASK, interest)
  }
  const succeed = (index: number, pieceNum: number): void => { progress.applyReport(TASK, cid(index), pieceNum, 'success', undefined, 3) }
  return { clock, events, progress, woken, wait, decline, succeed }
}

async function settle (): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve))
}

test('a reported piece wakes only waiters that lack it, at most the new holder\'s free upload slots', async () => {
  const { events, woken, wait, succeed } = setUp(10)
  succeed(1, 0) // c1 already has piece 0
  for (let index = 1; index < 10; index++) wait(index)
  succeed(0, 0) // c0 (not waiting) now holds piece 0, with 2 free upload slots
  await settle()
  assert.deepEqual(woken, [cid(2), cid(3)], 'the first two waiters lacking piece 0; c1 has it')
  assert.equal(events.countWaiters(TASK), 7)
})

test('a waiter that cannot use its wake-up passes it to the next waiter that lacks the piece, once per waiter', async () => {
  const { events, woken, wait, decline, succeed } = setUp(6)
  succeed(2, 0) // c2 has piece 0: never woken for it
  for (let index = 1; index < 6; index++) wait(index)
  events.notify(TASK, { piece: { pieceNum: 0, slots: 1 } })
  await settle()
  assert.deepEqual(woken, [cid(1)])
  // c1 found nothing in it (say the holder is blacklisted for it): like the scheduler, it
  // declines with the interest it was woken with, then waits again.
  decline(1); wait(1)
  await settle()
  assert.deepEqual(woken, [cid(1), cid(3)], 'skips c2, which has the piece')
  decline(2) // no-op: c2 was not woken by it
  decline(3); wait(3)
  await settle()
  assert.deepEqual(woken, [cid(1), cid(3), cid(4)])
  decline(4); wait(4)
  await settle()
  assert.deepEqual(woken, [cid(1), cid(3), cid(4), cid(5)])
  decline(5); wait(5)
  await settle()
  assert.deepEqual(woken, [cid(1), cid(3), cid(4), cid(5)], 'every waiter lacking the piece has had it: the chain ends')
  assert.equal(events.countWaiters(TASK), 5)
})

test('a report wakes the reporter\'s own waiter; a freed slot wakes a limited waiter, not one told to wait', async () => {
  const { progress, woken, wait } = setUp(4)
  wait(0) // wait: nothing available
  wait(1, true) // limited
  wait(2, true)
  progress.recordHandOut(TASK, cid(3), 1, { kind: 'supernode' })
  progress.releaseHandOut(TASK, cid(3), 1) // one supernode slot freed; c3's own state changed
  await settle()
  assert.deepEqual(woken, [cid(1)])
  wait(3)
  progress.applyReport(TASK, cid(3), 2, 'failed', 'p0', 3)
  await settle()
  assert.deepEqual(new Set(woken), new Set([cid(0), cid(1), cid(2), cid(3)]), 'a failed piece wakes everyone')
})

test('the task failing or going, a cid leaving, and any change for a waiter without an interest wake every waiter', async () => {
  const { events, progress, woken, wait, succeed } = setUp(5)
  for (let index = 0; index < 4; index++) succeed(index, 0)
  for (let index = 0; index < 4; index++) wait(index)
  let v2Wakes = 0
  const v2 = async (): Promise<void> => { if (await events.waitFor(TASK, WAIT_MS) === 'notified') v2Wakes++ }
  void v2()
  succeed(4, 0) // nobody in v1 lacks piece 0; the waiter without an interest wakes anyway
  await settle()
  assert.deepEqual(woken, [])
  assert.equal(v2Wakes, 1)
  events.notify(TASK) // what TaskManager does when the task fails
  await settle()
  assert.equal(woken.length, 4)
  for (let index = 0; index < 4; index++) wait(index)
  progress.removeClient(TASK, cid(4))
  await settle()
  assert.equal(woken.length, 8)
  for (let index = 0; index < 4; index++) wait(index)
  progress.removeTask(TASK)
  await settle()
  assert.equal(woken.length, 12)
  assert.equal(events.countWaiters(TASK), 0)
})

test('bounded wake-ups go round the waiters: nobody starves', async () => {
  const { events, woken, wait } = setUp(8)
  for (let index = 0; index < 8; index++) wait(index, true)
  const rounds = 5
  for (let event = 0; event < 8 * rounds; event++) {
    events.notify(TASK, { freedSlots: 1 })
    await settle()
    const last = woken[woken.length - 1]
    assert.ok(last !== undefined)
    wait(Number(last.slice(1)), true) // it took the slot and waits again, at the end of the line
  }
  const counts = new Map<ClientId, number>()
  for (const id of woken) counts.set(id, (counts.get(id) ?? 0) + 1)
  assert.equal(woken.length, 8 * rounds)
  for (let index = 0; index < 8; index++) assert.equal(counts.get(cid(index)), rounds, `c${index}`)
})

test('a waiter nobody wakes is still answered when its wait ends', async () => {
  const { clock, events, wait, succeed, woken } = setUp(3)
  succeed(1, 0)
  wait(1)
  let reason: WakeReason | undefined
  const client = events.waitFor(TASK, WAIT_MS, undefined, { cid: cid(2), limited: false, needs: () => false })
  void client.then((r) => { reason = r })
  succeed(0, 0)
  await settle()
  assert.equal(reason, undefined)
  assert.deepEqual(woken, [])
  clock.advance(WAIT_MS)
  await settle()
  assert.equal(reason, 'timeout')
})

test('a waiting v2 sync wakes when its digests are due, one sync asking for CDN pieces per cached piece (passed on when declined), one without parents on a join or a bitmap; other bitmaps wake no sync', async () => {
  const clock = new ManualClock()
  const events = new TaskEvents({ clock })
  const progress = new ProgressManager({ clock, events, logger: createSilentLogger() }, { pieceTimeoutMs: 60_000, maxUploadsPerPeer: 2, supernodeMaxUploads: 2 })
  progress.createTask(TASK, 4)
  for (let index = 0; index < 6; index++) progress.addClient(TASK, cid(index), parsePeerId(`p${index}`))
  const task = progress.getTask(TASK)
  assert.ok(task !== undefined)
  const woken: ClientId[] = []
  const interests = new Map<number, SyncWaitInterest>()
  // s0: digests due at 2 cached pieces; s1, s2: want CDN pieces; s3: no parents; s4: none of these.
  const sync = (index: number): void => {
    const interest: SyncWaitInterest = { kind: 'sync', cid: cid(index), due: () => index === 0 && task.cachedCount >= 2, cdnWanted: index === 1 || index === 2, orphan: index === 3 }
    interests.set(index, interest)
    void events.waitFor(TASK, WAIT_MS, undefined, interest).then((reason) => { if (reason === 'notified') woken.push(cid(index)) })
  }
  for (let index = 0; index < 5; index++) sync(index)
  progress.markCached(TASK, 0, DIGEST)
  await settle()
  assert.deepEqual(woken, [cid(1)])
  events.decline(TASK, interests.get(1) as SyncWaitInterest) // its fill batch is not complete: the next that asked
  await settle()
  assert.deepEqual(woken, [cid(1), cid(2)])
  sync(1)
  sync(2)
  progress.markCached(TASK, 1, DIGEST)
  await settle()
  assert.deepEqual(woken.slice(2), [cid(0), cid(1)])
  // c5 syncs a bitmap with pieces (not all): only the sync without parents wakes.
  const some = new PieceBitset(4)
  some.add(0)
  progress.syncHoldings(TASK, cid(5), some)
  await settle()
  assert.deepEqual(woken.slice(4), [cid(3)])
  sync(3)
  progress.addClient(TASK, cid(6), parsePeerId('p6'))
  await settle()
  assert.deepEqual(woken.slice(5), [cid(3)])
  sync(3)
  // c5 completes: its leases and children go, every sync looks again.
  progress.syncHoldings(TASK, cid(5), PieceBitset.full(4))
  await settle()
  assert.deepEqual(new Set(woken.slice(6)), new Set([cid(2), cid(3), cid(4)]))
  assert.equal(events.countWaiters(TASK), 0)
})

test('only a cached piece looks at whether the waiting syncs are due: a bitmap or a join looks at the syncs without parents alone', async () => {
  const clock = new ManualClock()
  const events = new TaskEvents({ clock })
  const progress = new ProgressManager({ clock, events, logger: createSilentLogger() }, { pieceTimeoutMs: 60_000 })
  progress.createTask(TASK, 4)
  for (let index = 0; index < 4; index++) progress.addClient(TASK, cid(index), parsePeerId(`p${index}`))
  const looked: ClientId[] = []
  const woken: ClientId[] = []
  // c0, c1: have parents; c2: has none.
  for (let index = 0; index < 3; index++) {
    const interest: SyncWaitInterest = { kind: 'sync', cid: cid(index), due: () => { looked.push(cid(index)); return false }, cdnWanted: false, orphan: index === 2 }
    void events.waitFor(TASK, WAIT_MS, undefined, interest).then((reason) => { if (reason === 'notified') woken.push(cid(index)) })
  }
  const some = new PieceBitset(4)
  some.add(1)
  progress.syncHoldings(TASK, cid(3), some)
  await settle()
  assert.deepEqual(looked, [cid(2)], 'the bitmap looked at the sync without parents only')
  assert.deepEqual(woken, [cid(2)])
  looked.length = 0
  progress.markCached(TASK, 0, DIGEST)
  await settle()
  assert.deepEqual(looked, [cid(0), cid(1)], 'a cached piece looks at every waiting sync')
  assert.deepEqual(woken, [cid(2)])
  assert.equal(events.countWaiters(TASK), 2)
})
