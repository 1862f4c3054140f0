/**
 * The progress of one task: which pieces the CDN has cached (with their digests), which cid
 * holds which piece, which pieces each cid has received, which hand-outs are in flight (cid,
 * piece, source), and each cid's blacklist of sources. Owned by ProgressManager; everyone
 * else sees it through the read-only `TaskProgressView`.
 *
 * Invariants: `holders[p]` contains exactly the cids whose `held` has p; `inFlight[p]` and
 * `supernodeInFlight[p]` count the hand-outs of p in `running` of all cids; `supernodeUploads`
 * is the number of running hand-outs whose source is the supernode; `unheldCached` has
 * exactly the cached pieces with no holder.
 */
import type { ClientId, PeerId, TaskId } from '../../protocol/ids.js'
import type { PieceDigest } from '../../protocol/piece-digest.js'
import type { TimerHandle } from '../../common/clock.js'
import { PieceBitset } from '../../protocol/piece-bitset.js'

/** Where a hand-out tells a cid to fetch a piece. */
export type PieceSource =
  | { readonly kind: 'supernode' }
  | { readonly kind: 'peer', readonly peerId: PeerId, readonly cid: ClientId }

/** One piece handed to a cid and not yet reported. */
export interface HandOut {
  readonly taskId: TaskId
  readonly cid: ClientId
  readonly pieceNum: number
  readonly source: PieceSource
  readonly startedAtMs: number
  readonly timer: TimerHandle
}

/** A cid's state within a task, read-only. */
export interface ClientProgressView {
  readonly cid: ClientId
  readonly peerId: PeerId
  /** Pieces this cid can serve now. */
  readonly held: Readonly<Pick<PieceBitset, 'has' | 'count' | 'size' | 'isFull'>>
  /** Pieces this cid has received (stream mode may have evicted some since). */
  readonly done: Readonly<Pick<PieceBitset, 'has' | 'count' | 'size' | 'firstMissing' | 'isFull' | 'toBytes'>>
  /** Stream mode window in pieces, when set. */
  readonly windowPieces: number | undefined
  isFetching(pieceNum: number): boolean
  readonly fetchingCount: number
  /** The pieces handed to this cid and not reported yet, in no particular order. */
  fetchingPieceNums(): Iterable<number>
  isBlacklisted(sourceId: string): boolean
  /** The sources this cid will not be sent to again, each with why (source id → reason). */
  readonly blacklisted: ReadonlyMap<string, string>
}

/** What the scheduler and the API may read. */
export interface TaskProgressView {
  readonly taskId: TaskId
  readonly pieceCount: number
  readonly cachedCount: number
  readonly supernodeUploads: number
  isCached(pieceNum: number): boolean
  digestOf(pieceNum: number): PieceDigest | undefined
  holderCount(pieceNum: number): number
  /** How many cached pieces no cid holds. O(1). */
  readonly unheldCachedCount: number
  /** The first cached piece no cid holds at or after `start`, or -1 (a walk of those pieces without a look at every piece). */
  nextUnheldCached(start: number): number
  /** The cids holding the piece (their progress, so a scan needs no lookup per holder), in no particular order. */
  holdersOf(pieceNum: number): readonly ClientProgressView[]
  inFlightCount(pieceNum: number): number
  supernodeInFlightCount(pieceNum: number): number
  getClient(cid: ClientId): ClientProgressView | undefined
  clients(): Iterable<ClientProgressView>
  /** How many cids the task has. */
  readonly clientCount: number
  /** The cids that do not hold every piece now. O(1). */
  readonly downloadingCount: number
  /** The cids that have not received every piece. O(1). */
  readonly receivingCount: number
  /** Every cid once, starting at the `start`-th (mod the count) and wrapping: a scan from a random place. */
  clientsFrom(start: number): Iterable<ClientProgressView>
  /** True when the peer served a corrupt piece of this task: it is nobody's source here any more. */
  isDistrusted(peerId: string): boolean
}

class ClientProgress implements ClientProgressView {
  readonly cid: ClientId
  peerId: PeerId
  readonly held: PieceBitset
  readonly done: PieceBitset
  windowPieces: number | undefined
  readonly running = new Map<number, HandOut>()
  readonly blacklist = new Map<string, string>()
  supernodeFailures = 0
  /** Its place in TaskProgress's list of cids. */
  listIndex = 0

