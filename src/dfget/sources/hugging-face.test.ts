import { test } from 'node:test'
import assert from 'node:assert/strict'
import { isCode } from '../../protocol/errors.js'
import { hubResolveUrl, hubRevisionApiUrl, linkedSha256Of, parseHubResolvePath } from '../../common/source/hub-paths.js'
import { isHubUrl } from './object-store.js'
import { hubEndpointOf, hubHeadersOf, parseHubListing, parseHubUrl } from './hugging-face.js'

const COMMIT = 'a'.repeat(40)
const SHA = 'b'.repeat(64)

test('hf:// URLs: models, datasets and spaces, a revision (refs/pr/N too), a path; bad ones refused', () => {
  assert.deepEqual(parseHubUrl('hf://owner/repo'), { repo: { type: 'model', id: 'owner/repo' }, revision: 'main', path: '' })
  assert.deepEqual(parseHubUrl('hf://owner/repo@v1.0/sub/w%20b.bin'), { repo: { type: 'model', id: 'owner/repo' }, revision: 'v1.0', path: 'sub/w b.bin' })
  assert.deepEqual(parseHubUrl('hf://datasets/owner/data@refs/pr/3/train.parquet'), { repo: { type: 'dataset', id: 'owner/data' }, revision: 'refs/pr/3', path: 'train.parquet' })
  assert.deepEqual(parseHubUrl('hf://owner/repo@refs%2Fconvert%2Fparquet'), { repo: { type: 'model', id: 'owner/repo' }, revision: 'refs/convert/parquet', path: '' })
  assert.deepEqual(parseHubUrl('HF://spaces/owner/app/'), { repo: { type: 'space', id: 'owner/app' }, revision: 'main', path: '' })
  for (const bad of ['hf://', 'hf://owner', 'hf://owner/repo@', 'hf://owner/repo/../x', 'hf://owner/repo?x=1', 'hf://-owner/repo', 'hf://owner/re%ZZpo/x', 'hf://datasets/owner']) {
    assert.throws(() => parseHubUrl(bad), (err: unknown) => isCode(err, 'DF_ERR_CONFIG_INVALID'), bad)
  }
  assert.ok(isHubUrl('hf://o/r') && !isHubUrl('https://o/r') && !isHubUrl(undefined))
})

test('the endpoint from the flag, then HF_ENDPOINT, else huggingface.co; HF_TOKEN unless a --header gives an Authorization', () => {
  assert.equal(hubEndpointOf({ hfEndpoint: 'http://127.0.0.1:9/' }, { HF_ENDPOINT: 'http://x' }), 'http://127.0.0.1:9')
  assert.equal(hubEndpointOf({}, { HF_ENDPOINT: 'https://mirror.example/hf' }), 'https://mirror.example/hf')
  assert.equal(hubEndpointOf({}, {}), 'https://huggingface.co')
  assert.throws(() => hubEndpointOf({ hfEndpoint: 'ftp://x' }, {}), (err: unknown) => isCode(err, 'DF_ERR_CONFIG_INVALID'))
  assert.deepEqual(hubHeadersOf({ header: ['X-A: 1'] }, { HF_TOKEN: 'hf_t' }), ['X-A: 1', 'Authorization: Bearer hf_t'])
  assert.deepEqual(hubHeadersOf({}, { HUGGING_FACE_HUB_TOKEN: 'hf_old' }), ['Authorization: Bearer hf_old'])
  assert.deepEqual(hubHeadersOf({ header: ['authorization: Bearer mine'] }, { HF_TOKEN: 'hf_t' }), ['authorization: Bearer mine'])
  assert.deepEqual(hubHeadersOf({}, {}), [])
})

test('the Hub\'s file list: the commit, sizes, LFS sha256s; a list without a commit is refused', () => {
  const listing = parseHubListing(JSON.stringify({ sha: COMMIT, siblings: [{ rfilename: 'config.json', size: 10, blobId: 'c'.repeat(40) }, { rfilename: 'w.safetensors', size: 99, blobId: 'd'.repeat(40), lfs: { sha256: SHA, size: 99, pointerSize: 134 } }] }), 'o/r@main')
  assert.equal(listing.commit, COMMIT)
  assert.deepEqual(listing.files, [
    { path: 'config.json', sizeBytes: 10, blobId: 'c'.repeat(40), lfsDigest: undefined },
    { path: 'w.safetensors', sizeBytes: 99, blobId: 'd'.repeat(40), lfsDigest: `sha256:${SHA}` },
  ])
  for (const bad of ['not json', '{"siblings": []}', `{"sha": "${COMMIT}"}`, `{"sha": "${COMMIT}", "siblings": [{"size": 1}]}`]) {
    assert.throws(() => parseHubListing(bad, 'o/r@main'), (err: unknown) => isCode(err, 'DF_ERR_SOURCE_STATUS'), bad)
  }
})

test('Hub URL shapes: the API and /resolve/ URLs, parsed back; X-Linked-Etag is a sha256 only with 64 hex digits', () => {
  const repo = { type: 'dataset' as const, id: 'o/r' }
  assert.equal(hubRevisionApiUrl('http://hub/', repo, 'refs/pr/1'), 'http://hub/api/datasets/o/r/revision/refs%2Fpr%2F1?blobs=true')
  const url = hubResolveUrl('http://hub', { repo, revision: COMMIT, path: 'a b/c.bin' })
  assert.equal(url, `http://hub/datasets/o/r/resolve/${COMMIT}/a%20b/c.bin`)
  assert.deepEqual(parseHubResolvePath(new URL(url).pathname), { repo, revision: COMMIT, path: 'a b/c.bin' })
  assert.deepEqual(parseHubResolvePath('/o/r/resolve/refs%2Fpr%2F1/x.bin'), { repo: { type: 'model', id: 'o/r' }, revision: 'refs/pr/1', path: 'x.bin' })
  for (const path of ['/api/models/o/r/revision/main', '/o/r/blob/main/x', '/o/r/resolve/main/../x', '/o/r/resolve/main/']) assert.equal(parseHubResolvePath(path), undefined, path)
  assert.equal(linkedSha256Of(`"${SHA.toUpperCase()}"`), `sha256:${SHA}`)
  assert.equal(linkedSha256Of('"' + 'c'.repeat(40) + '"'), undefined)
  assert.equal(linkedSha256Of(undefined), undefined)
})
