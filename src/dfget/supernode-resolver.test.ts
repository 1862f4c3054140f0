import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ManualClock } from '../common/clock.js'
import { createLogger, createSilentLogger } from '../common/log.js'
import { parseNodeList } from '../common/node-list.js'
import { isCode } from '../protocol/errors.js'
import { startDnsServer } from '../../test/harness/dns-server.js'
import { SupernodeResolver } from './supernode-resolver.js'

const view = (list: readonly { baseUrl: string, weight: number, priority?: number }[]): string[] => list.map((node) => `${node.baseUrl} w${node.weight}${node.priority === undefined ? '' : ` p${node.priority}`}`)

test('a dns:// entry becomes one supernode per A and AAAA record, at the entry\'s port and weight, beside the written entries', async (t) => {
  const dns = await startDnsServer({ 'sn.fleet.test': { A: ['127.0.0.11', '127.0.0.12'], AAAA: ['::1'] } })
  t.after(() => dns.close())
  const resolver = new SupernodeResolver({ logger: createSilentLogger() }, { entries: parseNodeList(['10.0.0.1:8002, dns://sn.fleet.test:9000=3', '127.0.0.11:9000']), dnsServers: [dns.address] })
  t.after(() => { resolver.close() })
  assert.equal(resolver.hasNames, true)
  assert.deepEqual(view(await resolver.current()), [
    'http://10.0.0.1:8002 w1',
    'http://127.0.0.11:9000 w3',
    'http://127.0.0.12:9000 w3',
    'http://[::1]:9000 w3',
  ], 'the written 127.0.0.11:9000 is the same supernode as the resolved one: listed once')
})

test('a dns+srv:// entry becomes its records\' targets, with their ports, priorities and weights; a target that does not resolve is left out', async (t) => {
  const dns = await startDnsServer({
    '_api._tcp.supernode.fleet.test': { SRV: [{ target: 'sn-0.supernode.fleet.test', port: 8101, weight: 50 }, { target: 'sn-1.supernode.fleet.test', port: 8102, weight: 0, priority: 1 }, { target: 'gone.fleet.test', port: 8103 }] },
    'sn-0.supernode.fleet.test': { A: ['127.0.0.21'] },
    'sn-1.supernode.fleet.test': { A: ['127.0.0.22'] },
  })
  t.after(() => dns.close())
  const resolver = new SupernodeResolver({ logger: createSilentLogger() }, { entries: parseNodeList(['dns+srv://_api._tcp.supernode.fleet.test']), dnsServers: [dns.address] })
  t.after(() => { resolver.close() })
  const list = await resolver.current()
  assert.deepEqual(view(list), ['http://127.0.0.21:8101 w50 p0', 'http://127.0.0.22:8102 w1 p1'])
  assert.deepEqual(list.map((node) => node.host), ['sn-0.supernode.fleet.test', 'sn-1.supernode.fleet.test'], 'the targets\' names are the supernodes\' identities in the hashing')
})

test('an answer is used for the refresh interval, then resolved again; a forced refresh happens at most once a second', async (t) => {
  const dns = await startDnsServer({ 'sn.fleet.test': { A: ['127.0.0.31'] } })
  t.after(() => dns.close())
  const clock = new ManualClock()
  const resolver = new SupernodeResolver({ logger: createSilentLogger(), clock }, { entries: parseNodeList(['dns://sn.fleet.test']), dnsServers: [dns.address], refreshMs: 10_000 })
  t.after(() => { resolver.close() })
  assert.deepEqual(view(await resolver.current()), ['http://127.0.0.31:8002 w1'])
  dns.setZone({ 'sn.fleet.test': { A: ['127.0.0.32'] } })
  clock.advance(9_000)
  assert.deepEqual(view(await resolver.current()), ['http://127.0.0.31:8002 w1'], 'within the interval: the answer in hand')
  assert.equal(dns.questions('sn.fleet.test', 'A'), 1)
  clock.advance(1_000)
  assert.deepEqual(view(await resolver.current()), ['http://127.0.0.32:8002 w1'], 'after the interval: the new answer')
  assert.equal(dns.questions('sn.fleet.test', 'A'), 2)
  dns.setZone({ 'sn.fleet.test': { A: ['127.0.0.33'] } })
  assert.deepEqual(view(await resolver.refresh()), ['http://127.0.0.32:8002 w1'], 'a forced refresh right after a resolution is not sent')
  clock.advance(1_000)
  assert.deepEqual(view(await resolver.refresh()), ['http://127.0.0.33:8002 w1'], 'a second later it is')
  const [a, b] = await Promise.all([(clock.advance(20_000), resolver.current()), resolver.current()])
  assert.deepEqual(a, b)
  assert.equal(dns.questions('sn.fleet.test', 'A'), 4, 'concurrent callers share one resolution')
})

