/**
 * ParentScheduler (control protocol v2): which peers each cid of a task trades pieces with.
 * It owns the parent graph of every task — for each cid its parents, for each parent its
 * children — and nothing else: holdings, blacklists and liveness are the caller's, passed
 * in as candidates and a predicate at each call, so the class runs without HTTP (the fleet
 * simulator drives it on a ManualClock with a seeded Random).
 *
 * Choice: a cid keeps its parents while they stay eligible; free places are filled from
 * the eligible candidates with room (fewer than `maxChildrenPerParent` children), best
 * score first: finished hosts, then holders of more pieces, then fewer children, with a
 * random share so that cids registering together spread over the swarm instead of all
 * choosing the same few. The candidates looked at are bounded (the first MAX_POOL with room,
 * at most MAX_LOOK in all, in the caller's order: TaskSync gives them from a random place). A cid is never its own parent, nor a parent on the same host.
 *
 * Invariant: `children(p)` contains c exactly when `parents(c)` contains p.
 */
import type { ClientId, PeerId, TaskId } from '../../protocol/ids.js'
import type { Random } from './random.js'

/**
 * A cid of the task that could be a parent, as the caller knows it (TaskSync passes its
 * progress records as they are: no object per candidate looked at).
 */
export interface ParentCandidate {
  readonly cid: ClientId
  readonly peerId: PeerId
  /** What it held at its last sync: how many pieces, and whether every piece. */
  readonly held: { readonly count: number, readonly isFull: boolean }
}

export interface ParentSchedulerOptions {
  /** Parents a cid gets. */
  readonly parentsPerClient: number
  /** Most children of one parent (per task). */
  readonly maxChildrenPerParent: number
}

interface TaskGraph {
  readonly parents: Map<ClientId, ClientId[]>
  readonly children: Map<ClientId, Set<ClientId>>
}

/**
 * Candidates with room among which a cid's parents are chosen, at most: a few times the
 * parents wanted, so that the score chooses among enough. Each costs a score with its own
 * random draw at every choice: with 512, the first syncs of 10,000 hosts joining at once
 * spent half the supernode's CPU scoring candidates (about 200 µs a choice).
 */
const MAX_POOL = 64
/** Candidates looked at for one choice, at most. */
const MAX_LOOK = 4096

export class ParentScheduler {
  readonly #random: Random
  readonly #options: ParentSchedulerOptions
  readonly #tasks = new Map<TaskId, TaskGraph>()

  constructor (deps: { random: Random }, options: ParentSchedulerOptions) {
    if (!Number.isInteger(options.parentsPerClient) || options.parentsPerClient < 1) throw new RangeError(`parentsPerClient must be a positive integer, got ${options.parentsPerClient}`)
    if (!Number.isInteger(options.maxChildrenPerParent) || options.maxChildrenPerParent < 1) throw new RangeError(`maxChildrenPerParent must be a positive integer, got ${options.maxChildrenPerParent}`)
    this.#random = deps.random
    this.#options = options
  }

  /** The parents of `cid` now (no check of eligibility). */
  parentsOf (taskId: TaskId, cid: ClientId): readonly ClientId[] {
    return this.#tasks.get(taskId)?.parents.get(cid) ?? []
  }

  /** How many children `cid` parents now. */
  childCount (taskId: TaskId, cid: ClientId): number {
    return this.#tasks.get(taskId)?.children.get(cid)?.size ?? 0
  }

  /**
   * The parents of `child` after dropping those no longer `isEligible` and filling free
   * places from `candidates`. `isEligible(parent)` is the caller's view: still a serving
   * cid of the task, not blacklisted by the child, not distrusted.
   */
  assign (taskId: TaskId, child: { readonly cid: ClientId, readonly peerId: PeerId }, candidates: Iterable<ParentCandidate>, isEligible: (candidate: Pick<ParentCandidate, 'cid' | 'peerId'>) => boolean, peerIdOf: (cid: ClientId) => PeerId | undefined): readonly ClientId[] {
    const graph = this.#graphOf(taskId)
    const current = graph.parents.get(child.cid) ?? []
    const kept: ClientId[] = []
    for (const parentCid of current) {
      const peerId = peerIdOf(parentCid)
      if (peerId !== undefined && peerId !== child.peerId && isEligible({ cid: parentCid, peerId })) kept.push(parentCid)
      else graph.children.get(parentCid)?.delete(child.cid)
    }
    const wanted = this.#options.parentsPerClient - kept.length
    if (wanted > 0) {
      const chosen = this.#choose(graph, child, candidates, isEligible, new Set(kept), wanted)
      for (const parentCid of chosen) {
        kept.push(parentCid)
        let children = graph.children.get(parentCid)
        if (children === undefined) { children = new Set(); graph.children.set(parentCid, children) }
        children.add(child.cid)
      }
    }
    if (kept.length === 0) graph.parents.delete(child.cid)
    else graph.parents.set(child.cid, kept)
    return kept
  }

