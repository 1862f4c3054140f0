/**
 * A token bucket: `take(bytes)` resolves when that many bytes may pass at the configured
 * rate. A rate of 0 means unlimited. Used by the downloader (--locallimit) and the uploader.
 */
import { setTimeout as sleep } from 'node:timers/promises'

export class RateLimiter {
  readonly #rateBytesPerSec: number
  readonly #burstBytes: number
  #tokens: number
  #lastMs: number

  constructor (rateBytesPerSec: number, burstBytes = Math.max(rateBytesPerSec / 4, 64 * 1024)) {
    if (!Number.isFinite(rateBytesPerSec) || rateBytesPerSec < 0) throw new RangeError('rateBytesPerSec must be >= 0')
    this.#rateBytesPerSec = rateBytesPerSec
    this.#burstBytes = burstBytes
    this.#tokens = burstBytes
    this.#lastMs = Date.now()
  }

  get isUnlimited (): boolean {
    return this.#rateBytesPerSec === 0
  }

  /** Waits until `bytes` may pass. */
  async take (bytes: number, signal?: AbortSignal): Promise<void> {
    if (this.#rateBytesPerSec === 0) return
    this.#refill()
    this.#tokens -= bytes
    if (this.#tokens >= 0) return
    const waitMs = Math.ceil((-this.#tokens / this.#rateBytesPerSec) * 1000)
    await sleep(waitMs, undefined, signal === undefined ? {} : { signal })
  }

  #refill (): void {
    const now = Date.now()
    this.#tokens = Math.min(this.#burstBytes, this.#tokens + ((now - this.#lastMs) / 1000) * this.#rateBytesPerSec)
    this.#lastMs = now
  }
}

/** Parses a rate like "20M", "512K", "100mbit", "1.5G" into bytes per second. Undefined when malformed. */
export function parseRate (text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?|bit|bps)?(?:\/s)?$/i.exec(text.trim())
  if (match === null) return undefined
  const value = Number(match[1])
  const unit = (match[2] ?? '').toLowerCase()
  const power = { '': 0, k: 1, m: 2, g: 3, t: 4 }[unit] ?? 0
  const isBits = (match[3] ?? '').toLowerCase() === 'bit' || (match[3] ?? '').toLowerCase() === 'bps'
  const bytes = value * 1024 ** power
  return Math.round(isBits ? (value * 1000 ** power) / 8 : bytes)
}

/** Parses a size like "64MiB", "1G", "4096" into bytes. Undefined when malformed. */
export function parseSize (text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?$/i.exec(text.trim())
  if (match === null) return undefined
  const power = { '': 0, k: 1, m: 2, g: 3, t: 4 }[(match[2] ?? '').toLowerCase()] ?? 0
  return Math.round(Number(match[1]) * 1024 ** power)
}
