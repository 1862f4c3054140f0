/**
 * TaskManager: the tasks of this supernode and their lifecycle (see task-state.ts), and
 * the registration workflow of DESIGN.md §4: compute the task id, make sure the CDN has
 * (or is fetching) the file, then record the cid's download and its progress bitmap.
 * Registration answers once the file's length is known. State changes are synchronous
 * calls applied after each await, re-checking that the task is still the same record.
 */
import type { Clock } from '../../common/clock.js'
import { redactUrl } from '../../common/http/redact-url.js'
import type { Logger } from '../../common/log.js'
import { DfError, invalidArgument } from '../../protocol/errors.js'
import { checkSourceHeaders } from '../../protocol/source-headers.js'
import { parseClientId, parsePeerId, type ClientId, type TaskId } from '../../protocol/ids.js'
import type { RegisterTaskRequest, RegisterTaskResponse, TaskInfo } from '../../protocol/messages/register-task.js'
import { computeTaskId, digestTaskId, identityUrl } from '../../protocol/task-id.js'
import { isAnonymousRegistration, type AccessCheckResult, type SourceAccess } from '../access/source-access.js'
import type { CdnManager } from '../cdn/cdn-manager.js'
import type { DfgetTaskManager } from '../dfget-task/dfget-task-manager.js'
import type { SupernodeMetrics } from '../metrics.js'
import type { PeerManager } from '../peer/peer-manager.js'
import type { ProgressManager } from '../progress/progress-manager.js'
import type { TaskEvents } from '../progress/task-events.js'
import { TaskAliases } from './task-aliases.js'
import { cdnStatusOf, nextTaskState, type TaskEvent, type TaskState } from './task-state.js'

/** A task's size and piece layout, known once the source told its length. */
export interface TaskGeometry {
  readonly fileLengthBytes: number
  readonly pieceSizeBytes: number
  readonly pieceCount: number
  /** The source version of the cached pieces (ETag, else Last-Modified), when the source gave one. */
  readonly sourceVersion?: string
}

/** Where the CDN reads a task from: the URL and headers of a registration that proved access (or of the preheat). */
export interface TaskSource {
  readonly url: string
  /** May hold credentials: never logged. */
  readonly headers: Readonly<Record<string, string>>
}

/** A task, read-only. */
export interface TaskView {
  readonly taskId: TaskId
  readonly state: TaskState
  /**
   * True once an anonymous registration proved access (the source answers without
   * credentials): registrations need no proof and the pieces no grant. False = private.
   */
  readonly isPublic: boolean
  readonly geometry: TaskGeometry | undefined
  /** Why the task failed (a DF_ERR_TASK_FAILED naming the cause), when it did. */
  readonly failure: DfError | undefined
  readonly createdAtMs: number
  readonly lastAccessMs: number
}

interface TaskRecord {
  readonly taskId: TaskId
  /**
   * What the CDN reads: the latest registration that proved its access replaces it (so a
   * stale or failed credential, or an expired signature of another URL of the same object,
   * is never the one used), as does a restart of a failed task. Its URL may be signed and
   * its headers may hold credentials: never logged unredacted.
   */
  source: TaskSource
  isPublic: boolean
  state: TaskState
  geometry: TaskGeometry | undefined
  failure: DfError | undefined
  readonly createdAtMs: number
  lastAccessMs: number
  /** When the cached file was last checked against the source (default: created); a finished task is revalidated on registration. */
  validatedAtMs?: number
  /** Settles when the CDN has every piece (set once the CDN fetch started). */
  completion?: Promise<void>
  /** The content digest that identifies the task, if any: its bytes cannot change without changing the task, and the CDN checks the file against it. */
  digest?: string | undefined
  /** Identity: the content digest the source stated at the probe (the CDN checks the file against it). */
  statedDigest?: string | undefined
  /** Identity: the URLs the task was reached by (redacted, without signatures), for the task list. */
  urls?: Set<string>
  /** Identity: the source stated a digest another task has; registrations of this record join that task. */
  sameContentAs?: TaskId | undefined
  /** True once a caller started the CDN's preparation of this record (until a restart). */
  hasStarter?: boolean
}

