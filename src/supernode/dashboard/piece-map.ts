/**
 * Piece maps on the dashboard feed: a set of piece numbers as a base64 bitset, the layout
 * of PieceBitset (bit `p % 8`, least significant first, of byte `floor(p / 8)`), so a map
 * of 4096 pieces is 684 characters whatever the number of reports behind it.
 */

/** Encodes the pieces `0..size-1` for which `has` is true. */
export function encodePieceMap (size: number, has: (pieceNum: number) => boolean): string {
  const bytes = new Uint8Array(Math.ceil(size / 8))
  for (let pieceNum = 0; pieceNum < size; pieceNum++) {
    if (has(pieceNum)) bytes[pieceNum >> 3] = (bytes[pieceNum >> 3] ?? 0) | (1 << (pieceNum & 7))
  }
  return encodePieceBytes(bytes)
}

/** Encodes a bitset already in this layout (PieceBitset.toBytes). */
export function encodePieceBytes (bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')
}

/** Encodes a few piece numbers (O(their count), not O(size)); numbers outside 0..size-1 are left out. */
export function encodePieceList (size: number, pieceNums: Iterable<number>): string {
  const bytes = new Uint8Array(Math.ceil(size / 8))
  for (const pieceNum of pieceNums) {
    if (Number.isInteger(pieceNum) && pieceNum >= 0 && pieceNum < size) bytes[pieceNum >> 3] = (bytes[pieceNum >> 3] ?? 0) | (1 << (pieceNum & 7))
  }
  return encodePieceBytes(bytes)
}

/** Decodes a map back into piece numbers, ascending (for tests and scripts). */
export function decodePieceMap (base64: string, size: number): number[] {
  const bytes = Buffer.from(base64, 'base64')
  const out: number[] = []
  for (let pieceNum = 0; pieceNum < size; pieceNum++) {
    if (((bytes[pieceNum >> 3] ?? 0) & (1 << (pieceNum & 7))) !== 0) out.push(pieceNum)
  }
  return out
}
