import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseAuthChallenge, tokenOf, tokenUrlOf } from './registry-auth.js'
import { parseManifestUrl } from './image-resolver.js'
import { isCode } from '../../protocol/errors.js'

test('a Bearer challenge leads to its token endpoint with service and scope', () => {
  const challenge = parseAuthChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:team/app:pull,push"')
  assert.deepEqual(challenge, { scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:team/app:pull,push' } })
  assert.equal(tokenUrlOf(challenge!, 'repository:x:pull'), 'https://auth.example/token?service=registry.example&scope=repository%3Ateam%2Fapp%3Apull%2Cpush')
  const noScope = parseAuthChallenge('Bearer realm=https://auth.example/token')!
  assert.equal(tokenUrlOf(noScope, 'repository:team/app:pull'), 'https://auth.example/token?scope=repository%3Ateam%2Fapp%3Apull', 'the caller\'s scope when the challenge names none')
})

test('challenges that cannot lead to a token are refused: Basic, no realm, a realm that is not http(s)', () => {
  assert.equal(tokenUrlOf(parseAuthChallenge('Basic realm="registry"')!, 's'), undefined)
  assert.equal(tokenUrlOf(parseAuthChallenge('Bearer service="x"')!, 's'), undefined)
  assert.equal(tokenUrlOf(parseAuthChallenge('Bearer realm="file:///etc/passwd"')!, 's'), undefined)
  assert.equal(parseAuthChallenge(undefined), undefined)
})

test('the token is read from token or access_token', () => {
  assert.equal(tokenOf({ token: 'a', access_token: 'b' }), 'a')
  assert.equal(tokenOf({ access_token: 'b' }), 'b')
  assert.equal(tokenOf({ token: '' }), undefined)
  assert.equal(tokenOf('token'), undefined)
})

test('manifest URLs split into registry, repository and reference; anything else is DF_ERR_SOURCE_MANIFEST_INVALID', () => {
  assert.deepEqual(parseManifestUrl('https://r.example:5000/v2/team/app/manifests/1.4'), { baseUrl: 'https://r.example:5000', name: 'team/app', reference: '1.4' })
  assert.deepEqual(parseManifestUrl('http://r.example/mirror/v2/app/manifests/sha256:abc'), { baseUrl: 'http://r.example/mirror', name: 'app', reference: 'sha256:abc' })
  for (const url of ['http://r.example/v2/app/blobs/sha256:abc', 'ftp://r.example/v2/app/manifests/1', 'not a url']) {
    assert.throws(() => parseManifestUrl(url), (err: unknown) => isCode(err, 'DF_ERR_SOURCE_MANIFEST_INVALID'), url)
  }
})
