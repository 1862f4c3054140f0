/**
 * The built dashboard page (web/dashboard, built by `npm run build` into dist/dashboard/):
 * found relative to this module, so it works from a checkout (src/ through tsx, or dist/)
 * and from a global install alike. Files are read once and kept in memory (the page is a
 * few tens of KiB). Only plain file names are served: no paths, so no traversal.
 */
import { readFile } from 'node:fs/promises'

/** A file of the page, ready to send. */
export interface DashboardAsset {
  readonly body: Buffer
  readonly contentType: string
}

/** `<root>/dist/dashboard/`, from `<root>/src/supernode/dashboard/` and `<root>/dist/supernode/dashboard/` alike. */
export const DEFAULT_DASHBOARD_DIR = new URL('../../../dist/dashboard/', import.meta.url)

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
}

const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/

export class DashboardAssets {
  readonly #dir: URL
  readonly #cache = new Map<string, Promise<DashboardAsset | undefined>>()

  /** @param dir the folder holding index.html and assets/ (a file: URL ending in /) */
  constructor (dir: URL = DEFAULT_DASHBOARD_DIR) {
    if (!dir.href.endsWith('/')) throw new RangeError(`dashboard dir must end with /: ${dir.href}`)
    this.#dir = dir
  }

  /** Where the page is looked for (for the "not built" message). */
  get dirPath (): string {
    return decodeURIComponent(this.#dir.pathname)
  }

  /** The page itself, or undefined when it was not built. */
  async loadIndex (): Promise<DashboardAsset | undefined> {
    return await this.#load('index.html')
  }

  /** A file of assets/ by plain name, or undefined. */
  async loadAsset (name: string): Promise<DashboardAsset | undefined> {
    if (!FILE_NAME.test(name)) return undefined
    return await this.#load(`assets/${name}`)
  }

  async #load (relative: string): Promise<DashboardAsset | undefined> {
    let loading = this.#cache.get(relative)
    if (loading === undefined) {
      loading = readAsset(new URL(relative, this.#dir))
      this.#cache.set(relative, loading)
      // A page built after start is found on the next request.
      loading.then((asset) => { if (asset === undefined) this.#cache.delete(relative) }, () => { this.#cache.delete(relative) })
    }
    return await loading
  }
}

async function readAsset (url: URL): Promise<DashboardAsset | undefined> {
  try {
    const body = await readFile(url)
    const dot = url.pathname.lastIndexOf('.')
    return { body, contentType: CONTENT_TYPES[url.pathname.slice(dot)] ?? 'application/octet-stream' }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'EISDIR') return undefined
    throw err
  }
}
