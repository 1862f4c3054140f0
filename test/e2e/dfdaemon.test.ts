/**
 * dfdaemon as users run it: the built bin/supernode and bin/dfdaemon, Debian's
 * docker-registry, and real engines (skopeo, containerd's ctr, dockerd) pulling through it.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { access, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CloseStack } from '../../src/common/lifecycle.js'
import { createTmpDir } from '../harness/tmp-dir.js'
import { startRegistry, REGISTRY_PASSWORD, REGISTRY_USER } from '../harness/registry.js'
import { buildTestImage, pushImage } from '../harness/oci-image.js'
import { metricValue, runDfgetProcess, spawnSupernode, stopChild, stopPeerServer } from '../harness/processes.js'
import { createTestData, startOrigin } from '../harness/origin.js'
import { runCommand, spawnDfdaemon, writeHostsDir, writeRegistriesConf } from '../harness/dfdaemon-process.js'
import { startDaemonProcess } from '../harness/engines.js'
import { processCpuMs } from '../../scripts/lib/process-cpu.js'

const MiB = 1024 * 1024

test('3 dfdaemons and 3 skopeo pulls started together: all succeed, each layer leaves the registry about once, through the swarm', async (t) => {
  const cleanup = new CloseStack()
  t.after(() => cleanup.close())
  const dir = await createTmpDir('damselfly-dfdaemon-e2e-', true)
  cleanup.defer(() => dir.close())
  const registry = await startRegistry(join(dir.path, 'registry'))
  cleanup.defer(() => registry.close())
  const image = buildTestImage([5 * MiB, 20 * MiB, 50 * MiB], 3)
  await pushImage(registry.baseUrl, 'test/img', '1', image)
  const sn = await spawnSupernode(join(dir.path, 'supernode'))
  cleanup.defer(() => stopChild(sn.child))
  const homes = [0, 1, 2].map((i) => join(dir.path, `host-${i}`))
  cleanup.defer(async () => { await Promise.all(homes.map(stopPeerServer)) })
  const daemons = await Promise.all(homes.map(async (home) => await spawnDfdaemon(['--registry', registry.baseUrl, '-n', sn.node, '--home', home])))
  for (const daemon of daemons) cleanup.defer(() => daemon.close())

  const pulls = await Promise.all(daemons.map(async (daemon, i) => {
    const conf = await writeRegistriesConf(join(dir.path, `registries-${i}.conf`), daemon.host)
    return await runCommand('skopeo', ['--registries-conf', conf, 'copy', '--quiet', 'docker://docker.io/test/img:1', `dir:${join(dir.path, `out-${i}`)}`])
  }))
  for (const [i, pull] of pulls.entries()) {
    assert.equal(pull.code, 0, `skopeo ${i}: ${pull.output}\n${daemons[i]?.logs() ?? ''}`)
    for (const layer of image.layers) {
      const bytes = await readFile(join(dir.path, `out-${i}`, layer.digest.slice(7)))
      assert.ok(bytes.equals(layer.data), `pull ${i}: layer ${layer.digest} differs`)
    }
  }
  const layerBytes = image.layers.reduce((sum, l) => sum + l.data.length, 0)
  const metrics = await (await fetch(`${sn.apiUrl}/metrics`)).text()
  const cdnRead = metricValue(metrics, 'dragonfly_supernode_cdn_download_size_bytes_total')
  assert.ok(cdnRead >= layerBytes && cdnRead <= layerBytes * 1.1, `the supernode read ${cdnRead} bytes from the registry for ${layerBytes} bytes of layers`)
  let registryLayerBytes = 0
  for (const layer of image.layers) registryLayerBytes += registry.bytesServed(layer.digest)
  assert.ok(registryLayerBytes <= layerBytes * 1.1, `the registry served ${registryLayerBytes} layer bytes for ${layerBytes}`)
  let fromPeers = 0
  for (const [i, daemon] of daemons.entries()) {
    // Each dfdaemon hosts its home's peer server (no `dfget server` process was started).
    const state = JSON.parse(await readFile(join(homes[i] ?? '', 'peer-server.json'), 'utf8')) as { pid: number }
    assert.equal(state.pid, daemon.child.pid, `dfdaemon ${i} hosts the peer server of its home`)
    fromPeers += await daemon.metric('dragonfly_dfdaemon_p2p_bytes_total', 'from="peers"')
    assert.equal(await daemon.metric('dragonfly_dfdaemon_requests_total', 'blob_swarm'), image.layers.length + 1, `dfdaemon ${i} routed the layers and the config blob to the swarm`)
    assert.equal(await daemon.metric('dragonfly_dfdaemon_back_source_total'), 0, `dfdaemon ${i} fell back: ${daemon.logs()}`)
    assert.ok(await daemon.metric('dragonfly_dfdaemon_swarm_route_bytes_total', 'source="swarm"') >= layerBytes)
  }
  assert.ok(fromPeers > 0, 'the dfdaemons served each other pieces from their hosted peer servers')
})

test('a registry with basic auth: the pull through dfdaemon succeeds with the client\'s credentials and fails cleanly without them', async (t) => {
  const cleanup = new CloseStack()
  t.after(() => cleanup.close())
  const dir = await createTmpDir('damselfly-dfdaemon-auth-', true)
  cleanup.defer(() => dir.close())
  const registry = await startRegistry(join(dir.path, 'registry'), { auth: true })
  cleanup.defer(() => registry.close())
  const image = buildTestImage([2 * MiB, 3 * MiB], 4)
  await pushImage(registry.baseUrl, 'test/private', '1', image, registry.authorization)
  const sn = await spawnSupernode(join(dir.path, 'supernode'))
  cleanup.defer(() => stopChild(sn.child))
  const home = join(dir.path, 'host')
  cleanup.defer(() => stopPeerServer(home))
  const daemon = await spawnDfdaemon(['--registry', registry.baseUrl, '-n', sn.node, '--home', home])
  cleanup.defer(() => daemon.close())
  const conf = await writeRegistriesConf(join(dir.path, 'registries.conf'), daemon.host)
  const denied = await runCommand('skopeo', ['--registries-conf', conf, 'copy', '--quiet', 'docker://docker.io/test/private:1', `dir:${join(dir.path, 'denied')}`])
  assert.notEqual(denied.code, 0)
  assert.match(denied.output, /unauthorized|authentication required/i)
  // Engines look credentials up by the host they talk to: the mirror's.
  const authFile = join(dir.path, 'auth.json')
  await writeFile(authFile, JSON.stringify({ auths: { [daemon.host]: { auth: Buffer.from(`${REGISTRY_USER}:${REGISTRY_PASSWORD}`).toString('base64') } } }))
  const pull = await runCommand('skopeo', ['--registries-conf', conf, 'copy', '--quiet', '--authfile', authFile, 'docker://docker.io/test/private:1', `dir:${join(dir.path, 'out')}`])
  assert.equal(pull.code, 0, pull.output)
  for (const layer of image.layers) assert.ok((await readFile(join(dir.path, 'out', layer.digest.slice(7)))).equals(layer.data))
  assert.equal(await daemon.metric('dragonfly_dfdaemon_back_source_total'), 0, daemon.logs())
  assert.ok(!daemon.logs().includes(REGISTRY_PASSWORD) && !daemon.logs().includes(registry.authorization.slice(6)), 'credentials in the log')
  // The manifest passing through made dfdaemon ask the supernode to preheat the image, with
  // the client's credentials: it read the private manifest and every blob.
  const preheats = await waitFor(async () => {
    const list = (await (await fetch(`${sn.apiUrl}/api/v1/preheats`)).json()) as { preheats: { type: string, url: string, status: string, tasks: unknown[] }[] }
    const done = list.preheats.filter((p) => p.type === 'image' && p.url.endsWith('/v2/test/private/manifests/1') && p.status !== 'running' && p.status !== 'waiting')
    return done.length > 0 ? done : undefined
  })
  assert.deepEqual(preheats.map((p) => ({ status: p.status, tasks: p.tasks.length })), [{ status: 'success', tasks: image.layers.length + 1 }])
})

/** Polls `probe` every 50 ms until it gives a value (10 s at most). */
async function waitFor<T> (probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 10_000
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error('timed out waiting')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

test('ctr images pull through a hosts.toml mirror (upstream named by ns=) and docker pull through registry-mirrors both go through dfdaemon', async (t) => {
  const cleanup = new CloseStack()
  t.after(() => cleanup.close())
  const dir = await createTmpDir('damselfly-dfdaemon-engines-')
  cleanup.defer(() => dir.close())
  const registry = await startRegistry(join(dir.path, 'registry'))
  cleanup.defer(() => registry.close())
  const image = buildTestImage([3 * MiB, 4 * MiB], 5)
  await pushImage(registry.baseUrl, 'test/img', '1', image)
  const sn = await spawnSupernode(join(dir.path, 'supernode'))
  cleanup.defer(() => stopChild(sn.child))
  const home = join(dir.path, 'host')
  cleanup.defer(() => stopPeerServer(home))
  await writeFile(join(dir.path, 'dfdaemon.yaml'), 'registry_mirror: { ns_scheme: http }\n')
  const daemon = await spawnDfdaemon(['--config', join(dir.path, 'dfdaemon.yaml'), '-n', sn.node, '--home', home])
  cleanup.defer(() => daemon.close())

  // containerd with a private root, state and socket; it sends ns=<registry> to the mirror.
  const ctrd = join(dir.path, 'containerd')
  await writeFile(join(dir.path, 'containerd.toml'), `version = 2\nroot = "${ctrd}/root"\nstate = "${ctrd}/state"\n[grpc]\n  address = "${ctrd}/containerd.sock"\n`)
  const containerd = await startDaemonProcess('containerd', ['--config', join(dir.path, 'containerd.toml')], join(ctrd, 'containerd.sock'))
  cleanup.defer(() => containerd.close())
  const hostsDir = await writeHostsDir(join(dir.path, 'certs.d'), registry.host, daemon.baseUrl)
  const ctr = await runCommand('ctr', ['-a', join(ctrd, 'containerd.sock'), 'images', 'pull', '--hosts-dir', hostsDir, `${registry.host}/test/img:1`])
  assert.equal(ctr.code, 0, `${ctr.output}\n${daemon.logs()}`)
  const afterCtr = await daemon.metric('dragonfly_dfdaemon_requests_total', 'blob_swarm')
  assert.ok(afterCtr >= image.layers.length, `ctr: ${afterCtr} blobs through the swarm`)

  // dockerd with everything under the temp dir, no iptables or bridge; mirrors apply to docker.io
  // names and send no ns=, so this mirror is a dfdaemon with --registry.
  const mirror = await spawnDfdaemon(['--registry', registry.baseUrl, '-n', sn.node, '--home', home])
  cleanup.defer(() => mirror.close())
  const docker = join(dir.path, 'docker')
  await writeFile(join(dir.path, 'daemon.json'), JSON.stringify({
    'data-root': `${docker}/data`, 'exec-root': `${docker}/exec`, pidfile: `${docker}/dockerd.pid`, hosts: [`unix://${docker}/docker.sock`],
    iptables: false, ip6tables: false, bridge: 'none', 'registry-mirrors': [mirror.baseUrl], 'insecure-registries': [mirror.host],
  }))
  const dockerd = await startDaemonProcess('dockerd', ['--config-file', join(dir.path, 'daemon.json')], join(docker, 'docker.sock'), docker)
  cleanup.defer(() => dockerd.close())
  const pull = await runCommand('docker', ['pull', 'test/img:1'], { ...process.env, DOCKER_HOST: `unix://${docker}/docker.sock` })
  assert.equal(pull.code, 0, `${pull.output}\n${mirror.logs()}`)
  assert.ok(await mirror.metric('dragonfly_dfdaemon_requests_total', 'blob_swarm') >= image.layers.length, mirror.logs())
})

test('dfdaemon hosts its home\'s peer server and agent: a dfget of the same host hands its download to dfdaemon\'s process, and both stop with dfdaemon', async (t) => {
  const cleanup = new CloseStack()
  t.after(() => cleanup.close())
  const dir = await createTmpDir('damselfly-dfdaemon-host-', true)
  cleanup.defer(() => dir.close())
  const data = createTestData(3 * MiB + 5, 8)
  const origin = cleanup.push(await startOrigin({ files: { '/f.bin': { data } } }))
  const sn = await spawnSupernode(join(dir.path, 'supernode'))
  cleanup.defer(() => stopChild(sn.child))
  const home = join(dir.path, 'host')
  cleanup.defer(() => stopPeerServer(home))
  const daemon = await spawnDfdaemon(['-n', sn.node, '--home', home])
  cleanup.defer(() => daemon.close())
  const statePath = join(home, 'peer-server.json')
  const hosted = JSON.parse(await readFile(statePath, 'utf8')) as { pid: number, port: number }
  assert.equal(hosted.pid, daemon.child.pid, 'dfdaemon started its home\'s peer server at start-up')

  assert.ok((await stat(join(home, 'agent.sock'))).isSocket(), 'dfdaemon listens as the home\'s agent')
  const cpuBefore = await processCpuMs(daemon.child.pid ?? 0)
  const run = await runDfgetProcess(['-u', origin.url('/f.bin'), '-o', join(dir.path, 'f.bin'), '--home', home, '-n', sn.node, '--verbose'])
  assert.equal(run.exitCode, 0, run.stderr)
  assert.ok((await readFile(join(dir.path, 'f.bin'))).equals(data))
  // The run's log lines (relayed to --verbose's stderr) were written by dfdaemon's process.
  assert.match(run.stderr, new RegExp(`"pid":${daemon.child.pid ?? 0},[^\n]*"msg":"task registered"`), 'dfdaemon\'s process registered the task')
  assert.deepEqual(JSON.parse(await readFile(statePath, 'utf8')), hosted, 'the dfget used the server dfdaemon hosts instead of starting one')
  assert.ok(await processCpuMs(daemon.child.pid ?? 0) - cpuBefore >= 10, 'dfdaemon\'s process ran the download')
  // The file dfget registered is served by dfdaemon's process.
  const status = await (await fetch(`http://127.0.0.1:${hosted.port}/_ping`)).json() as { pid: number, uploads: number }
  assert.deepEqual({ pid: status.pid, uploads: status.uploads }, { pid: daemon.child.pid, uploads: 1 })

  await daemon.close()
  await assert.rejects(access(statePath), 'the state file goes with dfdaemon')
  await assert.rejects(access(join(home, 'agent.sock')), 'so does the agent\'s socket')
})
