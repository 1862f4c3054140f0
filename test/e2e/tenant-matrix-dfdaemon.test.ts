/**
 * The tenant matrix through dfdaemon (issue 16): two tenants with different registry
 * credentials; Debian's docker-registry once with basic auth (tenant A's account only) and
 * once with token auth (a token server we run, issuing RS256 JWTs per repository: tenant A
 * may pull `a/private`, tenant B `b/private`, anyone `public/img`); real skopeo pulls
 * through the built bin/dfdaemon and bin/supernode. Result: 0 bytes of a private layer
 * reach a client without valid credentials for its repository — refused pulls write no
 * layer, direct blob GETs through the same dfdaemon that holds the layer (without
 * credentials, with the other tenant's, with a valid token of another repository naming
 * the layer's digest) get an error and no layer bytes — and public layers still come from
 * peers.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { request } from 'undici'
import { CloseStack } from '../../src/common/lifecycle.js'
import { createTmpDir } from '../harness/tmp-dir.js'
import { startRegistry, REGISTRY_PASSWORD, REGISTRY_USER, type StartedRegistry } from '../harness/registry.js'
import { buildTestImage, pushImage, type TestImage } from '../harness/oci-image.js'
import { spawnSupernode, stopChild, stopPeerServer } from '../harness/processes.js'
import { runCommand, spawnDfdaemon, writeRegistriesConf, type StartedDfdaemon } from '../harness/dfdaemon-process.js'
import { startTokenServer } from '../harness/token-server.js'

const MiB = 1024 * 1024
const TENANT_A = { user: REGISTRY_USER, password: REGISTRY_PASSWORD }
const TENANT_B = { user: 'tenant-b', password: 'tenant-b-pass' }
const basic = (tenant: { user: string, password: string }): string => `Basic ${Buffer.from(`${tenant.user}:${tenant.password}`).toString('base64')}`

/** What a client got for a blob: the status and the body bytes that came. */
async function getBlob (daemon: StartedDfdaemon, repository: string, digest: string, authorization: string | undefined): Promise<{ status: number, body: Buffer }> {
  const response = await request(`${daemon.baseUrl}/v2/${repository}/blobs/${digest}`, { headers: authorization === undefined ? {} : { authorization } })
  return { status: response.statusCode, body: Buffer.from(await response.body.arrayBuffer()) }
}

/** Asserts that not one 4 KiB run of any private layer is in `bytes`. */
function assertNoPrivateBytes (bytes: Buffer, image: TestImage, what: string): void {
  for (const layer of image.layers) {
    for (let offset = 0; offset + 4096 <= layer.data.length; offset += 64 * 1024) {
      assert.equal(bytes.indexOf(layer.data.subarray(offset, offset + 4096)), -1, `${what}: bytes of ${layer.digest} at ${offset}`)
    }
  }
}

