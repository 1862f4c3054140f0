/**
 * ManualClock tests of the v1 piece loop (P2pDownloader), the companion of
 * parent-downloader.test.ts: the real loop driven through its ports only — the supernode in
 * charge and the move to another one (a scripted control whose registrations carry scripted
 * clients: every pull and every report waits for, or is answered as, the test says),
 * fetches the test completes or fails, and the target in memory. Time moves only when the
 * test advances it; the socket tests with a real supernode are p2p-downloader.test.ts.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { MemoryTarget, ScriptedFetches, pending, settle, type Pending } from '../../../test/harness/piece-loop-ports.js'
import { ManualClock } from '../../common/clock.js'
import { createSilentLogger } from '../../common/log.js'
import { DfError } from '../../protocol/errors.js'
import type { PeerInfo } from '../../protocol/messages/register-peer.js'
import type { PieceTask, PullPieceTasksResponse } from '../../protocol/messages/pull-piece-task.js'
import type { ReportPieceRequest, ReportPiecesRequest } from '../../protocol/messages/report-piece.js'
import type { SyncTaskResponse } from '../../protocol/messages/sync-task.js'
import { formatPieceRange, type ByteRange } from '../../protocol/piece-range.js'
import type { SupernodeRegistration } from '../supernode-locator.js'
import { P2pDownloader, type P2pDownloaderDeps } from './p2p-downloader.js'
import type { PieceLoopOutcome, SupernodeMove } from './piece-loop.js'
import { TransferStats } from './transfer-stats.js'

const PIECE_BYTES = 16
const DIGEST = `sha256:${'a'.repeat(64)}`
const CID = 'child'
const NETWORK_DOWN = new DfError('DF_ERR_NETWORK', 'connection refused')

type PullQuery = Parameters<SupernodeRegistration['client']['pullPieceTasks']>[1]
type Report = ReportPiecesRequest['reports'][number]

/**
 * One supernode's control calls, in process: every pull waits for the test's answer;
 * reports are answered at once, or held for the test while `holdReports`.
 */
class ScriptedSupernode implements Pick<SupernodeRegistration['client'], 'pullPieceTasks' | 'reportPiece' | 'reportPieces'> {
  readonly pulls: { readonly query: PullQuery, readonly answer: Pending<PullPieceTasksResponse> }[] = []
  /** Every report request: one piece (reportPiece) or a batch (reportPieces). */
  readonly reportCalls: { readonly batch: boolean, readonly reports: readonly Report[], readonly done: Pending<void> }[] = []
  holdReports = false

  async pullPieceTasks (_taskId: string, query: PullQuery, signal?: AbortSignal): Promise<PullPieceTasksResponse> {
    return await pending(signal, (answer) => { this.pulls.push({ query, answer }) })
  }

  async reportPiece (_taskId: string, range: ByteRange, report: ReportPieceRequest): Promise<void> {
    const { cid, ...rest } = report
    assert.equal(cid, CID)
    await this.#record(false, [{ pieceRange: formatPieceRange(range), ...rest }])
  }

  async reportPieces (_taskId: string, request: ReportPiecesRequest): Promise<void> {
    assert.equal(request.cid, CID)
    await this.#record(true, request.reports)
  }

  /** The reports received, one entry a piece, in order. */
  get reports (): Report[] {
    return this.reportCalls.flatMap((call) => call.reports)
  }

  answerPull (index: number, response: PullPieceTasksResponse): void {
    const pull = this.pulls[index]
    assert.ok(pull !== undefined, `no pull #${index}`)
    pull.answer.resolve(response)
  }

  failPull (index: number, err: unknown): void {
    const pull = this.pulls[index]
    assert.ok(pull !== undefined, `no pull #${index}`)
    pull.answer.reject(err)
  }

  async #record (batch: boolean, reports: readonly Report[]): Promise<void> {
    await pending<void>(undefined, (done) => {
      this.reportCalls.push({ batch, reports, done })
      if (!this.holdReports) done.resolve()
    })
  }

  // The v1 loop pulls and reports only; the rest of the registration's client is v2's or the locator's.
  async registerPeer (): Promise<PeerInfo> { throw new DfError('DF_ERR_INTERNAL_INVARIANT', 'the v1 piece loop does not register peers') }
  async deleteTask (): Promise<void> { throw new DfError('DF_ERR_INTERNAL_INVARIANT', 'the v1 piece loop does not delete tasks') }
  async syncTask (): Promise<SyncTaskResponse> { throw new DfError('DF_ERR_INTERNAL_INVARIANT', 'the v1 piece loop does not sync') }
}

