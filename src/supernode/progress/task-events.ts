/**
 * Wake-ups for long-polls. Whenever something a waiting client might care about changes in
 * a task (a piece cached by the CDN, a piece reported, a hand-out released, a peer leaving,
 * the task failing), the owner of that change calls `notify(taskId, change)`. It carries no
 * data: woken waiters read the state they need and re-evaluate.
 *
 * A change without a description (the task failed or went, a cid or a peer left, a v2
 * bitmap sync, a failed piece) wakes every waiter of the task. A described change wakes
 * only the waiters that can use it, so that one report in a task with thousands of waiting
 * pulls costs a few wake-ups, not thousands (issue 17):
 * - the waiters of the cid whose own state changed (`change.cid`);
 * - for a piece that gained a source with `slots` free upload slots: at most `slots`
 *   waiters that need the piece (WaitInterest.needs);
 * - for `freedSlots` upload slots freed on a source: at most that many waiters whose last
 *   answer was 'limited' (a 'wait' answer means no needed piece exists: a free slot cannot
 *   help it);
 * - a waiting v2 sync (SyncWaitInterest) wakes when its answer is due (`due()`: a batch of
 *   digests, checked in O(1) at each cached piece, the only change that brings digests); for a piece the CDN cached, at most one sync that asked for
 *   CDN pieces (`cdnWanted`) per piece (passed on when declined, at most 16 times); and, while it has no parent, when a cid joins or a
 *   bitmap changes. A bitmap that changed (`holdingsOf`) wakes no other sync: a host's
 *   bitmap gives the others nothing to answer (with a thousand hosts syncing, every sync
 *   woke every other: a million wake-ups per file);
 * - waiters that gave no interest wake on every change, as before.
 * Waiters are taken in the order they started waiting and a woken one waits again at the
 * end, so the wake-ups go round the waiters and nobody starves. A waiter woken by a bounded
 * wake-up that finds no work in it calls `decline`: the wake-up passes to the next waiter
 * that matches and has not seen this change, so nobody sleeps past a change that would give
 * it work while the waiters before it in line turn that change down.
 */
import type { Clock } from '../../common/clock.js'
import type { ClientId, TaskId } from '../../protocol/ids.js'
import type { ClientProgressView } from './task-progress.js'

/** Why a wait ended. */
export type WakeReason = 'notified' | 'timeout' | 'aborted' | 'closed'

/** What a waiting pull can use (control protocol v1), so that only relevant changes wake it. */
export interface WaitInterest {
  readonly cid: ClientId
  /** True when its last answer was 'limited': a piece it needs exists, its sources are at their limits. */
  readonly limited: boolean
  /** Whether a new source of `pieceNum` could give it work (it lacks the piece, in its window). */
  needs(pieceNum: number): boolean
}

/** The interest of a waiting pull of `client`: a new source of a piece it lacks (in its window), or a freed slot when it was `limited`. */
export function waitInterestOf (client: ClientProgressView, limited: boolean): WaitInterest {
  return {
    cid: client.cid,
    limited,
    needs: (pieceNum) => {
      if (client.done.has(pieceNum) || client.isFetching(pieceNum)) return false
      if (client.windowPieces === undefined) return true
      const first = client.done.firstMissing()
      return pieceNum >= first && pieceNum < first + client.windowPieces
    },
  }
}

/** What a waiting sync can use (control protocol v2), so that only relevant changes wake it. */
export interface SyncWaitInterest {
  readonly kind: 'sync'
  readonly cid: ClientId
  /**
   * True when the task's state owes this sync an answer now (a batch of digests). O(1): called
   * for every cached piece, and only then (digests come with the cache alone), so that other
   * changes look at the syncs without parents, not at every waiting sync.
   */
  readonly due: () => boolean
  /** It asked for CDN pieces: a newly cached piece may be lent to it. */
  readonly cdnWanted: boolean
  /** It has no parent: a cid joining, or a bitmap changing, may give it one. */
  readonly orphan: boolean
}

/** What changed in a task; see the module header for whom each part wakes. */
export interface TaskChange {
  /** A cid whose own progress changed. */
  readonly cid?: ClientId | undefined
  /** A piece that gained a source (a holder, or the CDN's cache), and that source's free upload slots. */
  readonly piece?: { readonly pieceNum: number, readonly slots: number } | undefined
  /** The piece was cached by the CDN (its digest is new). */
  readonly cached?: boolean | undefined
  /** Upload slots freed on sources of the task (hand-outs ended). */
  readonly freedSlots?: number | undefined
  /** A v2 bitmap sync changed this cid's holdings (it is not complete). */
  readonly holdingsOf?: ClientId | undefined
  /** A cid joined the task holding nothing. */
  readonly joined?: ClientId | undefined
}

type Interest = WaitInterest | SyncWaitInterest

