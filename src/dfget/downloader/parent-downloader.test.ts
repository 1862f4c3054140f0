/**
 * ManualClock tests of the v2 piece loop. The loop's I/O goes through its ports
 * (piece-loop.ts), so these tests drive it with an in-process transport — a scripted
 * supernode (ControlPort), parents' bitmaps (ParentPort), and fetches the test completes or
 * fails — the seam the fleet simulator uses. Time moves only when the test advances it.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { MemoryTarget, ScriptedFetches, pending, settle, type Pending } from '../../../test/harness/piece-loop-ports.js'
import { ManualClock } from '../../common/clock.js'
import { createSilentLogger } from '../../common/log.js'
import { DfError } from '../../protocol/errors.js'
import { PieceBitset } from '../../protocol/piece-bitset.js'
import type { PeerHavesResponse } from '../../protocol/messages/peer-haves.js'
import type { Parent, SyncTaskRequest, SyncTaskResponse } from '../../protocol/messages/sync-task.js'
import { createSeededRandom } from '../../supernode/scheduler/random.js'
import { ParentDownloader } from './parent-downloader.js'
import type { ControlPort, ParentPort, SupernodeMove } from './piece-loop.js'
import { TransferStats } from './transfer-stats.js'

const PIECE_BYTES = 16
const DIGEST = `sha256:${'a'.repeat(64)}`

/** A scripted supernode: every sync waits for the test's answer. */
class ScriptedControl implements ControlPort {
  readonly syncs: { readonly request: SyncTaskRequest, readonly answer: Pending<SyncTaskResponse> }[] = []
  readonly moves: { heldPieces: readonly number[], skipCurrent: boolean }[] = []
  nextMove: SupernodeMove = { kind: 'none', cause: new DfError('DF_ERR_NETWORK', 'no other supernode') }

  async sync (request: SyncTaskRequest, signal: AbortSignal): Promise<SyncTaskResponse> {
    return await pending(signal, (answer) => { this.syncs.push({ request, answer }) })
  }

  async moveToNextSupernode (heldPieces: readonly number[], skipCurrent: boolean): Promise<SupernodeMove> {
    this.moves.push({ heldPieces: [...heldPieces], skipCurrent })
    return this.nextMove
  }
}

/** Parents' bitmaps, answered at once. */
class StaticParents implements ParentPort {
  readonly held = new Map<string, number[]>()
  /** Parents whose feed fails with this error (a host that went down: DF_ERR_NETWORK). */
  readonly failing = new Map<string, DfError>()
  constructor (readonly pieceCount: number) {}
  async fetchHaves (parent: Parent, since: number, waitMs: number, _grant: string | undefined, signal: AbortSignal): Promise<PeerHavesResponse> {
    const failure = this.failing.get(parent.cid)
    if (failure !== undefined) throw failure
    if (since > 0) return await pending(signal, () => {}) // no change: held until the loop lets go
    const bitset = new PieceBitset(this.pieceCount)
    for (const pieceNum of this.held.get(parent.cid) ?? []) bitset.add(pieceNum)
    return { seq: 1, held: bitset.toBase64(), complete: bitset.isFull }
  }
}

function parent (cid: string): Parent {
  return { peerId: `peer-${cid}`, cid, url: `http://127.0.0.1:1/peer/tasks/t/data?cid=${cid}`, havesUrl: `http://127.0.0.1:1/peer/tasks/t/haves?cid=${cid}`, complete: false }
}

function answer (overrides: Partial<SyncTaskResponse> & { pieceCount: number }): SyncTaskResponse {
  const { pieceCount, ...rest } = overrides
  return {
    parents: [],
    supernode: { url: 'http://127.0.0.1:1/tasks/t/data', slots: 2, cachedAll: true },
    digestsFrom: 0,
    digests: new Array<string>(pieceCount).fill(DIGEST),
    syncAfterMs: 30_000,
    ...rest,
  }
}

