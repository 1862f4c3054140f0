import { test } from 'node:test'
import assert from 'node:assert/strict'
import { isCode } from './errors.js'
import { formatGrantKey, generateGrantKeyPair, parseGrantKey, signPieceGrant, verifyPieceGrant } from './piece-grant.js'

const TASK_A = 'a'.repeat(64)
const TASK_B = 'b'.repeat(64)

test('a grant opens its own task until it expires, and nothing else', () => {
  const { privateKey } = generateGrantKeyPair()
  const key = parseGrantKey(formatGrantKey(privateKey), 'key')
  const grant = signPieceGrant({ taskId: TASK_A, peerId: 'peer-1', cid: 'cid-1', expiresAtMs: 1_000 }, privateKey)
  assert.deepEqual(verifyPieceGrant(grant, [key], TASK_A, 1_000), { taskId: TASK_A, peerId: 'peer-1', cid: 'cid-1', expiresAtMs: 1_000 })
  const refused = (reason: string) => (err: unknown) => isCode(err, 'DF_ERR_PIECE_GRANT_INVALID') && err.details?.reason === reason
  assert.throws(() => verifyPieceGrant(grant, [key], TASK_B, 1_000), refused('task'))
  assert.throws(() => verifyPieceGrant(grant, [key], TASK_A, 1_001), refused('expired'))
  assert.throws(() => verifyPieceGrant(undefined, [key], TASK_A, 0), (err: unknown) => isCode(err, 'DF_ERR_PIECE_GRANT_REQUIRED') && err.httpStatus === 401)
})

test('a grant signed by another key, or altered, or garbled, is refused', () => {
  const { privateKey } = generateGrantKeyPair()
  const other = generateGrantKeyPair()
  const key = parseGrantKey(formatGrantKey(privateKey), 'key')
  const forged = signPieceGrant({ taskId: TASK_A, peerId: 'p', cid: 'c', expiresAtMs: 10 }, other.privateKey)
  const refused = (reason: string) => (err: unknown) => isCode(err, 'DF_ERR_PIECE_GRANT_INVALID') && err.httpStatus === 403 && err.details?.reason === reason
  assert.throws(() => verifyPieceGrant(forged, [key], TASK_A, 0), refused('signature'))
  const genuine = signPieceGrant({ taskId: TASK_B, peerId: 'p', cid: 'c', expiresAtMs: 10 }, privateKey)
  const [version, , signature] = genuine.split('.')
  const claimsOfA = Buffer.from(JSON.stringify({ t: TASK_A, p: 'p', c: 'c', e: 10 })).toString('base64url')
  assert.throws(() => verifyPieceGrant(`${version}.${claimsOfA}.${signature}`, [key], TASK_A, 0), refused('signature'))
  for (const garbled of ['x', 'v1.a', 'v2.a.b', 'v1..', 'v1.a.b.c', 'v1.' + 'a'.repeat(3000) + '.b']) {
    assert.throws(() => verifyPieceGrant(garbled, [key], TASK_A, 0), (err: unknown) => isCode(err, 'DF_ERR_PIECE_GRANT_INVALID'))
  }
  assert.throws(() => parseGrantKey('not-a-key', 'body.grantKeys[0]'), (err: unknown) => isCode(err, 'DF_ERR_ARG_INVALID') && err.details?.field === 'body.grantKeys[0]')
})
