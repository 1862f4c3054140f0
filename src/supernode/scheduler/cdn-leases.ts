/**
 * The CDN leases of one task (TaskSync's CDN shares): each piece lent to at most one cid at
 * a time, until `untilMs`. Indexed by piece and by cid, so that a cid's share and the number
 * of cids holding a lease cost no walk of every lease (with 10,000 hosts, a task has a lease
 * on most of its pieces while the CDN fills, and each answer walked them three times).
 *
 * Invariant: `byCid(c)` contains p exactly when the lease of p is c's.
 */
import type { ClientId } from '../../protocol/ids.js'

/** A piece of the CDN lent to one cid: nobody else is sent to the CDN for it while the lease holds. */
export interface CdnLease { readonly cid: ClientId, untilMs: number }

const NO_PIECES: ReadonlySet<number> = new Set()

export class CdnLeases {
  readonly #byPiece = new Map<number, CdnLease>()
  readonly #byCid = new Map<ClientId, Set<number>>()
  /** When the owner last swept ended leases out (TaskSync). */
  sweptAtMs = Number.NEGATIVE_INFINITY

  /** Pieces lent. */
  get size (): number { return this.#byPiece.size }

  /** Cids holding at least one lease. */
  get lesseeCount (): number { return this.#byCid.size }

  has (pieceNum: number): boolean { return this.#byPiece.has(pieceNum) }

  /** Every lease (piece number → lease); ending the current one while walking is allowed. */
  entries (): IterableIterator<[number, CdnLease]> { return this.#byPiece.entries() }

  /** The pieces lent to `cid`. */
  piecesOf (cid: ClientId): ReadonlySet<number> { return this.#byCid.get(cid) ?? NO_PIECES }

  /** Lends `pieceNum` to `cid` until `untilMs` (replacing any lease of it), or extends its lease. */
  lend (pieceNum: number, cid: ClientId, untilMs: number): void {
    const current = this.#byPiece.get(pieceNum)
    if (current?.cid === cid) { current.untilMs = untilMs; return }
    if (current !== undefined) this.end(pieceNum)
    this.#byPiece.set(pieceNum, { cid, untilMs })
    let pieces = this.#byCid.get(cid)
    if (pieces === undefined) { pieces = new Set(); this.#byCid.set(cid, pieces) }
    pieces.add(pieceNum)
  }

  /** Ends the lease of `pieceNum`, if any. */
  end (pieceNum: number): void {
    const lease = this.#byPiece.get(pieceNum)
    if (lease === undefined) return
    this.#byPiece.delete(pieceNum)
    const pieces = this.#byCid.get(lease.cid)
    pieces?.delete(pieceNum)
    if (pieces?.size === 0) this.#byCid.delete(lease.cid)
  }

  /** Ends every lease of `cid`. */
  endAllOf (cid: ClientId): void {
    for (const pieceNum of this.#byCid.get(cid) ?? []) this.#byPiece.delete(pieceNum)
    this.#byCid.delete(cid)
  }
}
