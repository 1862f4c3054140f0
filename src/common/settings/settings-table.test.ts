import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Command } from 'commander'
import { parse as parseYaml } from 'yaml'
import { isCode } from '../../protocol/errors.js'
import { bool, duration, int, ip, list, nodeList, oneOf, port, rate, size, text } from './setting-kinds.js'
import { formatSettingsYaml, renderSettingsMarkdown, replaceGeneratedSection } from './settings-output.js'
import { addSettingFlags, mergeSettingValues, parseSettingsObject, parseSettingsYaml, readSettingEnv, readSettingFlags, settingDefaults, type SettingsTable } from './settings-table.js'

const TABLE = {
  port: { kind: port, flag: '--port', default: 8002, help: 'the port' },
  listen: { kind: ip, flag: '--listen', default: '0.0.0.0', help: 'bind address' },
  pieceTimeout: { kind: duration, flag: '--piece-timeout', aliases: ['piece-timeout'], default: 30_000, help: 'piece deadline' },
  cacheMaxSize: { kind: size, flag: '--cache-max-size', default: 64 * 1024 * 1024, help: 'cache budget' },
  limit: { kind: rate, flag: '-s, --limit', default: 0, help: 'rate limit' },
  workers: { kind: int(1, 8), flag: '--workers', default: 2, help: 'workers' },
  level: { kind: oneOf(['info', 'debug'] as const), flag: '--level', default: 'info' as const, help: 'log level' },
  nodes: { kind: nodeList, flag: '-n, --node', default: ['127.0.0.1:8002'], help: 'supernodes' },
  headers: { kind: list({ split: false }), flag: '--header', default: [], help: 'headers' },
  backSource: { kind: bool, flag: '--notbs', flagValue: false, default: true, help: 'back-source' },
  token: { kind: text('<token>'), flag: '--token', env: 'TEST_TOKEN', help: 'a secret' },
  'mirror.remote': { kind: text('<url>'), flag: '--registry', help: 'upstream' },
  'mirror.insecure': { kind: bool, default: false, help: 'skip TLS verification' },
  url: { kind: text('<url>'), flag: '-u, --url', inFile: false, help: 'flag only' },
} satisfies SettingsTable

const refuses = (key: string, value: string, expected: RegExp) => (err: unknown): boolean =>
  isCode(err, 'DF_ERR_CONFIG_INVALID') && err.details?.field === key && err.message.includes(value) && expected.test(err.message)

test('a YAML file is checked by the table: values parsed by kind, aliases and dotted keys accepted, nulls unset', () => {
  const values = parseSettingsYaml('port: 9000\npiece-timeout: 2\ncacheMaxSize: 1G\nlimit: 100mbit\nnodes: "a:1,b:2=3"\nmirror:\n  remote: http://r\n  insecure: true\nheaders: ["A: 1, 2"]\ntoken:\n', TABLE, 'test')
  assert.deepEqual(values, { port: 9000, pieceTimeout: 2000, cacheMaxSize: 1024 ** 3, limit: 12_500_000, nodes: ['a:1', 'b:2=3'], 'mirror.remote': 'http://r', 'mirror.insecure': true, headers: ['A: 1, 2'] })
  assert.deepEqual(parseSettingsYaml('', TABLE, 'test'), {})
})

test('unknown keys, wrong kinds and bad values are DF_ERR_CONFIG_INVALID naming the key, the value and what was expected', () => {
  assert.throws(() => parseSettingsYaml('prot: 8002\n', TABLE, 'test'), refuses('prot', '8002', /is not a test setting/))
  assert.throws(() => parseSettingsYaml('mirror:\n  remtoe: x\n', TABLE, 'test'), refuses('mirror.remtoe', 'x', /is not a test setting/))
  assert.throws(() => parseSettingsYaml('url: http://x\n', TABLE, 'test'), refuses('url', 'http://x', /is not a test setting/), 'a flag-only setting is no key')
  assert.throws(() => parseSettingsYaml('port: 70000\n', TABLE, 'test'), refuses('port', '70000', /must be a port number 0-65535/))
  assert.throws(() => parseSettingsYaml('port: [1]\n', TABLE, 'test'), refuses('port', '[1]', /must be a port number/))
  assert.throws(() => parseSettingsYaml('pieceTimeout: soon\n', TABLE, 'test'), refuses('pieceTimeout', 'soon', /must be a duration/))
  assert.throws(() => parseSettingsYaml('cacheMaxSize: lots\n', TABLE, 'test'), refuses('cacheMaxSize', 'lots', /must be a size/))
  assert.throws(() => parseSettingsYaml('workers: 9\n', TABLE, 'test'), refuses('workers', '9', /from 1 to 8/))
  assert.throws(() => parseSettingsYaml('level: loud\n', TABLE, 'test'), refuses('level', 'loud', /one of info, debug/))
  assert.throws(() => parseSettingsYaml('listen: localhost\n', TABLE, 'test'), refuses('listen', 'localhost', /must be an IP address/))
  assert.throws(() => parseSettingsYaml('mirror:\n  insecure: yes please\n', TABLE, 'test'), refuses('mirror.insecure', 'yes please', /must be true or false/))
  assert.throws(() => parseSettingsYaml('nodes: [":::"]\n', TABLE, 'test'), refuses('nodes', ':::', /bad supernode/))
  assert.throws(() => parseSettingsYaml('- a\n', TABLE, 'test'), refuses('config', 'a', /mapping/))
  assert.throws(() => parseSettingsYaml('port: [1\n', TABLE, 'test'), (err: unknown) => isCode(err, 'DF_ERR_CONFIG_INVALID') && err.details?.field === 'config' && !err.message.includes('\n'))
})

