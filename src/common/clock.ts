/**
 * Time, injected (STYLE.md B10.5): schedulers, GC and retry code take a Clock so tests can
 * drive time with ManualClock instead of sleeping.
 */

export interface TimerHandle {
  cancel(): void
}

/** How a timer relates to the process's life. */
export interface TimerOptions {
  /**
   * A work timer (true: the piece loop's waits, retries) keeps the process alive while it
   * runs, like the I/O it stands in for; a housekeeping timer (the default) never does.
   */
  readonly ref?: boolean
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number
  /** Runs `fn` after `delayMs`; only a work timer (`ref: true`) keeps the process alive. */
  setTimeout(fn: () => void, delayMs: number, options?: TimerOptions): TimerHandle
}

/** The real clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout (fn, delayMs, options) {
    const timer = setTimeout(fn, delayMs)
    if (options?.ref !== true) timer.unref()
    return { cancel: () => { clearTimeout(timer) } }
  },
}

/** A clock that moves only when told to; for tests. */
export class ManualClock implements Clock {
  #nowMs: number
  #timers: { dueMs: number, fn: () => void, cancelled: boolean }[] = []

  constructor (startMs = 1_700_000_000_000) {
    this.#nowMs = startMs
  }

  now (): number {
    return this.#nowMs
  }

  setTimeout (fn: () => void, delayMs: number, _options?: TimerOptions): TimerHandle {
    const timer = { dueMs: this.#nowMs + delayMs, fn, cancelled: false }
    this.#timers.push(timer)
    return { cancel: () => { timer.cancelled = true } }
  }

  /** Moves time forward, running every timer that falls due, in due order. */
  advance (ms: number): void {
    const target = this.#nowMs + ms
    for (;;) {
      const due = this.#timers.filter((t) => !t.cancelled && t.dueMs <= target).sort((a, b) => a.dueMs - b.dueMs)[0]
      if (due === undefined) break
      this.#nowMs = due.dueMs
      due.cancelled = true
      due.fn()
    }
    this.#timers = this.#timers.filter((t) => !t.cancelled)
    this.#nowMs = target
  }
}
