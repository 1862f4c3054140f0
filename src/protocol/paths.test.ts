import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { PEER_PATHS, SUPERNODE_DATA_PATHS, SUPERNODE_PATHS, fillPath } from './paths.js'

test('docs/protocol.md documents every path of every server', () => {
  const doc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8')
  for (const path of [...Object.values(SUPERNODE_PATHS), ...Object.values(SUPERNODE_DATA_PATHS), ...Object.values(PEER_PATHS)]) {
    assert.ok(new RegExp(`\`[A-Z]+ ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[?\`]`).test(doc), `${path} is not in docs/protocol.md`)
  }
})

test('fillPath encodes parameters and refuses missing ones', () => {
  assert.equal(fillPath(SUPERNODE_PATHS.taskPiece, { taskId: 'a', pieceRange: '0-9' }), '/api/v1/tasks/a/pieces/0-9')
  assert.equal(fillPath(SUPERNODE_PATHS.peer, { peerId: 'x/../y' }), '/api/v1/peers/x%2F..%2Fy')
  assert.throws(() => fillPath(SUPERNODE_PATHS.task, {}))
})