function setUp (pieceCount: number, options: { stallTimeoutMs?: number, window?: { una: number, windowPieces: number }, maxInFlightPerParent?: number } = {}) {
  const clock = new ManualClock()
  const target = new MemoryTarget(pieceCount, PIECE_BYTES)
  const control = new ScriptedControl()
  const parents = new StaticParents(pieceCount)
  const fetches = new ScriptedFetches(target)
  const window = options.window
  const loop = new ParentDownloader({
    logger: createSilentLogger(),
    clock,
    control,
    parents,
    fetcher: fetches,
    writer: target,
    stats: new TransferStats(),
    random: createSeededRandom(7),
    ...(window === undefined ? {} : { window: { freeSlots: () => window.windowPieces, whenFreed: async () => await new Promise<void>(() => {}), una: window.una } }),
  }, { cid: 'child', pieceCount, stallTimeoutMs: options.stallTimeoutMs ?? 20_000, ...(window === undefined ? {} : { windowPieces: window.windowPieces }), ...(options.maxInFlightPerParent === undefined ? {} : { maxInFlightPerParent: options.maxInFlightPerParent }) })
  const controller = new AbortController()
  const outcome = loop.run(controller.signal)
  outcome.catch(() => {})
  return { clock, target, control, parents, fetches, outcome, controller }
}

test('with nothing to fetch the loop waits on one sync, then backs off to the source after the stall timeout', async (t) => {
  const { clock, control, fetches, outcome, controller } = setUp(4, { stallTimeoutMs: 20_000 })
  t.after(() => { controller.abort() })
  await settle()
  assert.equal(control.syncs.length, 1)
  assert.equal(control.syncs[0]?.request.waitMs, 30_000)
  // 19.9 s of nothing: still the one long-poll, no fetch, no busy loop of requests.
  for (let i = 0; i < 199; i++) { clock.advance(100); await settle() }
  assert.equal(control.syncs.length, 1)
  assert.equal(fetches.calls.length, 0)
  clock.advance(100)
  await settle()
  const ended = await outcome
  assert.equal(ended.kind, 'backSource')
  assert.equal(ended.kind === 'backSource' ? ended.reason : '', 'swarmStalled')
})

test('pieces come rarest first from the parents, one at a time from each parent when so set, and the CDN only serves what no parent holds, within its slots', async (t) => {
  const { control, parents, fetches, target, outcome, controller } = setUp(8, { maxInFlightPerParent: 1 })
  t.after(() => { controller.abort() })
  parents.held.set('a', [0, 1, 2, 3, 4, 5])
  parents.held.set('b', [0, 1, 2])
  await settle()
  control.syncs[0]?.answer.resolve(answer({ pieceCount: 8, parents: [parent('a'), parent('b')], supernode: { url: 'http://127.0.0.1:1/tasks/t/data', slots: 1, cachedAll: true } }))
  await settle()
  const started = fetches.calls.map((call) => ({ pieceNum: call.piece.pieceNum, from: call.piece.sourcePeerId }))
  // Pieces 3-5 are the rarest (one holder): first, one from a; then one of 0-2 from b (a is at
  // its limit); the CDN's one slot takes a piece no parent holds.
  assert.ok(started.slice(0, 1).every((s) => s.from === 'peer-a' && [3, 4, 5].includes(s.pieceNum)))
  assert.ok(started.slice(1, 2).every((s) => s.from === 'peer-b' && [0, 1, 2].includes(s.pieceNum)))
  assert.deepEqual(started.slice(2).map((s) => s.from), ['supernode'])
  for (let round = 0; round < 8 && !target.isComplete; round++) {
    for (let i = 0; i < fetches.calls.length; i++) if (!target.isVerified(fetches.calls[i]?.piece.pieceNum ?? -1)) { fetches.succeed(i); break }
    await settle()
  }
  assert.equal(target.isComplete, true)
  // Pieces 6 and 7, which no parent holds, came from the CDN, one at a time (its one slot).
  assert.deepEqual(fetches.calls.filter((call) => call.piece.sourcePeerId === 'supernode').map((call) => call.piece.pieceNum).sort(), [6, 7])
  assert.equal(fetches.maxRunning.get('supernode'), 1)
  assert.equal(fetches.maxRunning.get('peer-a'), 1)
  assert.equal(fetches.maxRunning.get('peer-b'), 1)
  await settle()
  const last = control.syncs.at(-1)
  assert.equal(last?.request.complete, true)
  assert.equal(PieceBitset.fromBase64(last?.request.held ?? '', 8)?.isFull, true)
  assert.equal(last?.request.received?.supernodePieces, 2)
  assert.equal(last?.request.received?.peerPieces, 6)
  last?.answer.resolve(answer({ pieceCount: 8 }))
  assert.deepEqual(await outcome, { kind: 'complete' })
  // Syncs for the whole file: the first, one per milestone bitmap (a quarter, a half, three
  // quarters), the long-poll that the final one replaced, the final one.
  assert.ok(control.syncs.length <= 6, `${control.syncs.length} syncs`)
})

