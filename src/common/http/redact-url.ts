/** URLs in messages and logs. */

/** A URL with its query string and credentials hidden (signed URLs carry secrets there). */
export function redactUrl (url: string): string {
  try {
    const parsed = new URL(url)
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}${parsed.search === '' ? '' : '?…'}`
  } catch {
    return '<invalid url>'
  }
}