test('flags come from the table: parsed by the same kinds, only those given, switches set their value', () => {
  const parse = (argv: string[]): Record<string, unknown> => {
    const command = addSettingFlags(new Command('t').exitOverride(), TABLE)
    command.parse(argv, { from: 'user' })
    return readSettingFlags(command, TABLE)
  }
  assert.deepEqual(parse(['--port', '0', '-n', 'a:1', '-n', 'b:2,c:3', '--header', 'A: 1, 2', '--notbs', '--piece-timeout', '1m', '-s', '20M', '--registry', 'http://r']), {
    port: 0, nodes: ['a:1', 'b:2', 'c:3'], headers: ['A: 1, 2'], backSource: false, pieceTimeout: 60_000, limit: 20 * 1024 * 1024, 'mirror.remote': 'http://r',
  })
  assert.deepEqual(parse([]), {})
  assert.throws(() => parse(['--port', '65536']), refuses('port', '65536', /^--port: must be a port number/))
  assert.throws(() => parse(['--listen', 'no-such-host']), refuses('listen', 'no-such-host', /^--listen: must be an IP address/))
  assert.throws(() => parse(['-n', ':::']), refuses('node', ':::', /^--node: bad supernode ":::"/))
  assert.throws(() => parse(['--level', 'loud']), /loud/, 'commander refuses a word not in the enum')
  const help = addSettingFlags(new Command('t'), TABLE).helpInformation()
  assert.match(help, /--port <port>\s+the port \[default: 8002\]/)
  assert.match(help, /--piece-timeout <duration>\s+piece deadline \[default: 30s\]/)
  assert.match(help, /-n, --node <host:port\[=weight\]>/)
})

test('precedence: flags over the environment over the file over the defaults', () => {
  const file = parseSettingsYaml('port: 9000\ntoken: from-file\nworkers: 3\n', TABLE, 'test')
  const env = readSettingEnv(TABLE, { TEST_TOKEN: 'from-env' })
  const flags = { port: 9100 }
  const merged = mergeSettingValues(settingDefaults(TABLE), file, env, flags)
  assert.equal(merged.port, 9100)
  assert.equal(merged.token, 'from-env')
  assert.equal(merged.workers, 3)
  assert.equal(merged.listen, '0.0.0.0')
  assert.deepEqual(readSettingEnv(TABLE, { TEST_TOKEN: '' }), {}, 'an empty variable is unset')
})

test('config default prints every file key, reads back to the defaults, and the docs table lists every setting', () => {
  const yaml = formatSettingsYaml('test', TABLE)
  assert.deepEqual(parseSettingsYaml(yaml, TABLE, 'test'), Object.fromEntries(Object.entries(settingDefaults(TABLE)).filter(([key]) => key !== 'url')))
  assert.match(yaml, /^# piece deadline\npieceTimeout: 30s$/m)
  assert.match(yaml, /^cacheMaxSize: 64M$/m)
  assert.match(yaml, /^# token: <token>$/m, 'an unset key is commented out')
  assert.match(yaml, /^mirror:\n {2}# upstream\n {2}# remote: <url>\n {2}# skip TLS verification\n {2}insecure: false$/m)
  assert.doesNotMatch(yaml, /^url:/m)
  assert.deepEqual(Object.keys(parseYaml(yaml) as object), ['port', 'listen', 'pieceTimeout', 'cacheMaxSize', 'limit', 'workers', 'level', 'nodes', 'headers', 'backSource', 'mirror'])
  const markdown = renderSettingsMarkdown(TABLE)
  for (const key of Object.keys(TABLE).filter((key) => key !== 'url')) assert.ok(markdown.includes(`| \`${key}\` |`), key)
  assert.ok(markdown.includes('|  | `-u, --url <url>` |'), 'a flag-only row has no key')
  assert.ok(markdown.includes('`--level <info\\|debug>`'), 'a | in a cell is escaped')
  assert.equal(replaceGeneratedSection('a\n<!-- settings:x -->\nold\n<!-- /settings:x -->\nb', 'x', 'new\n'), 'a\n<!-- settings:x -->\n<!-- generated from the settings table by npm run docs:config; do not edit -->\nnew\n<!-- /settings:x -->\nb')
  assert.throws(() => replaceGeneratedSection('no markers', 'x', ''))
})

test('a mapping given by a library caller is checked like a file', () => {
  assert.deepEqual(parseSettingsObject({ port: '9000', pieceTimeout: undefined, 'piece-timeout': '500ms' }, TABLE, 'test'), { port: 9000, pieceTimeout: 500 })
})
