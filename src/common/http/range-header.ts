/**
 * Range / Content-Range headers: the single-range forms we send and serve.
 */
import type { ByteRange } from '../../protocol/piece-range.js'

/**
 * Parses a `Range` header against a resource of `lengthBytes`. Returns the satisfiable
 * range, 'unsatisfiable' (416), or undefined when absent or not a single bytes range
 * (the server then sends the whole resource, as RFC 9110 allows).
 */
export function parseRangeHeader (header: string | undefined, lengthBytes: number): ByteRange | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (match === null || (match[1] === '' && match[2] === '')) return undefined
  if (match[1] === '') {
    const suffix = Number(match[2])
    if (suffix === 0 || lengthBytes === 0) return 'unsatisfiable'
    return { start: Math.max(0, lengthBytes - suffix), end: lengthBytes - 1 }
  }
  const start = Number(match[1])
  const end = match[2] === '' ? lengthBytes - 1 : Math.min(Number(match[2]), lengthBytes - 1)
  if (start >= lengthBytes || end < start) return 'unsatisfiable'
  return { start, end }
}

/** "bytes start-end/total". */
export function formatContentRange (range: ByteRange, totalBytes: number | '*'): string {
  return `bytes ${range.start}-${range.end}/${totalBytes}`
}

/**
 * Parses "bytes start-end/total" (total may be "*"). A range that ends before it starts,
 * ends past the total, or holds numbers past 2^53 is no range (undefined): a source's
 * header is outside input.
 */
export function parseContentRange (header: string | undefined): { range: ByteRange, totalBytes: number | undefined } | undefined {
  if (header === undefined) return undefined
  const match = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header.trim())
  if (match === null) return undefined
  const start = Number(match[1])
  const end = Number(match[2])
  const totalBytes = match[3] === '*' ? undefined : Number(match[3])
  if (!Number.isSafeInteger(end) || end < start || (totalBytes !== undefined && (!Number.isSafeInteger(totalBytes) || end >= totalBytes))) return undefined
  return { range: { start, end }, totalBytes }
}
