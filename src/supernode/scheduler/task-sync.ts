/**
 * TaskSync: the supernode's half of control protocol v2 (`POST /api/v2/tasks/{id}/sync`,
 * docs/protocol.md). One sync applies what the cid says — its bitmap (coarse holdings, the
 * tracker's view at parent granularity), the parents that failed it (blacklisted for it;
 * a corrupt one distrusted for the task), what it received (byte counts and metrics), that
 * it is complete — and answers with its parents (ParentScheduler), the CDN as the parent of
 * last resort with the cid's share of the task's upload slots, the piece grant and the
 * digests the cid lacks.
 *
 * CDN shares: the supernode hands out the pieces the swarm does not have yet, each to one
 * cid at a time (a lease, in the answer's `cdnPieces`), so that each piece leaves the CDN
 * about once and the hosts trade the rest; a host sees only its few parents and cannot
 * tell this itself. A cid's share is about its part of the file (the pieces over the
 * downloading cids, at most a quarter of the file at once); a lease ends when some cid
 * holds the piece, when its cid leaves, completes or stops syncing. A sync saying
 * `cdnWanted` (its share is used up; while the CDN fills, every long-poll) is answered as
 * soon as there is more to hand out (while it fills, a fill batch).
 *
 * A sync with `waitMs` long-polls on the task's events and answers when the answer is worth
 * a request: a batch of new digests (the first as soon as there is one, then as many as
 * are known, from a quarter of an eighth of the file up to an eighth, and the rest when
 * the CDN holds it all), a cid left without parents
 * that can now get one, or the end of the wait. So a download makes a number of syncs that
 * does not grow with its piece count.
 */
import type { Clock } from '../../common/clock.js'
import { formatBaseUrl } from '../../common/http/server.js'
import type { Logger } from '../../common/log.js'
import { invalidArgument } from '../../protocol/errors.js'
import type { ClientId, TaskId } from '../../protocol/ids.js'
import { PieceBitset } from '../../protocol/piece-bitset.js'
import { SUPERNODE_SOURCE_ID } from '../../protocol/messages/pull-piece-task.js'
import type { Parent, SyncTaskRequest, SyncTaskResponse } from '../../protocol/messages/sync-task.js'
import { fillPath, PEER_PATHS } from '../../protocol/paths.js'
import type { DfgetTaskManager } from '../dfget-task/dfget-task-manager.js'
import type { PieceGrants } from '../access/piece-grants.js'
import type { SupernodeMetrics } from '../metrics.js'
import type { PeerManager } from '../peer/peer-manager.js'
import type { ProgressManager } from '../progress/progress-manager.js'
import type { SyncWaitInterest, TaskEvents } from '../progress/task-events.js'
import type { ClientProgressView, TaskProgressView } from '../progress/task-progress.js'
import type { TaskManager, TaskView } from '../task/task-manager.js'
import { CdnLeases } from './cdn-leases.js'
import type { ParentCandidate, ParentScheduler } from './parent-scheduler.js'
import type { Random } from './random.js'
import { mustGetClient, mustGetSchedulableTask } from './task-lookup.js'

export interface TaskSyncOptions {
  /** Most uploads in flight from the supernode, per task: shared out as CDN slots. */
  readonly supernodeMaxUploads: number
  /** Failures of the supernode after which a cid is not sent to it again. */
  readonly supernodeFailureLimit: number
  /** How long a client may go without syncing (it long-polls this long). */
  readonly syncIntervalMs: number
  /** The scheme of the parents' piece and have URLs (https when the data ports speak TLS). Default http. */
  readonly peerDataProtocol?: 'http' | 'https'
}

export interface TaskSyncDeps {
  readonly logger: Logger
  readonly clock: Clock
  readonly tasks: Pick<TaskManager, 'getTask' | 'touch'>
  readonly progress: Pick<ProgressManager, 'getTask' | 'syncHoldings' | 'applyReport'>
  readonly peers: Pick<PeerManager, 'isServing' | 'getPeer'>
  readonly dfgetTasks: Pick<DfgetTaskManager, 'addBytes' | 'finish'>
  readonly events: Pick<TaskEvents, 'waitFor' | 'decline'>
  readonly metrics: Pick<SupernodeMetrics, 'pieceReports' | 'pieceReportBytes' | 'syncAnswers'>
  readonly dataUrlOf: (taskId: TaskId) => string
  readonly grants: Pick<PieceGrants, 'issue'>
  readonly parents: ParentScheduler
  /** A float in [0, 1): where a CDN share starts its walk over the pieces. Default Math.random. */
  readonly random?: Random
}