/** A bounded wake-up a waiter holds until it uses or declines it. */
interface Credit {
  /** Whom it can pass to: waiting syncs or waiting pulls. */
  readonly among: 'syncs' | 'pulls'
  readonly matches: (interest: Interest) => boolean
  /** The cids this change has woken so far (shared by every wake-up of one change). */
  readonly visited: Set<ClientId>
  /** How many more times it may be passed on (unbounded when absent). */
  passes?: number
}

/**
 * A cached piece's wake-up passes through at most this many syncs that asked for CDN
 * pieces: when that many could not use it, the others (their shares as full, their fill
 * batches as incomplete) most likely cannot either, and each look costs a walk of the
 * task's pieces (with 3,000 hosts waiting, every cached piece went round all of them).
 */
const CDN_CREDIT_PASSES = 16

interface Waiter {
  readonly wake: (reason: WakeReason) => void
  readonly interest: Interest | undefined
}

/** The waiters of one task, indexed so that a change finds those it wakes without a scan of all. */
interface TaskWaiters {
  /** Every waiter, in the order they started waiting (a Set keeps insertion order). */
  readonly all: Set<Waiter>
  /** The waiters without an interest: every change wakes them. */
  readonly plain: Set<Waiter>
  /** The waiting v2 syncs, in the order they started waiting. */
  readonly syncs: Set<Waiter>
  /** Of those, the syncs without parents (SyncWaitInterest.orphan), in the same order. */
  readonly orphans: Set<Waiter>
  /** The waiting v1 pulls with an interest, in the order they started waiting. */
  readonly pulls: Set<Waiter>
  readonly byCid: Map<ClientId, Set<Waiter>>
}

const NO_WAITERS: ReadonlySet<Waiter> = new Set()

function isSync (interest: Interest | undefined): interest is SyncWaitInterest {
  return interest !== undefined && 'kind' in interest
}

/** The wake-up bus of one supernode. */
export class TaskEvents {
  readonly #clock: Clock
  readonly #waiters = new Map<TaskId, TaskWaiters>()
  readonly #listeners = new Set<(taskId: TaskId) => void>()
  readonly #credits = new WeakMap<Interest, Credit>()
  #closed = false

  constructor (deps: { clock: Clock }) {
    this.#clock = deps.clock
  }