/** What a preheat asks the CDN to cache (the identity fields as in a registration). */
export interface PreheatTaskSpec {
  readonly url: string
  readonly headers?: Readonly<Record<string, string>> | undefined
  readonly filter?: readonly string[] | undefined
  readonly md5?: string | undefined
  readonly identifier?: string | undefined
  readonly digest?: string | undefined
}

export interface TaskManagerDeps {
  readonly logger: Logger
  readonly clock: Clock
  readonly cdn: Pick<CdnManager, 'prepareTask' | 'abortTask' | 'isBusy' | 'isSourceUnchanged'>
  readonly progress: Pick<ProgressManager, 'addClient' | 'removeClient' | 'removeTask' | 'getTask'>
  readonly dfgetTasks: DfgetTaskManager
  readonly peers: Pick<PeerManager, 'isLive'>
  readonly events: Pick<TaskEvents, 'notify' | 'countWaiters'>
  readonly metrics: Pick<SupernodeMetrics, 'registrations' | 'accessChecks'>
  /** The task file's URL on the supernode's download port. */
  readonly dataUrlOf: (taskId: TaskId) => string
  /** Proves each registration's own access to the source. */
  readonly access: Pick<SourceAccess, 'prove' | 'remember'>
  /** The public key of the piece grants (wire form), told to the clients of private tasks. */
  readonly grantKey: () => string
}

export class TaskManager {
  readonly #deps: TaskManagerDeps
  readonly #log: Logger
  readonly #tasks = new Map<TaskId, TaskRecord>()
  /** Revalidations of finished tasks in flight (single flight per task). */
  readonly #revalidating = new Map<TaskId, Promise<boolean>>()
  /** Identity: other ids that lead to a task (a stated digest's, other URLs' of the same content). */
  readonly #aliases = new TaskAliases()
  /** Identity: registrations and preheats being repeated on the task of the same content (once each). */
  readonly #rejoining = new WeakSet<object>()

  constructor (deps: TaskManagerDeps) {
    this.#deps = deps
    this.#log = deps.logger
  }

  /** Tasks in memory. */
  get count (): number {
    return this.#tasks.size
  }