type Received = NonNullable<SyncTaskRequest['received']>
const NOTHING_RECEIVED: Received = { supernodePieces: 0, supernodeBytes: 0, peerPieces: 0, peerBytes: 0 }
/** Why a sync was answered (the metric label). */
type SyncAnswer = 'now' | 'digests' | 'parents' | 'cdn' | 'timeout'
interface PeerPaths { readonly dataPath: string, readonly havesPath: string }

/** Leases that ended are swept at most this often (#leasesOf). */
const SWEEP_EVERY_MS = 10
/** A lease outlives its cid's last sync by the sync interval and this margin. */
const LEASE_MARGIN_MS = 10_000
/** A cid's share is at most this fraction of the file at once (cids registering one by one do not take it all). */
const MIN_SHARE_DIVISOR = 4
/** While a cold CDN fills, a download is lent its part of the file in about this many answers. */
const CDN_ROUNDS = 4

export class TaskSync {
  readonly #deps: TaskSyncDeps
  readonly #options: TaskSyncOptions
  /** What each cid said it received at its last sync (to count the growth). */
  readonly #received = new Map<string, Received>()
  /** Per task: the CDN pieces handed to a cid. */
  readonly #leases = new Map<TaskId, CdnLeases>()
  readonly #peerPaths = new Map<TaskId, PeerPaths>()
  readonly #random: Random

  constructor (deps: TaskSyncDeps, options: TaskSyncOptions) {
    this.#deps = deps
    this.#options = options
    this.#random = deps.random ?? Math.random
  }

