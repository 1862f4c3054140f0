/**
 * The content digest a source states in its answer's headers, as "sha256:<hex>" (the form
 * of protocol/content-digest.ts). Where a source states one, the content is that digest:
 * the supernode makes it the task's identity (docs/identity.md) and checks the file
 * against it. Read, in this order:
 * - `Repr-Digest: sha-256=:<base64>:` (RFC 9530, the digest of the whole representation);
 * - `Digest: SHA-256=<base64>` (RFC 3230, the instance's digest);
 * - `x-amz-checksum-sha256: <base64>` (S3, when the object has a full-object SHA-256: a
 *   composite checksum of a multipart upload, `<base64>-<parts>` or
 *   `x-amz-checksum-type: COMPOSITE`, is not the file's digest and is ignored);
 * - `X-Linked-Etag: "<64 hex>"` (Hugging Face: the sha256 of an LFS file, sent with the
 *   redirect to the file's storage; a git blob's 40-hex etag is not a sha256 and is ignored).
 * `Content-Digest` is not read: on a ranged answer it covers only the range.
 */
import { linkedSha256Of } from './hub-paths.js'
import { headerText, type ResponseHeaders } from './source-validators.js'

const SHA256_BYTES = 32

/** The stated sha256 of the whole file, or undefined when the headers state none. */
export function statedDigestOf (headers: ResponseHeaders): string | undefined {
  const repr = /(?:^|,)\s*sha-256\s*=\s*:([A-Za-z0-9+/=]+):/i.exec(headerText(headers['repr-digest']) ?? '')
  const digest = /(?:^|,)\s*sha-256\s*=\s*([A-Za-z0-9+/=]+)/i.exec(headerText(headers.digest) ?? '')
  const s3 = headerText(headers['x-amz-checksum-type'])?.toUpperCase() === 'COMPOSITE' ? undefined : headerText(headers['x-amz-checksum-sha256'])
  return fromBase64(repr?.[1]) ?? fromBase64(digest?.[1]) ?? fromBase64(s3) ?? linkedSha256Of(headerText(headers['x-linked-etag']))
}

function fromBase64 (value: string | undefined): string | undefined {
  if (value === undefined || !/^[A-Za-z0-9+/]+={0,2}$/.test(value.trim())) return undefined
  const bytes = Buffer.from(value.trim(), 'base64')
  return bytes.length === SHA256_BYTES ? `sha256:${bytes.toString('hex')}` : undefined
}
