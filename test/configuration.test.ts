/**
 * Configuration files of the three programs: `config default` reads back to the defaults,
 * every key is documented in docs/configuration.md (generated from the settings tables and
 * checked here), bad keys and values fail naming both,
 * and flags override the file (through the real CLIs, run from source with tsx).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { isCode } from '../src/protocol/errors.js'
import { formatSupernodeDefaultConfig, loadConfigFile, resolveSupernodeConfig, SETTING_NAMES } from '../src/supernode/config.js'
import { resolveDfgetConfig } from '../src/dfget/config.js'
import { DFGET_CONFIG_KEYS, formatDfgetDefaultConfig, loadDfgetConfigFile, mergeDfgetOptions, parseDfgetConfigText } from '../src/dfget/config-file.js'
import { DFDAEMON_CONFIG_KEYS, formatDfdaemonDefaultConfig, parseDfdaemonConfigText, resolveDfdaemonConfig } from '../src/dfdaemon/config.js'
import { createTmpDir } from './harness/tmp-dir.js'
import { generateConfigurationDoc } from '../scripts/gen-config-doc.js'

const root = new URL('..', import.meta.url).pathname
const doc = readFileSync(join(root, 'docs/configuration.md'), 'utf8')

/** The part of the page under a "## <program>" heading. */
function section (program: string): string {
  const start = doc.indexOf(`\n## ${program} `)
  assert.ok(start >= 0, `docs/configuration.md has a section for ${program}`)
  const end = doc.indexOf('\n## ', start + 1)
  return doc.slice(start, end < 0 ? undefined : end)
}

/** Runs a program's main.ts from source; resolves with its exit code and output. */
async function runProgram (program: string, args: readonly string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, `src/${program}/main.ts`), ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  // A CLI that hangs is killed by its PID, so the test fails instead of waiting forever.
  const killer = setTimeout(() => { child.kill('SIGKILL') }, 30_000)
  const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => { resolve(exitCode) }))
  clearTimeout(killer)
  return { code, stdout, stderr }
}

test('every configuration key of every program is documented in docs/configuration.md', () => {
  for (const key of SETTING_NAMES) assert.ok(section('supernode').includes(`| \`${key}\` |`), `supernode key ${key} is documented`)
  for (const key of DFGET_CONFIG_KEYS) assert.ok(section('dfget').includes(`| \`${key}\` |`), `dfget key ${key} is documented`)
  for (const key of DFDAEMON_CONFIG_KEYS) assert.ok(section('dfdaemon').includes(`| \`${key}\` |`), `dfdaemon key ${key} is documented`)
})

test('the settings tables of docs/configuration.md are generated from the programs\' tables and up to date (npm run docs:config)', () => {
  assert.equal(doc, generateConfigurationDoc(doc), 'docs/configuration.md is stale: run npm run docs:config')
  for (const program of ['supernode', 'dfget', 'dfdaemon']) assert.match(section(program), new RegExp(`<!-- settings:${program} -->\\n<!-- generated`))
})

test('each config default output reads back to the defaults', async (t) => {
  const dir = await createTmpDir('damselfly-config-')
  t.after(() => dir.close())
  const supernodeFile = join(dir.path, 'supernode.yml')
  await writeFile(supernodeFile, formatSupernodeDefaultConfig())
  assert.deepEqual(resolveSupernodeConfig(await loadConfigFile(supernodeFile)), resolveSupernodeConfig({}))
  const url = 'http://127.0.0.1:1/f.bin'
  assert.deepEqual(resolveDfgetConfig({ url, ...parseDfgetConfigText(formatDfgetDefaultConfig()) }, dir.path), resolveDfgetConfig({ url }, dir.path))
  assert.deepEqual(resolveDfdaemonConfig(parseDfdaemonConfigText(formatDfdaemonDefaultConfig())), resolveDfdaemonConfig({}))
})