test('tenant matrix through dfdaemon, basic-auth and token-auth registries: private layers reach only clients with valid credentials; public layers come from peers', async (t) => {
  const stack = new CloseStack()
  t.after(() => stack.close())
  const dir = stack.push(await createTmpDir('df-tenants-dfdaemon-', true)).path

  // The token registry: tenant A pulls a/private, tenant B b/private, anyone public/img.
  const tokens = stack.push(await startTokenServer({
    dir,
    users: {
      [TENANT_A.user]: { password: TENANT_A.password, repositories: { 'a/private': ['pull'] } },
      [TENANT_B.user]: { password: TENANT_B.password, repositories: { 'b/private': ['pull'] } },
    },
    publicRepositories: ['public/img'],
  }))
  const tokenRegistry = stack.push(await startRegistry(join(dir, 'registry-token'), { token: { realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootCertBundle: tokens.rootCertBundle } }))
  const basicRegistry = stack.push(await startRegistry(join(dir, 'registry-basic'), { auth: true }))
  const images = {
    basicA: buildTestImage([8 * MiB, 1 * MiB], 31),
    tokenA: buildTestImage([2 * MiB], 32),
    tokenB: buildTestImage([2 * MiB, 1 * MiB], 33),
    public: buildTestImage([8 * MiB], 34),
  }
  await pushImage(basicRegistry.baseUrl, 'a/private', '1', images.basicA, basic(TENANT_A))
  for (const [repository, image] of [['a/private', images.tokenA], ['b/private', images.tokenB], ['public/img', images.public]] as const) {
    await pushImage(tokenRegistry.baseUrl, repository, '1', image, `Bearer ${tokens.mint('pusher', [{ type: 'repository', name: repository, actions: ['pull', 'push'] }])}`)
  }

  const sn = await spawnSupernode(join(dir, 'sn'))
  stack.defer(() => stopChild(sn.child))
  // Two hosts per registry, each a dfdaemon with its own home (hosting its peer server).
  const startHost = async (name: string, registry: StartedRegistry): Promise<StartedDfdaemon> => {
    const home = join(dir, name)
    stack.defer(() => stopPeerServer(home))
    const daemon = await spawnDfdaemon(['--registry', registry.baseUrl, '-n', sn.node, '--home', home])
    stack.defer(() => daemon.close())
    return daemon
  }
  const basic1 = await startHost('basic-1', basicRegistry)
  const basic2 = await startHost('basic-2', basicRegistry)
  const token1 = await startHost('token-1', tokenRegistry)
  const token2 = await startHost('token-2', tokenRegistry)

  /** skopeo pulls docker.io/<repository>:1 through `daemon` as `tenant` (or anonymously); the output dir's files. */
  let pulls = 0
  const pull = async (daemon: StartedDfdaemon, repository: string, tenant: { user: string, password: string } | undefined): Promise<{ code: number, output: string, files: string[], out: string }> => {
    const n = ++pulls
    const conf = await writeRegistriesConf(join(dir, `registries-${n}.conf`), daemon.host)
    const authFile = join(dir, `auth-${n}.json`)
    const auths = tenant === undefined ? {} : { [daemon.host]: { auth: Buffer.from(`${tenant.user}:${tenant.password}`).toString('base64') } }
    await writeFile(authFile, JSON.stringify({ auths }))
    const out = join(dir, `out-${n}`)
    const run = await runCommand('skopeo', ['--registries-conf', conf, 'copy', '--quiet', '--authfile', authFile, `docker://docker.io/${repository}:1`, `dir:${out}`])
    return { ...run, files: await readdir(out).catch(() => []), out }
  }
  const assertPulled = async (run: Awaited<ReturnType<typeof pull>>, image: TestImage, what: string): Promise<void> => {
    assert.equal(run.code, 0, `${what}: ${run.output}`)
    for (const layer of image.layers) assert.ok((await readFile(join(run.out, layer.digest.slice(7)))).equals(layer.data), `${what}: ${layer.digest}`)
  }
  const assertRefused = (run: Awaited<ReturnType<typeof pull>>, image: TestImage, what: string): void => {
    assert.notEqual(run.code, 0, `${what} was refused`)
    assert.match(run.output, /unauthorized|authentication required|denied/i, what)
    for (const layer of image.layers) assert.ok(!run.files.includes(layer.digest.slice(7)), `${what}: no layer written`)
  }

  // Basic auth: tenant A on two hosts, the second from peers; tenant B and anonymous refused.
  // dfdaemon streams a layer without keeping it, so pieces go host to host while two pulls overlap.
  const [a1, a2] = await Promise.all([pull(basic1, 'a/private', TENANT_A), pull(basic2, 'a/private', TENANT_A)])
  await assertPulled(a1, images.basicA, 'tenant A, basic, host 1')
  await assertPulled(a2, images.basicA, 'tenant A, basic, host 2')
  const peerBytes = async (daemon: StartedDfdaemon): Promise<number> => await daemon.metric('dragonfly_dfdaemon_p2p_bytes_total', 'from="peers"')
  assert.ok(await peerBytes(basic1) + await peerBytes(basic2) > 0, 'tenant A\'s private layers went from host to host')
  assertRefused(await pull(basic2, 'a/private', TENANT_B), images.basicA, 'tenant B, basic')
  assertRefused(await pull(basic2, 'a/private', undefined), images.basicA, 'anonymous, basic')

  // Token auth: each tenant pulls its own; the other tenant and anonymous clients are refused.
  await assertPulled(await pull(token1, 'a/private', TENANT_A), images.tokenA, 'tenant A, token')
  await assertPulled(await pull(token1, 'b/private', TENANT_B), images.tokenB, 'tenant B, token')
  assertRefused(await pull(token1, 'b/private', TENANT_A), images.tokenB, 'tenant A on B\'s image, on the host that holds it')
  assertRefused(await pull(token2, 'b/private', TENANT_A), images.tokenB, 'tenant A on B\'s image')
  assertRefused(await pull(token2, 'a/private', undefined), images.tokenA, 'anonymous on A\'s image')
  assert.ok(tokens.issued(TENANT_A.user) > 0 && tokens.issued(TENANT_B.user) > 0 && tokens.issued('') > 0, 'every kind of client went through the token server')

  // Direct blob GETs through the dfdaemons that hold the layers.
  const tokenFor = async (tenant: { user: string, password: string } | undefined, repository: string): Promise<string> => {
    const response = await request(`${tokens.realm}?service=${tokens.service}&scope=repository:${repository}:pull`, { headers: tenant === undefined ? {} : { authorization: basic(tenant) } })
    assert.equal(response.statusCode, 200)
    return `Bearer ${((await response.body.json()) as { token: string }).token}`
  }
  const tokenAForB = await tokenFor(TENANT_A, 'b/private')
  const tokenAForA = await tokenFor(TENANT_A, 'a/private')
  const anonymousForB = await tokenFor(undefined, 'b/private')
  const attempts: { what: string, daemon: StartedDfdaemon, repository: string, image: TestImage, authorization: string | undefined }[] = [
    { what: 'basic, no credentials', daemon: basic1, repository: 'a/private', image: images.basicA, authorization: undefined },
    { what: 'basic, tenant B\'s credentials', daemon: basic2, repository: 'a/private', image: images.basicA, authorization: basic(TENANT_B) },
    { what: 'token, no credentials', daemon: token1, repository: 'b/private', image: images.tokenB, authorization: undefined },
    { what: 'token, an anonymous token', daemon: token1, repository: 'b/private', image: images.tokenB, authorization: anonymousForB },
    { what: 'token, tenant A\'s token asking for B\'s repository', daemon: token1, repository: 'b/private', image: images.tokenB, authorization: tokenAForB },
    { what: 'token, tenant A\'s valid token of its own repository naming B\'s digest', daemon: token1, repository: 'a/private', image: images.tokenB, authorization: tokenAForA },
    { what: 'token, tenant B\'s Basic credentials sent to the registry', daemon: token1, repository: 'b/private', image: images.tokenB, authorization: basic(TENANT_B) },
  ]
  for (const attempt of attempts) {
    for (const layer of attempt.image.layers) {
      const got = await getBlob(attempt.daemon, attempt.repository, layer.digest, attempt.authorization)
      assert.ok([401, 403, 404].includes(got.status), `${attempt.what}: ${layer.digest} answered ${got.status}`)
      assertNoPrivateBytes(got.body, attempt.image, attempt.what)
    }
  }
  // The same requests with valid credentials are served (the refusals above are about credentials).
  const served = await getBlob(token1, 'b/private', images.tokenB.layers[0]?.digest ?? '', await tokenFor(TENANT_B, 'b/private'))
  assert.equal(served.status, 200)
  assert.ok(served.body.equals(images.tokenB.layers[0]?.data ?? Buffer.alloc(0)))

  // Public layers: anonymous on one host, tenant B on the other, at once; pieces go between them.
  const peersBefore = await peerBytes(token1) + await peerBytes(token2)
  const [publicAnonymous, publicB] = await Promise.all([pull(token1, 'public/img', undefined), pull(token2, 'public/img', TENANT_B)])
  await assertPulled(publicAnonymous, images.public, 'anonymous, public')
  await assertPulled(publicB, images.public, 'tenant B, public')
  assert.ok(await peerBytes(token1) + await peerBytes(token2) > peersBefore, 'the public layer went from host to host')

  for (const daemon of [basic1, basic2, token1, token2]) {
    const logs = daemon.logs()
    assert.ok(!logs.includes(REGISTRY_PASSWORD) && !logs.includes(TENANT_B.password) && !logs.includes(tokenAForA.slice(7)), 'no credential in a dfdaemon log')
  }
})
