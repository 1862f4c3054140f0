/**
 * Ownership of resources: whoever opens something closes it. A CloseStack closes what was
 * pushed in reverse order, once, and keeps going when one close fails.
 */

export interface Closeable {
  close(): Promise<void> | void
}

export class CloseStack implements Closeable {
  #stack: (() => Promise<void> | void)[] = []
  #closing: Promise<void> | undefined

  /** Registers a resource (or a close function); returns it for chaining. */
  push<T extends Closeable> (resource: T): T {
    this.#stack.push(() => resource.close())
    return resource
  }

  defer (fn: () => Promise<void> | void): void {
    this.#stack.push(fn)
  }

  /** Closes everything in reverse order; idempotent; rethrows the first failure at the end. */
  async close (): Promise<void> {
    this.#closing ??= (async () => {
      let first: unknown
      while (this.#stack.length > 0) {
        const fn = this.#stack.pop()
        try {
          await fn?.()
        } catch (err) {
          first ??= err
        }
      }
      if (first !== undefined) throw first instanceof Error ? first : new Error('close failed', { cause: first })
    })()
    return this.#closing
  }
}
