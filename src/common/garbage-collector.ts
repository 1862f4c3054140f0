/**
 * A nudge for the garbage collector in processes that move a lot of piece buffers (stream
 * mode's dfget and the peer server's stream store). V8 frees ArrayBuffer memory of old
 * objects only after about 64 MB of new external allocations, so a process that passes
 * pieces through at loopback speed carries up to that much garbage. Counting the bytes it
 * moves, this runs a young-generation collection every `minorEveryBytes` (cheap: most
 * socket chunks die young) and a full one every `majorEveryBytes` (pieces that waited in a
 * window were promoted), keeping the peak near the live data. Only composition roots
 * create one: it turns on V8's `gc` for the process.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

type GcFunction = (options?: { type: 'minor' | 'major' }) => void

export class GarbageCollector {
  readonly #gc: GcFunction
  readonly #minorEveryBytes: number
  readonly #majorEveryBytes: number
  #sinceMinorBytes = 0
  #sinceMajorBytes = 0

  constructor (options: { minorEveryBytes: number, majorEveryBytes: number }) {
    for (const [name, value] of Object.entries(options)) {
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer`)
    }
    setFlagsFromString('--expose-gc')
    // A new context sees V8's gc function, which the main context did not get before the flag.
    this.#gc = runInNewContext('gc') as GcFunction // V8 defines `gc` as a function under --expose-gc
    this.#minorEveryBytes = options.minorEveryBytes
    this.#majorEveryBytes = options.majorEveryBytes
  }

  /** Counts `bytes` of buffers that passed through (and will soon be garbage); collects past the thresholds. */
  add (bytes: number): void {
    this.#sinceMinorBytes += bytes
    this.#sinceMajorBytes += bytes
    if (this.#sinceMajorBytes >= this.#majorEveryBytes) {
      this.#sinceMajorBytes = 0
      this.#sinceMinorBytes = 0
      this.#gc({ type: 'major' })
    } else if (this.#sinceMinorBytes >= this.#minorEveryBytes) {
      this.#sinceMinorBytes = 0
      this.#gc({ type: 'minor' })
    }
  }
}
