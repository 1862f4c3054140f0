import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createTmpDir } from '../../../test/harness/tmp-dir.js'
import { checkContainerd, hostsTomlPath, hostsTomlUsesMirror, setupContainerd } from './containerd.js'
import { parseMirroredRegistry, type CheckTools } from './mirror.js'
import { parseToml } from './toml.js'

const setup = { mirrorUrl: 'http://127.0.0.1:65001', registries: [parseMirroredRegistry('https://registry.example'), parseMirroredRegistry('http://127.0.0.1:5000'), parseMirroredRegistry('docker.io')] }

test('setup containerd writes a hosts.toml per registry naming the mirror first; again it changes nothing; other registries are left alone', async (t) => {
  const dir = await createTmpDir('setup-containerd-')
  t.after(() => dir.close())
  await mkdir(join(dir.path, 'other.example'))
  await writeFile(join(dir.path, 'other.example', 'hosts.toml'), 'server = "https://other.example"\n')
  const first = await setupContainerd(setup, dir.path)
  assert.deepEqual(first.lines.map((l) => l.split(' ')[0]), ['created', 'created', 'created'])
  for (const registry of setup.registries) {
    const text = await readFile(hostsTomlPath(dir.path, registry), 'utf8')
    const sections = parseToml(text, 'hosts.toml')
    assert.equal(sections[0]?.values.get('server'), registry.serverUrl)
    assert.deepEqual(sections[1]?.path, ['host', 'http://127.0.0.1:65001'])
    assert.deepEqual(sections[1]?.values.get('capabilities'), ['pull', 'resolve'])
    assert.ok(hostsTomlUsesMirror(text, 'hosts.toml', setup.mirrorUrl))
  }
  assert.deepEqual((await readdir(dir.path)).sort(), ['127.0.0.1:5000', 'docker.io', 'other.example', 'registry.example'])
  assert.equal(await readFile(join(dir.path, 'docker.io', 'hosts.toml'), 'utf8').then((t) => parseToml(t, 'x')[0]?.values.get('server')), 'https://registry-1.docker.io')
  const again = await setupContainerd(setup, dir.path)
  assert.deepEqual(again.lines.map((l) => l.split(' ')[0]), ['unchanged', 'unchanged', 'unchanged'])
  assert.equal(await readFile(join(dir.path, 'other.example', 'hosts.toml'), 'utf8'), 'server = "https://other.example"\n')
  assert.deepEqual(await readdir(join(dir.path, 'registry.example')), ['hosts.toml'], 'no backup of a file that did not change')
})

test('an existing hosts.toml: kept as a backup, its server and other hosts kept after the mirror; a new port replaces the old mirror entry', async (t) => {
  const dir = await createTmpDir('setup-containerd-')
  t.after(() => dir.close())
  const path = hostsTomlPath(dir.path, setup.registries[0]!)
  await mkdir(join(dir.path, 'registry.example'))
  const original = '# mine\nserver = "https://registry.example:443"\n[host."https://cache.example"]\n  capabilities = ["pull"]\n  skip_verify = true\n'
  await writeFile(path, original)
  const report = await setupContainerd({ ...setup, registries: [setup.registries[0]!] }, dir.path)
  assert.match(report.lines[0] ?? '', /^updated .*hosts\.toml \(the old one is .*hosts\.toml\.damselfly-backup\)/)
  assert.equal(await readFile(`${path}.damselfly-backup`, 'utf8'), original)
  const sections = parseToml(await readFile(path, 'utf8'), 'x')
  assert.deepEqual(sections.map((s) => s.path.join(' ')), ['', 'host http://127.0.0.1:65001', 'host https://cache.example'])
  assert.equal(sections[0]?.values.get('server'), 'https://registry.example:443')
  assert.deepEqual(Object.fromEntries(sections[2]?.values ?? []), { capabilities: ['pull'], skip_verify: true })
  await setupContainerd({ mirrorUrl: 'http://127.0.0.1:65002', registries: [setup.registries[0]!] }, dir.path)
  const moved = parseToml(await readFile(path, 'utf8'), 'x')
  assert.deepEqual(moved.map((s) => s.path.join(' ')), ['', 'host http://127.0.0.1:65002', 'host https://cache.example'])
})

test('check containerd: in effect only with config_path on the hosts dir, every hosts.toml naming the mirror, and dfdaemon answering', async (t) => {
  const dir = await createTmpDir('setup-containerd-')
  t.after(() => dir.close())
  const hostsDir = join(dir.path, 'certs.d')
  let dump = '[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = ""\n'
  let answering = true
  const tools: CheckTools = {
    run: async (command, args) => {
      assert.deepEqual([command, ...args], ['containerd', '--config', '/c.toml', 'config', 'dump'])
      return { code: 0, stdout: dump, stderr: '' }
    },
    ping: async () => answering,
  }
  const check = async (): Promise<string> => {
    const outcome = await checkContainerd(setup, hostsDir, '/c.toml', tools)
    return outcome.inEffect ? 'in effect' : outcome.missing
  }
  assert.match(await check(), /config_path to .*certs\.d/)
  dump = `version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/x:${hostsDir}/"\n`
  assert.match(await check(), /registry\.example\/hosts\.toml does not exist/)
  await setupContainerd(setup, hostsDir)
  assert.equal(await check(), 'in effect')
  answering = false
  assert.match(await check(), /dfdaemon does not answer at http:\/\/127\.0\.0\.1:65001/)
  answering = true
  await writeFile(hostsTomlPath(hostsDir, setup.registries[1]!), 'server = "http://127.0.0.1:5000"\n')
  assert.match(await check(), /127\.0\.0\.1:5000\/hosts\.toml does not name the mirror/)
})
