import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createTmpDir } from '../../test/harness/tmp-dir.js'
import { SupernodeClient } from './client.js'

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url))

function startMain (args: readonly string[]): { child: ReturnType<typeof spawn>, stdout: () => string, stderr: () => string, exit: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { err += chunk.toString() })
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => { resolve(code) }))
  return { child, stdout: () => out, stderr: () => err, exit }
}

test('a bad flag prints one line on stderr and exits 2', async () => {
  const run = startMain(['--no-such-flag'])
  assert.equal(await run.exit, 2)
  assert.equal(run.stderr().trim().split('\n').filter((line) => !line.includes('Deprecation') && !line.includes('trace-warnings')).length, 1)
  assert.match(run.stderr(), /unknown option/)
  const bad = startMain(['--port', 'eighty'])
  assert.equal(await bad.exit, 2)
  assert.match(bad.stderr(), /port/)
})

test('the supernode prints its ready line, answers, and exits 0 on SIGTERM', async (t) => {
  const home = await createTmpDir()
  t.after(() => home.close())
  const run = startMain(['--port', '0', '--download-port', '0', '--listen', '127.0.0.1', '--home-dir', home.path, '--log-level', 'warn'])
  t.after(() => { if (run.child.exitCode === null) run.child.kill('SIGKILL') })
  const deadline = Date.now() + 20_000
  let match: RegExpExecArray | null = null
  while (match === null) {
    assert.ok(Date.now() < deadline && run.child.exitCode === null, `no ready line: ${run.stderr()}`)
    match = /^supernode ready api=(http:\/\/127\.0\.0\.1:\d+) download=(http:\/\/127\.0\.0\.1:\d+)\n$/.exec(run.stdout())
    if (match === null) await new Promise<void>((resolve) => { run.child.stdout?.once('data', () => { resolve() }); setTimeout(resolve, 100) })
  }
  const client = new SupernodeClient({ baseUrl: match[1] ?? '' })
  t.after(() => client.close())
  await client.ping()
  run.child.kill('SIGTERM')
  assert.equal(await run.exit, 0)
})
