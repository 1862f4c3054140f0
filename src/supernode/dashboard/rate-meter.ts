/**
 * Download rates for the dashboard: per key (a cid), the bytes received per second over a
 * sliding window of samples taken whenever a snapshot is built. Samples cost nothing per
 * piece report; a key not sampled in a build is forgotten (`retain`).
 */

interface Sample { readonly atMs: number, readonly bytes: number }

export class RateMeter<K> {
  readonly #windowMs: number
  readonly #samples = new Map<K, Sample[]>()

  /** @param windowMs how far back a rate looks */
  constructor (windowMs: number) {
    this.#windowMs = windowMs
  }

  /** Records that `key` had received `bytes` in all at `nowMs`; returns its rate in bytes per second. */
  sample (key: K, bytes: number, nowMs: number): number {
    let samples = this.#samples.get(key)
    if (samples === undefined) { samples = []; this.#samples.set(key, samples) }
    samples.push({ atMs: nowMs, bytes })
    // Keep one sample at or before the window's start so the rate spans the whole window.
    while (samples.length > 2 && (samples[1]?.atMs ?? nowMs) <= nowMs - this.#windowMs) samples.shift()
    const first = samples[0]
    if (first === undefined || nowMs <= first.atMs) return 0
    return Math.max(0, bytes - first.bytes) / ((nowMs - first.atMs) / 1000)
  }

  /** Forgets every key not in `keys`. */
  retain (keys: ReadonlySet<K>): void {
    for (const key of [...this.#samples.keys()]) if (!keys.has(key)) this.#samples.delete(key)
  }
}
