import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseClientId, parsePeerId, parseTaskId, type PeerId } from '../../protocol/ids.js'
import { TaskProgress } from '../progress/task-progress.js'
import { choosePieces, type PolicyInput } from './piece-policy.js'
import { createSeededRandom } from './random.js'

const TASK = parseTaskId('a'.repeat(64))
const DIGEST = `sha256:${'0'.repeat(64)}`
const noTimer = { cancel: () => undefined }

/** A task of `pieceCount` pieces, all cached by the CDN, and clients c0..cN on peers p0..pN. */
function setUp (pieceCount: number, clients: number): TaskProgress {
  const progress = new TaskProgress(TASK, pieceCount)
  for (let pieceNum = 0; pieceNum < pieceCount; pieceNum++) progress.markCached(pieceNum, DIGEST)
  for (let index = 0; index < clients; index++) progress.addClient(cid(index), peer(index), undefined)
  return progress
}
const cid = (index: number): ReturnType<typeof parseClientId> => parseClientId(`c${index}`)
const peer = (index: number): PeerId => parsePeerId(`p${index}`)

function input (progress: TaskProgress, clientIndex: number, overrides: Partial<PolicyInput> = {}, loads = new Map<PeerId, number>()): PolicyInput {
  const client = progress.getClient(cid(clientIndex))
  if (client === undefined) throw new Error('no client')
  return {
    progress,
    client,
    maxPieces: 4,
    maxUploadsPerPeer: 5,
    supernodeMaxUploads: 8,
    allowSupernodeDuplicates: true,
    isPeerLive: () => true,
    uploadsInFlightOf: (peerId) => loads.get(peerId) ?? 0,
    random: createSeededRandom(7),
    ...overrides,
  }
}

test('rarest pieces come first and ties are broken at random, not by lowest index', () => {
  const progress = setUp(16, 3)
  // Piece 0..11 are held by c1, so pieces 12..15 are the rarest for c0.
  for (let pieceNum = 0; pieceNum < 12; pieceNum++) progress.addHolding(cid(1), pieceNum, true)
  const decision = choosePieces(input(progress, 0, { maxPieces: 4 }))
  assert.deepEqual(decision.choices.map((c) => c.pieceNum).sort((a, b) => a - b), [12, 13, 14, 15])
  assert.ok(decision.choices.every((c) => c.source.kind === 'supernode'))

  const firsts = new Set<number>()
  for (let seed = 1; seed <= 20; seed++) {
    const fresh = setUp(16, 1)
    firsts.add(choosePieces(input(fresh, 0, { maxPieces: 1, random: createSeededRandom(seed) })).choices[0]?.pieceNum ?? -1)
  }
  assert.ok(firsts.size > 3, `first piece varies with the seed (${[...firsts].join(',')})`)
})

test('a piece a peer holds comes from the peer, never from the supernode', () => {
  const progress = setUp(4, 2)
  for (let pieceNum = 0; pieceNum < 4; pieceNum++) progress.addHolding(cid(1), pieceNum, true)
  const decision = choosePieces(input(progress, 0))
  assert.equal(decision.choices.length, 4)
  for (const choice of decision.choices) assert.deepEqual(choice.source, { kind: 'peer', peerId: peer(1), cid: cid(1) })
})

test('the least loaded holder is chosen and a peer at its upload limit is not used', () => {
  const progress = setUp(2, 3)
  for (let pieceNum = 0; pieceNum < 2; pieceNum++) { progress.addHolding(cid(1), pieceNum, true); progress.addHolding(cid(2), pieceNum, true) }
  const loads = new Map([[peer(1), 3], [peer(2), 0]])
  const decision = choosePieces(input(progress, 0, {}, loads))
  assert.ok(decision.choices.every((c) => c.source.kind === 'peer' && c.source.peerId === peer(2)))

  const full = new Map([[peer(1), 5], [peer(2), 5]])
  const limited = choosePieces(input(progress, 0, {}, full))
  assert.equal(limited.choices.length, 0)
  assert.equal(limited.blocked, 'limited')
})

