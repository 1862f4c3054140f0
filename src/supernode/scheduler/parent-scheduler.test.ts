import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseClientId, parsePeerId, parseTaskId, type ClientId, type PeerId } from '../../protocol/ids.js'
import { computeTaskId } from '../../protocol/task-id.js'
import { ParentScheduler, type ParentCandidate } from './parent-scheduler.js'
import { createSeededRandom } from './random.js'

const TASK = parseTaskId(computeTaskId({ url: 'http://origin.test/model.bin' }))

function candidate (n: number, heldCount = 0, isComplete = false): ParentCandidate {
  return { cid: parseClientId(`cid-${n}`), peerId: parsePeerId(`peer-${n}`), held: { count: heldCount, isFull: isComplete } }
}

function setUp (count: number, options: { parentsPerClient?: number, maxChildrenPerParent?: number } = {}) {
  const scheduler = new ParentScheduler({ random: createSeededRandom(3) }, { parentsPerClient: options.parentsPerClient ?? 4, maxChildrenPerParent: options.maxChildrenPerParent ?? 8 })
  const hosts = Array.from({ length: count }, (_, n) => candidate(n))
  const peerOf = new Map<ClientId, PeerId>(hosts.map((host) => [host.cid, host.peerId]))
  return { scheduler, hosts, peerIdOf: (cid: ClientId) => peerOf.get(cid) }
}

test('a cid gets parents on other hosts, never itself or its own host, and keeps them while they stay eligible', () => {
  const { scheduler, hosts, peerIdOf } = setUp(6)
  const child = hosts[0] ?? candidate(0)
  const sameHost = { ...candidate(99), peerId: child.peerId }
  const first = scheduler.assign(TASK, child, [...hosts, sameHost], () => true, (cid) => cid === sameHost.cid ? sameHost.peerId : peerIdOf(cid))
  assert.equal(first.length, 4)
  assert.ok(!first.includes(child.cid) && !first.includes(sameHost.cid))
  assert.deepEqual(scheduler.assign(TASK, child, hosts, () => true, peerIdOf), first, 'kept while eligible')
  const gone = first[0]
  const next = scheduler.assign(TASK, child, hosts, (c) => c.cid !== gone, peerIdOf)
  assert.ok(gone !== undefined && !next.includes(gone), 'an ineligible parent is replaced')
  assert.equal(next.length, 4)
  assert.equal(scheduler.childCount(TASK, gone ?? child.cid), 0)
})

test('finished hosts and holders of more pieces are preferred, and no parent gets more children than its cap', () => {
  const { scheduler, peerIdOf } = setUp(0, { parentsPerClient: 1, maxChildrenPerParent: 2 })
  const seed = candidate(1, 100, true)
  const half = candidate(2, 50)
  const empty = candidate(3, 0)
  const pool = [seed, half, empty]
  const peers = new Map<ClientId, PeerId>(pool.map((c) => [c.cid, c.peerId]))
  const peerOf = (cid: ClientId): PeerId | undefined => peers.get(cid) ?? peerIdOf(cid)
  const chosen: ClientId[] = []
  for (let n = 10; n < 16; n++) {
    const child = candidate(n)
    peers.set(child.cid, child.peerId)
    chosen.push(...scheduler.assign(TASK, child, pool, () => true, peerOf))
  }
  assert.equal(chosen.filter((cid) => cid === seed.cid).length, 2, 'the finished host first, up to its cap')
  assert.ok(chosen.filter((cid) => cid === half.cid).length <= 2)
  assert.ok(chosen.filter((cid) => cid === empty.cid).length <= 2)
  assert.equal(chosen.length, 6)
  assert.equal(scheduler.childCount(TASK, seed.cid), 2)
})

test('a dropped parent, a finished child and a leaving cid all free their places', () => {
  const { scheduler, hosts, peerIdOf } = setUp(4, { parentsPerClient: 2 })
  const [a, b, c] = hosts as [ParentCandidate, ParentCandidate, ParentCandidate]
  const parentsOfA = scheduler.assign(TASK, a, hosts, () => true, peerIdOf)
  const dropped = parentsOfA[0] ?? b.cid
  scheduler.drop(TASK, a.cid, dropped)
  assert.ok(!scheduler.parentsOf(TASK, a.cid).includes(dropped))
  assert.equal(scheduler.childCount(TASK, dropped), 0)
  scheduler.assign(TASK, b, hosts, () => true, peerIdOf)
  scheduler.releaseParents(TASK, b.cid)
  assert.deepEqual(scheduler.parentsOf(TASK, b.cid), [])
  const parentsOfC = scheduler.assign(TASK, c, hosts, () => true, peerIdOf)
  const leaving = parentsOfC[0] ?? a.cid
  const orphans = scheduler.removeClient(TASK, leaving)
  assert.ok(orphans.includes(c.cid))
  assert.ok(!scheduler.parentsOf(TASK, c.cid).includes(leaving))
})
