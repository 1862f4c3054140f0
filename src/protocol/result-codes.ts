/**
 * Protocol outcomes that are not errors (STYLE.md B8.3), and the numbered back-source reasons.
 */

/** What a pull for work can yield. */
export const PULL_RESULTS = ['pieces', 'wait', 'finished', 'limited'] as const
export type PullResult = typeof PULL_RESULTS[number]

/** What a client reports about one piece. */
export const PIECE_REPORT_RESULTS = ['success', 'failed', 'cached', 'evicted'] as const
export type PieceReportResult = typeof PIECE_REPORT_RESULTS[number]

/**
 * Why a dfget fetched from the source itself (Dragonfly 1.x numbering where it has one).
 * 0 means it did not.
 */
export const BACK_SOURCE_REASONS = {
  none: 0,
  registerFailed: 1,
  md5Mismatch: 2,
  downloadError: 3,
  supernodeLost: 4,
  swarmStalled: 5,
  sourceError: 10,
  userSpecified: 100,
} as const
export type BackSourceReason = keyof typeof BACK_SOURCE_REASONS
