/**
 * The signature parameters of signed URLs: the query parameters with which object stores
 * and CDNs authorise one request (who signed it, when it expires, the signature itself).
 * They say who may read an object, not which object it is, so they are not part of a
 * task's identity (task-id.ts): eight presigned URLs of one object are one task. The list
 * is documented in docs/identity.md; names match without regard to case.
 */

/** Query-parameter name prefixes that sign a request (AWS SigV4 `X-Amz-*`, GCS V4 `X-Goog-*`). */
export const SIGNATURE_PARAM_PREFIXES: readonly string[] = ['x-amz-', 'x-goog-']

/** Query parameters that sign a request, by name (lower case). */
export const SIGNATURE_PARAMS: readonly string[] = [
  // Azure Storage shared access signature (SAS): service, account and user-delegation SAS.
  'sv', 'ss', 'srt', 'sp', 'st', 'se', 'sip', 'spr', 'sr', 'sig', 'si', 'sdd', 'ses',
  'skoid', 'sktid', 'skt', 'ske', 'sks', 'skv', 'skdutid', 'saoid', 'suoid', 'sduoid', 'scid',
  // CloudFront signed URLs (canned and custom policy); also the legacy S3 and GCS V2 query signature.
  'signature', 'expires', 'key-pair-id', 'policy', 'awsaccesskeyid', 'googleaccessid',
]

const NAMES = new Set(SIGNATURE_PARAMS)

/** True when the query parameter `name` is a signature parameter. */
export function isSignatureParam (name: string): boolean {
  const lower = name.toLowerCase()
  return NAMES.has(lower) || SIGNATURE_PARAM_PREFIXES.some((prefix) => lower.startsWith(prefix))
}

/** The URL without its signature parameters (the order of the others kept); unchanged when it has none. */
export function withoutSignature (url: string): string {
  const parsed = new URL(url)
  const names = [...new Set([...parsed.searchParams.keys()].filter(isSignatureParam))]
  if (names.length === 0) return url
  for (const name of names) parsed.searchParams.delete(name)
  return parsed.toString()
}