  /**
   * Applies a sync of `cid` and answers it (after long-polling up to `waitMs`).
   * @throws DF_ERR_TASK_NOT_FOUND, DF_ERR_TASK_CLIENT_NOT_FOUND, DF_ERR_TASK_FAILED,
   *   DF_ERR_ARG_INVALID (a bitmap of another size, a piece number past the end)
   */
  async sync (taskId: TaskId, cid: ClientId, request: SyncTaskRequest, signal?: AbortSignal): Promise<SyncTaskResponse> {
    const answerNow = this.#apply(taskId, cid, request)
    const deadlineMs = this.#deps.clock.now() + (answerNow ? 0 : Math.min(request.waitMs ?? 0, this.#options.syncIntervalMs))
    let why: SyncAnswer = 'now'
    let interest: SyncWaitInterest | undefined
    for (;;) {
      const { task, progress } = this.#mustGetTask(taskId)
      const client = mustGetClient(progress, taskId, cid)
      if (!answerNow) {
        if (this.#hasDigestBatch(progress, request.digestsKnown)) why = 'digests'
        else if (this.#parentsArrived(taskId, progress, client)) why = 'parents'
        else if (request.cdnWanted === true && this.#cdnArrived(taskId, progress, client)) why = 'cdn'
      }
      const remainingMs = deadlineMs - this.#deps.clock.now()
      if (answerNow || why !== 'now' || remainingMs <= 0 || signal?.aborted === true) {
        if (!answerNow && why === 'now') why = 'timeout'
        this.#deps.metrics.syncAnswers.inc({ why })
        return this.#answer(task, progress, client, request.digestsFrom)
      }
      // Woken by a cached piece it could not use (a fill batch not complete yet): the wake-up goes to the next sync that asked for CDN pieces.
      if (interest !== undefined) this.#deps.events.decline(taskId, interest)
      interest = {
        kind: 'sync',
        cid,
        due: () => this.#hasDigestBatch(progress, request.digestsKnown),
        cdnWanted: request.cdnWanted === true,
        orphan: !client.held.isFull && this.#deps.parents.parentsOf(taskId, cid).length === 0,
      }
      const reason = await this.#deps.events.waitFor(taskId, remainingMs, signal, interest)
      if (reason === 'closed' || reason === 'aborted') {
        const current = this.#mustGetTask(taskId)
        this.#deps.metrics.syncAnswers.inc({ why: 'timeout' })
        return this.#answer(current.task, current.progress, mustGetClient(current.progress, taskId, cid), request.digestsFrom)
      }
    }
  }

  /** Forgets what a cid said it received (it left the task). */
  forgetClient (taskId: TaskId, cid: ClientId): void {
    this.#received.delete(`${taskId}/${cid}`)
    this.#releaseLeases(taskId, cid)
  }

  /** Forgets a task (it left): its CDN leases and its peer paths. */
  forgetTask (taskId: TaskId): void {
    this.#leases.delete(taskId)
    this.#peerPaths.delete(taskId)
  }

  /** The paths of a task's data and have feed on every peer server (the same for each answer of the task). */
  #peerPathsOf (taskId: TaskId): PeerPaths {
    let paths = this.#peerPaths.get(taskId)
    if (paths === undefined) {
      paths = { dataPath: fillPath(PEER_PATHS.taskData, { taskId }), havesPath: fillPath(PEER_PATHS.taskHaves, { taskId }) }
      this.#peerPaths.set(taskId, paths)
    }
    return paths
  }

  /** Applies the request; true when it must be answered at once (failures, complete). */
  #apply (taskId: TaskId, cid: ClientId, request: SyncTaskRequest): boolean {
    const { progress } = this.#mustGetTask(taskId)
    mustGetClient(progress, taskId, cid)
    const held = PieceBitset.fromBase64(request.held, progress.pieceCount)
    if (held === undefined) throw invalidArgument('body.held', `is not a bitmap of ${progress.pieceCount} pieces`)
    const deps = this.#deps
    deps.progress.syncHoldings(taskId, cid, held)
    for (const failure of request.failures ?? []) {
      const pieceNum = failure.pieceNum ?? 0
      if (pieceNum >= progress.pieceCount) throw invalidArgument('body.failures.pieceNum', `is past the last piece (${progress.pieceCount - 1})`)
      deps.progress.applyReport(taskId, cid, pieceNum, 'failed', failure.sourcePeerId, this.#options.supernodeFailureLimit, failure.reason)
      deps.metrics.pieceReports.inc({ source: failure.sourcePeerId === SUPERNODE_SOURCE_ID ? 'supernode' : 'peer', result: 'failed' })
      if (failure.sourcePeerId !== SUPERNODE_SOURCE_ID) {
        for (const parentCid of deps.parents.parentsOf(taskId, cid)) {
          if (progress.getClient(parentCid)?.peerId === failure.sourcePeerId) deps.parents.drop(taskId, cid, parentCid)
        }
      }
      deps.logger.debug({ taskId, cid, pieceNum, peerId: failure.sourcePeerId, reason: failure.reason }, 'piece failed at its source')
    }
    if (request.received !== undefined) this.#count(taskId, cid, request.received)
    if (request.complete === true || held.isFull) {
      deps.dfgetTasks.finish(taskId, cid)
      deps.parents.releaseParents(taskId, cid)
      this.#releaseLeases(taskId, cid)
    }
    // A cid that failed the CDN gives its share back (another cid may fetch it).
    if ((request.failures ?? []).some((failure) => failure.sourcePeerId === SUPERNODE_SOURCE_ID)) this.#releaseLeases(taskId, cid)
    deps.tasks.touch(taskId)
    return (request.failures?.length ?? 0) > 0 || request.complete === true
  }

  /** Counts the growth of what the cid received since its last sync. */
  #count (taskId: TaskId, cid: ClientId, received: Received): void {
    const key = `${taskId}/${cid}`
    const before = this.#received.get(key) ?? NOTHING_RECEIVED
    this.#received.set(key, received)
    const { metrics, dfgetTasks } = this.#deps
    const supernodePieces = Math.max(0, received.supernodePieces - before.supernodePieces)
    const supernodeBytes = Math.max(0, received.supernodeBytes - before.supernodeBytes)
    const peerPieces = Math.max(0, received.peerPieces - before.peerPieces)
    const peerBytes = Math.max(0, received.peerBytes - before.peerBytes)
    if (supernodePieces > 0) metrics.pieceReports.inc({ source: 'supernode', result: 'success' }, supernodePieces)
    if (peerPieces > 0) metrics.pieceReports.inc({ source: 'peer', result: 'success' }, peerPieces)
    if (supernodeBytes > 0) { metrics.pieceReportBytes.inc({ source: 'supernode' }, supernodeBytes); dfgetTasks.addBytes(taskId, cid, 'supernode', supernodeBytes) }
    if (peerBytes > 0) { metrics.pieceReportBytes.inc({ source: 'peer' }, peerBytes); dfgetTasks.addBytes(taskId, cid, 'peer', peerBytes) }
  }

  /** True when enough new digests are known to be worth an answer. */
  #hasDigestBatch (progress: TaskProgressView, digestsKnown: number): boolean {
    const cached = progress.cachedCount
    if (cached <= digestsKnown) return false
    if (digestsKnown === 0 || cached === progress.pieceCount) return true
    // Batches grow with what is known, from a quarter of an eighth of the file up to an eighth:
    // with a first batch of an eighth, the hosts of the swarm lab (128 pieces) waited 1.3 s for
    // the CDN to cache 16 more pieces while the supernode's uplink idled.
    const eighth = Math.max(1, Math.ceil(progress.pieceCount / 8))
    return cached - digestsKnown >= Math.max(Math.ceil(eighth / 4), Math.min(digestsKnown, eighth))
  }

