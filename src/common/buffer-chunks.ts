/** Byte ranges of data held as a list of chunks (as it arrived from a socket), without copying. */

/** Views of `length` bytes from `offset` of the chunks taken end to end (empty chunks skipped). */
export function sliceChunks (chunks: readonly Buffer[], offset: number, length: number): Buffer[] {
  const out: Buffer[] = []
  const end = offset + length
  let position = 0
  for (const chunk of chunks) {
    const from = Math.max(offset, position)
    const to = Math.min(end, position + chunk.length)
    if (from < to) out.push(from === position && to === position + chunk.length ? chunk : chunk.subarray(from - position, to - position))
    position += chunk.length
    if (position >= end) break
  }
  return out
}