function registration (port: number, pieceCount: number): { registration: SupernodeRegistration, supernode: ScriptedSupernode } {
  const supernode = new ScriptedSupernode()
  const baseUrl = `http://127.0.0.1:${port}`
  return {
    supernode,
    registration: {
      address: { host: '127.0.0.1', port, weight: 1, baseUrl },
      client: supernode,
      task: { taskId: 'b'.repeat(64), fileLengthBytes: pieceCount * PIECE_BYTES, pieceSizeBytes: PIECE_BYTES, pieceCount, cdnStatus: 'success', dataUrl: `${baseUrl}/tasks/t/data` },
    },
  }
}

/** The supernode in charge, and moves to another that wait for the test's answer. */
class ScriptedControl implements Pick<P2pDownloaderDeps['control'], 'moveToNextSupernode'> {
  registration: SupernodeRegistration
  readonly moves: { readonly heldPieces: readonly number[], readonly skipCurrent: boolean, readonly answer: Pending<SupernodeMove> }[] = []
  constructor (first: SupernodeRegistration) {
    this.registration = first
  }

  async moveToNextSupernode (heldPieces: readonly number[], skipCurrent: boolean, signal: AbortSignal): Promise<SupernodeMove> {
    return await pending(signal, (answer) => { this.moves.push({ heldPieces: [...heldPieces], skipCurrent, answer }) })
  }

  /** Answers the open move: to `next` (now in charge), or the move's failure. */
  answerMove (index: number, next: SupernodeRegistration | Exclude<SupernodeMove, { kind: 'moved' }>): void {
    const move = this.moves[index]
    assert.ok(move !== undefined, `no move #${index}`)
    if ('kind' in next) {
      move.answer.resolve(next)
      return
    }
    this.registration = next
    move.answer.resolve({ kind: 'moved', task: next.task })
  }
}

function pieceFrom (target: MemoryTarget, pieceNum: number, sourcePeerId: string): PieceTask {
  const fromSupernode = sourcePeerId === 'supernode'
  return {
    pieceNum,
    pieceRange: formatPieceRange(target.rangeOf(pieceNum)),
    digest: DIGEST,
    sourceKind: fromSupernode ? 'supernode' : 'peer',
    sourcePeerId,
    url: fromSupernode ? 'http://127.0.0.1:1/tasks/t/data' : `http://127.0.0.1:9/peer/${sourcePeerId}`,
  }
}

function piecesAnswer (target: MemoryTarget, pieceNums: readonly number[], sourcePeerId = 'peer-a'): PullPieceTasksResponse {
  return { result: 'pieces', pieces: pieceNums.map((pieceNum) => pieceFrom(target, pieceNum, sourcePeerId)) }
}

function success (target: MemoryTarget, pieceNum: number, sourcePeerId: string): Report {
  return { pieceRange: formatPieceRange(target.rangeOf(pieceNum)), result: 'success', sourcePeerId, costMs: 1 }
}

function setUp (pieceCount: number, options: { stallTimeoutMs?: number } = {}) {
  const clock = new ManualClock()
  const target = new MemoryTarget(pieceCount, PIECE_BYTES)
  const first = registration(1, pieceCount)
  const control = new ScriptedControl(first.registration)
  const fetches = new ScriptedFetches(target)
  const loop = new P2pDownloader({
    logger: createSilentLogger(),
    clock,
    control,
    writer: target,
    fetcher: fetches,
    stats: new TransferStats(),
  }, { cid: CID, ...(options.stallTimeoutMs === undefined ? {} : { stallTimeoutMs: options.stallTimeoutMs }) })
  const controller = new AbortController()
  const outcome = loop.run(controller.signal)
  let ended: PieceLoopOutcome | undefined
  outcome.then((value) => { ended = value }, () => {})
  /** How the loop ended, once the promises have run; fails at once if it is still running. */
  const endedNow = async (): Promise<PieceLoopOutcome> => {
    await settle()
    assert.ok(ended !== undefined, 'the loop has ended')
    return ended
  }
  return { clock, target, control, supernode: first.supernode, fetches, outcome, controller, ended: () => ended, endedNow }
}

