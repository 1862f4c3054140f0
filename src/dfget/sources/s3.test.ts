import { test } from 'node:test'
import assert from 'node:assert/strict'
import { isCode } from '../../protocol/errors.js'
import { isObjectStoreUrl, planDownloads } from './object-store.js'
import { outputOfKey } from './output-path.js'
import { parseS3Url, presignSeconds, PRESIGN_MIN_SECONDS, s3EndpointOf } from './s3.js'

test('s3:// URLs: bucket and key (percent-decoded), an empty key for a bucket; bad ones refused', () => {
  assert.deepEqual(parseS3Url('s3://models/llm/w%20b.bin'), { bucket: 'models', key: 'llm/w b.bin' })
  assert.deepEqual(parseS3Url('s3://models'), { bucket: 'models', key: '' })
  for (const bad of ['s3://', 's3:///key', 's3://a/key', 's3://bad_bucket/k', 's3://b?x/k']) assert.throws(() => parseS3Url(bad), (err: unknown) => isCode(err, 'DF_ERR_CONFIG_INVALID'), bad)
  assert.ok(isObjectStoreUrl('S3://b/k') && !isObjectStoreUrl('https://b/k') && !isObjectStoreUrl(undefined))
})

test('a listed key goes under the output directory, never outside it', () => {
  assert.equal(outputOfKey('/out', 'llm/', 'llm/sub/t.bin'), '/out/sub/t.bin')
  assert.equal(outputOfKey('/out', '', 'a/./b.bin'), '/out/a/b.bin')
  for (const key of ['llm/../../etc/passwd', 'llm/', 'llm/..', 'llm//abs']) {
    assert.throws(() => outputOfKey('/out', 'llm/', key), (err: unknown) => isCode(err, 'DF_ERR_SOURCE_FORBIDDEN'), key)
  }
})

test('presigned for 15 minutes, or the --timeout when longer, at most 7 days; the endpoint from the flag, then the SDK variables', () => {
  assert.equal(presignSeconds(0), PRESIGN_MIN_SECONDS)
  assert.equal(presignSeconds(3600.5), 3601)
  assert.equal(presignSeconds(10 ** 9), 7 * 24 * 3600)
  assert.equal(s3EndpointOf({ s3Endpoint: 'http://127.0.0.1:9000' }, { AWS_ENDPOINT_URL_S3: 'http://x' }), 'http://127.0.0.1:9000')
  assert.equal(s3EndpointOf({}, { AWS_ENDPOINT_URL_S3: 'http://s3.local', AWS_ENDPOINT_URL: 'http://all.local' }), 'http://s3.local')
  assert.equal(s3EndpointOf({}, { AWS_ENDPOINT_URL: 'http://all.local' }), 'http://all.local')
  assert.equal(s3EndpointOf({}, {}), undefined)
  assert.throws(() => s3EndpointOf({ s3Endpoint: 'ftp://x' }, {}), (err: unknown) => isCode(err, 'DF_ERR_CONFIG_INVALID'))
})

test('an http(s) URL is one download as given; --recursive needs an s3:// URL', async () => {
  const plan = await planDownloads({ url: 'https://h.example/f' })
  assert.equal(plan.downloads.length, 1)
  assert.deepEqual(await plan.downloads[0]?.(), { url: 'https://h.example/f' })
  await assert.rejects(planDownloads({ url: 'https://h.example/f', recursive: true }), (err: unknown) => isCode(err, 'DF_ERR_CONFIG_INVALID'))
})
