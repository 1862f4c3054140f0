import { test } from 'node:test'
import assert from 'node:assert/strict'
import { chmod, readFile, writeFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { isCode } from '../../protocol/errors.js'
import { createTmpDir } from '../../../test/harness/tmp-dir.js'
import { addRegistryMirror, checkDocker, setupDocker } from './docker.js'
import type { CheckTools } from './mirror.js'

const setup = { mirrorUrl: 'http://127.0.0.1:65001', registries: [] }

test('setup docker adds the mirror first to registry-mirrors, keeps every other key, backs the file up, and is idempotent', async (t) => {
  const dir = await createTmpDir('setup-docker-')
  t.after(() => dir.close())
  const path = join(dir.path, 'etc', 'daemon.json')
  assert.match((await setupDocker(setup, path)).lines[0] ?? '', /^created /)
  assert.deepEqual(JSON.parse(await readFile(path, 'utf8')), { 'registry-mirrors': ['http://127.0.0.1:65001'] })

  const original = JSON.stringify({ 'data-root': '/d', 'registry-mirrors': ['https://m.example'], 'log-opts': { 'max-size': '10m' }, debug: true })
  await writeFile(path, original)
  await chmod(path, 0o600)
  assert.match((await setupDocker(setup, path)).lines[0] ?? '', /^updated .*daemon\.json \(the old one is .*daemon\.json\.damselfly-backup\)/)
  assert.deepEqual(JSON.parse(await readFile(path, 'utf8')), { 'data-root': '/d', 'registry-mirrors': ['http://127.0.0.1:65001', 'https://m.example'], 'log-opts': { 'max-size': '10m' }, debug: true })
  assert.equal(await readFile(`${path}.damselfly-backup`, 'utf8'), original)
  assert.equal((await stat(path)).mode & 0o777, 0o600, 'the file keeps its mode')
  const written = await readFile(path, 'utf8')
  assert.match((await setupDocker(setup, path)).lines[0] ?? '', /^unchanged /)
  assert.equal(await readFile(path, 'utf8'), written)
  assert.equal(await readFile(`${path}.damselfly-backup`, 'utf8'), original, 'the backup is of the last change')
  // Already there under another spelling: the file is not rewritten.
  assert.equal(addRegistryMirror('{"registry-mirrors":["http://127.0.0.1:65001/"]}', setup.mirrorUrl, 'f'), '{"registry-mirrors":["http://127.0.0.1:65001/"]}')
  for (const bad of ['{', '[]', '{"registry-mirrors":"x"}']) {
    assert.throws(() => addRegistryMirror(bad, setup.mirrorUrl, 'f'), (err: unknown) => isCode(err, 'DF_ERR_CONFIG_INVALID'), bad)
  }
})

test('check docker reads the running dockerd\'s Registry Mirrors (docker info)', async () => {
  let answer = { code: 0, stdout: '["https://m.example/"]\n', stderr: '' }
  const tools: CheckTools = {
    run: async (command, args) => {
      assert.deepEqual([command, ...args], ['docker', 'info', '--format', '{{json .RegistryConfig.Mirrors}}'])
      return answer
    },
    ping: async () => true,
  }
  const outcome = async (): Promise<string> => { const o = await checkDocker(setup, tools); return o.inEffect ? 'in effect' : o.missing }
  assert.equal(await outcome(), 'dockerd\'s Registry Mirrors (https://m.example/) do not include http://127.0.0.1:65001')
  answer = { code: 0, stdout: 'null\n', stderr: '' }
  assert.match(await outcome(), /\(none\)/)
  answer = { code: 0, stdout: '["https://m.example/","http://127.0.0.1:65001/"]\n', stderr: '' }
  assert.equal(await outcome(), 'in effect')
  answer = { code: 1, stdout: '', stderr: 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n' }
  assert.match(await outcome(), /^docker info failed: Cannot connect to the Docker daemon/)
})
