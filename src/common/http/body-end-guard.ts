/**
 * Keeps undici's HTTP/1 parser from pausing on the last bytes of a response body — the
 * pause that can end the process.
 *
 * undici pauses its parser whenever a body's reader is behind (backpressure). When the
 * server then closes the connection while the parser is paused at the end of the bytes
 * received — a `Connection: close` or HTTP/1.0 answer read more slowly than it arrives,
 * dfget writing a source's body to disk, say — the socket's 'end' handler fails undici's
 * `assert(!this.paused)`, and the AssertionError, thrown from an event handler, cannot be
 * caught: the process dies with a stack (nodejs/undici#5360; fixed in undici 8, which needs
 * Node 22). Once the body's last byte is in hand there is nothing left to hold back, so this
 * interceptor lets the parser run on to the end of the message instead of pausing there.
 *
 * A body delimited by the connection's end (neither Content-Length nor chunked) has no
 * known last byte: every chunk of it may be the last, so its reads never pause the parser.
 * Such a body is buffered as fast as it arrives — a rare framing (HTTP/1.0 servers of
 * generated content) — rather than crashing the process.
 */
import type { Dispatcher } from 'undici'

type DispatchController = Dispatcher.DispatchController
type DispatchHandler = Dispatcher.DispatchHandler

/** The interceptor, for `agent.compose(guardBodyEnd)`; every Agent we build uses it. */
export const guardBodyEnd: Dispatcher.DispatcherComposeInterceptor = (dispatch) => (options, handler) => dispatch(options, new BodyEndGuard(handler))

/** A controller whose pause() does nothing: what the reader sees for a body's last chunk. */
class UnpausableController implements DispatchController {
  readonly #controller: DispatchController

  constructor (controller: DispatchController) {
    this.#controller = controller
  }

  get aborted (): boolean { return this.#controller.aborted }
  get paused (): boolean { return this.#controller.paused }
  get reason (): Error | null { return this.#controller.reason }
  abort (reason: Error): void { this.#controller.abort(reason) }
  pause (): void {}
  resume (): void { this.#controller.resume() }
}

class BodyEndGuard implements DispatchHandler {
  readonly #handler: DispatchHandler
  /** Body bytes still to come when the length is known; undefined for chunked bodies. */
  #remainingBytes: number | undefined
  /** The body ends with the connection: any chunk may be the last. */
  #isCloseDelimited = false

  constructor (handler: DispatchHandler) {
    this.#handler = handler
  }

  onRequestStart (controller: DispatchController, context: unknown): void {
    this.#handler.onRequestStart?.(controller, context)
  }

  onRequestUpgrade (controller: DispatchController, statusCode: number, headers: Parameters<NonNullable<DispatchHandler['onRequestUpgrade']>>[2], socket: Parameters<NonNullable<DispatchHandler['onRequestUpgrade']>>[3]): void {
    this.#handler.onRequestUpgrade?.(controller, statusCode, headers, socket)
  }

  onResponseStart (controller: DispatchController, statusCode: number, headers: Parameters<NonNullable<DispatchHandler['onResponseStart']>>[2], statusMessage?: string): void {
    const length = firstValue(headers['content-length'])
    const isChunked = /chunked/i.test(firstValue(headers['transfer-encoding']) ?? '')
    this.#remainingBytes = length !== undefined && /^\d+$/.test(length.trim()) ? Number(length) : undefined
    this.#isCloseDelimited = this.#remainingBytes === undefined && !isChunked
    this.#handler.onResponseStart?.(controller, statusCode, headers, statusMessage)
  }

  onResponseData (controller: DispatchController, chunk: Buffer): void {
    if (this.#remainingBytes !== undefined) this.#remainingBytes -= chunk.length
    const isLast = this.#isCloseDelimited || (this.#remainingBytes !== undefined && this.#remainingBytes <= 0)
    this.#handler.onResponseData?.(isLast ? new UnpausableController(controller) : controller, chunk)
  }

  onResponseEnd (controller: DispatchController, trailers: Parameters<NonNullable<DispatchHandler['onResponseEnd']>>[1]): void {
    this.#handler.onResponseEnd?.(controller, trailers)
  }

  onResponseError (controller: DispatchController, error: Error): void {
    this.#handler.onResponseError?.(controller, error)
  }
}

function firstValue (value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}