test('pulls that keep answering wait after the full long-poll end in back-source swarmStalled after stallTimeoutMs without a verified piece, not before', async (t) => {
  const { clock, supernode, fetches, controller, endedNow, ended } = setUp(4, { stallTimeoutMs: 12_000 })
  t.after(() => { controller.abort() })
  await settle()
  assert.equal(supernode.pulls.length, 1)
  assert.deepEqual(supernode.pulls[0]?.query, { cid: CID, max: 12, waitMs: 5_000 }, 'twice the fetch slots, the 5 s long-poll')
  for (const round of [0, 1]) {
    clock.advance(5_000)
    await settle()
    assert.equal(supernode.pulls.length, round + 1, 'one pull at a time')
    supernode.answerPull(round, wait(1_000))
    await settle()
    assert.equal(supernode.pulls.length, round + 2, 'a wait after the long-poll pulls again at once')
  }
  clock.advance(1_999)
  await settle()
  assert.equal(ended(), undefined, 'still running 1 ms before the stall timeout')
  clock.advance(1)
  await settle()
  const result = await endedNow()
  assert.equal(result.kind, 'backSource')
  assert.equal(result.kind === 'backSource' ? result.reason : '', 'swarmStalled')
  assert.equal(result.kind === 'backSource' ? result.cause.code : '', 'DF_ERR_TASK_SWARM_FAILED')
  assert.equal(fetches.calls.length, 0)
})

test('a verified piece starts the stall timeout again', async (t) => {
  const { clock, target, supernode, fetches, controller, endedNow, ended } = setUp(4, { stallTimeoutMs: 12_000 })
  t.after(() => { controller.abort() })
  await settle()
  supernode.answerPull(0, piecesAnswer(target, [0]))
  await settle()
  clock.advance(10_000)
  await settle()
  fetches.succeed(0)
  await settle()
  // 12 s after the start, 2 s after the piece: still running, until 12 s after the piece.
  clock.advance(11_999)
  await settle()
  assert.equal(ended(), undefined)
  clock.advance(1)
  await settle()
  const result = await endedNow()
  assert.equal(result.kind === 'backSource' ? result.reason : result.kind, 'swarmStalled')
  assert.deepEqual(supernode.reports, [success(target, 0, 'peer-a')])
})

/** Answers the open pull with `answer`, then checks that the next pull comes `pauseMs` later, not before. */
async function expectPullPause (clock: ManualClock, supernode: ScriptedSupernode, answer: PullPieceTasksResponse, pauseMs: number): Promise<void> {
  const before = supernode.pulls.length
  const label = `${answer.result} ${'retryAfterMs' in answer ? answer.retryAfterMs : ''}`
  supernode.answerPull(before - 1, answer)
  await settle()
  assert.equal(supernode.pulls.length, before, `${label}: no pull at once`)
  clock.advance(pauseMs - 1)
  await settle()
  assert.equal(supernode.pulls.length, before, `${label}: no pull before ${pauseMs} ms`)
  clock.advance(1)
  await settle()
  assert.equal(supernode.pulls.length, before + 1, `${label}: one pull at ${pauseMs} ms`)
}

function wait (retryAfterMs: number): PullPieceTasksResponse {
  return { result: 'wait', retryAfterMs, reason: 'no piece available' }
}

function limited (retryAfterMs: number): PullPieceTasksResponse {
  return { result: 'limited', retryAfterMs, reason: 'every source is at its upload limit' }
}

test('a wait answered at once pauses the next pull by retryAfterMs clamped to [20, 500] ms; a wait after a long poll pulls again at once', async (t) => {
  const { clock, supernode, controller } = setUp(4)
  t.after(() => { controller.abort() })
  await settle()
  await expectPullPause(clock, supernode, wait(300), 300)
  await expectPullPause(clock, supernode, wait(5_000), 500)
  await expectPullPause(clock, supernode, wait(0), 20)
  // A server that held the pull 99 ms answered "at once"; 100 ms is a long poll.
  clock.advance(99)
  await settle()
  await expectPullPause(clock, supernode, wait(300), 300)
  clock.advance(100)
  await settle()
  supernode.answerPull(supernode.pulls.length - 1, wait(300))
  await settle()
  assert.equal(supernode.pulls.length, 6)
})

