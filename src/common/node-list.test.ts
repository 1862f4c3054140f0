import { test } from 'node:test'
import assert from 'node:assert/strict'
import { isCode } from '../protocol/errors.js'
import { parseDnsServers, parseNodeList } from './node-list.js'

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

test('parses DNS entries: dns://name[:port][=weight] (A/AAAA records) and dns+srv://name (SRV records)', () => {
  const nodes = parseNodeList(['dns://Supernode.NS.svc.cluster.local., dns://sn.example:9000=2', 'dns+srv://_api._tcp.supernode.ns.svc.cluster.local'])
  assert.deepEqual(nodes.map((node) => [node.discovery, node.host, node.port, node.weight, node.baseUrl]), [
    ['dns', 'supernode.ns.svc.cluster.local', 8002, 1, 'dns://supernode.ns.svc.cluster.local:8002'],
    ['dns', 'sn.example', 9000, 2, 'dns://sn.example:9000'],
    ['srv', '_api._tcp.supernode.ns.svc.cluster.local', 0, 1, 'dns+srv://_api._tcp.supernode.ns.svc.cluster.local'],
  ])
  assert.equal(parseNodeList(['sn1:8002'])[0]?.discovery, undefined, 'a written host is one supernode, resolved by the system when connecting')
  for (const entry of ['dns://', 'dns://10.0.0.1', 'dns://sn:0', 'dns://sn=0', 'dns://s n', 'dns+srv://_api._tcp.sn:8002', 'dns+srv://_api._tcp.sn=2', 'dns+srv://[::1]']) {
    assert.throws(() => parseNodeList([entry]), (err: unknown) => isCode(err, 'DF_ERR_CONFIG_INVALID') && err.details?.field === 'node' && err.message.startsWith(`--node: bad supernode "${entry}"`), entry)
  }
})

test('parses DNS servers as node:dns takes them, and refuses names', () => {
  const setting = { label: '--dns-server', field: 'dns-server' }
  assert.deepEqual(parseDnsServers(['10.96.0.10', '127.0.0.1:5353, [::1]:53', '::1'], setting), ['10.96.0.10:53', '127.0.0.1:5353', '[::1]:53', '[::1]:53'])
  assert.deepEqual(parseDnsServers([], setting), [])
  for (const entry of ['dns.example', '10.0.0.1:0', '10.0.0.1:99999', '1.2.3']) {
    assert.throws(() => parseDnsServers([entry], setting), (err: unknown) => isCode(err, 'DF_ERR_CONFIG_INVALID') && err.details?.field === 'dns-server' && err.message.startsWith(`--dns-server: bad DNS server "${entry}"`), entry)
  }
})
