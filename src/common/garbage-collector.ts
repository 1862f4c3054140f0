/**
 * A nudge for the garbage collector in processes that move a lot of short-lived piece
 * buffers (the peer server's stream store). V8 collects ArrayBuffer memory only after
 * about 64 MB of new external allocations, so a process that receives pieces at loopback
 * speed carries up to that much garbage; collecting every `everyBytes` keeps the peak near
 * the live data. Only composition roots create one (it turns on V8's `gc` for the process).
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

/** Counts retired bytes and runs a full collection every `everyBytes`. */
export class GarbageCollector {
  readonly #collect: () => void
  readonly #everyBytes: number
  #sinceBytes = 0

  constructor (options: { everyBytes: number }) {
    if (!Number.isInteger(options.everyBytes) || options.everyBytes < 1) throw new RangeError('everyBytes must be a positive integer')
    setFlagsFromString('--expose-gc')
    // The new context sees V8's gc function, which the main context got before the flag.
    this.#collect = runInNewContext('gc') as () => void // V8 defines `gc` as a function under --expose-gc
    this.#everyBytes = options.everyBytes
  }

  /** Counts `bytes` of buffers that became (or will soon be) garbage; collects past the threshold. */
  add (bytes: number): void {
    this.#sinceBytes += bytes
    if (this.#sinceBytes < this.#everyBytes) return
    this.#sinceBytes = 0
    this.#collect()
  }
}