test('a parent serving a corrupt piece is dropped and reported at once, and its pieces come from elsewhere', async (t) => {
  const { control, parents, fetches, outcome, controller } = setUp(2)
  t.after(() => { controller.abort() })
  parents.held.set('liar', [0, 1])
  await settle()
  control.syncs[0]?.answer.resolve(answer({ pieceCount: 2, parents: [parent('liar')] }))
  await settle()
  // A lone parent serves as many as the loop keeps in flight (here both pieces).
  assert.deepEqual(fetches.calls.map((call) => call.piece.sourcePeerId), ['peer-liar', 'peer-liar'])
  const first = fetches.calls[0]?.piece.pieceNum
  fetches.calls[0]?.result.reject(new DfError('DF_ERR_PIECE_DIGEST_MISMATCH', 'bad bytes'))
  await settle()
  // The open long-poll made way for a sync that carries the failure, answered at once.
  const urgent = control.syncs.at(-1)
  assert.equal(urgent?.request.waitMs, 0)
  assert.deepEqual(urgent?.request.failures, [{ sourcePeerId: 'peer-liar', pieceNum: first, reason: 'DF_ERR_PIECE_DIGEST_MISMATCH' }])
  // The piece comes from the CDN now (it holds it; no parent left does), not from the liar.
  const again = fetches.calls.slice(2).map((call) => ({ pieceNum: call.piece.pieceNum, from: call.piece.sourcePeerId }))
  assert.deepEqual(again, [{ pieceNum: first, from: 'supernode' }])
  // The supernode's next parents: the liar is never used again, even when named.
  parents.held.set('honest', [0, 1])
  urgent?.answer.resolve(answer({ pieceCount: 2, parents: [parent('liar'), parent('honest')] }))
  fetches.calls[1]?.result.reject(new DfError('DF_ERR_NETWORK', 'reset'))
  await settle()
  assert.ok(fetches.calls.slice(2).every((call) => call.piece.sourcePeerId !== 'peer-liar'))
  controller.abort()
  await assert.rejects(outcome)
})

