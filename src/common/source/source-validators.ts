/**
 * What identifies a version of a source file: its ETag and Last-Modified validators
 * (RFC 9110 §8.8). Read from an answer's headers, compared between answers (a strong match
 * on either), and turned into the request headers that make a read safe against a change:
 * `If-Range` for a resumed or ranged read, `If-None-Match` / `If-Modified-Since` for a
 * revalidation.
 */

/** The validators of one answer (null when the source sent none). */
export interface SourceValidators {
  readonly etag: string | null
  readonly lastModified: string | null
}

/** Response headers as the HTTP client gives them. */
export type ResponseHeaders = Readonly<Record<string, string | string[] | undefined>>

/** The validators an answer carries. */
export function validatorsOf (headers: ResponseHeaders): SourceValidators {
  return { etag: headerText(headers.etag) ?? null, lastModified: headerText(headers['last-modified']) ?? null }
}

/** True when both describe the same version of the file (a strong match on either validator). */
export function isSameVersion (a: SourceValidators, b: SourceValidators): boolean {
  if (a.etag !== null && b.etag !== null) return a.etag === b.etag
  if (a.lastModified !== null && b.lastModified !== null) return a.lastModified === b.lastModified
  return false
}

/**
 * True when `seen` says the file is no longer `expected`: both sides carry validators and
 * they do not match. A side without validators cannot tell, and counts as unchanged.
 */
export function hasVersionChanged (expected: SourceValidators, seen: SourceValidators): boolean {
  const hasExpected = expected.etag !== null || expected.lastModified !== null
  const hasSeen = seen.etag !== null || seen.lastModified !== null
  return hasExpected && hasSeen && !isSameVersion(expected, seen)
}

/**
 * The `If-Range` value that pins a version: a strong ETag, else a Last-Modified date.
 * A weak ETag (`W/…`) cannot be used for If-Range (RFC 9110 §13.1.5): undefined then.
 */
export function ifRangeOf (version: string | SourceValidators | undefined): string | undefined {
  if (version === undefined) return undefined
  if (typeof version === 'string') return version === '' || version.startsWith('W/') ? undefined : version
  if (version.etag !== null && !version.etag.startsWith('W/')) return version.etag
  return version.lastModified ?? undefined
}

/** The conditional headers that ask "has it changed since this version?" (304 when not). */
export function conditionalHeadersOf (validators: SourceValidators | undefined): Record<string, string> {
  const headers: Record<string, string> = {}
  if (validators?.etag != null) headers['if-none-match'] = validators.etag
  if (validators?.lastModified != null) headers['if-modified-since'] = validators.lastModified
  return headers
}

/** The first value of a header. */
export function headerText (value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}
