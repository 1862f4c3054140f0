import { test } from 'node:test'
import assert from 'node:assert/strict'
import { isCode } from '../../protocol/errors.js'
import { formatKeyPath, formatTomlValue, parseToml } from './toml.js'

test('TOML of the engines\' files is read: tables with quoted keys, arrays of tables, strings, booleans, numbers, arrays', () => {
  const sections = parseToml([
    'version = 2 # a comment',
    'server = "https://registry.example" ',
    '[host."http://127.0.0.1:65001"]',
    '  capabilities = ["pull", "resolve"]',
    '  skip_verify = false',
    '[plugins."io.containerd.grpc.v1.cri".registry]',
    "  config_path = '/etc/containerd/certs.d'",
    '[[registry]]',
    'prefix = "a#b"',
    '[[registry.mirror]]',
    'location = "m\\"q"',
  ].join('\n'), 't.toml')
  assert.deepEqual(sections.map((s) => [s.path, s.arrayEntry, Object.fromEntries(s.values)]), [
    [[], false, { version: 2, server: 'https://registry.example' }],
    [['host', 'http://127.0.0.1:65001'], false, { capabilities: ['pull', 'resolve'], skip_verify: false }],
    [['plugins', 'io.containerd.grpc.v1.cri', 'registry'], false, { config_path: '/etc/containerd/certs.d' }],
    [['registry'], true, { prefix: 'a#b' }],
    [['registry', 'mirror'], true, { location: 'm"q' }],
  ])
})

test('what is written reads back the same; what cannot be read is refused naming the file and line', () => {
  const path = ['host', 'http://127.0.0.1:65001']
  const text = `[${formatKeyPath(path)}]\nv = ${formatTomlValue(['a"b', 'c\\\\d', true, 3])}\n`
  assert.deepEqual(parseToml(text, 'x').map((s) => [s.path, Object.fromEntries(s.values)]), [[[], {}], [path, { v: ['a"b', 'c\\\\d', true, 3] }]])
  for (const bad of ['a = {x = 1}', 'a = """x"""', 'a =', '[a', 'a = [1,', 'a.b = 1', 'x']) {
    assert.throws(() => parseToml(`ok = 1\n${bad}\n`, 'f.toml'), (err: unknown) => isCode(err, 'DF_ERR_CONFIG_INVALID') && err.message.startsWith('f.toml:2:'), bad)
  }
})

test('lenient reading (an engine\'s whole dump) skips what it cannot read and keeps the rest; floats are numbers', () => {
  const text = '[gc]\n  pause_threshold = 0.02\n  odd = {a = 1}\n  list = [\n    "x",\n  ]\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/certs.d"\n'
  assert.throws(() => parseToml(text, 'dump'), (err: unknown) => isCode(err, 'DF_ERR_CONFIG_INVALID') && err.message.startsWith('dump:3:'))
  const sections = parseToml(text, 'dump', { lenient: true })
  assert.equal(sections[1]?.values.get('pause_threshold'), 0.02)
  assert.equal(sections.at(-1)?.values.get('config_path'), '/etc/containerd/certs.d')
})