  constructor (cid: ClientId, peerId: PeerId, pieceCount: number, windowPieces: number | undefined) {
    this.cid = cid
    this.peerId = peerId
    this.held = new PieceBitset(pieceCount)
    this.done = new PieceBitset(pieceCount)
    this.windowPieces = windowPieces
  }

  isFetching (pieceNum: number): boolean {
    return this.running.has(pieceNum)
  }

  get fetchingCount (): number {
    return this.running.size
  }

  fetchingPieceNums (): Iterable<number> {
    return this.running.keys()
  }

  isBlacklisted (sourceId: string): boolean {
    return this.blacklist.has(sourceId)
  }

  get blacklisted (): ReadonlyMap<string, string> {
    return this.blacklist
  }
}

/** The mutable progress of one task (see the module header for its invariants). */
export class TaskProgress implements TaskProgressView {
  readonly taskId: TaskId
  readonly pieceCount: number
  readonly #digests: (PieceDigest | undefined)[]
  readonly #cached: PieceBitset
  /** The cached pieces nobody holds (those the CDN can still lend), so that a walk of them does not visit every piece. */
  readonly #unheldCached: PieceBitset
  /** Per piece, the cids holding it: an array so the scheduler can start scanning at a random holder. */
  readonly #holders: (ClientProgress[] | undefined)[]
  readonly #inFlight: Uint32Array
  readonly #supernodeInFlight: Uint32Array
  readonly #clients = new Map<ClientId, ClientProgress>()
  /** The same cids in an array (swap-removed), for scans from a random place. */
  readonly #clientList: ClientProgress[] = []
  /** Cids whose `held` is full. */
  #fullCount = 0
  /** Cids whose `done` is full (they received every piece). */
  #doneCount = 0
  /** Peers that served a piece failing its digest: no longer a source of this task for anyone. */
  readonly #distrusted = new Set<string>()
  #supernodeUploads = 0

  constructor (taskId: TaskId, pieceCount: number) {
    this.taskId = taskId
    this.pieceCount = pieceCount
    this.#digests = new Array<PieceDigest | undefined>(pieceCount).fill(undefined)
    this.#cached = new PieceBitset(pieceCount)
    this.#unheldCached = new PieceBitset(pieceCount)
    this.#holders = new Array<ClientProgress[] | undefined>(pieceCount).fill(undefined)
    this.#inFlight = new Uint32Array(pieceCount)
    this.#supernodeInFlight = new Uint32Array(pieceCount)
  }

