/**
 * The shared token and TLS with the real binaries (issue 5): a supernode with a token (from
 * its config file) and an HTTPS API; dfgets with `--token` and `--cacert` reaching it at
 * `https://…`, their peer servers requiring the token on piece requests; a dfget without the
 * token refused with DF_ERR_ARG_UNAUTHORIZED; the token in no log.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { request } from 'undici'
import { CloseStack } from '../../src/common/lifecycle.js'
import { createTestData, sha256Hex, startOrigin } from '../harness/origin.js'
import { createTmpDir } from '../harness/tmp-dir.js'
import { parseSummary, runDfgetProcess, spawnSupernode, stopChild, stopPeerServer } from '../harness/processes.js'
import { startRegistry } from '../harness/registry.js'
import { buildTestImage, pushImage } from '../harness/oci-image.js'
import { runCommand, spawnDfdaemon, writeRegistriesConf } from '../harness/dfdaemon-process.js'

const TOKEN = 'tok-7f3a9c2e51d8'

/** A supernode with the token (from its config file) and an HTTPS API on a self-signed certificate for 127.0.0.1 (`cert`). */
async function spawnTlsSupernode (dir: string): Promise<{ sn: Awaited<ReturnType<typeof spawnSupernode>>, cert: string }> {
  const cert = join(dir, 'sn.crt')
  const key = join(dir, 'sn.key')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' })
  await writeFile(join(dir, 'supernode.yaml'), `token: ${TOKEN}\ntlsCert: ${cert}\ntlsKey: ${key}\n`)
  return { sn: await spawnSupernode(join(dir, 'sn'), ['--config', join(dir, 'supernode.yaml')]), cert }
}

