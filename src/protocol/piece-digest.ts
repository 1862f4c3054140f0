/**
 * Piece digests: "sha256:<hex>" of a piece's bytes, computed by the supernode when it reads
 * the source and verified by every receiver before a byte is written.
 */
import { createHash, type Hash } from 'node:crypto'

/** A digest in its wire form, "sha256:<64 hex>". */
export type PieceDigest = string

export const PIECE_DIGEST_PATTERN = '^sha256:[0-9a-f]{64}$'

/** Starts an incremental digest; feed it with `update`, end with `finishPieceDigest`. */
export function createPieceHasher (): Hash {
  return createHash('sha256')
}

export function finishPieceDigest (hasher: Hash): PieceDigest {
  return `sha256:${hasher.digest('hex')}`
}

/** Digest of one buffer (or of several in order). */
export function computePieceDigest (...chunks: readonly Uint8Array[]): PieceDigest {
  const hasher = createPieceHasher()
  for (const chunk of chunks) hasher.update(chunk)
  return finishPieceDigest(hasher)
}

/** True when the chunks hash to `expected`. */
export function verifyPieceDigest (expected: PieceDigest, ...chunks: readonly Uint8Array[]): boolean {
  return computePieceDigest(...chunks) === expected
}
