import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { statedDigestOf } from './stated-digest.js'

const hash = createHash('sha256').update('content').digest()
const hex = hash.toString('hex')
const b64 = hash.toString('base64')

test('the digest a source states: Repr-Digest, Digest, x-amz-checksum-sha256, X-Linked-Etag', () => {
  assert.equal(statedDigestOf({ 'repr-digest': `sha-512=:${Buffer.alloc(64).toString('base64')}:, sha-256=:${b64}:` }), `sha256:${hex}`)
  assert.equal(statedDigestOf({ digest: `MD5=abc, SHA-256=${b64}` }), `sha256:${hex}`)
  assert.equal(statedDigestOf({ 'x-amz-checksum-sha256': b64 }), `sha256:${hex}`)
  assert.equal(statedDigestOf({ 'x-linked-etag': `"${hex.toUpperCase()}"` }), `sha256:${hex}`)
})

test('no digest: none stated, another algorithm, a composite S3 checksum, a git blob etag, a wrong length', () => {
  assert.equal(statedDigestOf({}), undefined)
  assert.equal(statedDigestOf({ digest: 'MD5=abc' }), undefined)
  assert.equal(statedDigestOf({ 'x-amz-checksum-sha256': `${b64}-3` }), undefined)
  assert.equal(statedDigestOf({ 'x-amz-checksum-sha256': b64, 'x-amz-checksum-type': 'COMPOSITE' }), undefined)
  assert.equal(statedDigestOf({ 'x-linked-etag': `"${'a'.repeat(40)}"` }), undefined)
  assert.equal(statedDigestOf({ 'repr-digest': `sha-256=:${Buffer.alloc(16).toString('base64')}:` }), undefined)
  assert.equal(statedDigestOf({ 'content-digest': `sha-256=:${b64}:` }), undefined)
})
