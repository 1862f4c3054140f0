/**
 * The API token, when the supernode has one: taken once from the page URL (`/?token=…`,
 * then removed from the address bar and history) or typed into the page, and kept in
 * sessionStorage for this tab only.
 */

const KEY = 'damselfly.token'

export class TokenStore {
  /** Moves a `?token=` of the page URL into the store. */
  adoptFromUrl (): void {
    const url = new URL(window.location.href)
    const token = url.searchParams.get('token')
    if (token === null) return
    if (token !== '') this.set(token)
    url.searchParams.delete('token')
    window.history.replaceState(window.history.state, '', url.pathname + url.search + url.hash)
  }

  get (): string | undefined {
    try {
      return window.sessionStorage.getItem(KEY) ?? undefined
    } catch {
      return undefined
    }
  }

  set (token: string): void {
    try { window.sessionStorage.setItem(KEY, token) } catch { /* storage disabled: the token lasts until reload */ }
    this.#memory = token
  }

  clear (): void {
    try { window.sessionStorage.removeItem(KEY) } catch { /* storage disabled */ }
    this.#memory = undefined
  }

  /** The token even where sessionStorage is disabled. */
  current (): string | undefined {
    return this.get() ?? this.#memory
  }

  #memory: string | undefined
}
