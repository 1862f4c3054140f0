/**
 * Start-up failures of the real binaries (issue 16): a port already in use, a TLS or CA file
 * missing, a home directory that cannot be written. Each is one line on stderr naming what
 * failed and the flag (DF_ERR_CONFIG_UNUSABLE), exit status 2, no stack, nothing started.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir, writeFile, chmod } from 'node:fs/promises'
import { createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import { CloseStack } from '../../src/common/lifecycle.js'
import { createTmpDir } from '../harness/tmp-dir.js'
import { runToExit } from '../harness/processes.js'

type Program = 'supernode' | 'dfget' | 'dfdaemon'

/** A port on 127.0.0.1 held by a listener of this test until teardown. */
async function occupyPort (stack: CloseStack): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  stack.defer(() => new Promise<void>((resolve) => { server.close(() => { resolve() }) }))
  return (server.address() as AddressInfo).port
}

/**
 * A home directory the program cannot write: under a directory of mode 0555 — unless the
 * tests run as root, whom permissions do not stop; then under a regular file (ENOTDIR).
 */
async function unwritableHome (dir: string): Promise<string> {
  if (process.getuid?.() !== 0) {
    const readOnly = join(dir, 'read-only')
    await mkdir(readOnly)
    await chmod(readOnly, 0o555)
    return join(readOnly, 'home')
  }
  const file = join(dir, 'a-file')
  await writeFile(file, 'not a directory')
  return join(file, 'home')
}

async function assertOneLineFailure (program: Program, args: readonly string[], flag: string, what: RegExp): Promise<void> {
  const run = await runToExit(program, args)
  assert.equal(run.exitCode, 2, `${program} ${args.join(' ')}: exit ${run.exitCode}\n${run.stderr}`)
  assert.equal(run.stdout, '', 'nothing on stdout (no ready line)')
  assert.doesNotMatch(run.stderr, /^\s+at /m, 'no stack')
  const lines = run.stderr.split('\n').filter((line) => line !== '')
  assert.equal(lines.length, 1, `one line on stderr:\n${run.stderr}`)
  const line = lines[0] ?? ''
  assert.ok(line.startsWith(`${program}: error DF_ERR_CONFIG_UNUSABLE: `), line)
  assert.ok(line.includes(`(${flag})`), `names ${flag}: ${line}`)
  assert.match(line, what)
}

test('supernode: a port in use, a missing TLS file or an unwritable --home-dir is one line and exit 2', async (t) => {
  const stack = new CloseStack()
  t.after(() => stack.close())
  const dir = stack.push(await createTmpDir('df-start-sn-')).path
  const port = await occupyPort(stack)
  const base = ['--listen', '127.0.0.1', '--download-port', '0']
  await assertOneLineFailure('supernode', [...base, '--port', String(port), '--home-dir', join(dir, 'sn1')], '--port', new RegExp(`port ${port} is already in use`))
  await writeFile(join(dir, 'key.pem'), 'not used')
  await assertOneLineFailure('supernode', [...base, '--port', '0', '--home-dir', join(dir, 'sn2'), '--tls-cert', join(dir, 'missing.pem'), '--tls-key', join(dir, 'key.pem')], '--tls-cert', /missing\.pem.*no such file/)
  await assertOneLineFailure('supernode', [...base, '--port', '0', '--home-dir', await unwritableHome(dir)], '--home-dir', /home directory/)
})

test('dfget: an unwritable --home is one line and exit 2, for a download and for dfget server', async (t) => {
  const stack = new CloseStack()
  t.after(() => stack.close())
  const dir = stack.push(await createTmpDir('df-start-dfget-')).path
  const home = await unwritableHome(dir)
  await assertOneLineFailure('dfget', ['-u', 'http://127.0.0.1:9/f', '-o', join(dir, 'out'), '-n', '127.0.0.1:9', '--home', home], '--home', /home directory/)
  await assertOneLineFailure('dfget', ['server', '--home', home, '--ip', '127.0.0.1'], '--home', /home directory/)
  const port = await occupyPort(stack)
  await assertOneLineFailure('dfget', ['server', '--home', join(dir, 'home2'), '--ip', '127.0.0.1', '--port', String(port)], '--port', new RegExp(`port ${port} is already in use`))
})

test('dfdaemon: a port in use, a missing CA file or an unwritable --home is one line and exit 2', async (t) => {
  const stack = new CloseStack()
  t.after(() => stack.close())
  const dir = stack.push(await createTmpDir('df-start-dfdaemon-')).path
  const port = await occupyPort(stack)
  const base = ['--listen', '127.0.0.1', '-n', '127.0.0.1:9']
  await assertOneLineFailure('dfdaemon', [...base, '--port', String(port), '--home', join(dir, 'h1')], '--port', new RegExp(`port ${port} is already in use`))
  await assertOneLineFailure('dfdaemon', [...base, '--port', '0', '--home', join(dir, 'h2'), '--cacert', join(dir, 'missing-ca.pem')], '--cacert', /missing-ca\.pem.*no such file/)
  const config = join(dir, 'dfdaemon.yml')
  await writeFile(config, `hijack_https:\n  cert: ${join(dir, 'missing-ca.crt')}\n  key: ${join(dir, 'missing-ca.key')}\n  hosts:\n    - regx: example\\.com\n`)
  await assertOneLineFailure('dfdaemon', [...base, '--port', '0', '--home', join(dir, 'h3'), '--config', config], 'hijack_https.cert', /missing-ca\.crt.*no such file/)
  await assertOneLineFailure('dfdaemon', [...base, '--port', '0', '--home', await unwritableHome(dir)], '--home', /home directory/)
})
