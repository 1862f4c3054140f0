/** Small DOM helpers: elements built in code, never from HTML strings (no injection). */

type Attributes = Readonly<Record<string, string>>

/** Creates `<tag class=… …attributes>` with text or children. */
export function el<K extends keyof HTMLElementTagNameMap> (tag: K, className = '', content: string | readonly Node[] = '', attributes: Attributes = {}): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag)
  if (className !== '') node.className = className
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value)
  if (typeof content === 'string') node.textContent = content
  else node.append(...content)
  return node
}

/** Sets text only when it changed (keeps selections and avoids layout work). */
export function setText (node: Node, text: string): void {
  if (node.textContent !== text) node.textContent = text
}

/** The element with this id. @throws when the page lacks it */
export function byId<T extends HTMLElement = HTMLElement> (id: string): T {
  const node = document.getElementById(id)
  if (node === null) throw new Error(`the page has no #${id}`)
  return node as T // the page's markup is ours: index.html
}
