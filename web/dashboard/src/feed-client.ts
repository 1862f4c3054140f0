/**
 * FeedClient: keeps one server-sent-events stream of dashboard snapshots open
 * (`GET /api/v1/dashboard/events?taskId=`), read with fetch so the token can go in an
 * Authorization header. The supernode pushes a snapshot when something changed; the page
 * never polls. A dropped stream is reopened after a back-off (1 s doubling to 10 s); a 401
 * stops and asks for the token.
 */
import type { DashboardSnapshot } from '../../../src/protocol/messages/dashboard.js'
import { SseParser } from './sse-parser.js'

export type FeedState = 'connecting' | 'live' | 'reconnecting' | 'token'

export interface FeedClientCallbacks {
  onSnapshot(snapshot: DashboardSnapshot): void
  onState(state: FeedState, detail: string): void
}

const EVENTS_PATH = '/api/v1/dashboard/events'
const MIN_BACKOFF_MS = 1_000
const MAX_BACKOFF_MS = 10_000

export class FeedClient {
  readonly #callbacks: FeedClientCallbacks
  readonly #token: () => string | undefined
  #controller: AbortController | undefined
  #selection: string | undefined
  #retryTimer: ReturnType<typeof setTimeout> | undefined

  constructor (callbacks: FeedClientCallbacks, token: () => string | undefined) {
    this.#callbacks = callbacks
    this.#token = token
  }

  /** (Re)opens the stream for a selected task (or none). */
  open (selection: string | undefined): void {
    this.close()
    this.#selection = selection
    const controller = new AbortController()
    this.#controller = controller
    void this.#run(controller.signal)
  }

  close (): void {
    this.#controller?.abort()
    this.#controller = undefined
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer)
    this.#retryTimer = undefined
  }

  async #run (signal: AbortSignal): Promise<void> {
    let backoffMs = MIN_BACKOFF_MS
    this.#callbacks.onState('connecting', 'connecting…')
    while (!signal.aborted) {
      let detail = 'stream ended'
      try {
        const received = await this.#stream(signal)
        if (received === 'unauthorized') {
          this.#callbacks.onState('token', 'token needed')
          return
        }
        if (received > 0) backoffMs = MIN_BACKOFF_MS
      } catch (err) {
        if (signal.aborted) return
        detail = err instanceof Error ? err.message : String(err)
      }
      if (signal.aborted) return
      this.#callbacks.onState('reconnecting', `reconnecting in ${Math.round(backoffMs / 1000)} s (${detail})`)
      await new Promise<void>((resolve) => {
        this.#retryTimer = setTimeout(resolve, backoffMs)
        signal.addEventListener('abort', () => { resolve() }, { once: true })
      })
      backoffMs = Math.min(MAX_BACKOFF_MS, backoffMs * 2)
    }
  }

  /** Reads one stream to its end; returns how many snapshots came, or 'unauthorized'. */
  async #stream (signal: AbortSignal): Promise<number | 'unauthorized'> {
    const query = this.#selection === undefined ? '' : `?taskId=${encodeURIComponent(this.#selection)}`
    const token = this.#token()
    const response = await fetch(`${EVENTS_PATH}${query}`, {
      headers: { accept: 'text/event-stream', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
      cache: 'no-store',
      signal,
    })
    if (response.status === 401) return 'unauthorized'
    if (!response.ok || response.body === null) throw new Error(`HTTP ${response.status}`)
    let count = 0
    const parser = new SseParser((event) => {
      if (event.type !== 'snapshot') return
      count += 1
      if (count === 1) this.#callbacks.onState('live', 'live')
      this.#callbacks.onSnapshot(JSON.parse(event.data) as DashboardSnapshot) // the supernode's own feed (schema in src/protocol/messages/dashboard.ts)
    })
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
    try {
      for (;;) {
        const { done, value } = await reader.read()
        if (done) return count
        parser.push(value)
      }
    } finally {
      reader.releaseLock()
    }
  }
}
