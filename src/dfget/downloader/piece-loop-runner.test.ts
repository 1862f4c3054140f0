import { test } from 'node:test'
import assert from 'node:assert/strict'
import { CONTROL_PROTOCOL_ENV, resolveControlProtocol } from './piece-loop-runner.js'

test('new downloads speak control protocol v1 unless the environment asks for v2', () => {
  assert.equal(resolveControlProtocol({}), 'v1')
  assert.equal(resolveControlProtocol({ [CONTROL_PROTOCOL_ENV]: 'v2' }), 'v2')
  assert.equal(resolveControlProtocol({ [CONTROL_PROTOCOL_ENV]: 'v1' }), 'v1')
})