  /** `child` stops using `parentCid` (it failed the child); the place is filled at the next `assign`. */
  drop (taskId: TaskId, child: ClientId, parentCid: ClientId): void {
    const graph = this.#tasks.get(taskId)
    if (graph === undefined) return
    const parents = graph.parents.get(child)
    if (parents !== undefined) {
      const index = parents.indexOf(parentCid)
      if (index >= 0) parents.splice(index, 1)
    }
    graph.children.get(parentCid)?.delete(child)
  }

  /** `child` needs no parents any more (it holds every piece). */
  releaseParents (taskId: TaskId, child: ClientId): void {
    const graph = this.#tasks.get(taskId)
    if (graph === undefined) return
    for (const parentCid of graph.parents.get(child) ?? []) graph.children.get(parentCid)?.delete(child)
    graph.parents.delete(child)
  }

  /** A cid left the task: it is nobody's child and nobody's parent any more. Returns its former children. */
  removeClient (taskId: TaskId, cid: ClientId): ClientId[] {
    const graph = this.#tasks.get(taskId)
    if (graph === undefined) return []
    this.releaseParents(taskId, cid)
    const orphans = [...graph.children.get(cid) ?? []]
    for (const child of orphans) {
      const parents = graph.parents.get(child)
      if (parents === undefined) continue
      const index = parents.indexOf(cid)
      if (index >= 0) parents.splice(index, 1)
    }
    graph.children.delete(cid)
    if (graph.parents.size === 0 && graph.children.size === 0) this.#tasks.delete(taskId)
    return orphans
  }

  /** Forgets a task. */
  removeTask (taskId: TaskId): void {
    this.#tasks.delete(taskId)
  }

  #choose (graph: TaskGraph, child: { readonly cid: ClientId, readonly peerId: PeerId }, candidates: Iterable<ParentCandidate>, isEligible: (candidate: ParentCandidate) => boolean, taken: ReadonlySet<ClientId>, wanted: number): ClientId[] {
    const maxChildren = this.#options.maxChildrenPerParent
    // The best `wanted` by score, kept in a small array (wanted is a handful).
    const best: { cid: ClientId, score: number }[] = []
    let maxHeld = 1
    const pool: { candidate: ParentCandidate, childCount: number }[] = []
    // A bounded look: the first candidates with room, and at most so many in all (the caller
    // gives them from a random place; with ten thousand cids a full scan at every sync made
    // the supernode's work grow with the square of the fleet).
    let looked = 0
    for (const candidate of candidates) {
      if (pool.length >= MAX_POOL || looked >= MAX_LOOK) break
      looked += 1
      if (candidate.cid === child.cid || candidate.peerId === child.peerId || taken.has(candidate.cid)) continue
      const childCount = graph.children.get(candidate.cid)?.size ?? 0
      if (childCount >= maxChildren || !isEligible(candidate)) continue
      pool.push({ candidate, childCount })
      if (candidate.held.count > maxHeld) maxHeld = candidate.held.count
    }
    for (const { candidate, childCount } of pool) {
      const score = (candidate.held.isFull ? 1 : 0) + 0.5 * candidate.held.count / maxHeld - 0.25 * childCount / maxChildren + 0.5 * this.#random()
      if (best.length < wanted) {
        best.push({ cid: candidate.cid, score })
        best.sort((a, b) => b.score - a.score)
      } else if (score > (best[best.length - 1]?.score ?? Number.POSITIVE_INFINITY)) {
        best[best.length - 1] = { cid: candidate.cid, score }
        best.sort((a, b) => b.score - a.score)
      }
    }
    return best.map((entry) => entry.cid)
  }

  #graphOf (taskId: TaskId): TaskGraph {
    let graph = this.#tasks.get(taskId)
    if (graph === undefined) {
      graph = { parents: new Map(), children: new Map() }
      this.#tasks.set(taskId, graph)
    }
    return graph
  }
}
