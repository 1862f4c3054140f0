/**
 * A server-sent events parser (the text/event-stream format) for a body read with fetch:
 * EventSource cannot send an Authorization header, so the page reads the stream itself.
 * Feed it decoded text in any chunks; it calls back once per complete event.
 */

/** One event: its type (default "message") and its data lines joined by "\n". */
export interface ServerSentEvent {
  readonly type: string
  readonly data: string
}

export class SseParser {
  readonly #onEvent: (event: ServerSentEvent) => void
  #buffer = ''
  #type = ''
  #data: string[] = []

  constructor (onEvent: (event: ServerSentEvent) => void) {
    this.#onEvent = onEvent
  }

  /** Parses a chunk of text; events complete at a blank line. */
  push (text: string): void {
    this.#buffer += text
    for (;;) {
      const newline = this.#buffer.search(/\r\n|\r|\n/)
      // A CR ending the chunk may be the first half of a CRLF: wait for the next chunk.
      if (newline < 0 || (newline === this.#buffer.length - 1 && this.#buffer.endsWith('\r'))) return
      const line = this.#buffer.slice(0, newline)
      const width = this.#buffer.startsWith('\r\n', newline) ? 2 : 1
      this.#buffer = this.#buffer.slice(newline + width)
      this.#line(line)
    }
  }

  #line (line: string): void {
    if (line === '') {
      if (this.#data.length > 0) this.#onEvent({ type: this.#type === '' ? 'message' : this.#type, data: this.#data.join('\n') })
      this.#type = ''
      this.#data = []
      return
    }
    if (line.startsWith(':')) return
    const colon = line.indexOf(':')
    const field = colon < 0 ? line : line.slice(0, colon)
    let value = colon < 0 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (field === 'event') this.#type = value
    else if (field === 'data') this.#data.push(value)
  }
}
