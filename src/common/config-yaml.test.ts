import { test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { isCode } from '../protocol/errors.js'
import { loadConfigFile } from '../supernode/config.js'
import { loadDfgetConfigFile } from '../dfget/config-file.js'
import { loadDfdaemonConfigFile } from '../dfdaemon/config.js'
import { createTmpDir } from '../../test/harness/tmp-dir.js'
import { parseConfigYaml } from './config-yaml.js'

test('a YAML alias used inside the node it names is refused by every program\'s config loader with DF_ERR_CONFIG_INVALID', async (t) => {
  const dir = await createTmpDir('df-config-yaml-')
  t.after(() => dir.close())
  // Found by the fuzz (test/fuzz/parser-surfaces.ts): dfget's loader threw a TypeError
  // (circular structure to JSON) while naming the value.
  for (const text of ['&a [*a]', 'nodes: &n [*n]', 'registry_mirror: &m { remote: *m }', 'sourceAllow: &s [x, [*s]]']) {
    const path = join(dir.path, 'config.yml')
    await writeFile(path, text)
    for (const load of [loadConfigFile, loadDfgetConfigFile, loadDfdaemonConfigFile]) {
      await assert.rejects(load(path), (err: unknown) => isCode(err, 'DF_ERR_CONFIG_INVALID'), `${load.name}: ${text}`)
    }
  }
})

test('a key that names an Object.prototype property (__proto__, toString, valueOf) is an unknown setting, DF_ERR_CONFIG_INVALID', async (t) => {
  const dir = await createTmpDir('df-config-yaml-')
  t.after(() => dir.close())
  // Found by the fuzz (test/fuzz/parser-surfaces.ts): the supernode's and dfget's loaders
  // took it for a setting and threw a TypeError ("convert is not a function").
  for (const text of ['__proto__: 1', 'toString: false', 'valueOf: {}', 'constructor: x', 'hasOwnProperty: 1']) {
    const path = join(dir.path, 'config.yml')
    await writeFile(path, text)
    for (const load of [loadConfigFile, loadDfgetConfigFile, loadDfdaemonConfigFile]) {
      await assert.rejects(load(path), (err: unknown) => isCode(err, 'DF_ERR_CONFIG_INVALID'), `${load.name}: ${text}`)
    }
  }
})

test('aliases that repeat a value without containing it stay allowed', () => {
  assert.deepEqual(parseConfigYaml('a: &x [1, 2]\nb: *x\n'), { a: [1, 2], b: [1, 2] })
})
