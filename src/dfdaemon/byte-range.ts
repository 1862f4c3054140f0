/**
 * The `Range:` header of a blob GET (RFC 9110 §14), as lazy-pulling snapshotters (eStargz,
 * Nydus, overlaybd) send it: one byte range, `bytes=first-last`, `bytes=first-` or the
 * suffix `bytes=-length`. Pure functions, no I/O.
 */

/** A Range header, read but not yet applied to a length. */
export type RangeHeader =
  /** One range: `first`-`last` (inclusive; `last` undefined: to the end), or the last `suffix` bytes. */
  | { readonly kind: 'single', readonly first: number, readonly last: number | undefined }
  | { readonly kind: 'suffix', readonly suffix: number }
  /** Several ranges (multipart answers are the registry's business). */
  | { readonly kind: 'multi' }
  /** Not a bytes range we can read: RFC 9110 says to ignore the header (answer the whole blob). */
  | { readonly kind: 'invalid' }

/** A range applied to a length: bytes [start, end] inclusive, end < length. */
export interface ByteRange {
  readonly start: number
  readonly end: number
}

const SPEC = /^\s*(\d*)\s*-\s*(\d*)\s*$/

/** Reads a Range header value. */
export function parseRangeHeader (value: string): RangeHeader {
  const match = /^\s*bytes\s*=(.*)$/i.exec(value)
  if (match === null) return { kind: 'invalid' }
  const specs = (match[1] ?? '').split(',').filter((spec) => spec.trim() !== '')
  if (specs.length === 0) return { kind: 'invalid' }
  const parsed = specs.map((spec) => SPEC.exec(spec))
  if (parsed.some((m) => m === null || (m[1] === '' && m[2] === ''))) return { kind: 'invalid' }
  if (specs.length > 1) return { kind: 'multi' }
  const [, first = '', last = ''] = parsed[0] ?? []
  if (first === '') {
    const suffix = Number(last)
    return Number.isSafeInteger(suffix) ? { kind: 'suffix', suffix } : { kind: 'invalid' }
  }
  const from = Number(first)
  const to = last === '' ? undefined : Number(last)
  if (!Number.isSafeInteger(from) || (to !== undefined && (!Number.isSafeInteger(to) || to < from))) return { kind: 'invalid' }
  return { kind: 'single', first: from, last: to }
}

/**
 * The bytes a single or suffix range selects in a blob of `lengthBytes`, or undefined when
 * it selects none (416 Range Not Satisfiable: a first byte at or past the end, a zero
 * suffix).
 */
export function resolveRange (range: Extract<RangeHeader, { kind: 'single' | 'suffix' }>, lengthBytes: number): ByteRange | undefined {
  if (range.kind === 'suffix') {
    if (range.suffix === 0 || lengthBytes === 0) return undefined
    return { start: Math.max(0, lengthBytes - range.suffix), end: lengthBytes - 1 }
  }
  if (range.first >= lengthBytes) return undefined
  return { start: range.first, end: Math.min(range.last ?? lengthBytes - 1, lengthBytes - 1) }
}

/** `bytes start-end/length`, the Content-Range of a 206 answer. */
export function formatContentRange (range: ByteRange, lengthBytes: number): string {
  return `bytes ${range.start}-${range.end}/${lengthBytes}`
}