test('a supernode that stops answering is retried after 200 and 400 ms, then the loop moves to the next with the pieces held', async (t) => {
  const { clock, control, fetches, outcome, controller } = setUp(3)
  t.after(() => { controller.abort() })
  await settle()
  control.syncs[0]?.answer.resolve(answer({ pieceCount: 3, digests: [DIGEST, DIGEST, DIGEST], supernode: { url: 'http://127.0.0.1:1/tasks/t/data', slots: 1, cachedAll: true } }))
  await settle()
  fetches.succeed(0)
  await settle()
  // The open sync (it carries the first milestone's bitmap) fails, and so do the retries.
  const base = control.syncs.length - 1
  const unreachable = new DfError('DF_ERR_NETWORK', 'connection refused')
  control.syncs[base]?.answer.reject(unreachable)
  await settle()
  assert.equal(control.syncs.length, base + 1, 'no retry before its pause')
  clock.advance(199); await settle()
  assert.equal(control.syncs.length, base + 1)
  clock.advance(1); await settle()
  assert.equal(control.syncs.length, base + 2)
  control.syncs[base + 1]?.answer.reject(unreachable)
  await settle()
  clock.advance(400); await settle()
  assert.equal(control.syncs.length, base + 3)
  control.nextMove = { kind: 'moved', task: { taskId: 'a'.repeat(64), fileLengthBytes: 3 * PIECE_BYTES, pieceSizeBytes: PIECE_BYTES, pieceCount: 3, cdnStatus: 'success', dataUrl: 'http://127.0.0.1:2/tasks/t/data' } }
  const before = fetches.calls.length
  control.syncs[base + 2]?.answer.reject(unreachable)
  await settle()
  assert.equal(control.moves.length, 1)
  assert.deepEqual(control.moves[0], { heldPieces: [fetches.calls[0]?.piece.pieceNum], skipCurrent: true })
  // The new supernode's first sync: the loop goes on from the pieces held.
  const first = control.syncs.at(-1)
  assert.equal(PieceBitset.fromBase64(first?.request.held ?? '', 3)?.count, 1)
  first?.answer.resolve(answer({ pieceCount: 3, supernode: { url: 'http://127.0.0.1:2/tasks/t/data', slots: 2, cachedAll: true } }))
  await settle()
  const moved = fetches.calls.slice(before)
  assert.ok(moved.length > 0 && moved.every((call) => call.piece.url === 'http://127.0.0.1:2/tasks/t/data'))
  controller.abort()
  await assert.rejects(outcome)
})

test('a new supernode with another version of the source ends the loop with the typed outcome sourceChanged', async () => {
  const { control, outcome } = setUp(2)
  await settle()
  control.nextMove = { kind: 'sourceChanged', cause: new DfError('DF_ERR_SOURCE_CHANGED', 'the source changed') }
  control.syncs[0]?.answer.reject(new DfError('DF_ERR_TASK_NOT_FOUND', 'restarted'))
  await settle()
  const ended = await outcome
  assert.equal(ended.kind, 'sourceChanged')
  assert.equal(control.moves[0]?.skipCurrent, false, 'a supernode that forgot the task is asked again first')
})

