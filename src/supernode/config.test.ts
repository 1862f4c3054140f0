import { test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { isCode } from '../protocol/errors.js'
import { createTmpDir } from '../../test/harness/tmp-dir.js'
import { defaultAdvertiseIp, loadConfigFile, optionsFromSettings, resolveSupernodeConfig } from './config.js'

test('defaults follow Dragonfly: API 8002, data 8001, 5 uploads per peer, 8 per task from the supernode', () => {
  const config = resolveSupernodeConfig({ homeDir: '/tmp/x', listen: '127.0.0.1' })
  assert.equal(config.port, 8002)
  assert.equal(config.downloadPort, 8001)
  assert.equal(config.advertiseIp, '127.0.0.1')
  assert.equal(config.maxUploadsPerPeer, 5)
  assert.equal(config.supernodeMaxUploads, 8)
  assert.equal(config.cdnConcurrency, 1)
  assert.equal(config.pieceTimeoutMs, 30_000)
})

test('invalid values throw DF_ERR_CONFIG_INVALID naming the key and the value', () => {
  for (const [options, field] of [[{ port: 70000 }, 'port'], [{ listen: 'nowhere' }, 'listen'], [{ maxUploadsPerPeer: 0 }, 'maxUploadsPerPeer'], [{ logLevel: 'loud' }, 'logLevel']] as const) {
    assert.throws(() => resolveSupernodeConfig(options), (err: unknown) => isCode(err, 'DF_ERR_CONFIG_INVALID') && err.details?.field === field && err.message.includes(field))
  }
  assert.throws(() => optionsFromSettings({ 'piece-timeout': 'soon' }), (err: unknown) => isCode(err, 'DF_ERR_CONFIG_INVALID') && err.message.includes('soon'))
  assert.throws(() => optionsFromSettings({ colour: 'blue' }), (err: unknown) => isCode(err, 'DF_ERR_CONFIG_INVALID') && err.details?.field === 'colour')
})

test('duration settings accept units, bare seconds and YAML numbers', () => {
  assert.deepEqual(optionsFromSettings({ pieceTimeout: '500ms', taskExpireTime: '3m', cacheExpireTime: '1h30m', gcInterval: 2 }), {
    pieceTimeoutMs: 500, taskExpireTimeMs: 180_000, cacheExpireTimeMs: 5_400_000, gcIntervalMs: 2_000,
  })
  assert.deepEqual(optionsFromSettings({ 'piece-timeout': '2' }), { pieceTimeoutMs: 2_000 })
})

test('a YAML file gives settings in camelCase or kebab-case and flags override it', async (t) => {
  const dir = await createTmpDir()
  t.after(() => dir.close())
  const path = join(dir.path, 'supernode.yaml')
  await writeFile(path, 'port: 9002\ndownload-port: 9001\npieceTimeout: 10s\nlisten: 127.0.0.1\n')
  const fromFile = await loadConfigFile(path)
  const merged = resolveSupernodeConfig({ ...fromFile, ...optionsFromSettings({ port: '9100', listen: undefined }) })
  assert.equal(merged.port, 9100)
  assert.equal(merged.downloadPort, 9001)
  assert.equal(merged.pieceTimeoutMs, 10_000)
  await writeFile(path, 'port: [1, 2')
  await assert.rejects(loadConfigFile(path), (err: unknown) => isCode(err, 'DF_ERR_CONFIG_INVALID'))
})

test('the advertised address is the listen address when specific, else a non-loopback IPv4, else loopback', () => {
  assert.equal(defaultAdvertiseIp('10.1.2.3', {}), '10.1.2.3')
  const interfaces = {
    lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true, netmask: '', mac: '', cidr: null }],
    eth0: [{ address: '192.168.1.7', family: 'IPv4', internal: false, netmask: '', mac: '', cidr: null }],
  } as const
  assert.equal(defaultAdvertiseIp('0.0.0.0', interfaces as unknown as NodeJS.Dict<import('node:os').NetworkInterfaceInfo[]>), '192.168.1.7')
  assert.equal(defaultAdvertiseIp('0.0.0.0', {}), '127.0.0.1')
})
