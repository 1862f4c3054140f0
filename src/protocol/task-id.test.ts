import { test } from 'node:test'
import assert from 'node:assert/strict'
import { computeTaskId, digestTaskId, identityUrl } from './task-id.js'
import { isSignatureParam, withoutSignature } from './url-signature.js'

test('signature parameters of S3, GCS, Azure SAS and CloudFront are not part of the identity (any case)', () => {
  const base = 'https://bucket.s3.example/models/m.bin?versionId=3'
  const sigv4 = (n: number): string => `${base}&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID${n}%2F20261206%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261206T000000Z&X-Amz-Expires=${n}&X-Amz-SignedHeaders=host&X-Amz-Security-Token=t${n}&X-Amz-Signature=${'ab'.repeat(n)}`
  assert.equal(computeTaskId({ url: sigv4(1) }), computeTaskId({ url: sigv4(2) }))
  assert.equal(computeTaskId({ url: sigv4(1) }), computeTaskId({ url: base }))
  assert.equal(identityUrl('https://storage.example/b/o?X-Goog-Algorithm=GOOG4-RSA-SHA256&x-goog-signature=aa&alt=media'), 'https://storage.example/b/o?alt=media')
  assert.equal(identityUrl('https://acct.blob.example/c/b.bin?sv=2024-11-04&se=2026-12-07T00%3A00%3A00Z&sr=b&sp=r&st=x&spr=https&skoid=1&sktid=2&SIG=abc&comp=x'), 'https://acct.blob.example/c/b.bin?comp=x')
  assert.equal(identityUrl('https://d1.cdn.example/f.bin?Expires=1&Signature=s&Key-Pair-Id=K&Policy=p&v=2'), 'https://d1.cdn.example/f.bin?v=2')
  assert.equal(withoutSignature('https://h.example/f?a=1'), 'https://h.example/f?a=1')
  assert.ok(isSignatureParam('x-AMZ-signature') && isSignatureParam('Sig') && !isSignatureParam('versionId') && !isSignatureParam('sigma'))
})

test('other query parameters, the path and --filter still identify the task', () => {
  assert.notEqual(computeTaskId({ url: 'https://h.example/f?versionId=1&X-Amz-Signature=a' }), computeTaskId({ url: 'https://h.example/f?versionId=2&X-Amz-Signature=a' }))
  assert.notEqual(computeTaskId({ url: 'https://h.example/f' }), computeTaskId({ url: 'https://h.example/g' }))
  assert.equal(computeTaskId({ url: 'https://h.example/f?t=1', filter: ['t'] }), computeTaskId({ url: 'https://h.example/f?t=2&Signature=x', filter: ['t'] }))
  const digest = `sha256:${'0'.repeat(64)}`
  assert.equal(digestTaskId(digest), computeTaskId({ url: 'https://any.example/x', digest }))
})
