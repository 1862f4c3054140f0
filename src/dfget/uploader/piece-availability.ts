/**
 * PieceAvailability (control protocol v2): which pieces of each served download (task and
 * cid) this host can serve now, for the children that long-poll its have feed
 * (`GET /peer/tasks/{id}/haves`). Owned by the peer server: a file download's dfget
 * announces its verified pieces (in batches), a stream's store adds and drops window
 * pieces, and withdrawing the upload closes the entry.
 *
 * Every change bumps the entry's sequence number at once; the children waiting on it are
 * woken after `coalesceMs` (`fileCoalesceMs` for a file download), and a child asking
 * again while a change is being held back waits for it too, so a host verifying many
 * pieces a second answers each child a few times a second, not once per piece. (In the
 * swarm lab, 8 hosts of 7 children each answering about once per piece cost the hosts
 * 8.6-10.5 CPU-s per GiB against v1's 5.3.) A file download's held-back change also goes
 * as soon as `filePiecesPerAnswer` new pieces wait: the hold is a number of pieces, not
 * of milliseconds, where pieces come fast, so a relay's delay per hop stays about a piece
 * time on a fast link (with a fixed 200 ms, a host of a 10 Gbit/s fleet learned of about
 * 60 pieces at a time) and the answers per child stay at most one per that many pieces.
 */
import type { Clock, TimerHandle } from '../../common/clock.js'
import { PieceBitset } from '../../protocol/piece-bitset.js'
import type { PeerHavesResponse } from '../../protocol/messages/peer-haves.js'

interface Entry {
  readonly held: PieceBitset
  /** A file download (it never loses a piece): complete once every piece is held. */
  readonly isFile: boolean
  seq: number
  /** Pieces added since the last flush (a file's count-triggered flush). */
  pending: number
  readonly waiters: Set<() => void>
  flush: TimerHandle | undefined
}

/** A waiting have request ended: the bitmap, or nothing (the download is no longer served). */
export type HavesAnswer = PeerHavesResponse | undefined

export class PieceAvailability {
  readonly #clock: Clock
  readonly #coalesceMs: number
  readonly #fileCoalesceMs: number
  readonly #filePiecesPerAnswer: number
  readonly #entries = new Map<string, Entry>()

  constructor (deps: { clock: Clock }, options: { coalesceMs: number, fileCoalesceMs?: number, filePiecesPerAnswer?: number }) {
    this.#clock = deps.clock
    this.#coalesceMs = options.coalesceMs
    this.#fileCoalesceMs = options.fileCoalesceMs ?? options.coalesceMs
    this.#filePiecesPerAnswer = options.filePiecesPerAnswer ?? Infinity
  }

  /** Starts tracking a download of `pieceCount` pieces (kept when it is open with that size). */
  open (taskId: string, cid: string, pieceCount: number, kind: 'file' | 'stream'): void {
    const key = keyOf(taskId, cid)
    const existing = this.#entries.get(key)
    if (existing !== undefined && existing.held.size === pieceCount) return
    if (existing !== undefined) this.close(taskId, cid)
    this.#entries.set(key, { held: new PieceBitset(pieceCount), isFile: kind === 'file', seq: 1, pending: 0, waiters: new Set(), flush: undefined })
  }

  /** True when the download is tracked. */
  has (taskId: string, cid: string): boolean {
    return this.#entries.has(keyOf(taskId, cid))
  }

  /** Pieces now servable. Unknown downloads and out-of-range numbers are ignored. */
  add (taskId: string, cid: string, pieceNums: Iterable<number>): void {
    const entry = this.#entries.get(keyOf(taskId, cid))
    if (entry === undefined) return
    let added = 0
    for (const pieceNum of pieceNums) if (entry.held.add(pieceNum)) added += 1
    if (added > 0) this.#changed(entry, added)
  }

  /** A piece is no longer servable (it left a stream's window). */
  remove (taskId: string, cid: string, pieceNum: number): void {
    const entry = this.#entries.get(keyOf(taskId, cid))
    if (entry !== undefined && entry.held.delete(pieceNum)) this.#changed(entry, 1)
  }

  /** Stops tracking; waiting children get no bitmap (the download is gone). */
  close (taskId: string, cid: string): void {
    const key = keyOf(taskId, cid)
    const entry = this.#entries.get(key)
    if (entry === undefined) return
    this.#entries.delete(key)
    entry.flush?.cancel()
    for (const wake of [...entry.waiters]) wake()
  }

  /** Stops tracking everything (the server closes). */
  closeAll (): void {
    for (const key of [...this.#entries.keys()]) {
      const [taskId = '', cid = ''] = key.split('/')
      this.close(taskId, cid)
    }
  }

  /**
   * The bitmap once its sequence number passes `since`, or after `waitMs` (the same bitmap
   * again); undefined when the download is not (or no longer) tracked.
   */
  async waitForChange (taskId: string, cid: string, since: number, waitMs: number, signal?: AbortSignal): Promise<HavesAnswer> {
    const key = keyOf(taskId, cid)
    const entry = this.#entries.get(key)
    if (entry === undefined) return undefined
    // A change being held back (flush pending) goes with the others at the flush.
    if ((entry.seq > since && entry.flush === undefined) || waitMs <= 0) return answerOf(entry)
    await new Promise<void>((resolve) => {
      const timer = this.#clock.setTimeout(() => { done() }, waitMs)
      const done = (): void => {
        timer.cancel()
        entry.waiters.delete(done)
        signal?.removeEventListener('abort', done)
        resolve()
      }
      entry.waiters.add(done)
      signal?.addEventListener('abort', done, { once: true })
    })
    return this.#entries.get(key) === entry ? answerOf(entry) : undefined
  }

  #changed (entry: Entry, pieces: number): void {
    entry.seq += 1
    entry.pending += pieces
    if (entry.isFile && entry.pending >= this.#filePiecesPerAnswer) {
      this.#flush(entry)
      return
    }
    if (entry.flush !== undefined) return
    entry.flush = this.#clock.setTimeout(() => { this.#flush(entry) }, entry.isFile ? this.#fileCoalesceMs : this.#coalesceMs)
  }

  #flush (entry: Entry): void {
    entry.flush?.cancel()
    entry.flush = undefined
    entry.pending = 0
    for (const wake of [...entry.waiters]) wake()
  }
}

function answerOf (entry: Entry): PeerHavesResponse {
  return { seq: entry.seq, held: entry.held.toBase64(), complete: entry.isFile && entry.held.isFull }
}

function keyOf (taskId: string, cid: string): string {
  return `${taskId}/${cid}`
}