test('limited pauses the next pull by retryAfterMs clamped to [20, 2000] ms, also after a long poll', async (t) => {
  const { clock, supernode, controller } = setUp(4)
  t.after(() => { controller.abort() })
  await settle()
  await expectPullPause(clock, supernode, limited(1_500), 1_500)
  await expectPullPause(clock, supernode, limited(10_000), 2_000)
  await expectPullPause(clock, supernode, limited(5), 20)
  clock.advance(5_000)
  await settle()
  await expectPullPause(clock, supernode, limited(300), 300)
})

/** Fails the open pull and the two retries, checking their 200 and 400 ms pauses. */
async function failThreePulls (clock: ManualClock, supernode: ScriptedSupernode): Promise<void> {
  const base = supernode.pulls.length - 1
  supernode.failPull(base, NETWORK_DOWN)
  await settle()
  clock.advance(199)
  await settle()
  assert.equal(supernode.pulls.length, base + 1, 'no retry before 200 ms')
  clock.advance(1)
  await settle()
  assert.equal(supernode.pulls.length, base + 2, 'the first retry at 200 ms')
  supernode.failPull(base + 1, NETWORK_DOWN)
  await settle()
  clock.advance(399)
  await settle()
  assert.equal(supernode.pulls.length, base + 2, 'no retry before 400 ms')
  clock.advance(1)
  await settle()
  assert.equal(supernode.pulls.length, base + 3, 'the second retry at 400 ms')
  supernode.failPull(base + 2, NETWORK_DOWN)
  await settle()
}

test('pulls failing with a network error are retried after 200 then 400 ms; the third failure moves on with the pieces verified, and no supernode taking over ends in back-source supernodeLost', async (t) => {
  const { clock, target, control, supernode, fetches, controller, endedNow } = setUp(4)
  t.after(() => { controller.abort() })
  await settle()
  supernode.answerPull(0, piecesAnswer(target, [0, 1]))
  await settle()
  fetches.succeed(0)
  await settle()
  await failThreePulls(clock, supernode)
  assert.equal(control.moves.length, 1)
  assert.deepEqual({ heldPieces: control.moves[0]?.heldPieces, skipCurrent: control.moves[0]?.skipCurrent }, { heldPieces: [0], skipCurrent: true })
  const pulls = supernode.pulls.length
  clock.advance(10_000)
  await settle()
  assert.equal(supernode.pulls.length, pulls, 'no pull while moving')
  const lost = new DfError('DF_ERR_NETWORK', 'no other supernode')
  control.answerMove(0, { kind: 'none', cause: lost })
  const result = await endedNow()
  assert.equal(result.kind === 'backSource' ? result.reason : result.kind, 'supernodeLost')
  assert.equal(result.kind === 'backSource' ? result.cause : undefined, lost)
})