test('bad configuration files fail with DF_ERR_CONFIG_INVALID naming the key and the value', async (t) => {
  const dir = await createTmpDir('damselfly-config-bad-')
  t.after(() => dir.close())
  const cases: [string, string, string][] = [
    ['port: abc\n', 'port', 'abc'],
    ['cacheMaxSize: lots\n', 'cacheMaxSize', 'lots'],
    ['gcInterval: soon\n', 'gcInterval', 'soon'],
    ['prot: 8002\n', 'prot', '8002'],
    ['logLevel: loud\n', 'logLevel', 'loud'],
  ]
  for (const [text, key, value] of cases) {
    const file = join(dir.path, `${key}.yml`)
    await writeFile(file, text)
    await assert.rejects(async () => resolveSupernodeConfig(await loadConfigFile(file)), (err: unknown) => isCode(err, 'DF_ERR_CONFIG_INVALID') && err.details?.field === key && err.message.includes(value), `supernode ${text.trim()}`)
  }
  for (const [text, key, value] of [['localLimit: fast\n', 'localLimit', 'fast'], ['nodez: [a]\n', 'nodez', 'a'], ['expireTime: later\n', 'expireTime', 'later'], ['notbs: maybe\n', 'notbs', 'maybe'], ['pattern: torrent\n', 'pattern', 'torrent'], ['port: 70000\n', 'port', '70000']] as const) {
    assert.throws(() => parseDfgetConfigText(text), (err: unknown) => isCode(err, 'DF_ERR_CONFIG_INVALID') && err.details?.field === key && err.message.includes(value), `dfget ${text.trim()}`)
  }
  assert.throws(() => parseDfgetConfigText('nodes: [\n'), (err: unknown) => isCode(err, 'DF_ERR_CONFIG_INVALID') && err.details?.field === 'config')
  assert.throws(() => parseDfdaemonConfigText('back_source: yes please\n'), (err: unknown) => isCode(err, 'DF_ERR_CONFIG_INVALID') && err.details?.field === 'back_source' && err.message.includes('yes please'))
  await assert.rejects(loadDfgetConfigFile(join(dir.path, 'missing.yml')), (err: unknown) => isCode(err, 'DF_ERR_CONFIG_INVALID') && err.details?.field === 'config')
  assert.deepEqual(await loadDfgetConfigFile(undefined, join(dir.path, 'missing.yml')), {}, 'a missing default file is no error')
})

test('dfget: the file fills what the flags leave out, and a flag wins over the file', async (t) => {
  const dir = await createTmpDir('damselfly-config-dfget-')
  t.after(() => dir.close())
  const file = join(dir.path, 'dfget.yml')
  await writeFile(file, 'nodes: [10.0.0.1:8002=2, 10.0.0.2:8002]\ntotalLimit: 10M\nexpireTime: 10m\nnotbs: true\ntimeout: 30\n')
  const fromFile = await loadDfgetConfigFile(undefined, file)
  const config = resolveDfgetConfig(mergeDfgetOptions(fromFile, { url: 'http://127.0.0.1:1/f.bin', node: undefined, totallimit: '20M', notbs: undefined }), dir.path)
  assert.deepEqual(config.supernodes.map((node) => [node.host, node.port, node.weight]), [['10.0.0.1', 8002, 2], ['10.0.0.2', 8002, 1]])
  assert.equal(config.totalLimitBytesPerSec, 20 * 1024 * 1024, 'the flag wins')
  assert.equal(config.expireTimeMs, 600_000)
  assert.equal(config.timeoutMs, 30_000, 'a bare number counts seconds, as on the command line')
  assert.equal(config.backSourceAllowed, false)
})

test('the CLIs print their defaults, and refuse a bad file with exit 2 and one line naming key and value', async (t) => {
  const dir = await createTmpDir('damselfly-config-cli-')
  t.after(() => dir.close())
  const [supernode, dfget, dfdaemon] = await Promise.all([runProgram('supernode', ['config', 'default']), runProgram('dfget', ['config', 'default']), runProgram('dfdaemon', ['config', 'default'])])
  assert.equal(supernode.code, 0, supernode.stderr)
  assert.equal(supernode.stdout, formatSupernodeDefaultConfig())
  assert.equal(dfget.code, 0, dfget.stderr)
  assert.equal(dfget.stdout, formatDfgetDefaultConfig())
  assert.equal(dfdaemon.code, 0, dfdaemon.stderr)
  assert.equal(dfdaemon.stdout, formatDfdaemonDefaultConfig())
  await writeFile(join(dir.path, 'bad.yml'), 'cdnConcurrency: many\n')
  const bad = await runProgram('supernode', ['--config', join(dir.path, 'bad.yml'), '--port', '0'])
  assert.equal(bad.code, 2)
  assert.match(bad.stderr, /cdnConcurrency.*many/)
  await writeFile(join(dir.path, 'dfget.yml'), 'totalLimit: fast\n')
  const badDfget = await runProgram('dfget', ['--config', join(dir.path, 'dfget.yml'), '-u', 'http://127.0.0.1:1/f.bin'])
  assert.equal(badDfget.code, 2)
  assert.match(badDfget.stderr, /DF_ERR_CONFIG_INVALID.*totalLimit.*fast/)
})