test('a stream window limits the pieces chosen to [una, una + window)', async (t) => {
  const { control, parents, fetches, controller, outcome } = setUp(10, { window: { una: 4, windowPieces: 2 } })
  t.after(() => { controller.abort() })
  parents.held.set('a', [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
  await settle()
  control.syncs[0]?.answer.resolve(answer({ pieceCount: 10, parents: [parent('a')] }))
  await settle()
  assert.deepEqual(fetches.calls.map((call) => call.piece.pieceNum).sort(), [4, 5])
  controller.abort()
  await assert.rejects(outcome)
})

test('with a CDN share the CDN serves only the share; the rest waits for the parents, a used-up share asks for more, and 2 s without work lets the CDN serve the rest', async (t) => {
  const { clock, control, fetches, target, outcome, controller } = setUp(6)
  t.after(() => { controller.abort() })
  await settle()
  const share = new PieceBitset(6)
  share.add(1)
  share.add(4)
  control.syncs[0]?.answer.resolve(answer({ pieceCount: 6, supernode: { url: 'http://127.0.0.1:1/tasks/t/data', slots: 4, cachedAll: true, cdnPieces: share.toBase64() } }))
  await settle()
  assert.deepEqual(fetches.calls.map((call) => call.piece.pieceNum).sort(), [1, 4], 'only the share from the CDN, though it has 4 slots')
  fetches.succeed(0)
  fetches.succeed(1)
  await settle()
  // The share is used up and no parent holds the rest: the open long-poll makes way for a sync saying so.
  const wanting = control.syncs.at(-1)
  assert.equal(wanting?.request.cdnWanted, true)
  assert.equal(PieceBitset.fromBase64(wanting?.request.held ?? '', 6)?.count, 2)
  assert.equal(fetches.calls.length, 2, 'nothing outside the share yet')
  clock.advance(1_900)
  await settle()
  assert.equal(fetches.calls.length, 2)
  clock.advance(100)
  await settle()
  assert.deepEqual(fetches.calls.slice(2).map((call) => call.piece.sourcePeerId), ['supernode', 'supernode', 'supernode', 'supernode'], 'starved: the CDN serves the rest within its slots')
  for (let i = 2; i < fetches.calls.length; i++) fetches.succeed(i)
  await settle()
  assert.equal(target.isComplete, true)
  await settle()
  control.syncs.at(-1)?.answer.resolve(answer({ pieceCount: 6 }))
  assert.deepEqual(await outcome, { kind: 'complete' })
})

test('fetches per parent: the loop\'s in-flight pieces over the parents, at least one each; a lone parent gets them all', async (t) => {
  for (const [parentCount, expected] of [[1, 6], [2, 3], [7, 1]] as const) {
    const { control, parents, fetches, controller } = setUp(32)
    t.after(() => { controller.abort() })
    const names = Array.from({ length: parentCount }, (_, i) => `p${i}`)
    for (const name of names) parents.held.set(name, Array.from({ length: 32 }, (_, i) => i))
    await settle()
    control.syncs[0]?.answer.resolve(answer({ pieceCount: 32, parents: names.map(parent), supernode: { url: 'http://127.0.0.1:1/tasks/t/data', slots: 1, cachedAll: true, cdnPieces: new PieceBitset(32).toBase64() } }))
    await settle()
    for (const name of names) assert.equal(fetches.calls.filter((call) => call.piece.sourcePeerId === `peer-${name}`).length, expected, `${parentCount} parents: from ${name}`)
    controller.abort()
  }
})

test('a parent whose feed cannot be reached is dropped and reported at once; with no parent left the CDN serves without waiting, and one still registering is asked again', async (t) => {
  const { control, parents, fetches, clock, controller } = setUp(4)
  t.after(() => { controller.abort() })
  parents.failing.set('dead', new DfError('DF_ERR_NETWORK', 'connect ECONNREFUSED'))
  await settle()
  // The CDN holds the file and lends this host nothing (the dead host holds every piece, as far as the supernode knows).
  control.syncs[0]?.answer.resolve(answer({ pieceCount: 4, parents: [parent('dead')], supernode: { url: 'http://127.0.0.1:1/tasks/t/data', slots: 4, cachedAll: true, cdnPieces: new PieceBitset(4).toBase64() } }))
  await settle()
  const urgent = control.syncs.at(-1)
  assert.equal(urgent?.request.waitMs, 0)
  assert.deepEqual(urgent?.request.failures, [{ sourcePeerId: 'peer-dead', reason: 'DF_ERR_NETWORK' }])
  // At once (the clock has not moved): the pieces come from the CDN, not after its 2 s fallback.
  assert.deepEqual(fetches.calls.map((call) => call.piece.sourcePeerId), ['supernode', 'supernode', 'supernode', 'supernode'])
  // A parent still registering its file (404) is asked again after 250 ms, not dropped.
  parents.failing.set('late', new DfError('DF_ERR_UPLOAD_TASK_NOT_FOUND', 'register the upload first'))
  urgent?.answer.resolve(answer({ pieceCount: 4, parents: [parent('late')], supernode: { url: 'http://127.0.0.1:1/tasks/t/data', slots: 4, cachedAll: true, cdnPieces: new PieceBitset(4).toBase64() } }))
  await settle()
  assert.equal(control.syncs.at(-1)?.request.failures, undefined)
  parents.failing.delete('late')
  clock.advance(250)
  await settle()
  assert.equal(control.syncs.at(-1)?.request.failures, undefined)
})