  /**
   * Registers a cid's download of a URL (DESIGN.md §4 workflow 1). Unless the task is
   * public, the registration first proves its own access to the source (#proveAccess); one
   * that fails leaves the task as it was, for everyone else.
   * @throws DF_ERR_PEER_NOT_FOUND (register the peer first), DF_ERR_TASK_CONFLICT,
   *   DF_ERR_SOURCE_STATUS / DF_ERR_SOURCE_UNREACHABLE (the source failed or refused this
   *   registration's credentials), DF_ERR_SOURCE_NOT_PROVEN, DF_ERR_ARG_INVALID
   */
  async register (request: RegisterTaskRequest): Promise<RegisterTaskResponse> {
    const { dfgetTasks, peers, progress, metrics, clock } = this.#deps
    const peerId = parsePeerId(request.peerId, 'body.peerId')
    const cid = parseClientId(request.cid, 'body.cid')
    const url = parseSourceUrl(request.url)
    checkSourceHeaders(request.headers, 'body.headers')
    if (!this.#rejoining.has(request)) metrics.registrations.inc()
    if (!peers.isLive(peerId)) throw new DfError('DF_ERR_PEER_NOT_FOUND', `no peer ${peerId}: register the peer first`, { details: { peerId } })
    const taskId = this.#resolveAlias(computeTaskId({ url, filter: request.filter, md5: request.md5, identifier: request.identifier, digest: request.digest, range: rangeHeaderOf(request.headers) }))
    const previous = dfgetTasks.get(taskId, cid)
    if (previous === undefined) dfgetTasks.register(taskId, cid, peerId) // throws DF_ERR_TASK_CONFLICT early, before any source I/O
    const source: TaskSource = { url, headers: request.headers ?? {} }
    let task = this.#tasks.get(taskId)
    if (task !== undefined) this.#noteSource(task, url, request.filter)
    if (task !== undefined && await this.#isOutdated(task)) {
      // The source has a new version (new ETag): the task starts over with it, so old and
      // new pieces never meet in one task.
      if (this.#tasks.get(taskId) === task) this.#forget(taskId)
      task = this.#tasks.get(taskId)
    }
    if (task === undefined) {
      task = { taskId, source, isPublic: false, state: 'pending', geometry: undefined, failure: undefined, createdAtMs: clock.now(), lastAccessMs: clock.now(), digest: request.digest, urls: new Set([shownUrl(url, request.filter)]) }
      this.#tasks.set(taskId, task)
    }
    task.lastAccessMs = clock.now()
    try {
      metrics.accessChecks.inc({ result: await this.#prepareAndProve(task, source, isAnonymousRegistration(url, source.headers, request.filter)) })
    } catch (err) {
      if (err instanceof DfError && err.code.startsWith('DF_ERR_SOURCE_')) metrics.accessChecks.inc({ result: 'refused' })
      if (previous === undefined) dfgetTasks.remove(taskId, cid)
      throw err
    }
    if (task.sameContentAs !== undefined) { // identity: the source stated a digest another task has; join it
      if (previous === undefined) dfgetTasks.remove(taskId, cid)
      return await this.#rejoin(request, async () => await this.register(request))
    }
    const geometry = task.geometry
    if (this.#tasks.get(taskId) !== task || geometry === undefined || progress.getTask(taskId) === undefined) {
      dfgetTasks.remove(taskId, cid)
      throw new DfError('DF_ERR_TASK_NOT_FOUND', `task ${taskId} was removed during registration`, { details: { taskId } })
    }
    dfgetTasks.register(taskId, cid, peerId)
    progress.addClient(taskId, cid, peerId, { heldPieces: request.heldPieces, windowPieces: request.windowPieces })
    if (progress.getTask(taskId)?.getClient(cid)?.done.isFull === true) dfgetTasks.finish(taskId, cid)
    this.#log.info({ taskId, cid, peerId, url: redactUrl(url), fileLengthBytes: geometry.fileLengthBytes }, 'task registered')
    return { taskId, ...geometry, cdnStatus: cdnStatusOf(task.state), dataUrl: this.#deps.dataUrlOf(taskId), ...(task.isPublic ? {} : { grantKey: this.#deps.grantKey() }) }
  }

  /**
   * Warms the CDN cache with a task no client downloads yet (preheat): creates the task when
   * new and makes sure its file is cached or being cached. Resolves once the length is known,
   * with a promise that settles when every piece is cached.
   * @throws DF_ERR_ARG_INVALID, DF_ERR_SOURCE_STATUS / DF_ERR_SOURCE_UNREACHABLE
   */
  async preheat (spec: PreheatTaskSpec): Promise<{ taskId: TaskId, fileLengthBytes: number, completion: Promise<void> }> {
    const url = parseSourceUrl(spec.url)
    checkSourceHeaders(spec.headers, 'body.headers')
    const taskId = this.#resolveAlias(computeTaskId({ url, filter: spec.filter, md5: spec.md5, identifier: spec.identifier, digest: spec.digest, range: rangeHeaderOf(spec.headers) }))
    let task = this.#tasks.get(taskId)
    const source: TaskSource = { url, headers: spec.headers ?? {} }
    if (task !== undefined) this.#noteSource(task, url, spec.filter)
    if (task === undefined) {
      const now = this.#deps.clock.now()
      // Private until an anonymous registration proves otherwise: a preheat proves nobody's access.
      task = { taskId, source, isPublic: false, state: 'pending', geometry: undefined, failure: undefined, createdAtMs: now, lastAccessMs: now, digest: spec.digest, urls: new Set([shownUrl(url, spec.filter)]) }
      this.#tasks.set(taskId, task)
    }
    task.lastAccessMs = this.#deps.clock.now()
    await this.#prepare(task, source)
    if (task.sameContentAs !== undefined) return await this.#rejoin(spec, async () => await this.preheat(spec)) // identity: joined the task of the same content
    const completion = task.state === 'success' ? Promise.resolve() : task.completion ?? Promise.reject(new DfError('DF_ERR_TASK_NOT_FOUND', `task ${taskId} was removed during the preheat`))
    this.#log.info({ taskId, url: redactUrl(url) }, 'task preheated')
    return { taskId, fileLengthBytes: task.geometry?.fileLengthBytes ?? 0, completion }
  }

  getTask (taskId: TaskId): TaskView | undefined {
    return this.#tasks.get(taskId)
  }

  /** Notes that the task was used now (GC expires idle tasks). */
  touch (taskId: TaskId): void {
    const task = this.#tasks.get(taskId)
    if (task !== undefined) task.lastAccessMs = this.#deps.clock.now()
  }

  /** @throws DF_ERR_TASK_NOT_FOUND */
  describe (taskId: TaskId): TaskInfo {
    return this.#info(this.#mustGet(taskId))
  }

  list (): TaskInfo[] {
    return [...this.#tasks.values()].map((task) => this.#info(task))
  }

  /** A cid leaves the task: its download, holdings and hand-outs go. @throws DF_ERR_TASK_NOT_FOUND, DF_ERR_TASK_CLIENT_NOT_FOUND */
  removeClient (taskId: TaskId, cid: ClientId): void {
    this.#mustGet(taskId)
    if (!this.#deps.dfgetTasks.remove(taskId, cid)) throw new DfError('DF_ERR_TASK_CLIENT_NOT_FOUND', `no cid ${cid} in task ${taskId}`, { details: { taskId, cid } })
    this.#deps.progress.removeClient(taskId, cid)
    this.touch(taskId)
    this.#log.info({ taskId, cid }, 'client left the task')
  }

  /** Removes a task from memory: its downloads, progress and any running CDN fetch. @throws DF_ERR_TASK_NOT_FOUND */
  removeTask (taskId: TaskId): void {
    this.#mustGet(taskId)
    this.#forget(taskId)
    this.#deps.cdn.abortTask(taskId)
    this.#log.info({ taskId }, 'task removed')
  }

  /**
   * Removes from memory every task that nobody is using (no running cid, no long-poll, no
   * CDN fetch) and that was idle for more than `expireMs`; returns them with their last
   * access time.
   */
  collectIdle (expireMs: number): { taskId: TaskId, lastAccessMs: number }[] {
    const now = this.#deps.clock.now()
    const collected: { taskId: TaskId, lastAccessMs: number }[] = []
    for (const task of [...this.#tasks.values()]) {
      if (now - task.lastAccessMs <= expireMs) continue
      if (this.#deps.dfgetTasks.countRunning(task.taskId) > 0 || this.#deps.cdn.isBusy(task.taskId) || this.#deps.events.countWaiters(task.taskId) > 0) continue
      this.#forget(task.taskId)
      collected.push({ taskId: task.taskId, lastAccessMs: task.lastAccessMs })
    }
    return collected
  }

  /**
   * For cache eviction: removes the task from memory when nobody uses it right now (no
   * running cid, no CDN fetch). True when the task is then neither in memory nor being
   * fetched, so its cache files may go; false when it is in use. Long-polls do not count:
   * only a running cid pulls work, so a pull still held once none runs is one whose client
   * already left (a finished dfget's pull, aborted, until the server sees the socket close).
   */
  releaseIfIdle (taskId: TaskId): boolean {
    if (this.#deps.cdn.isBusy(taskId)) return false
    if (!this.#tasks.has(taskId)) return true
    if (this.#deps.dfgetTasks.countRunning(taskId) > 0) return false
    this.#forget(taskId)
    this.#log.info({ taskId }, 'task released for cache eviction')
    return true
  }

  /** True when the task is in memory or its CDN fetch is running (GC must keep its files). */
  isInUse (taskId: TaskId): boolean {
    return this.#tasks.has(taskId) || this.#deps.cdn.isBusy(taskId)
  }

  /**
   * True when a finished task's source changed since it was cached (a conditional probe of
   * one byte). Registrations arriving while a check runs share it, so a burst of
   * registrations costs the source one probe.
   */
  async #isOutdated (task: TaskRecord): Promise<boolean> {
    // A task identified by its digest (an OCI blob) cannot be outdated: other bytes would be
    // another task (and fail the digest check), so its source is not asked again.
    if (task.state !== 'success' || task.digest !== undefined) return false
    let check = this.#revalidating.get(task.taskId)
    if (check === undefined) {
      check = this.#deps.cdn.isSourceUnchanged({ taskId: task.taskId, url: task.source.url, headers: task.source.headers })
        .then((unchanged) => !unchanged)
        .finally(() => { this.#revalidating.delete(task.taskId) })
      this.#revalidating.set(task.taskId, check)
    }
    task.validatedAtMs = this.#deps.clock.now()
    return await check
  }

  /**
   * Makes sure the task is cached or being cached and that this registration may read it.
   * A registration that starts the CDN's fetch (a new task, or the restart of a failed one)
   * proves its access by the CDN's own probe, made with its URL and headers, at no extra
   * cost; any other proves it with a probe of its own (#proveAccess). A proven registration
   * that joined a task which then failed (a wrong header registered first) starts it
   * again with its own source, once: a wrong header spoils nothing for the others.
   */
  async #prepareAndProve (task: TaskRecord, source: TaskSource, isAnonymous: boolean): Promise<AccessCheckResult> {
    let role: 'started' | 'joined'
    try {
      role = await this.#prepare(task, source)
    } catch (err) {
      if (!this.#isCurrent(task) || task.state !== 'failed' || task.source === source) throw err
      role = await this.#prepare(task, source)
    }
    if (role === 'joined') return await this.#proveAccess(task.taskId, source, isAnonymous)
    this.#deps.access.remember({ taskId: task.taskId, url: source.url, headers: source.headers })
    if (isAnonymous && this.#isCurrent(task) && task.source === source) task.isPublic = true
    return 'proven'
  }

  /**
   * Proves that the registration of `source` may read the task's source, unless the task
   * is public. The proof uses this
   * registration's own URL and headers, never another client's. A task named by a content
   * digest is read from one source: a registration naming another URL for it (another
   * origin, or a path that is neither the source's nor a registry blob path of the digest)
   * is refused, so a server of one's own answering 200 opens nobody's blob. A proven
   * source becomes the task's source (the CDN reads with the latest good credentials).
   * @throws DF_ERR_SOURCE_NOT_PROVEN, and SourceAccess.prove's codes
   */
  async #proveAccess (taskId: TaskId, source: TaskSource, isAnonymous: boolean): Promise<AccessCheckResult> {
    const known = this.#tasks.get(taskId)
    if (known !== undefined && known.isPublic && known.state !== 'failed') return 'public'
    if (known !== undefined && !isSameSource(known, source.url)) {
      throw new DfError('DF_ERR_SOURCE_NOT_PROVEN', `task ${taskId} is read from another source: its content digest was not verified from ${redactUrl(source.url)}`, { details: { taskId } })
    }
    const result = await this.#deps.access.prove({ taskId, url: source.url, headers: source.headers, sourceVersion: known?.geometry?.sourceVersion })
    const task = this.#tasks.get(taskId)
    if (task !== undefined && isSameSource(task, source.url)) {
      task.source = source
      if (isAnonymous) task.isPublic = true
    }
    return result
  }

  /**
   * Brings the task to running or success, (re)starting the CDN fetch when needed. A failed
   * task starts again with `source`, that of the registration that restarts it: the
   * headers that failed it (a wrong or expired credential) must not fail every later client.
   */
  async #prepare (task: TaskRecord, source: TaskSource): Promise<'started' | 'joined'> {
    if (task.state === 'running' || task.state === 'success') return 'joined'
    if (task.state === 'failed') {
      this.#deps.progress.removeTask(task.taskId)
      task.failure = undefined
      task.geometry = undefined
      task.source = source
      task.isPublic = false
      task.hasStarter = false
      this.#apply(task, 'restart')
    }
    // The first caller of a pending task starts the CDN's fetch (and its probe); later ones
    // join it (CdnManager single-flights them), as do callers of a task whose previous record
    // left memory while its download still runs.
    const role = task.hasStarter === true || this.#deps.cdn.isBusy(task.taskId) ? 'joined' : 'started'
    task.hasStarter = true
    let geometry
    try {
      geometry = await this.#deps.cdn.prepareTask({
        taskId: task.taskId,
        url: task.source.url,
        headers: task.source.headers,
        ...(task.digest === undefined ? {} : { digest: task.digest }),
        // The source as the latest proven registration gave it (a resumed read re-opens with it).
        currentSource: () => task.source,
        onStatedDigest: (digest) => this.#onStatedDigest(task, digest),
      })
    } catch (err) {
      if (this.#isCurrent(task) && task.state === 'pending') this.#fail(task, err)
      throw err
    }
    if ('sameContent' in geometry || !this.#isCurrent(task) || task.state !== 'pending') {
      if (task.state === 'failed' && task.failure !== undefined) throw task.failure
      return role
    }
    task.geometry = { fileLengthBytes: geometry.fileLengthBytes, pieceSizeBytes: geometry.pieceSizeBytes, pieceCount: geometry.pieceCount, ...(geometry.sourceVersion === undefined ? {} : { sourceVersion: geometry.sourceVersion }) }
    this.#apply(task, 'lengthKnown')
    task.completion = geometry.completion
    geometry.completion.then(
      () => {
        if (!this.#isCurrent(task) || task.state !== 'running') return
        this.#apply(task, 'cached')
        // A whole cache lets the supernode send a piece twice (piece-policy.ts): a limited pull may now get one.
        this.#deps.events.notify(task.taskId)
      },
      (err: unknown) => { if (this.#isCurrent(task) && task.state === 'running') this.#fail(task, err) },
    )
    return role
  }

  // ---- Identity (docs/identity.md): aliases, stated digests, the most recent URL ----

  /** The task an id leads to: the task of an alias when that task is in memory and has not failed, else the id itself. */
  #resolveAlias (id: TaskId): TaskId {
    const taskId = this.#aliases.resolve(id)
    const task = this.#tasks.get(taskId)
    return task !== undefined && task.state !== 'failed' ? taskId : id
  }

  /**
   * A registration (or preheat) reached `task`: the task keeps its URL for the task list.
   * Which URL and headers the CDN reads with is #proveAccess's decision: those of the latest
   * registration that proved its access (an earlier client's signed URL may have expired;
   * the most recent proven one is the one likeliest valid), always as a pair.
   */
  #noteSource (task: TaskRecord, url: string, filter: readonly string[] | undefined): void {
    if (task.urls !== undefined && task.urls.size < MAX_SHOWN_URLS) task.urls.add(shownUrl(url, filter))
  }

  /**
   * The CDN's probe found the digest the source states (CdnTaskSpec.onStatedDigest). When a
   * live task has that content, this record leaves memory, its id becomes an alias of that
   * task and its registrations join it; else the digest's id becomes an alias of this task.
   */
  #onStatedDigest (task: TaskRecord, digest: string): 'fetch' | 'same-content' {
    const owner = this.#tasks.get(this.#aliases.resolve(digestTaskId(digest)))
    if (owner !== undefined && owner !== task && owner.state !== 'failed' && this.#isCurrent(task)) {
      this.#forget(task.taskId)
      this.#aliases.link(task.taskId, owner.taskId)
      for (const shown of task.urls ?? []) if (owner.urls !== undefined && owner.urls.size < MAX_SHOWN_URLS) owner.urls.add(shown)
      task.sameContentAs = owner.taskId
      this.#log.info({ taskId: task.taskId, joined: owner.taskId, digest }, 'the source states a digest of another task: joining it')
      return 'same-content'
    }
    if (this.#isCurrent(task)) this.#aliases.link(digestTaskId(digest), task.taskId)
    task.statedDigest = digest
    return 'fetch'
  }

  /** Repeats a registration or preheat once on the task of the same content (its alias now leads there). */
  async #rejoin<T> (request: object, again: () => Promise<T>): Promise<T> {
    if (this.#rejoining.has(request)) throw new DfError('DF_ERR_TASK_NOT_FOUND', 'the task of the same content left during the registration')
    this.#rejoining.add(request)
    return await again()
  }

  #fail (task: TaskRecord, cause: unknown): void {
    const reason = cause instanceof Error ? cause.message : String(cause)
    const code = cause instanceof DfError ? cause.code : 'DF_ERR_INTERNAL'
    task.failure = new DfError('DF_ERR_TASK_FAILED', reason, { cause, details: { taskId: task.taskId, cause: code } })
    this.#apply(task, 'fail')
    this.#deps.dfgetTasks.failTask(task.taskId)
    this.#deps.events.notify(task.taskId)
    this.#log.warn({ taskId: task.taskId, url: redactUrl(task.source.url), err: cause }, 'task failed')
  }

  #apply (task: TaskRecord, event: TaskEvent): void {
    task.state = nextTaskState(task.state, event)
  }

  #isCurrent (task: TaskRecord): boolean {
    return this.#tasks.get(task.taskId) === task
  }

  #forget (taskId: TaskId): void {
    this.#tasks.delete(taskId)
    this.#aliases.dropTask(taskId)
    this.#deps.dfgetTasks.removeTask(taskId)
    this.#deps.progress.removeTask(taskId)
  }

  #mustGet (taskId: TaskId): TaskRecord {
    const task = this.#tasks.get(taskId)
    if (task === undefined) throw new DfError('DF_ERR_TASK_NOT_FOUND', `no task ${taskId}`, { details: { taskId } })
    return task
  }

  #info (task: TaskRecord): TaskInfo {
    const progress = this.#deps.progress.getTask(task.taskId)
    return {
      taskId: task.taskId,
      url: redactUrl(task.source.url),
      fileLengthBytes: task.geometry?.fileLengthBytes ?? 0,
      pieceSizeBytes: task.geometry?.pieceSizeBytes ?? 1,
      pieceCount: task.geometry?.pieceCount ?? 0,
      cdnStatus: cdnStatusOf(task.state),
      urls: [...task.urls ?? []],
      ...digestOf(task),
      aliases: this.#aliases.aliasesOf(task.taskId),
      cachedPieces: progress?.cachedCount ?? 0,
      createdAt: new Date(task.createdAtMs).toISOString(),
      clients: this.#deps.dfgetTasks.listOfTask(task.taskId).map((record) => ({
        cid: record.cid,
        peerId: record.peerId,
        status: record.status,
        donePieces: progress?.getClient(record.cid)?.done.count ?? 0,
        bytesFromSupernode: record.bytesFromSupernode,
        bytesFromPeers: record.bytesFromPeers,
      })),
    }
  }
}

/** The URL, if it is an absolute http(s) URL. @throws DF_ERR_ARG_INVALID naming body.url */
function parseSourceUrl (value: string): string {
  let parsed: URL
  try { parsed = new URL(value) } catch { throw invalidArgument('body.url', 'is not a valid URL') }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw invalidArgument('body.url', 'must be an http or https URL')
  return value
}

/** `{ digest }`: the digest that identifies the task (given, else stated by its source), or `{}`. */
function digestOf (task: TaskRecord): { digest?: string } {
  const digest = task.digest ?? task.statedDigest
  return digest === undefined ? {} : { digest }
}

/** URLs shown per task (TaskInfo.urls). */
const MAX_SHOWN_URLS = 16

/** A URL as the task list shows it: redacted (no query, no credentials). */
function shownUrl (url: string, filter: readonly string[] | undefined): string {
  return redactUrl(identityUrl(url, filter))
}

/**
 * True when `url` may be the source of `task`: always for a task its URL identifies; for a
 * task named by a content digest, the source's origin and either its path or a registry's
 * blob path of that digest (`…/blobs/sha256:…`: a registry serves a blob only by its digest).
 * A failed task takes any source (it restarts from the registration's).
 */
function isSameSource (task: TaskRecord, url: string): boolean {
  if (task.digest === undefined || task.state === 'failed') return true
  const current = new URL(task.source.url)
  const next = new URL(url)
  return current.origin === next.origin && (current.pathname === next.pathname || next.pathname.endsWith(`/blobs/${task.digest}`))
}

function rangeHeaderOf (headers: Readonly<Record<string, string>> | undefined): string | undefined {
  for (const [name, value] of Object.entries(headers ?? {})) if (name.toLowerCase() === 'range') return value
  return undefined
}
