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

/** What a ManualClock's timers share: how many cancelled timers its heap still holds. */
interface ManualTimerCounts {
  cancelled: number
}

const NOTHING = (): void => {}

/** A timer of ManualClock; a class, so that setting one allocates no closures. */
class ManualTimer implements TimerHandle {
  readonly dueMs: number
  readonly seq: number
  fn: () => void
  cancelled = false
  readonly #counts: ManualTimerCounts

  constructor (dueMs: number, seq: number, fn: () => void, counts: ManualTimerCounts) {
    this.dueMs = dueMs
    this.seq = seq
    this.fn = fn
    this.#counts = counts
  }

  cancel (): void {
    if (this.cancelled) return
    this.cancelled = true
    // A cancelled timer stays in the heap until it comes up: it lets go of what its function holds.
    this.fn = NOTHING
    this.#counts.cancelled++
  }
}

/**
 * A clock that moves only when told to; for tests and the fleet simulator. Timers live in a
 * binary heap ordered by due time, then by creation, so that hundreds of thousands of them
 * (one simulated fleet) cost O(log n) each. A cancelled timer is dropped when it comes up,
 * or when cancelled timers are most of the heap (a fleet's long-polls set and cancel
 * millions of far timers): then the heap is rebuilt without them.
 */
export class ManualClock implements Clock {
  #nowMs: number
  #seq = 0
  #heap: ManualTimer[] = []
  readonly #counts: ManualTimerCounts = { cancelled: 0 }

  constructor (startMs = 1_700_000_000_000) {
    this.#nowMs = startMs
  }

  now (): number {
    return this.#nowMs
  }

  setTimeout (fn: () => void, delayMs: number, _options?: TimerOptions): TimerHandle {
    const timer = new ManualTimer(this.#nowMs + delayMs, this.#seq++, fn, this.#counts)
    if (this.#counts.cancelled > 4096 && 2 * this.#counts.cancelled > this.#heap.length) this.#compact()
    this.#push(timer)
    return timer
  }

  /** When the next timer falls due; undefined when none is set. */
  nextDueMs (): number | undefined {
    this.#dropCancelled()
    return this.#heap[0]?.dueMs
  }

  /** Moves time forward, running every timer that falls due, in due order. */
  advance (ms: number): void {
    const target = this.#nowMs + ms
    for (;;) {
      this.#dropCancelled()
      const due = this.#heap[0]
      if (due === undefined || due.dueMs > target) break
      this.#pop()
      this.#nowMs = Math.max(this.#nowMs, due.dueMs)
      due.cancelled = true
      due.fn()
    }
    this.#nowMs = target
  }

  #dropCancelled (): void {
    while (this.#heap[0]?.cancelled === true) {
      this.#pop()
      this.#counts.cancelled--
    }
  }

  /** Rebuilds the heap without its cancelled timers (a sorted array is a heap). */
  #compact (): void {
    this.#heap = this.#heap.filter((timer) => !timer.cancelled).sort((a, b) => (isEarlier(a, b) ? -1 : 1))
    this.#counts.cancelled = 0
  }

  #push (timer: ManualTimer): void {
    const heap = this.#heap
    heap.push(timer)
    let i = heap.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      const up = heap[parent]
      if (up === undefined || !isEarlier(timer, up)) break
      heap[i] = up
      i = parent
    }
    heap[i] = timer
  }

  #pop (): void {
    const heap = this.#heap
    const last = heap.pop()
    if (last === undefined || heap.length === 0) return
    let i = 0
    for (;;) {
      const left = 2 * i + 1
      if (left >= heap.length) break
      const right = left + 1
      const leftTimer = heap[left]
      const rightTimer = heap[right]
      if (leftTimer === undefined) break
      const child = rightTimer !== undefined && isEarlier(rightTimer, leftTimer) ? right : left
      const childTimer = heap[child]
      if (childTimer === undefined || !isEarlier(childTimer, last)) break
      heap[i] = childTimer
      i = child
    }
    heap[i] = last
  }
}

function isEarlier (a: ManualTimer, b: ManualTimer): boolean {
  return a.dueMs < b.dueMs || (a.dueMs === b.dueMs && a.seq < b.seq)
}
