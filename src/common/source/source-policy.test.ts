import { test } from 'node:test'
import assert from 'node:assert/strict'
import { isCode } from '../../protocol/errors.js'
import { SourcePolicy } from './source-policy.js'

const resolver = async (host: string): Promise<readonly string[]> => ({ 'files.example': ['203.0.113.5'], 'inside.example': ['10.1.2.3'], 'both.example': ['203.0.113.5', '10.1.2.3'] } as Record<string, string[]>)[host] ?? []
const forbidden = (err: unknown): boolean => isCode(err, 'DF_ERR_SOURCE_FORBIDDEN') && err.httpStatus === 403

test('only http and https sources are fetched, even with no lists', async () => {
  const policy = new SourcePolicy({}, resolver)
  await policy.check('https://files.example/a')
  await assert.rejects(policy.check('file:///etc/passwd'), forbidden)
  await assert.rejects(policy.check('gopher://files.example/'), forbidden)
})

test('a denied network refuses addresses and names resolving into it, also IPv4-mapped IPv6', async () => {
  const policy = new SourcePolicy({ deny: ['10.0.0.0/8', '169.254.169.254', 'fd00::/8'] }, resolver)
  await policy.check('http://files.example/a')
  await assert.rejects(policy.check('http://inside.example/a'), forbidden)
  await assert.rejects(policy.check('http://both.example/a'), forbidden)
  await assert.rejects(policy.check('http://169.254.169.254/latest/meta-data'), forbidden)
  await assert.rejects(policy.check('http://[::ffff:10.0.0.1]/'), forbidden)
  await assert.rejects(policy.check('http://[fd00::1]/'), forbidden)
})

test('an allow list admits only its hosts, subdomains and networks', async () => {
  const policy = new SourcePolicy({ allow: ['*.example', '198.51.100.0/24'], deny: ['inside.example'] }, resolver)
  await policy.check('http://files.example/a')
  await policy.check('http://198.51.100.7/a')
  await assert.rejects(policy.check('http://inside.example/a'), forbidden)
  await assert.rejects(policy.check('http://192.0.2.1/a'), forbidden)
  await assert.rejects(policy.check('http://example.org/a'), forbidden)
})

test('a bad entry is DF_ERR_CONFIG_INVALID naming it', () => {
  assert.throws(() => new SourcePolicy({ deny: ['10.0.0.0/33'] }), (err: unknown) => isCode(err, 'DF_ERR_CONFIG_INVALID'))
  assert.throws(() => new SourcePolicy({ allow: ['bad host!'] }), (err: unknown) => isCode(err, 'DF_ERR_CONFIG_INVALID'))
})