test('a token-protected HTTPS supernode serves dfgets that carry the token and the CA, refuses one without, and no log holds the token', async (t) => {
  const stack = new CloseStack()
  t.after(() => stack.close())
  const data = createTestData(4 * 1024 * 1024, 91)
  const origin = stack.push(await startOrigin({ files: { '/f.bin': { data } } }))
  const dir = stack.push(await createTmpDir('df-tls-')).path
  const { sn, cert } = await spawnTlsSupernode(dir)
  let snLog = ''
  sn.child.stderr?.on('data', (chunk: Buffer) => { snLog += chunk.toString() })
  stack.defer(() => stopChild(sn.child))
  assert.match(sn.apiUrl, /^https:\/\//)
  const node = sn.apiUrl
  const homes = ['a', 'b', 'c'].map((name) => join(dir, name))
  stack.defer(async () => { await Promise.all(homes.map(stopPeerServer)) })

  for (const [i, home] of homes.slice(0, 2).entries()) {
    const run = await runDfgetProcess(['-u', origin.url('/f.bin'), '-o', join(dir, `out-${i}`), '-n', node, '--cacert', cert, '--token', TOKEN, '--home', home, '--notbs'])
    assert.equal(run.exitCode, 0, run.stderr)
    assert.equal(sha256Hex(await readFile(join(dir, `out-${i}`))), sha256Hex(data))
    if (i === 1) assert.ok((parseSummary(run.stderr)?.peers ?? 0) > 0, `the second host got pieces from the first one's peer server: ${run.stderr}`)
  }

  const refused = await runDfgetProcess(['-u', origin.url('/f.bin'), '-o', join(dir, 'out-x'), '-n', node, '--cacert', cert, '--home', homes[2] ?? '', '--notbs'])
  assert.notEqual(refused.exitCode, 0)
  assert.match(refused.stderr, /DF_ERR_ARG_UNAUTHORIZED/)

  const untrusted = await runDfgetProcess(['-u', origin.url('/f.bin'), '-o', join(dir, 'out-y'), '-n', node, '--token', TOKEN, '--home', homes[2] ?? '', '--notbs'])
  assert.notEqual(untrusted.exitCode, 0, 'a supernode certificate from an unknown CA is not trusted')

  const { port } = JSON.parse(await readFile(join(homes[0] ?? '', 'peer-server.json'), 'utf8')) as { port: number }
  const name = (await readdir(join(homes[0] ?? '', 'data')))[0] ?? ''
  const pieceUrl = `http://127.0.0.1:${port}/peer/tasks/${name.slice(0, 64)}/data?cid=${name.slice(65)}`
  const without = await request(pieceUrl, { headers: { range: 'bytes=0-9' } })
  assert.equal(without.statusCode, 401)
  assert.equal(((await without.body.json()) as { code?: string }).code, 'DF_ERR_ARG_UNAUTHORIZED')
  const withToken = await request(pieceUrl, { headers: { range: 'bytes=0-9', authorization: `Bearer ${TOKEN}` } })
  assert.equal(withToken.statusCode, 206)
  assert.deepEqual(Buffer.from(await withToken.body.arrayBuffer()), data.subarray(0, 10))

  const logs = [snLog]
  for (const home of homes) {
    for (const file of await readdir(join(home, 'logs')).catch(() => [])) logs.push(await readFile(join(home, 'logs', file), 'utf8'))
  }
  assert.ok(!logs.join('\n').includes(TOKEN), 'the token appears in a log')
})

test('dfdaemon with --token and --cacert pulls layers through a token-protected HTTPS supernode, and without the CA it falls back to the registry', async (t) => {
  const stack = new CloseStack()
  t.after(() => stack.close())
  const dir = stack.push(await createTmpDir('df-tls-dfdaemon-')).path
  const { sn, cert } = await spawnTlsSupernode(dir)
  stack.defer(() => stopChild(sn.child))
  const registry = await startRegistry(join(dir, 'registry'))
  stack.defer(() => registry.close())
  const image = buildTestImage([3 * 1024 * 1024], 92)
  await pushImage(registry.baseUrl, 'tls/img', '1', image)

  const pull = async (name: string, extra: readonly string[]): Promise<{ fellBack: number, fromSource: number, fromSupernode: number, logs: string }> => {
    const home = join(dir, `home-${name}`)
    stack.defer(() => stopPeerServer(home))
    const daemon = await spawnDfdaemon(['--registry', registry.baseUrl, '-n', sn.apiUrl, '--token', TOKEN, '--home', home, ...extra])
    try {
      const conf = await writeRegistriesConf(join(dir, `registries-${name}.conf`), daemon.host)
      const run = await runCommand('skopeo', ['--registries-conf', conf, 'copy', '--quiet', 'docker://docker.io/tls/img:1', `dir:${join(dir, `out-${name}`)}`])
      assert.equal(run.code, 0, `${run.output}\n${daemon.logs()}`)
      assert.ok((await readFile(join(dir, `out-${name}`, image.layers[0]?.digest.slice(7) ?? ''))).equals(image.layers[0]?.data ?? Buffer.alloc(0)))
      return {
        fellBack: await daemon.metric('dragonfly_dfdaemon_back_source_total'),
        fromSource: await daemon.metric('dragonfly_dfdaemon_p2p_bytes_total', 'from="source"'),
        fromSupernode: await daemon.metric('dragonfly_dfdaemon_p2p_bytes_total', 'from="supernode"'),
        logs: daemon.logs(),
      }
    } finally {
      await daemon.close()
    }
  }
  const trusted = await pull('trusted', ['--cacert', cert])
  const layerBytes = image.layers[0]?.data.length ?? 1
  assert.deepEqual({ fellBack: trusted.fellBack, fromSource: trusted.fromSource }, { fellBack: 0, fromSource: 0 }, trusted.logs)
  assert.ok(trusted.fromSupernode >= layerBytes, 'the layer came through the supernode')
  const untrusted = await pull('untrusted', [])
  assert.ok(untrusted.fromSupernode === 0 && untrusted.fromSource + untrusted.fellBack > 0, `a supernode certificate from an unknown CA is not trusted: the layer came from the registry (${JSON.stringify(untrusted)})`)
  assert.ok(!`${trusted.logs}${untrusted.logs}`.includes(TOKEN), 'the token appears in a dfdaemon log')
})
