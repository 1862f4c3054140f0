import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type AddressInfo } from 'node:net'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { DfError, isCode } from '../protocol/errors.js'
import { createTmpDir } from '../../test/harness/tmp-dir.js'
import { checkStartupResources, describeStartupFailure, type StartupResource } from './start-up-failure.js'

async function failureOf (action: () => Promise<unknown>): Promise<unknown> {
  try {
    await action()
  } catch (err) {
    return err
  }
  assert.fail('expected a failure')
}

test('a port in use names the port and its flag', async (t) => {
  const held = createServer()
  await new Promise<void>((resolve) => held.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise<void>((resolve) => { held.close(() => { resolve() }) }))
  const port = (held.address() as AddressInfo).port
  const second = createServer()
  const err = await failureOf(async () => { await new Promise<void>((resolve, reject) => { second.once('error', reject).listen(port, '127.0.0.1', resolve) }) })
  const resources: StartupResource[] = [{ kind: 'port', flag: '--port', port: 1 }, { kind: 'port', flag: '--download-port', port }]
  const described = describeStartupFailure(err, resources)
  assert.ok(isCode(described, 'DF_ERR_CONFIG_UNUSABLE'))
  assert.equal(described.message, `port ${port} is already in use (--download-port)`)
  assert.equal(described.details?.errno, 'EADDRINUSE')
})

test('a home under a file and a missing file name the resource, also through a wrapping DfError; other errors pass unchanged', async (t) => {
  const dir = await createTmpDir('df-startup-')
  t.after(() => dir.close())
  const file = join(dir.path, 'file')
  await writeFile(file, 'x')
  const resources: StartupResource[] = [
    { kind: 'directory', flag: '--home', path: join(file, 'home'), what: 'home directory' },
    { kind: 'file', flag: '--cacert', path: join(dir.path, 'missing.pem'), what: 'CA certificate' },
  ]
  const home = describeStartupFailure(await failureOf(async () => { await checkStartupResources(resources.slice(0, 1)) }), resources)
  assert.ok(isCode(home, 'DF_ERR_CONFIG_UNUSABLE'))
  assert.equal(home.message, `cannot use the home directory ${join(file, 'home')} (--home): a part of the path is not a directory`)
  const missing = await failureOf(async () => { await checkStartupResources(resources.slice(1)) })
  const wrapped = new DfError('DF_ERR_CONFIG_INVALID', 'cacert: cannot read', { cause: missing })
  const ca = describeStartupFailure(wrapped, resources)
  assert.ok(isCode(ca, 'DF_ERR_CONFIG_UNUSABLE'))
  assert.match(ca.message, /^cannot read the CA certificate \S+missing\.pem \(--cacert\): no such file or directory$/)
  const unrelated = new Error('something else')
  assert.equal(describeStartupFailure(unrelated, resources), unrelated)
  const elsewhere = Object.assign(new Error('ENOENT'), { code: 'ENOENT', syscall: 'open', path: '/somewhere/else' })
  assert.equal(describeStartupFailure(elsewhere, resources), elsewhere)
})