  get cachedCount (): number { return this.#cached.count }
  get supernodeUploads (): number { return this.#supernodeUploads }
  isCached (pieceNum: number): boolean { return this.#cached.has(pieceNum) }
  digestOf (pieceNum: number): PieceDigest | undefined { return this.#digests[pieceNum] }
  holderCount (pieceNum: number): number { return this.#holders[pieceNum]?.length ?? 0 }
  get unheldCachedCount (): number { return this.#unheldCached.count }
  nextUnheldCached (start: number): number { return this.#unheldCached.nextFrom(start) }
  holdersOf (pieceNum: number): readonly ClientProgressView[] { return this.#holders[pieceNum] ?? [] }
  inFlightCount (pieceNum: number): number { return this.#inFlight[pieceNum] ?? 0 }
  supernodeInFlightCount (pieceNum: number): number { return this.#supernodeInFlight[pieceNum] ?? 0 }
  getClient (cid: ClientId): ClientProgressView | undefined { return this.#clients.get(cid) }
  clients (): Iterable<ClientProgressView> { return this.#clients.values() }
  get clientCount (): number { return this.#clientList.length }
  get downloadingCount (): number { return this.#clientList.length - this.#fullCount }
  get receivingCount (): number { return this.#clientList.length - this.#doneCount }
  * clientsFrom (start: number): Iterable<ClientProgressView> {
    const list = this.#clientList
    const count = list.length
    const first = count === 0 ? 0 : ((Math.floor(start) % count) + count) % count
    for (let i = 0; i < count; i++) {
      const client = list[(first + i) % count]
      if (client !== undefined) yield client
    }
  }

  isDistrusted (peerId: string): boolean { return this.#distrusted.has(peerId) }

  /** Records a piece the CDN has written, with its digest. Returns true when it is new. */
  markCached (pieceNum: number, digest: PieceDigest): boolean {
    if (!this.#cached.add(pieceNum)) return false
    this.#digests[pieceNum] = digest
    if (this.holderCount(pieceNum) === 0) this.#unheldCached.add(pieceNum)
    return true
  }

  /** Adds a cid (or updates its peer and window when it registers again). */
  addClient (cid: ClientId, peerId: PeerId, windowPieces: number | undefined): void {
    const existing = this.#clients.get(cid)
    if (existing !== undefined) {
      existing.peerId = peerId
      existing.windowPieces = windowPieces
      return
    }
    const client = new ClientProgress(cid, peerId, this.pieceCount, windowPieces)
    client.listIndex = this.#clientList.length
    this.#clients.set(cid, client)
    this.#clientList.push(client)
    if (client.held.isFull) this.#fullCount += 1
    if (client.done.isFull) this.#doneCount += 1
  }

  /** Removes a cid: its holdings leave the swarm; returns its hand-outs, as receiver or as source. */
  removeClient (cid: ClientId): HandOut[] {
    const client = this.#clients.get(cid)
    if (client === undefined) return []
    const released = this.releaseHandOutsFrom((source) => source.kind === 'peer' && source.cid === cid)
    released.push(...this.releaseHandOutsTo(cid))
    for (let pieceNum = 0; pieceNum < this.pieceCount; pieceNum++) this.removeHolding(cid, pieceNum)
    // Still full only with no pieces at all (an empty file).
    if (client.held.isFull) this.#fullCount -= 1
    if (client.done.isFull) this.#doneCount -= 1
    this.#clients.delete(cid)
    const last = this.#clientList.pop()
    if (last !== undefined && last !== client) {
      this.#clientList[client.listIndex] = last
      last.listIndex = client.listIndex
    }
    return released
  }

  /** `cid` now holds (and has received) the piece. Returns false for an unknown cid. */
  addHolding (cid: ClientId, pieceNum: number, isDelivery: boolean): boolean {
    const client = this.#clients.get(cid)
    if (client === undefined || pieceNum < 0 || pieceNum >= this.pieceCount) return false
    if (isDelivery && client.done.add(pieceNum) && client.done.isFull) this.#doneCount += 1
    if (this.#distrusted.has(client.peerId)) return true
    if (client.held.add(pieceNum)) {
      const holders = this.#holders[pieceNum]
      if (holders === undefined) {
        this.#holders[pieceNum] = [client]
        this.#unheldCached.delete(pieceNum)
      } else {
        holders.push(client)
      }
      if (client.held.isFull) this.#fullCount += 1
    }
    return true
  }

  /** Makes `cid`'s holdings exactly `held` (a v2 bitmap sync). Returns what changed: holdings added, removed, or nothing. */
  setHoldings (cid: ClientId, held: PieceBitset): 'added' | 'removed' | undefined {
    const client = this.#clients.get(cid)
    if (client === undefined || held.size !== this.pieceCount) return undefined
    let changed: 'added' | 'removed' | undefined
    // The pieces that differ, a byte at a time (a sync changes a few of them): held now and not
    // before, or not received yet (held after a stream's cached report); then no longer held.
    for (let pieceNum = held.nextNotIn(client.held, 0); pieceNum >= 0; pieceNum = held.nextNotIn(client.held, pieceNum + 1)) {
      this.addHolding(cid, pieceNum, true)
      changed ??= 'added'
    }
    for (let pieceNum = held.nextNotIn(client.done, 0); pieceNum >= 0; pieceNum = held.nextNotIn(client.done, pieceNum + 1)) {
      this.addHolding(cid, pieceNum, true)
      changed ??= 'added'
    }
    for (let pieceNum = client.held.nextNotIn(held, 0); pieceNum >= 0; pieceNum = client.held.nextNotIn(held, pieceNum + 1)) {
      this.removeHolding(cid, pieceNum)
      changed = 'removed'
    }
    return changed
  }

  /** `cid` no longer holds the piece (stream-mode eviction, or its peer left). */
  removeHolding (cid: ClientId, pieceNum: number): void {
    const client = this.#clients.get(cid)
    if (client === undefined) return
    const wasFull = client.held.isFull
    if (!client.held.delete(pieceNum)) return
    if (wasFull) this.#fullCount -= 1
    const holders = this.#holders[pieceNum]
    if (holders === undefined) return
    const index = holders.indexOf(client)
    // Swap-remove: holder order carries no meaning.
    if (index >= 0) { holders[index] = holders[holders.length - 1] ?? client; holders.pop() }
    if (holders.length === 0) {
      this.#holders[pieceNum] = undefined
      if (this.#cached.has(pieceNum)) this.#unheldCached.add(pieceNum)
    }
  }

  /** Removes every holding of the cids of `peerId` (the peer left); their received pieces stay received. */
  removeHoldingsOfPeer (peerId: PeerId): boolean {
    let changed = false
    for (const client of this.#clients.values()) {
      if (client.peerId !== peerId) continue
      for (let pieceNum = 0; pieceNum < this.pieceCount; pieceNum++) {
        if (client.held.has(pieceNum)) { this.removeHolding(client.cid, pieceNum); changed = true }
      }
    }
    return changed
  }

  /** Blacklists a source for `cid` (never offered to it again in this task), keeping why. */
  blacklist (cid: ClientId, sourceId: string, reason = 'a piece failed at this source'): void {
    const client = this.#clients.get(cid)
    if (client !== undefined && !client.blacklist.has(sourceId)) client.blacklist.set(sourceId, reason)
  }

  /**
   * A peer served bytes that failed their digest (its stored data is corrupt): it holds
   * nothing of this task any more, for every cid, and gains no holding later. Returns true
   * when holdings were removed.
   */
  distrustPeer (peerId: string): boolean {
    this.#distrusted.add(peerId)
    let changed = false
    for (const client of this.#clients.values()) {
      if (client.peerId !== peerId) continue
      for (let pieceNum = 0; pieceNum < this.pieceCount; pieceNum++) {
        if (client.held.has(pieceNum)) { this.removeHolding(client.cid, pieceNum); changed = true }
      }
    }
    return changed
  }

  /** Counts a failure of the supernode for `cid`; returns the count so far. */
  countSupernodeFailure (cid: ClientId): number {
    const client = this.#clients.get(cid)
    if (client === undefined) return 0
    client.supernodeFailures += 1
    return client.supernodeFailures
  }

  /** Records a hand-out. The caller has checked that the cid is not already fetching the piece. */
  addHandOut (handOut: HandOut): void {
    const client = this.#clients.get(handOut.cid)
    if (client === undefined) throw new RangeError(`no cid ${handOut.cid} in task ${this.taskId}`)
    client.running.set(handOut.pieceNum, handOut)
    this.#inFlight[handOut.pieceNum] = this.inFlightCount(handOut.pieceNum) + 1
    if (handOut.source.kind === 'supernode') {
      this.#supernodeInFlight[handOut.pieceNum] = this.supernodeInFlightCount(handOut.pieceNum) + 1
      this.#supernodeUploads += 1
    }
  }

  /** Removes and returns the hand-out of `pieceNum` to `cid`, if any. */
  takeHandOut (cid: ClientId, pieceNum: number): HandOut | undefined {
    const client = this.#clients.get(cid)
    const handOut = client?.running.get(pieceNum)
    if (client === undefined || handOut === undefined) return undefined
    client.running.delete(pieceNum)
    this.#inFlight[pieceNum] = Math.max(0, this.inFlightCount(pieceNum) - 1)
    if (handOut.source.kind === 'supernode') {
      this.#supernodeInFlight[pieceNum] = Math.max(0, this.supernodeInFlightCount(pieceNum) - 1)
      this.#supernodeUploads = Math.max(0, this.#supernodeUploads - 1)
    }
    return handOut
  }

  /** Removes and returns every hand-out (of any cid) whose source matches. */
  releaseHandOutsFrom (matches: (source: PieceSource) => boolean): HandOut[] {
    const released: HandOut[] = []
    for (const client of this.#clients.values()) {
      for (const handOut of [...client.running.values()]) {
        if (!matches(handOut.source)) continue
        const taken = this.takeHandOut(client.cid, handOut.pieceNum)
        if (taken !== undefined) released.push(taken)
      }
    }
    return released
  }

  /** Removes and returns every hand-out to `cid`. */
  releaseHandOutsTo (cid: ClientId): HandOut[] {
    const client = this.#clients.get(cid)
    if (client === undefined) return []
    const released: HandOut[] = []
    for (const pieceNum of [...client.running.keys()]) {
      const taken = this.takeHandOut(cid, pieceNum)
      if (taken !== undefined) released.push(taken)
    }
    return released
  }

  /** Removes and returns every hand-out of this task. */
  releaseAll (): HandOut[] {
    return this.releaseHandOutsFrom(() => true)
  }
}
