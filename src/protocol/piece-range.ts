/**
 * Piece arithmetic. A piece is a fixed-size byte range of the task file; `pieceNum` counts
 * from 0; `pieceRange` is "start-end", inclusive bytes. The last piece may be shorter.
 */
import { invalidArgument } from './errors.js'

/** An inclusive byte range. */
export interface ByteRange {
  readonly start: number
  readonly end: number
}

const MIB = 1024 * 1024
/** Smallest and largest piece sizes the supernode picks. */
export const MIN_PIECE_SIZE_BYTES = 1 * MIB
export const MAX_PIECE_SIZE_BYTES = 16 * MIB

/**
 * The piece size for a file: about 256 pieces per file, a power of two between 1 MiB and
 * 16 MiB. Dragonfly 1.x used 4 MiB up to 200 MiB; smaller pieces let a swarm start
 * exchanging sooner and shorten the tail (a piece at 100 Mbit/s takes 84 ms, not 336 ms).
 */
export function computePieceSizeBytes (fileLengthBytes: number): number {
  let size = MIN_PIECE_SIZE_BYTES
  while (size < MAX_PIECE_SIZE_BYTES && fileLengthBytes / size > 256) size *= 2
  return size
}

/** Number of pieces of a file (0 for an empty file). */
export function pieceCount (fileLengthBytes: number, pieceSizeBytes: number): number {
  return Math.ceil(fileLengthBytes / pieceSizeBytes)
}

/** The byte range of piece `pieceNum`. */
export function rangeOfPiece (pieceNum: number, pieceSizeBytes: number, fileLengthBytes: number): ByteRange {
  const start = pieceNum * pieceSizeBytes
  const end = Math.min(start + pieceSizeBytes, fileLengthBytes) - 1
  return { start, end }
}

/** "start-end". */
export function formatPieceRange (range: ByteRange): string {
  return `${range.start}-${range.end}`
}

/** Parses "start-end" (inclusive, start <= end). @throws DF_ERR_ARG_INVALID */
export function parsePieceRange (value: unknown, field = 'pieceRange'): ByteRange {
  const match = typeof value === 'string' ? /^(\d{1,15})-(\d{1,15})$/.exec(value) : null
  if (match === null) throw invalidArgument(field, 'must be "start-end" in bytes')
  const start = Number(match[1])
  const end = Number(match[2])
  if (end < start) throw invalidArgument(field, 'end is before start')
  return { start, end }
}

/** The piece number a range denotes, or undefined when it is not exactly one piece. */
export function pieceNumOfRange (range: ByteRange, pieceSizeBytes: number, fileLengthBytes: number): number | undefined {
  if (range.start % pieceSizeBytes !== 0) return undefined
  const pieceNum = range.start / pieceSizeBytes
  const expected = rangeOfPiece(pieceNum, pieceSizeBytes, fileLengthBytes)
  return expected.end === range.end && expected.start < fileLengthBytes ? pieceNum : undefined
}

/** Length in bytes of an inclusive range. */
export function rangeLength (range: ByteRange): number {
  return range.end - range.start + 1
}
