import { test } from 'node:test'
import assert from 'node:assert/strict'
import { isCode } from '../protocol/errors.js'
import { resolveDfgetConfig } from './config.js'
// Tests may import the CLI parser (STYLE.md B3 exempts tests).
import { parseCommandLine } from './cli.js'
import { orderSupernodes } from './supernode-locator.js'
import { parseNodeList } from '../common/node-list.js'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createTmpDir } from '../../test/harness/tmp-dir.js'
import { checkDfgetConfigFile } from './config-file.js'

const isConfigInvalid = (flag: string) => (err: unknown): boolean => isCode(err, 'DF_ERR_CONFIG_INVALID') && err.message.includes(flag)

test('applies defaults: output from the URL, p2p, unlimited, back-source allowed, 127.0.0.1:8002', () => {
  const config = resolveDfgetConfig({ url: 'http://origin.test/dir/file.tar?x=1' }, '/work')
  assert.equal(config.output, '/work/file.tar')
  assert.equal(config.pattern, 'p2p')
  assert.equal(config.localLimitBytesPerSec, 0)
  assert.equal(config.backSourceAllowed, true)
  assert.equal(config.aliveTimeMs, 5 * 60_000)
  assert.equal(config.expireTimeMs, 3 * 60_000)
  assert.deepEqual(config.supernodes.map((s) => s.baseUrl), ['http://127.0.0.1:8002'])
})

test('parses rates, durations, headers, filters and node lists', () => {
  const config = resolveDfgetConfig({
    url: 'https://origin.test/f', output: '-', locallimit: '20M', totallimit: '100mbit', timeout: '5m',
    header: ['Authorization: Bearer x', 'X-A: b: c'], filter: 'sig,expires', node: ['a:1=2,b', '[::1]:9'], notbs: true,
  })
  assert.equal(config.output, '-')
  assert.equal(config.localLimitBytesPerSec, 20 * 1024 * 1024)
  assert.equal(config.totalLimitBytesPerSec, 12_500_000)
  assert.equal(config.timeoutMs, 300_000)
  assert.deepEqual(config.headers, { Authorization: 'Bearer x', 'X-A': 'b: c' })
  assert.deepEqual(config.filter, ['sig', 'expires'])
  assert.deepEqual(config.supernodes.map((s) => [s.host, s.port, s.weight]), [['a', 1, 2], ['b', 8002, 1], ['::1', 9, 1]])
  assert.equal(config.backSourceAllowed, false)
  assert.equal(resolveDfgetConfig({ url: 'http://o/f', timeout: '30' }).timeoutMs, 30_000)
})

test('a --header that cannot be sent is refused naming the header, on one line, without its value', () => {
  for (const header of ['X-Token: s3cret\r\nX-Injected: 1', 'X-Token: s3cret\nmore', 'X-Token: s3\u0000cret', 'Transfer-Encoding: chunked', 'Bad Name: s3cret']) {
    assert.throws(() => resolveDfgetConfig({ url: 'http://o/f', header: [header] }), (err: unknown) => {
      assert.ok(isCode(err, 'DF_ERR_CONFIG_INVALID'))
      assert.match(err.message, /^--header "(X-Token|Transfer-Encoding|Bad Name)": [^\r\n]+$/)
      assert.ok(!err.message.includes('s3'), 'the value is not shown')
      return true
    })
  }
  assert.deepEqual(resolveDfgetConfig({ url: 'http://o/f', header: ['X-Token: a\tb\r\n'] }).headers, { 'X-Token': 'a\tb' })
})

test('rejects bad values with DF_ERR_CONFIG_INVALID naming the flag and the value', () => {
  assert.throws(() => resolveDfgetConfig({}), isConfigInvalid('--url'))
  assert.throws(() => resolveDfgetConfig({ url: 'not a url' }), isConfigInvalid('not a url'))
  assert.throws(() => resolveDfgetConfig({ url: 'ftp://origin.test/f' }), isConfigInvalid('--url'))
  assert.throws(() => resolveDfgetConfig({ url: 'http://o/f', locallimit: 'fast' }), isConfigInvalid('--locallimit: invalid value "fast"'))
  assert.throws(() => resolveDfgetConfig({ url: 'http://o/f', pattern: 'torrent' }), isConfigInvalid('--pattern: invalid value "torrent"'))
  assert.throws(() => resolveDfgetConfig({ url: 'http://o/f', timeout: 'soon' }), isConfigInvalid('--timeout'))
  assert.throws(() => resolveDfgetConfig({ url: 'http://o/f', md5: 'abc' }), isConfigInvalid('--md5'))
  assert.throws(() => resolveDfgetConfig({ url: 'http://o/f', header: ['no colon'] }), isConfigInvalid('--header'))
  assert.throws(() => resolveDfgetConfig({ url: 'http://o/f', node: ['a:99999'] }), isConfigInvalid('--node'))
  assert.throws(() => resolveDfgetConfig({ url: 'http://o/f', ip: 'somewhere' }), isConfigInvalid('--ip'))
  assert.throws(() => resolveDfgetConfig({ url: 'http://o/' }), isConfigInvalid('--output'))
})