  /** Wakes the waiters of `taskId` that `change` can give work; all of them without `change`. */
  notify (taskId: TaskId, change?: TaskChange): void {
    for (const listener of this.#listeners) listener(taskId)
    const waiters = this.#waiters.get(taskId)
    if (waiters === undefined) return
    if (change === undefined) {
      this.#waiters.delete(taskId)
      for (const waiter of waiters.all) waiter.wake('notified')
      return
    }
    const visited = new Set<ClientId>()
    let pieceSlots = change.piece?.slots ?? 0
    let freedSlots = change.freedSlots ?? 0
    const woken: { waiter: Waiter, credit: Credit | undefined }[] = []
    for (const waiter of waiters.plain) woken.push({ waiter, credit: undefined })
    for (const waiter of change.cid === undefined ? [] : waiters.byCid.get(change.cid) ?? []) woken.push({ waiter, credit: undefined })
    // A changed bitmap is a new source of its pieces for v1's pulls (a task may mix versions).
    if (change.holdingsOf !== undefined) {
      for (const waiter of waiters.pulls) if (waiter.interest?.cid !== change.cid) woken.push({ waiter, credit: undefined })
    }
    let cdnPieces = change.cached === true ? 1 : 0
    const cdnCredit: Credit = { among: 'syncs', matches: (other) => isSync(other) && other.cdnWanted, visited, passes: CDN_CREDIT_PASSES }
    // A cached piece can make any sync due; a join or a bitmap can give a parent to the syncs without one; nothing else wakes a sync.
    const syncs = change.cached === true ? waiters.syncs : change.joined !== undefined || change.holdingsOf !== undefined ? waiters.orphans : NO_WAITERS
    for (const waiter of syncs) {
      const interest = waiter.interest
      if (!isSync(interest) || interest.cid === change.cid) continue
      if (interest.due()) {
        woken.push({ waiter, credit: undefined })
      } else if (cdnPieces > 0 && interest.cdnWanted) {
        cdnPieces -= 1
        woken.push({ waiter, credit: cdnCredit })
      } else if (interest.orphan && (change.joined !== undefined || change.holdingsOf !== undefined)) {
        woken.push({ waiter, credit: undefined })
      }
    }
    for (const waiter of waiters.pulls) {
      if (pieceSlots <= 0 && freedSlots <= 0) break
      const interest = waiter.interest
      if (interest === undefined || isSync(interest) || interest.cid === change.cid) continue
      if (pieceSlots > 0 && change.piece !== undefined && interest.needs(change.piece.pieceNum)) {
        const pieceNum = change.piece.pieceNum
        pieceSlots -= 1
        woken.push({ waiter, credit: { among: 'pulls', matches: (other) => !isSync(other) && other.needs(pieceNum), visited } })
      } else if (freedSlots > 0 && interest.limited) {
        freedSlots -= 1
        woken.push({ waiter, credit: { among: 'pulls', matches: (other) => !isSync(other) && other.limited, visited } })
      }
    }
    for (const { waiter, credit } of woken) this.#wake(waiter, credit)
  }

  /**
   * The waiter of `interest` found no work after a bounded wake-up: the wake-up goes to the
   * next waiter it matches that it has not woken yet. No-op when it was not woken that way.
   */
  decline (taskId: TaskId, interest: Interest): void {
    const credit = this.#credits.get(interest)
    if (credit === undefined) return
    this.#credits.delete(interest)
    if (credit.passes !== undefined && --credit.passes < 0) return
    const waiters = this.#waiters.get(taskId)
    for (const waiter of waiters === undefined ? NO_WAITERS : waiters[credit.among]) {
      if (waiter.interest === undefined || credit.visited.has(waiter.interest.cid)) continue
      if (!credit.matches(waiter.interest)) continue
      this.#wake(waiter, credit)
      return
    }
  }

  /**
   * Calls `listener` with the task id on every `notify` (the dashboard marks the task
   * changed). It runs inside the notifier's synchronous state change, so it must be O(1)
   * and must not throw. Returns the function that removes it.
   */
  onNotify (listener: (taskId: TaskId) => void): () => void {
    this.#listeners.add(listener)
    return () => { this.#listeners.delete(listener) }
  }

  /** Number of requests waiting on `taskId` (for tests and task info). */
  countWaiters (taskId: TaskId): number {
    return this.#waiters.get(taskId)?.all.size ?? 0
  }

  /** Number of requests waiting on any task (a gauge for operators). */
  countAllWaiters (): number {
    let count = 0
    for (const waiters of this.#waiters.values()) count += waiters.all.size
    return count
  }

  /**
   * Resolves when a `notify(taskId)` wakes this waiter (every notify when `interest` is not
   * given; see the module header), after `timeoutMs`, when `signal` aborts, or when the bus
   * closes — whichever comes first. Never rejects.
   */
  async waitFor (taskId: TaskId, timeoutMs: number, signal?: AbortSignal, interest?: Interest): Promise<WakeReason> {
    if (this.#closed) return 'closed'
    if (signal?.aborted === true) return 'aborted'
    return await new Promise<WakeReason>((resolve) => {
      let waiters = this.#waiters.get(taskId)
      if (waiters === undefined) { waiters = { all: new Set(), plain: new Set(), syncs: new Set(), orphans: new Set(), pulls: new Set(), byCid: new Map() }; this.#waiters.set(taskId, waiters) }
      const timer = this.#clock.setTimeout(() => { finish('timeout') }, Math.max(0, timeoutMs))
      const onAbort = (): void => { finish('aborted') }
      const finish = (reason: WakeReason): void => {
        timer.cancel()
        signal?.removeEventListener('abort', onAbort)
        const current = this.#waiters.get(taskId)
        if (current !== undefined) this.#remove(taskId, current, waiter)
        resolve(reason)
      }
      const waiter: Waiter = { wake: finish, interest }
      waiters.all.add(waiter)
      if (interest === undefined) {
        waiters.plain.add(waiter)
      } else {
        if (!isSync(interest)) {
          waiters.pulls.add(waiter)
        } else {
          waiters.syncs.add(waiter)
          if (interest.orphan) waiters.orphans.add(waiter)
        }
        const ofCid = waiters.byCid.get(interest.cid)
        if (ofCid === undefined) waiters.byCid.set(interest.cid, new Set([waiter]))
        else ofCid.add(waiter)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /** Wakes every waiter with 'closed'; later waits return at once. Idempotent. */
  close (): void {
    this.#closed = true
    const all = [...this.#waiters.values()]
    this.#waiters.clear()
    for (const waiters of all) for (const waiter of waiters.all) waiter.wake('closed')
  }

  #remove (taskId: TaskId, waiters: TaskWaiters, waiter: Waiter): void {
    if (!waiters.all.delete(waiter)) return
    if (waiter.interest === undefined) {
      waiters.plain.delete(waiter)
    } else {
      waiters.syncs.delete(waiter)
      waiters.orphans.delete(waiter)
      waiters.pulls.delete(waiter)
      const ofCid = waiters.byCid.get(waiter.interest.cid)
      ofCid?.delete(waiter)
      if (ofCid?.size === 0) waiters.byCid.delete(waiter.interest.cid)
    }
    if (waiters.all.size === 0) this.#waiters.delete(taskId)
  }

  #wake (waiter: Waiter, credit: Credit | undefined): void {
    if (credit !== undefined && waiter.interest !== undefined) {
      credit.visited.add(waiter.interest.cid)
      this.#credits.set(waiter.interest, credit)
    }
    waiter.wake('notified')
  }
}
