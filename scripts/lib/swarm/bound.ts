/**
 * The Kumar–Ross lower bound on the time for N downloaders to get a file of F bytes from one
 * seed (Kumar & Ross, 2006; DESIGN.md §1):
 *
 *     T_min = max( F/u_s , F/d_min , N·F / (u_s + Σ u_i) )
 *
 * u_s is the seed's (here: the supernode's host) upload rate, u_i the downloaders' upload
 * rates, d_min the slowest downloader's download rate. Rates in the lab's tc units.
 */

/** Parses a tc rate ("100mbit", "1gbit", "500kbit", "none") into bits per second; `none` is Infinity. */
export function parseRateBitsPerSec (text: string): number | undefined {
  const value = text.trim().toLowerCase()
  if (value === 'none') return Number.POSITIVE_INFINITY
  const match = /^(\d+(?:\.\d+)?)(bit|kbit|mbit|gbit|k|m|g)?$/.exec(value)
  if (match === null) return undefined
  const multiplier = { bit: 1, '': 1, k: 1e3, kbit: 1e3, m: 1e6, mbit: 1e6, g: 1e9, gbit: 1e9 }[match[2] ?? ''] ?? 1
  const bitsPerSec = Number(match[1]) * multiplier
  return bitsPerSec > 0 ? bitsPerSec : undefined
}

/** Inputs of the bound; rates in bits per second. */
export interface BoundInput {
  readonly fileSizeBytes: number
  /** Number of downloaders (N). */
  readonly downloaders: number
  readonly seedUploadBitsPerSec: number
  /** Upload rate of each downloader (all equal in the lab). */
  readonly downloaderUploadBitsPerSec: number
  /** Slowest download rate (Infinity when unshaped). */
  readonly minDownloadBitsPerSec: number
}

/** The bound and its three terms, in milliseconds. */
export interface Bound {
  readonly seedUploadMs: number
  readonly slowestDownloadMs: number
  readonly aggregateUploadMs: number
  readonly boundMs: number
}

export function computeKumarRossBound (input: BoundInput): Bound {
  const fileBits = input.fileSizeBytes * 8
  const seedUploadMs = (fileBits / input.seedUploadBitsPerSec) * 1000
  const slowestDownloadMs = (fileBits / input.minDownloadBitsPerSec) * 1000
  const totalUpload = input.seedUploadBitsPerSec + input.downloaders * input.downloaderUploadBitsPerSec
  const aggregateUploadMs = ((input.downloaders * fileBits) / totalUpload) * 1000
  return { seedUploadMs, slowestDownloadMs, aggregateUploadMs, boundMs: Math.max(seedUploadMs, slowestDownloadMs, aggregateUploadMs) }
}
