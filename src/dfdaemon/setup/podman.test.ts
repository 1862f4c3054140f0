import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { isCode } from '../../protocol/errors.js'
import { createTmpDir } from '../../../test/harness/tmp-dir.js'
import { parseMirroredRegistry, type CheckTools } from './mirror.js'
import { checkPodman, setupPodman, DROP_IN_NAME } from './podman.js'
import { parseToml } from './toml.js'

const setup = { mirrorUrl: 'http://127.0.0.1:65001', registries: [parseMirroredRegistry('https://registry-1.docker.io')] }

test('setup podman writes its own registries.conf.d drop-in ([[registry]] with [[registry.mirror]]), idempotent, backed up when changed', async (t) => {
  const dir = await createTmpDir('setup-podman-')
  t.after(() => dir.close())
  await writeFile(join(dir.path, 'shortnames.conf'), '[aliases]\n')
  assert.match((await setupPodman(setup, dir.path)).lines[0] ?? '', /^created /)
  const path = join(dir.path, DROP_IN_NAME)
  const sections = parseToml(await readFile(path, 'utf8'), 'drop-in')
  assert.deepEqual(sections.map((s) => [s.path.join('.'), s.arrayEntry, Object.fromEntries(s.values)]), [
    ['', false, {}],
    ['registry', true, { prefix: 'docker.io', location: 'registry-1.docker.io' }],
    ['registry.mirror', true, { location: '127.0.0.1:65001', insecure: true }],
  ])
  assert.match((await setupPodman(setup, dir.path)).lines[0] ?? '', /^unchanged /)
  const before = await readFile(path, 'utf8')
  await setupPodman({ mirrorUrl: 'http://127.0.0.1:65002', registries: [parseMirroredRegistry('http://127.0.0.1:5000')] }, dir.path)
  assert.equal(await readFile(`${path}.damselfly-backup`, 'utf8'), before)
  assert.deepEqual(parseToml(await readFile(path, 'utf8'), 'x').map((s) => Object.fromEntries(s.values)), [{}, { prefix: '127.0.0.1:5000', location: '127.0.0.1:5000', insecure: true }, { location: '127.0.0.1:65002', insecure: true }])
  assert.deepEqual((await readdir(dir.path)).sort(), ['shortnames.conf', DROP_IN_NAME, `${DROP_IN_NAME}.damselfly-backup`].sort())
  assert.equal(await readFile(join(dir.path, 'shortnames.conf'), 'utf8'), '[aliases]\n')
  await assert.rejects(setupPodman({ ...setup, registries: [...setup.registries, parseMirroredRegistry('quay.io')] }, dir.path), (err: unknown) => isCode(err, 'DF_ERR_CONFIG_INVALID'))
})

test('check podman reads podman\'s resolved registries (podman info)', async () => {
  let stdout = '{"docker.io":{"Prefix":"docker.io","Location":"registry-1.docker.io","Mirrors":[{"Location":"127.0.0.1:65001","Insecure":true}]},"search":["docker.io"]}'
  const tools: CheckTools = { run: async () => ({ code: 0, stdout, stderr: '' }), ping: async () => true }
  assert.deepEqual(await checkPodman(setup, tools), { inEffect: true, detail: 'podman pulls docker.io through http://127.0.0.1:65001' })
  stdout = '{"search":["docker.io"]}'
  assert.deepEqual(await checkPodman(setup, tools), { inEffect: false, missing: 'podman\'s first mirror of docker.io is none, not 127.0.0.1:65001' })
})
