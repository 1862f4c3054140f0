/**
 * PieceMapView: one cid's pieces drawn on a canvas — received, being fetched, missing —
 * from the feed's base64 bitsets (bit `p % 8` of byte `floor(p / 8)` is piece `p`). One
 * cell per piece while they fit; past that, a column blends the pieces it covers.
 */

/** Decodes a base64 bitset. */
export function decodeBitset (base64: string): Uint8Array {
  const text = atob(base64)
  const bytes = new Uint8Array(text.length)
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i)
  return bytes
}

function has (bits: Uint8Array, pieceNum: number): boolean {
  return ((bits[pieceNum >> 3] ?? 0) & (1 << (pieceNum & 7))) !== 0
}

export type PieceMapKind = 'peer' | 'cdn'

export class PieceMapView {
  readonly element: HTMLCanvasElement
  readonly #kind: PieceMapKind
  #key = ''
  #width = 0

  constructor (kind: PieceMapKind, label: string) {
    this.#kind = kind
    this.element = document.createElement('canvas')
    this.element.className = `piece-map piece-map-${kind}`
    this.element.setAttribute('role', 'img')
    this.element.setAttribute('aria-label', label)
  }

  /** Draws the map (only when its data or size changed). */
  update (pieceCount: number, doneMap: string, fetchingMap: string): void {
    const width = Math.max(1, Math.round(this.element.clientWidth))
    const key = `${pieceCount}|${doneMap}|${fetchingMap}`
    if (key === this.#key && width === this.#width) return
    this.#key = key
    this.#width = width
    this.#draw(pieceCount, decodeBitset(doneMap), decodeBitset(fetchingMap), width)
  }

  /** Redraws at the current size (after a resize). */
  redraw (): void {
    this.#width = -1
    const [count, done, fetching] = this.#key.split('|')
    if (count !== undefined) this.update(Number(count), done ?? '', fetching ?? '')
  }

  #draw (pieceCount: number, done: Uint8Array, fetching: Uint8Array, cssWidth: number): void {
    const ratio = window.devicePixelRatio || 1
    const cssHeight = this.element.clientHeight || 18
    const canvas = this.element
    canvas.width = Math.round(cssWidth * ratio)
    canvas.height = Math.round(cssHeight * ratio)
    const context = canvas.getContext('2d')
    if (context === null) return
    const style = getComputedStyle(canvas)
    const colors = {
      missing: style.getPropertyValue('--map-missing').trim() || '#d0d5dd',
      fetching: style.getPropertyValue('--map-fetching').trim() || '#f2b705',
      done: style.getPropertyValue(this.#kind === 'cdn' ? '--map-cdn' : '--map-done').trim() || '#2e9d5b',
    }
    context.setTransform(ratio, 0, 0, ratio, 0, 0)
    context.clearRect(0, 0, cssWidth, cssHeight)
    if (pieceCount === 0) return
    const cellWidth = cssWidth / pieceCount
    if (cellWidth >= 2) {
      const gap = cellWidth >= 5 ? 1 : 0
      for (let pieceNum = 0; pieceNum < pieceCount; pieceNum++) {
        context.fillStyle = has(done, pieceNum) ? colors.done : has(fetching, pieceNum) ? colors.fetching : colors.missing
        const x = Math.floor(pieceNum * cellWidth)
        const next = Math.floor((pieceNum + 1) * cellWidth)
        context.fillRect(x, 0, Math.max(1, next - x - gap), cssHeight)
      }
      return
    }
    // More pieces than pixels: each column shows the share of its pieces received.
    for (let x = 0; x < cssWidth; x++) {
      const first = Math.floor((x / cssWidth) * pieceCount)
      const last = Math.max(first + 1, Math.floor(((x + 1) / cssWidth) * pieceCount))
      let received = 0
      let inFlight = 0
      for (let pieceNum = first; pieceNum < last; pieceNum++) {
        if (has(done, pieceNum)) received += 1
        else if (has(fetching, pieceNum)) inFlight += 1
      }
      const total = last - first
      context.fillStyle = colors.missing
      context.fillRect(x, 0, 1, cssHeight)
      const doneHeight = (received / total) * cssHeight
      const fetchingHeight = (inFlight / total) * cssHeight
      context.fillStyle = colors.done
      context.fillRect(x, cssHeight - doneHeight, 1, doneHeight)
      context.fillStyle = colors.fetching
      context.fillRect(x, cssHeight - doneHeight - fetchingHeight, 1, fetchingHeight)
    }
  }
}
