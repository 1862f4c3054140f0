/**
 * The -b progress bar: one line on a TTY (stderr), redrawn a few times a second with the
 * bytes done, the percentage when the length is known, and the rate. Nothing is drawn when
 * the stream is not a TTY (stdout and logs stay clean).
 */
import type { WriteStream } from 'node:tty'
import { formatBytes } from '../common/byte-size.js'
import type { TransferStats } from './downloader/transfer-stats.js'

const WIDTH = 30

export class ProgressBar {
  readonly #stream: WriteStream
  readonly #stats: TransferStats
  readonly #intervalMs: number
  #timer: NodeJS.Timeout | undefined
  #startedMs = 0

  constructor (deps: { stream: WriteStream, stats: TransferStats }, options: { intervalMs?: number } = {}) {
    this.#stream = deps.stream
    this.#stats = deps.stats
    this.#intervalMs = options.intervalMs ?? 200
  }

  start (): void {
    if (this.#stream.isTTY !== true || this.#timer !== undefined) return
    this.#startedMs = Date.now()
    this.#timer = setInterval(() => { this.#draw() }, this.#intervalMs)
    this.#timer.unref()
  }

  /** Stops and clears the line. Idempotent. */
  stop (): void {
    if (this.#timer === undefined) return
    clearInterval(this.#timer)
    this.#timer = undefined
    this.#stream.write('\r\x1b[K')
  }

  #draw (): void {
    const done = this.#stats.totalBytes
    const total = this.#stats.expectedLengthBytes
    const seconds = Math.max(Date.now() - this.#startedMs, 1) / 1000
    const rate = `${formatBytes(done / seconds)}/s`
    let line: string
    if (total !== undefined && total > 0) {
      const ratio = Math.min(1, done / total)
      const filled = Math.round(ratio * WIDTH)
      line = `[${'='.repeat(filled)}${' '.repeat(WIDTH - filled)}] ${(ratio * 100).toFixed(0).padStart(3)}% ${formatBytes(done)} / ${formatBytes(total)} ${rate}`
    } else {
      line = `${formatBytes(done)} ${rate}`
    }
    this.#stream.write(`\r\x1b[K${line}`)
  }
}
