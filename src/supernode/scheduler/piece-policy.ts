/**
 * The piece policy: given a task's progress and one cid, choose which pieces that cid
 * fetches next and from where. Pure: it reads a TaskProgressView and injected lookups,
 * changes nothing, and is deterministic for a seeded Random.
 *
 * The rules (DESIGN.md §4, with the swarm-efficiency goal of §1 in mind):
 * - Candidates are the pieces the cid has not received and is not fetching, inside its
 *   stream window when it has one, whose digest is known (the CDN cached them).
 * - Rarest first: fewest holders, a piece in flight counting as half held; ties are broken
 *   at random so that clients starting together spread over different pieces.
 * - A piece held by an eligible peer (live, not blacklisted for this cid) comes from the
 *   least loaded such peer below its upload limit (among a random sample of holders when
 *   there are many); if all of them are at their limit the
 *   piece waits for a slot — the supernode does not step in, so that its upload carries
 *   only pieces the swarm does not have yet.
 * - A piece no eligible peer holds comes from the supernode, if it has a free upload slot
 *   for the task; pieces nobody is fetching from the supernode go first, so the supernode
 *   sends each piece into the swarm about once. A piece already in flight from the
 *   supernode is given to a second cid only when duplicates are allowed (the caller allows
 *   them once the CDN holds the whole file: before that the supernode's upload is the
 *   swarm's bottleneck and a duplicate costs a new piece) and the supernode is below half
 *   its upload limit.
 */
import type { ClientId, PeerId } from '../../protocol/ids.js'
import type { ClientProgressView, PieceSource, TaskProgressView } from '../progress/task-progress.js'
import { SUPERNODE_SOURCE_ID } from '../../protocol/messages/pull-piece-task.js'
import type { Random } from './random.js'

/** Everything the policy reads. */
export interface PolicyInput {
  readonly progress: TaskProgressView
  readonly client: ClientProgressView
  /** Most pieces to choose. */
  readonly maxPieces: number
  readonly maxUploadsPerPeer: number
  /** Upload slots of the supernode for this task. */
  readonly supernodeMaxUploads: number
  /** Whether a piece in flight from the supernode may be given to a second cid at all (never to a stream-mode cid). */
  readonly allowSupernodeDuplicates: boolean
  isPeerLive(peerId: PeerId): boolean
  uploadsInFlightOf(peerId: PeerId): number
  readonly random: Random
}

/** One chosen piece and its source. */
export interface PieceChoice {
  readonly pieceNum: number
  readonly source: PieceSource
}

/**
 * The decision. When nothing is chosen, `blocked` says why: 'limited' when a needed piece
 * exists somewhere but its sources are at their limits, 'wait' when no needed piece exists
 * anywhere yet.
 */
export interface PolicyDecision {
  readonly choices: readonly PieceChoice[]
  readonly blocked: 'none' | 'wait' | 'limited'
}

interface Candidate { readonly pieceNum: number, readonly rarity: number, readonly tie: number }

/** Chooses up to `maxPieces` pieces for `client` (see the module header for the rules). */
export function choosePieces (input: PolicyInput): PolicyDecision {
  const { progress, client } = input
  const candidates = listCandidates(input)
  const choices: PieceChoice[] = []
  const addedPeerLoad = new Map<PeerId, number>()
  let supernodeLoad = progress.supernodeUploads
  let isLimited = false
  const inFlightAtSupernode: number[] = []
  const supernodeUsable = !client.isBlacklisted(SUPERNODE_SOURCE_ID)

  for (const candidate of candidates) {
    if (choices.length >= input.maxPieces) break
    const peer = pickPeer(input, candidate.pieceNum, addedPeerLoad)
    if (peer === 'busy') { isLimited = true; continue }
    if (peer !== undefined) {
      choices.push({ pieceNum: candidate.pieceNum, source: { kind: 'peer', peerId: peer.peerId, cid: peer.cid } })
      addedPeerLoad.set(peer.peerId, (addedPeerLoad.get(peer.peerId) ?? 0) + 1)
      continue
    }
    if (!supernodeUsable || !progress.isCached(candidate.pieceNum)) continue
    if (supernodeLoad >= input.supernodeMaxUploads) { isLimited = true; continue }
    if (progress.supernodeInFlightCount(candidate.pieceNum) > 0) { inFlightAtSupernode.push(candidate.pieceNum); continue }
    choices.push({ pieceNum: candidate.pieceNum, source: { kind: 'supernode' } })
    supernodeLoad += 1
  }
  for (const pieceNum of inFlightAtSupernode) {
    if (choices.length >= input.maxPieces) break
    if (input.allowSupernodeDuplicates && supernodeLoad < input.supernodeMaxUploads / 2) {
      choices.push({ pieceNum, source: { kind: 'supernode' } })
      supernodeLoad += 1
    } else {
      isLimited = true
    }
  }
  const blocked = choices.length > 0 ? 'none' : isLimited ? 'limited' : 'wait'
  return { choices, blocked }
}

