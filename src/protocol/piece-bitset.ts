/**
 * A fixed-size set of piece numbers, one bit per piece, with a running count. Used for the
 * pieces a cid holds, the pieces it has received, and the pieces the CDN has cached; on the
 * wire (control protocol v2) a bitmap travels as the base64 of `toBytes()`.
 * Invariant: `count` always equals the number of set bits.
 */

/** The number of bits set in each byte value. */
const BITS_SET = Uint8Array.from({ length: 256 }, (_, byte) => {
  let count = 0
  for (let bits = byte; bits !== 0; bits >>= 1) count += bits & 1
  return count
})

/** A bitset over piece numbers 0..size-1. */
export class PieceBitset {
  readonly size: number
  readonly #bits: Uint8Array
  #count = 0

  constructor (size: number) {
    if (!Number.isInteger(size) || size < 0) throw new RangeError(`bitset size must be a non-negative integer, got ${size}`)
    this.size = size
    this.#bits = new Uint8Array(Math.ceil(size / 8))
  }

  /** A bitset of `size` with every bit set. */
  static full (size: number): PieceBitset {
    const bitset = new PieceBitset(size)
    for (let pieceNum = 0; pieceNum < size; pieceNum++) bitset.add(pieceNum)
    return bitset
  }

  /**
   * A bitset of `size` from its wire form (base64 of `toBytes()`); undefined when the text
   * is not the bitmap of `size` pieces (wrong length, or bits set past `size`).
   */
  static fromBase64 (text: string, size: number): PieceBitset | undefined {
    const bytes = Buffer.from(text, 'base64')
    if (bytes.length !== Math.ceil(size / 8)) return undefined
    // Bits past the last piece: not a bitmap of `size` pieces.
    if (size % 8 !== 0 && ((bytes[bytes.length - 1] ?? 0) >> (size % 8)) !== 0) return undefined
    const bitset = new PieceBitset(size)
    bitset.#bits.set(bytes)
    for (const byte of bytes) bitset.#count += BITS_SET[byte] ?? 0
    return bitset
  }

  /** Number of pieces in the set. */
  get count (): number {
    return this.#count
  }

  /** True when every piece is in the set. */
  get isFull (): boolean {
    return this.#count === this.size
  }

  has (pieceNum: number): boolean {
    if (pieceNum < 0 || pieceNum >= this.size) return false
    return ((this.#bits[pieceNum >> 3] ?? 0) & (1 << (pieceNum & 7))) !== 0
  }

  /** Adds a piece; returns true when it was not there before. Out-of-range numbers are ignored. */
  add (pieceNum: number): boolean {
    if (!Number.isInteger(pieceNum) || pieceNum < 0 || pieceNum >= this.size || this.has(pieceNum)) return false
    const index = pieceNum >> 3
    this.#bits[index] = (this.#bits[index] ?? 0) | (1 << (pieceNum & 7))
    this.#count += 1
    return true
  }

  /** Removes a piece; returns true when it was there. */
  delete (pieceNum: number): boolean {
    if (!this.has(pieceNum)) return false
    const index = pieceNum >> 3
    this.#bits[index] = (this.#bits[index] ?? 0) & ~(1 << (pieceNum & 7))
    this.#count -= 1
    return true
  }

  /** The lowest piece number not in the set, or `size` when the set is full. */
  firstMissing (): number {
    for (let index = 0; index < this.#bits.length; index++) {
      const byte = this.#bits[index] ?? 0
      if (byte === 0xff) continue
      for (let bit = 0; bit < 8; bit++) {
        const pieceNum = index * 8 + bit
        if (pieceNum >= this.size) return this.size
        if ((byte & (1 << bit)) === 0) return pieceNum
      }
    }
    return this.size
  }

  /** The lowest piece number in the set at or after `start`, or -1 when there is none. Skips empty bytes: a walk of a sparse set costs a byte per 8 pieces. */
  nextFrom (start: number): number {
    return this.#next(start, undefined)
  }

  /** The lowest piece number at or after `start` in this set and not in `other` (of the same size), or -1. A byte at a time, as nextFrom. */
  nextNotIn (other: PieceBitset, start: number): number {
    if (other.size !== this.size) throw new RangeError(`bitset sizes differ: ${this.size} and ${other.size}`)
    return this.#next(start, other.#bits)
  }

  /** A copy of the bits: bit `p % 8` (least significant first) of byte `floor(p / 8)` is piece `p`. */
  toBytes (): Uint8Array {
    return this.#bits.slice()
  }

  /** The wire form: base64 of `toBytes()`. */
  toBase64 (): string {
    return Buffer.from(this.#bits.buffer, this.#bits.byteOffset, this.#bits.byteLength).toString('base64')
  }

  /** The lowest piece number at or after `start` in the set and, when `without` is given, not in those bits. */
  #next (start: number, without: Uint8Array | undefined): number {
    let pieceNum = Math.max(0, Math.ceil(start))
    while (pieceNum < this.size) {
      const index = pieceNum >> 3
      const byte = ((this.#bits[index] ?? 0) & ~(without?.[index] ?? 0)) >> (pieceNum & 7)
      if (byte === 0) { pieceNum = (index + 1) << 3; continue }
      if ((byte & 1) !== 0) return pieceNum
      pieceNum += 1
    }
    return -1
  }

  /** Every piece number in the set, ascending. */
  toArray (): number[] {
    const out: number[] = []
    for (let pieceNum = 0; pieceNum < this.size; pieceNum++) if (this.has(pieceNum)) out.push(pieceNum)
    return out
  }
}
