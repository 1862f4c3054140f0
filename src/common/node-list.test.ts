import { test } from 'node:test'
import assert from 'node:assert/strict'
import { isCode } from '../protocol/errors.js'
import { parseNodeList } from './node-list.js'

test('parses repeated and comma-separated entries with ports, weights, IPv6 and schemes', () => {
  const nodes = parseNodeList(['sn1', 'sn2:9000=3, [::1]:8002', 'https://sn3.example:8443/'])
  assert.deepEqual(nodes.map((node) => [node.host, node.port, node.weight, node.baseUrl]), [
    ['sn1', 8002, 1, 'http://sn1:8002'],
    ['sn2', 9000, 3, 'http://sn2:9000'],
    ['::1', 8002, 1, 'http://[::1]:8002'],
    ['sn3.example', 8443, 1, 'https://sn3.example:8443'],
  ])
  assert.deepEqual(parseNodeList(['', ' , ']), [], 'empty entries are skipped')
})

test('refuses a bad entry with DF_ERR_CONFIG_INVALID naming the setting and the entry', () => {
  for (const entry of [':::', 'sn1:0', 'sn1:70000', 'sn1=0', 'sn1=x', 'sn 1', '[::1']) {
    assert.throws(() => parseNodeList([entry]), (err: unknown) => isCode(err, 'DF_ERR_CONFIG_INVALID') && err.details?.field === 'node' && err.message.startsWith(`--node: bad supernode "${entry}"`), entry)
  }
  assert.throws(() => parseNodeList([':::'], { label: 'nodes', field: 'nodes' }), (err: unknown) => isCode(err, 'DF_ERR_CONFIG_INVALID') && err.details?.field === 'nodes' && err.message.startsWith('nodes: '))
})