test('the command line maps Dragonfly flags and subcommands, and reports bad input as DF_ERR_CONFIG_INVALID', () => {
  const download = parseCommandLine(['-u', 'http://o/f', '-o', 'out', '-n', 'a:1', '-n', 'b:2', '--header', 'A: 1', '--header', 'B: 2', '-s', '1M', '--notbs', '-p', 'cdn', '-b'])
  assert.equal(download.kind, 'download')
  if (download.kind === 'download') {
    assert.deepEqual(download.options.node, ['a:1', 'b:2'])
    assert.deepEqual(download.options.header, ['A: 1', 'B: 2'])
    assert.equal(download.options.locallimit, '1M')
    assert.equal(download.options.notbs, true)
    assert.equal(download.options.pattern, 'cdn')
    assert.equal(download.options.showbar, true)
  }
  const positional = parseCommandLine(['http://o/g'])
  assert.equal(positional.kind === 'download' ? positional.options.url : undefined, 'http://o/g')
  const server = parseCommandLine(['server', '--home', '/h', '--port', '0', '--alivetime', '1m'])
  assert.deepEqual(server, { kind: 'server', options: { home: '/h', port: '0', alivetime: '1m', verbose: false } })
  let printed = ''
  const output = { writeOut: (text: string) => { printed += text }, writeErr: () => {} }
  assert.deepEqual(parseCommandLine(['version'], output), { kind: 'exit', status: 0 })
  assert.match(printed, /^dfget \d+\.\d+\.\d+\n$/)
  printed = ''
  assert.deepEqual(parseCommandLine(['--help'], output), { kind: 'exit', status: 0 })
  assert.match(printed, /--locallimit/)
  assert.deepEqual(parseCommandLine(['config', 'check', 'dfget.yml']), { kind: 'config-check', path: 'dfget.yml' })
  assert.throws(() => parseCommandLine(['-u', 'http://o/f', '-p', 'torrent']), (err: unknown) => isCode(err, 'DF_ERR_CONFIG_INVALID') && err.message.includes('torrent'))
  assert.throws(() => parseCommandLine(['--no-such-flag']), (err: unknown) => isCode(err, 'DF_ERR_CONFIG_INVALID'))
})

test('supernode order is the same for every client of a task and honours weights', () => {
  const nodes = parseNodeList(['a:1,b:1,c:1=3'])
  assert.deepEqual(orderSupernodes(nodes, 'task-1'), orderSupernodes([...nodes].reverse(), 'task-1'))
  const firsts = new Map<string, number>()
  for (let i = 0; i < 3000; i++) {
    const first = orderSupernodes(nodes, `task-${i}`)[0]?.host ?? ''
    firsts.set(first, (firsts.get(first) ?? 0) + 1)
  }
  assert.ok((firsts.get('c') ?? 0) > 1650 && (firsts.get('c') ?? 0) < 1950, JSON.stringify([...firsts]))
})

test('config check reads a file as --config does and refuses what a download would refuse', async (t) => {
  const dir = await createTmpDir('damselfly-dfget-check-')
  t.after(() => dir.close())
  const cases: [string, string][] = [['good.yml', 'nodes: [sn1:8002=2]\nheaders: ["X-A: 1"]\nip: 10.0.0.1\n'], ['nodes.yml', 'nodes: [":::"]\n'], ['header.yml', 'headers: ["no colon"]\n'], ['ip.yml', 'ip: somewhere\n']]
  for (const [name, text] of cases) await writeFile(join(dir.path, name), text)
  await checkDfgetConfigFile(join(dir.path, 'good.yml'))
  await assert.rejects(checkDfgetConfigFile(join(dir.path, 'nodes.yml')), (err: unknown) => isCode(err, 'DF_ERR_CONFIG_INVALID') && err.details?.field === 'nodes')
  await assert.rejects(checkDfgetConfigFile(join(dir.path, 'header.yml')), isConfigInvalid('no colon'))
  await assert.rejects(checkDfgetConfigFile(join(dir.path, 'ip.yml')), isConfigInvalid('somewhere'))
})

test('DNS settings: --dns-server and --dns-refresh from flags and file keys, checked as -n is', async (t) => {
  const download = parseCommandLine(['-u', 'http://o/f', '-n', 'dns+srv://_api._tcp.sn.test', '--dns-server', '127.0.0.1:5353', '--dns-server', '10.0.0.2', '--dns-refresh', '5s'])
  assert.equal(download.kind, 'download')
  const config = resolveDfgetConfig(download.kind === 'download' ? download.options : {})
  assert.deepEqual(config.dnsServers, ['127.0.0.1:5353', '10.0.0.2:53'])
  assert.equal(config.dnsRefreshMs, 5_000)
  assert.equal(config.supernodes[0]?.discovery, 'srv')
  assert.equal(resolveDfgetConfig({ url: 'http://o/f' }).dnsRefreshMs, 30_000, 'default 30s')
  assert.deepEqual(resolveDfgetConfig({ url: 'http://o/f' }).dnsServers, [], 'default: the system\'s servers')
  assert.throws(() => resolveDfgetConfig({ url: 'http://o/f', dnsServer: ['dns.example'] }), isConfigInvalid('--dns-server: bad DNS server "dns.example"'))
  assert.throws(() => resolveDfgetConfig({ url: 'http://o/f', dnsRefresh: '100ms' }), isConfigInvalid('--dns-refresh: invalid value "100ms": must be at least 1s'))
  const dir = await createTmpDir('damselfly-dfget-dns-')
  t.after(() => dir.close())
  await writeFile(join(dir.path, 'good.yml'), 'nodes: [dns://sn.test:9000]\ndnsServers: [127.0.0.1:5353]\ndnsRefresh: 10\n')
  await writeFile(join(dir.path, 'bad.yml'), 'dnsServers: [resolver.test]\n')
  await checkDfgetConfigFile(join(dir.path, 'good.yml'))
  await assert.rejects(checkDfgetConfigFile(join(dir.path, 'bad.yml')), (err: unknown) => isCode(err, 'DF_ERR_CONFIG_INVALID') && err.details?.field === 'dnsServers')
})