test('a blacklisted or dead peer is skipped and the supernode serves instead', () => {
  const progress = setUp(2, 2)
  for (let pieceNum = 0; pieceNum < 2; pieceNum++) progress.addHolding(cid(1), pieceNum, true)
  progress.blacklist(cid(0), peer(1))
  assert.ok(choosePieces(input(progress, 0)).choices.every((c) => c.source.kind === 'supernode'))
  const other = setUp(2, 2)
  for (let pieceNum = 0; pieceNum < 2; pieceNum++) other.addHolding(cid(1), pieceNum, true)
  assert.ok(choosePieces(input(other, 0, { isPeerLive: () => false })).choices.every((c) => c.source.kind === 'supernode'))
})

test('the supernode respects its upload limit and prefers pieces nobody fetches from it', () => {
  const progress = setUp(8, 3)
  const first = choosePieces(input(progress, 0, { supernodeMaxUploads: 3 }))
  assert.equal(first.choices.length, 3)
  for (const choice of first.choices) progress.addHandOut({ taskId: TASK, cid: cid(0), pieceNum: choice.pieceNum, source: choice.source, startedAtMs: 0, timer: noTimer })
  const second = choosePieces(input(progress, 1, { supernodeMaxUploads: 3 }))
  assert.equal(second.choices.length, 0)
  assert.equal(second.blocked, 'limited')

  // With room, a second client gets pieces the supernode is not sending yet.
  const third = choosePieces(input(progress, 1, { supernodeMaxUploads: 8 }))
  const inFlight = new Set(first.choices.map((c) => c.pieceNum))
  assert.ok(third.choices.every((c) => !inFlight.has(c.pieceNum)))
})

test('a piece in flight from the supernode goes to a second cid only when duplicates are allowed and the supernode is below half its limit', () => {
  const progress = setUp(1, 3)
  progress.addHandOut({ taskId: TASK, cid: cid(0), pieceNum: 0, source: { kind: 'supernode' }, startedAtMs: 0, timer: noTimer })
  assert.equal(choosePieces(input(progress, 1, { allowSupernodeDuplicates: false })).blocked, 'limited')
  assert.equal(choosePieces(input(progress, 1, { supernodeMaxUploads: 2 })).blocked, 'limited')
  const allowed = choosePieces(input(progress, 1, { supernodeMaxUploads: 8 }))
  assert.deepEqual(allowed.choices, [{ pieceNum: 0, source: { kind: 'supernode' } }])
})

test('wait when no needed piece is cached or held yet', () => {
  const progress = new TaskProgress(TASK, 4)
  progress.addClient(cid(0), peer(0), undefined)
  assert.deepEqual(choosePieces(input(progress, 0)), { choices: [], blocked: 'wait' })
})

test('a stream window limits candidates to [una, una + window)', () => {
  const progress = new TaskProgress(TASK, 10)
  for (let pieceNum = 0; pieceNum < 10; pieceNum++) progress.markCached(pieceNum, DIGEST)
  progress.addClient(cid(0), peer(0), 3)
  progress.addHolding(cid(0), 0, true)
  const decision = choosePieces(input(progress, 0, { maxPieces: 8 }))
  assert.deepEqual(decision.choices.map((c) => c.pieceNum).sort((a, b) => a - b), [1, 2, 3])
})

test('pieces the cid holds or is fetching are never handed to it again', () => {
  const progress = setUp(3, 1)
  progress.addHolding(cid(0), 0, true)
  progress.addHandOut({ taskId: TASK, cid: cid(0), pieceNum: 1, source: { kind: 'supernode' }, startedAtMs: 0, timer: noTimer })
  assert.deepEqual(choosePieces(input(progress, 0)).choices.map((c) => c.pieceNum), [2])
})

test('with many holders an idle one is picked and picks spread over the swarm', () => {
  const progress = setUp(1, 1001)
  for (let index = 1; index <= 1000; index++) progress.addHolding(cid(index), 0, true)
  const loads = new Map<PeerId, number>()
  for (let index = 1; index <= 1000; index++) loads.set(peer(index), index % 2 === 0 ? 0 : 5)
  const picked = new Set<string>()
  for (let seed = 1; seed <= 50; seed++) {
    const [choice] = choosePieces(input(progress, 0, { random: createSeededRandom(seed) }, loads)).choices
    assert.ok(choice?.source.kind === 'peer')
    assert.equal(loads.get(choice.source.peerId), 0)
    picked.add(choice.source.peerId)
  }
  assert.ok(picked.size > 40, `picks spread (${picked.size} distinct of 50)`)
})