  /** True when the cid has no parent and one can be assigned now. */
  #parentsArrived (taskId: TaskId, progress: TaskProgressView, client: ClientProgressView): boolean {
    if (client.held.isFull) return false
    const current = this.#deps.parents.parentsOf(taskId, client.cid).filter((parentCid) => this.#isEligible(progress, client, parentCid))
    if (current.length > 0) return false
    return this.#assign(taskId, progress, client).length > 0
  }

  #answer (task: TaskView, progress: TaskProgressView, client: ClientProgressView, digestsFrom: number): SyncTaskResponse {
    const taskId = task.taskId
    const parentCids = client.held.isFull ? [] : this.#assign(taskId, progress, client)
    const parents: Parent[] = []
    const { dataPath, havesPath } = this.#peerPathsOf(taskId)
    for (const parentCid of parentCids) {
      const parent = progress.getClient(parentCid)
      const peer = parent === undefined ? undefined : this.#deps.peers.getPeer(parent.peerId)
      if (parent === undefined || peer === undefined) continue
      const base = formatBaseUrl(peer.ip, peer.port, this.#options.peerDataProtocol ?? 'http')
      const query = `?cid=${encodeURIComponent(parentCid)}`
      parents.push({
        peerId: parent.peerId,
        cid: parentCid,
        url: `${base}${dataPath}${query}`,
        havesUrl: `${base}${havesPath}${query}`,
        complete: parent.held.isFull,
      })
    }
    const from = Math.min(Math.max(0, digestsFrom), progress.pieceCount)
    const digests: string[] = []
    // The last cached piece, looked for from the end (once the CDN holds the file, at once).
    let last = from - 1
    for (let pieceNum = progress.pieceCount - 1; pieceNum >= from; pieceNum--) if (progress.digestOf(pieceNum) !== undefined) { last = pieceNum; break }
    for (let pieceNum = from; pieceNum <= last; pieceNum++) digests.push(progress.digestOf(pieceNum) ?? '')
    const share = new PieceBitset(progress.pieceCount)
    if (!client.held.isFull && !client.isBlacklisted(SUPERNODE_SOURCE_ID)) for (const pieceNum of this.#shareOf(taskId, progress, client)) share.add(pieceNum)
    const slots = this.#slotsOf(progress, client, share.count > 0)
    const cdnPieces = share.toBase64()
    return {
      parents,
      supernode: { url: this.#deps.dataUrlOf(taskId), slots, cachedAll: progress.cachedCount === progress.pieceCount, cdnPieces },
      // A public task's pieces need no grant (peer servers check grants only for private tasks): no signature per cid.
      ...(task.isPublic ? {} : { grant: this.#deps.grants.issue(taskId, client.peerId, client.cid) }),
      digestsFrom: from,
      digests,
      syncAfterMs: this.#options.syncIntervalMs,
    }
  }

  /**
   * The cid's part of the task's CDN upload slots (supernodeMaxUploads over the receiving
   * cids): at least one while it has a CDN share to fetch; none once the supernode failed it
   * too often. Past supernodeMaxUploads receiving cids, a cid without a share gets none: the
   * CDN is the parent of last resort of a few, not of the fleet (with one slot for each of
   * 10,000 hosts, every host whose parents stayed idle for a while fell back on the CDN at
   * once, 15 copies of the file left it, and its uplink set everyone's pace).
   */
  #slotsOf (progress: TaskProgressView, client: ClientProgressView, hasShare: boolean): number {
    if (client.isBlacklisted(SUPERNODE_SOURCE_ID)) return 0
    const max = this.#options.supernodeMaxUploads
    const receiving = Math.max(1, progress.receivingCount)
    const fair = receiving > max ? 0 : Math.ceil(max / receiving)
    return hasShare ? Math.max(1, fair) : fair
  }

  /**
   * True when the cid's share of the CDN can grow now (pieces nobody holds or leases). Also
   * while a cold CDN fills: a cid whose share is used up gets the next pieces as they are
   * cached, a fill batch at a time (#fillBatch), so the supernode's uplink forwards them
   * soon instead of at the next batch of digests (in the swarm lab the supernode fell
   * 16 MiB behind the origin in the first 4 s, and the last host finished at 1.64× the
   * bound against 1.34× with fill batches).
   */
  #cdnArrived (taskId: TaskId, progress: TaskProgressView, client: ClientProgressView): boolean {
    if (client.held.isFull || client.isBlacklisted(SUPERNODE_SOURCE_ID)) return false
    const leases = this.#leasesOf(taskId, progress)
    // A share still at its size (a stream's lies ahead of its window) does not grow: nothing to answer.
    let mine = 0
    for (const pieceNum of leases.piecesOf(client.cid)) if (!client.held.has(pieceNum)) mine += 1
    if (mine >= this.#shareTarget(progress)) return false
    const filling = progress.cachedCount < progress.pieceCount
    const wanted = filling ? this.#fillBatch(progress) : 1
    let lendable = 0
    for (const pieceNum of lendableFrom(progress, leases, 0)) {
      if (lendable >= wanted) break
      if (!client.held.has(pieceNum)) lendable += 1
    }
    return lendable >= wanted
  }

  /**
   * While the CDN fills, how many newly cached pieces a cid wanting more is lent at once: its
   * part of the file over CDN_ROUNDS, so that the answers for the fill are about CDN_ROUNDS
   * per download whatever the piece count (one piece per answer cost a request per piece
   * the cid took), and the supernode's uplink waits at most a batch behind the origin.
   */
  #fillBatch (progress: TaskProgressView): number {
    return Math.max(1, Math.ceil(progress.pieceCount / (Math.max(1, progress.downloadingCount) * CDN_ROUNDS)))
  }

  /**
   * The CDN pieces leased to `client`: those it has and lacks still, then new ones up to its share — cached, held by no cid, leased to nobody — walked from a random
   * place so that cids sharing out a file take different parts of it (a stream: from the
   * first piece it lacks, in order, so its window meets its share).
   */
  #shareOf (taskId: TaskId, progress: TaskProgressView, client: ClientProgressView): number[] {
    const leases = this.#leasesOf(taskId, progress)
    const untilMs = this.#deps.clock.now() + this.#options.syncIntervalMs + LEASE_MARGIN_MS
    const share: number[] = []
    for (const pieceNum of leases.piecesOf(client.cid)) {
      if (client.held.has(pieceNum)) { leases.end(pieceNum); continue }
      leases.lend(pieceNum, client.cid, untilMs)
      share.push(pieceNum)
    }
    const fair = this.#fairNewLeases(progress, leases, client)
    const target = Math.min(this.#shareTarget(progress), share.length + Math.max(fair, progress.cachedCount < progress.pieceCount ? this.#fillBatch(progress) : 0))
    const start = client.windowPieces === undefined ? Math.floor(this.#random() * progress.pieceCount) : Math.max(0, client.done.firstMissing())
    for (const pieceNum of lendableFrom(progress, leases, start)) {
      if (share.length >= target) break
      if (client.held.has(pieceNum)) continue
      leases.lend(pieceNum, client.cid, untilMs)
      share.push(pieceNum)
    }
    if (leases.size === 0) this.#leases.delete(taskId)
    return share
  }

  /**
   * How many new pieces one answer may lend: the free ones (cached, held and leased by
   * nobody) over this cid and the downloading cids that hold no lease. While a cold CDN
   * fills, a batch of digests wakes every cid's sync at once, and the first answered took
   * the whole batch (in the swarm lab one host got 46 MiB from the CDN, another none, and
   * the others waited for that one host's uplink).
   */
  #fairNewLeases (progress: TaskProgressView, leases: CdnLeases, client: ClientProgressView): number {
    // Swept (#leasesOf): every lease is of a cached piece nobody held a millisecond ago, lent to a downloading cid of the task.
    const free = progress.unheldCachedCount - leases.size
    if (free <= 0) return 0
    // The downloading cids other than this one that hold no lease.
    const lessees = leases.lesseeCount - (leases.piecesOf(client.cid).size > 0 ? 1 : 0)
    const sharing = 1 + Math.max(0, progress.downloadingCount - (client.held.isFull ? 0 : 1) - lessees)
    return Math.ceil(free / sharing)
  }

  /** How many CDN pieces one cid is lent at once: its part of the file, at most a quarter. */
  #shareTarget (progress: TaskProgressView): number {
    return Math.ceil(progress.pieceCount / Math.max(MIN_SHARE_DIVISOR, progress.downloadingCount))
  }

  /**
   * The task's leases, without those that ended (the piece is held, the cid left, completed or
   * stopped syncing) before the last millisecond: each of those left is of a cached piece
   * nobody held then (a piece is lent only so), lent to a downloading cid of the task.
   */
  #leasesOf (taskId: TaskId, progress: TaskProgressView): CdnLeases {
    let leases = this.#leases.get(taskId)
    if (leases === undefined) {
      leases = new CdnLeases()
      this.#leases.set(taskId, leases)
      return leases
    }
    const now = this.#deps.clock.now()
    // At most one sweep per SWEEP_EVERY_MS: a busy supernode answers tens of syncs of a task
    // per millisecond, and each sweep walks up to every piece (with 3,000 hosts, a quarter
    // of the supernode's CPU at every answer, 8 % at one sweep per millisecond). A lease that
    // ended is swept within 10 ms: its piece waits that much longer for another lessee, a
    // sync interval is 30 s.
    if (now < leases.sweptAtMs + SWEEP_EVERY_MS) return leases
    leases.sweptAtMs = now
    for (const [pieceNum, lease] of leases.entries()) {
      const holder = progress.getClient(lease.cid)
      if (lease.untilMs <= now || holder === undefined || holder.held.isFull || progress.holderCount(pieceNum) > 0) leases.end(pieceNum)
    }
    return leases
  }

  #releaseLeases (taskId: TaskId, cid: ClientId): void {
    const leases = this.#leases.get(taskId)
    if (leases === undefined) return
    leases.endAllOf(cid)
    if (leases.size === 0) this.#leases.delete(taskId)
  }

  #assign (taskId: TaskId, progress: TaskProgressView, client: ClientProgressView): readonly ClientId[] {
    const random = this.#random
    // From a random place, drawn when the scheduler looks (it looks at a bounded number of candidates: a fleet's cids are thousands).
    const candidates: Iterable<ParentCandidate> = { [Symbol.iterator]: () => progress.clientsFrom(random() * progress.clientCount)[Symbol.iterator]() }
    return this.#deps.parents.assign(taskId, client, candidates, (candidate) => this.#isEligible(progress, client, candidate.cid), (cid) => progress.getClient(cid)?.peerId)
  }

  /** A parent must be a cid of the task whose peer serves, that this cid did not report, and not distrusted. */
  #isEligible (progress: TaskProgressView, client: ClientProgressView, parentCid: ClientId): boolean {
    const parent = progress.getClient(parentCid)
    if (parent === undefined || parent.peerId === client.peerId) return false
    return this.#deps.peers.isServing(parent.peerId) && !client.isBlacklisted(parent.peerId) && !progress.isDistrusted(parent.peerId)
  }

  #mustGetTask (taskId: TaskId): { task: TaskView, progress: TaskProgressView } {
    return mustGetSchedulableTask(this.#deps.tasks, this.#deps.progress, taskId)
  }
}

/**
 * The pieces the CDN can lend — cached, held by no cid, leased to nobody — from `start` up,
 * wrapping round to it. A walk of the cached pieces nobody holds (TaskProgress keeps them),
 * not of every piece: in a large swarm every piece soon has a holder.
 */
function * lendableFrom (progress: TaskProgressView, leases: Pick<CdnLeases, 'has'>, start: number): Generator<number> {
  const first = progress.pieceCount === 0 ? 0 : ((Math.floor(start) % progress.pieceCount) + progress.pieceCount) % progress.pieceCount
  for (let pieceNum = progress.nextUnheldCached(first); pieceNum >= 0; pieceNum = progress.nextUnheldCached(pieceNum + 1)) {
    if (!leases.has(pieceNum)) yield pieceNum
  }
  for (let pieceNum = progress.nextUnheldCached(0); pieceNum >= 0 && pieceNum < first; pieceNum = progress.nextUnheldCached(pieceNum + 1)) {
    if (!leases.has(pieceNum)) yield pieceNum
  }
}