test('a name that resolved once keeps its last answer, with a warning, while DNS fails', async (t) => {
  const dns = await startDnsServer({ 'sn.fleet.test': { A: ['127.0.0.41'] } })
  t.after(() => dns.close())
  const clock = new ManualClock()
  const records: Record<string, unknown>[] = []
  const logger = createLogger({ level: 'info', destination: { write: (line: string) => { records.push(JSON.parse(line) as Record<string, unknown>) } } })
  const resolver = new SupernodeResolver({ logger, clock }, { entries: parseNodeList(['dns://sn.fleet.test']), dnsServers: [dns.address], refreshMs: 5_000, queryTimeoutMs: 200 })
  t.after(() => { resolver.close() })
  assert.deepEqual(view(await resolver.current()), ['http://127.0.0.41:8002 w1'])
  for (const fault of ['servfail', 'silent'] as const) {
    dns.setFault(fault)
    clock.advance(5_000)
    assert.deepEqual(view(await resolver.current()), ['http://127.0.0.41:8002 w1'], fault)
  }
  dns.setFault('none')
  dns.setZone({})
  clock.advance(5_000)
  assert.deepEqual(view(await resolver.current()), ['http://127.0.0.41:8002 w1'], 'a name gone from DNS (NXDOMAIN) keeps its last answer too')
  const warnings = records.filter((record) => record.msg === 'could not resolve the supernode list again; keeping its last answer')
  assert.equal(warnings.length, 3)
  assert.equal(warnings[0]?.level, 40)
})

test('a name that never resolved is an error: DF_ERR_CONFIG_UNUSABLE when DNS says it does not exist, DF_ERR_NETWORK when DNS does not answer', async (t) => {
  const dns = await startDnsServer({ 'empty.fleet.test': {} })
  t.after(() => dns.close())
  for (const [entry, text] of [['dns://nope.fleet.test', 'no A/AAAA records (ENOTFOUND'], ['dns://empty.fleet.test', 'no A/AAAA records (ENODATA'], ['dns+srv://_api._tcp.nope.fleet.test', 'no SRV records (ENOTFOUND']] as const) {
    const resolver = new SupernodeResolver({ logger: createSilentLogger() }, { entries: parseNodeList([entry]), dnsServers: [dns.address] })
    await assert.rejects(resolver.current(), (err: unknown) => isCode(err, 'DF_ERR_CONFIG_UNUSABLE') && err.message.includes(text) && err.message.includes(dns.address) && !err.message.includes('\n'), entry)
    resolver.close()
  }
  dns.setFault('silent')
  const resolver = new SupernodeResolver({ logger: createSilentLogger() }, { entries: parseNodeList(['dns://sn.fleet.test']), dnsServers: [dns.address], queryTimeoutMs: 200 })
  t.after(() => { resolver.close() })
  await assert.rejects(resolver.current(), (err: unknown) => isCode(err, 'DF_ERR_NETWORK') && err.message.includes('DNS did not answer (ETIMEOUT'))
})

test('a list without DNS entries is used as written and asks no DNS server', async () => {
  const resolver = new SupernodeResolver({ logger: createSilentLogger() }, { entries: parseNodeList(['a:1,b:2']), dnsServers: ['127.0.0.1:9'] })
  assert.equal(resolver.hasNames, false)
  assert.deepEqual(view(await resolver.current()), ['http://a:1 w1', 'http://b:2 w1'])
  assert.deepEqual(view(await resolver.refresh()), ['http://a:1 w1', 'http://b:2 w1'])
  resolver.close()
})
