/**
 * Content digests: "sha256:<64 lowercase hex>" of a whole file, as an OCI blob is named.
 * Where one is known it alone identifies the task (task-id.ts); the supernode's CDN checks
 * the file against it, and dfdaemon the blob it serves.
 */

/** The wire form, for schemas. */
export const CONTENT_DIGEST_PATTERN = '^sha256:[0-9a-f]{64}$'

const CONTENT_DIGEST = new RegExp(CONTENT_DIGEST_PATTERN)

export function isContentDigest (value: unknown): value is string {
  return typeof value === 'string' && CONTENT_DIGEST.test(value)
}