test('a move to another supernode goes on pulling from it and completes; what the one left handed out is reported to it, never to the new one', async (t) => {
  const { clock, target, control, supernode: first, fetches, controller, endedNow } = setUp(5)
  t.after(() => { controller.abort() })
  const second = registration(2, 5)
  await settle()
  first.holdReports = true
  // Piece 2's fetch will be writing when the move aborts the old supernode's fetches: it still ends.
  fetches.writing.add(2)
  first.answerPull(0, piecesAnswer(target, [0, 1, 2, 3]))
  await settle()
  assert.deepEqual(fetches.calls.map((call) => call.piece.pieceNum), [0, 1, 2, 3])
  fetches.succeed(0)
  fetches.succeed(1)
  await settle()
  await failThreePulls(clock, first)
  assert.deepEqual({ heldPieces: control.moves[0]?.heldPieces, skipCurrent: control.moves[0]?.skipCurrent }, { heldPieces: [0, 1], skipCurrent: true })
  control.answerMove(0, second.registration)
  await settle()
  // The fetches the old supernode handed out are aborted (piece 3); the new one is pulled at once.
  assert.equal(fetches.calls[3]?.signal.aborted, true)
  assert.equal(second.supernode.pulls.length, 1)
  fetches.succeed(2)
  await settle()
  second.supernode.answerPull(0, piecesAnswer(target, [3, 4], 'supernode'))
  await settle()
  const moved = fetches.calls.slice(4)
  assert.deepEqual(moved.map((call) => [call.piece.pieceNum, call.piece.sourcePeerId]), [[3, 'supernode'], [4, 'supernode']])
  fetches.succeed(4)
  fetches.succeed(5)
  await settle()
  assert.equal(target.isComplete, true)
  // The old supernode: piece 0 in one report, then 1 and 2 (made while it was in flight) together.
  first.reportCalls[0]?.done.resolve()
  await settle()
  first.reportCalls[1]?.done.resolve()
  assert.deepEqual(await endedNow(), { kind: 'complete' })
  assert.deepEqual(first.reportCalls.map((call) => call.batch), [false, true])
  assert.deepEqual(first.reports, [success(target, 0, 'peer-a'), success(target, 1, 'peer-a'), success(target, 2, 'peer-a')])
  assert.equal(first.pulls.length, 4, 'no pull to the supernode left')
  assert.deepEqual(second.supernode.reports.sort((a, b) => a.pieceRange.localeCompare(b.pieceRange)), [success(target, 3, 'supernode'), success(target, 4, 'supernode')])
})

test('a move to a supernode with another version of the source ends the loop with the typed outcome sourceChanged', async (t) => {
  const { clock, control, supernode, controller, endedNow } = setUp(2)
  t.after(() => { controller.abort() })
  await settle()
  await failThreePulls(clock, supernode)
  const changed = new DfError('DF_ERR_SOURCE_CHANGED', 'the source changed while moving to another supernode')
  control.answerMove(0, { kind: 'sourceChanged', cause: changed })
  assert.deepEqual(await endedNow(), { kind: 'sourceChanged', cause: changed })
  assert.equal(control.moves[0]?.skipCurrent, true)
})

test('a supernode that forgot the task is asked again at once, without the retry pauses', async (t) => {
  const { control, supernode, outcome, controller } = setUp(2)
  t.after(() => { controller.abort() })
  await settle()
  supernode.failPull(0, new DfError('DF_ERR_TASK_NOT_FOUND', 'restarted'))
  await settle()
  assert.deepEqual({ heldPieces: control.moves[0]?.heldPieces, skipCurrent: control.moves[0]?.skipCurrent }, { heldPieces: [], skipCurrent: false })
  const again = registration(1, 2)
  control.answerMove(0, again.registration)
  await settle()
  assert.equal(again.supernode.pulls.length, 1)
  controller.abort()
  await assert.rejects(outcome)
})

test('pieces verified while a report is in flight go together in one reportPieces to the supernode that handed them out; all pieces verified ends complete', async (t) => {
  const { target, supernode, fetches, controller, endedNow } = setUp(4)
  t.after(() => { controller.abort() })
  await settle()
  supernode.holdReports = true
  supernode.answerPull(0, { result: 'pieces', pieces: [pieceFrom(target, 0, 'peer-a'), pieceFrom(target, 1, 'peer-b'), pieceFrom(target, 2, 'supernode'), pieceFrom(target, 3, 'peer-a')] })
  await settle()
  fetches.succeed(0)
  await settle()
  assert.deepEqual(supernode.reportCalls.map((call) => call.batch), [false])
  fetches.succeed(1)
  fetches.succeed(2)
  fetches.succeed(3)
  await settle()
  assert.equal(supernode.reportCalls.length, 1, 'nothing more sent while the first report is in flight')
  supernode.reportCalls[0]?.done.resolve()
  await settle()
  assert.deepEqual(supernode.reportCalls.map((call) => call.batch), [false, true])
  assert.deepEqual(supernode.reports, [success(target, 0, 'peer-a'), success(target, 1, 'peer-b'), success(target, 2, 'supernode'), success(target, 3, 'peer-a')])
  supernode.reportCalls[1]?.done.resolve()
  assert.deepEqual(await endedNow(), { kind: 'complete' })
})