/** The pieces `client` needs, rarest first, ties in random order. */
function listCandidates (input: PolicyInput): Candidate[] {
  const { progress, client } = input
  const first = client.windowPieces === undefined ? 0 : client.done.firstMissing()
  const end = client.windowPieces === undefined ? progress.pieceCount : Math.min(progress.pieceCount, first + client.windowPieces)
  const candidates: Candidate[] = []
  for (let pieceNum = first; pieceNum < end; pieceNum++) {
    if (client.done.has(pieceNum) || client.isFetching(pieceNum)) continue
    // Without a digest nobody could verify the piece; the CDN supplies it when it caches the piece.
    if (progress.digestOf(pieceNum) === undefined) continue
    const rarity = progress.holderCount(pieceNum) + progress.inFlightCount(pieceNum) / 2
    candidates.push({ pieceNum, rarity, tie: input.random() })
  }
  candidates.sort((a, b) => a.rarity - b.rarity || a.tie - b.tie)
  return candidates
}

/**
 * Eligible holders looked at per piece: the least loaded of a random sample of this many
 * ("power of k choices") balances load almost as well as a full scan, and keeps a pull
 * cheap when thousands of peers hold a piece. In a busy swarm few holders are idle, so the
 * scan rarely stops early: with 16, a pull at 20,000 peers looked at ~110 holders (a peer
 * lookup and a load lookup each), a quarter of the supernode's CPU; with 4, the scheduler's
 * time per pull and the supernode's CPU fell in each of 4 paired runs of
 * `npm run bench -- control-plane --peers 20000` (docs/benchmarks.md, "Runs of 2026-12-07,
 * 20:53–22:35 UTC").
 */
export const HOLDERS_SAMPLED = 4

/**
 * The least loaded eligible holder of `pieceNum` below its upload limit, from a scan that
 * starts at a random holder and stops at an idle one or after HOLDERS_SAMPLED eligible
 * holders; 'busy' when the scanned eligible holders are all at their limit; undefined when
 * no eligible holder exists.
 */
function pickPeer (input: PolicyInput, pieceNum: number, addedPeerLoad: ReadonlyMap<PeerId, number>): { peerId: PeerId, cid: ClientId } | 'busy' | undefined {
  const { progress, client } = input
  const holders = progress.holdersOf(pieceNum)
  const count = holders.length
  if (count === 0) return undefined
  const start = Math.floor(input.random() * count)
  let best: { peerId: PeerId, cid: ClientId } | undefined
  let bestLoad = Number.POSITIVE_INFINITY
  let eligible = 0
  for (let step = 0; step < count && eligible < HOLDERS_SAMPLED; step++) {
    const holder = holders[(start + step) % count]
    if (holder === undefined || holder.cid === client.cid) continue
    if (client.isBlacklisted(holder.peerId) || !input.isPeerLive(holder.peerId)) continue
    eligible += 1
    const load = input.uploadsInFlightOf(holder.peerId) + (addedPeerLoad.get(holder.peerId) ?? 0)
    if (load >= input.maxUploadsPerPeer || load >= bestLoad) continue
    best = { peerId: holder.peerId, cid: holder.cid }
    bestLoad = load
    if (load === 0) break
  }
  if (best !== undefined) return best
  return eligible > 0 ? 'busy' : undefined
}
