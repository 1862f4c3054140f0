import { test } from 'node:test'
import assert from 'node:assert/strict'
import { isCode } from '../protocol/errors.js'
import { resolveMirrorUpstream } from './registry-request.js'

const OPTIONS = { registryUrl: new URL('http://127.0.0.1:5000'), nsScheme: 'https' as const }

test('an ns= that no URL can hold (a port past 65535) is DF_ERR_PROXY_BAD_REQUEST, not an internal error', () => {
  // Found by the fuzz (test/fuzz/dfdaemon-surface.ts): this was a 500 DF_ERR_INTERNAL.
  for (const ns of ['127.0.0.1:99999', '[::1]:70000', '[1:2]']) {
    assert.throws(() => resolveMirrorUpstream(`/v2/lib/img/manifests/latest?ns=${ns}`, OPTIONS), (err: unknown) => isCode(err, 'DF_ERR_PROXY_BAD_REQUEST'), ns)
  }
  assert.equal(resolveMirrorUpstream('/v2/lib/img/manifests/latest?ns=127.0.0.1:5000', OPTIONS).href, 'http://127.0.0.1:5000/v2/lib/img/manifests/latest')
  assert.equal(resolveMirrorUpstream('/v2/lib/img/manifests/latest?ns=registry.example:8443', OPTIONS).href, 'https://registry.example:8443/v2/lib/img/manifests/latest')
})
