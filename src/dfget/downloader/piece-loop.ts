/**
 * What the piece loops (v1 P2pDownloader, v2 ParentDownloader) share: how a loop ends, and
 * the small interfaces behind which the v2 loop does all its I/O — the supernode control
 * calls (ControlPort), a parent's have feed (ParentPort) and the piece fetch
 * (PieceFetchPort). Over the network they are SupernodeControl, HttpParentPort and
 * PieceFetcher; an in-process simulated transport (the fleet simulator, the loop's
 * ManualClock tests) implements them to drive the real loop without sockets.
 */
import { DfError, isCode, type ErrorCode } from '../../protocol/errors.js'
import type { BackSourceReason } from '../../protocol/result-codes.js'
import type { PieceTask } from '../../protocol/messages/pull-piece-task.js'
import type { PeerHavesResponse } from '../../protocol/messages/peer-haves.js'
import type { RegisterTaskResponse } from '../../protocol/messages/register-task.js'
import type { Parent, SyncTaskRequest, SyncTaskResponse } from '../../protocol/messages/sync-task.js'
import type { FetchedPiece } from './piece-fetcher.js'

/**
 * How a piece loop ended: every piece verified; the swarm cannot finish (back-source of
 * the missing pieces, with the numbered reason); or the supernode that took the task over
 * has another version of the source, so the pieces held must be dropped and the whole file
 * fetched again.
 */
export type PieceLoopOutcome =
  | { readonly kind: 'complete' }
  | { readonly kind: 'backSource', readonly reason: BackSourceReason, readonly cause: DfError }
  | { readonly kind: 'sourceChanged', readonly cause: DfError }

/** What moving to another supernode gave. */
export type SupernodeMove =
  | { readonly kind: 'moved', readonly task: RegisterTaskResponse }
  | { readonly kind: 'sourceChanged', readonly cause: DfError }
  | { readonly kind: 'none', readonly cause: DfError }

/** The supernode control calls of the v2 loop. */
export interface ControlPort {
  /** One sync with the supernode in charge (protocol/messages/sync-task.ts). @throws DfError */
  sync(request: SyncTaskRequest, signal: AbortSignal): Promise<SyncTaskResponse>
  /**
   * Registers the task with another supernode (the next in the task's order when
   * `skipCurrent`, else the current one again: it forgot the task), telling it the pieces
   * held. Never throws but for an abort.
   */
  moveToNextSupernode(heldPieces: readonly number[], skipCurrent: boolean, signal: AbortSignal): Promise<SupernodeMove>
}

/** A parent's have feed. */
export interface ParentPort {
  /** What `parent` holds, once its bitmap is newer than `since` or after `waitMs`. @throws DfError */
  fetchHaves(parent: Parent, since: number, waitMs: number, grant: string | undefined, signal: AbortSignal): Promise<PeerHavesResponse>
}

/** Fetches, verifies and writes one piece (PieceFetcher). */
export interface PieceFetchPort {
  fetch(piece: PieceTask, signal: AbortSignal): Promise<FetchedPiece>
}

/**
 * Sorts a failed piece fetch: undefined when the loop is ending (`signal` aborted) or the
 * failure ends the download (the target cannot be written: handed to `onFatal`); else the
 * code to report against the piece's source.
 */
export function pieceFailureCode (err: unknown, signal: AbortSignal, onFatal: (err: DfError) => void): ErrorCode | undefined {
  if (signal.aborted) return undefined
  if (isCode(err, 'DF_ERR_TASK_WRITE_FAILED') || isCode(err, 'DF_ERR_INTERNAL_INVARIANT')) {
    onFatal(err)
    return undefined
  }
  return err instanceof DfError ? err.code : 'DF_ERR_INTERNAL'
}
