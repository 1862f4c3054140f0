/**
 * dfdaemon as an HTTPS forward proxy for a real engine: skopeo pulls from an HTTPS registry
 * with HTTPS_PROXY pointing at dfdaemon, which intercepts the CONNECT (hijack_https) with a
 * certificate from its own CA, and the layers come through the swarm (a real supernode,
 * whose CDN reads them from the registry over TLS).
 *
 * Go never proxies loopback addresses or "localhost", so the registry is named
 * registry.damselfly.test. skopeo does not resolve it (it sends `CONNECT name:port`);
 * dfdaemon and the supernode do, each in a private mount namespace whose /etc/hosts is a
 * file of this test (privateHostsFile). The machine's /etc/hosts is never touched.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CloseStack } from '../../src/common/lifecycle.js'
import { CertificateAuthority, generateCertificateAuthority } from '../../src/dfdaemon/certificate-authority.js'
import { createTmpDir } from '../harness/tmp-dir.js'
import { startRegistry } from '../harness/registry.js'
import { buildTestImage, pushImage } from '../harness/oci-image.js'
import { metricValue, privateHostsFile, spawnSupernode, stopChild, stopPeerServer } from '../harness/processes.js'
import { runCommand, spawnDfdaemon } from '../harness/dfdaemon-process.js'

const MiB = 1024 * 1024
const REGISTRY_NAME = 'registry.damselfly.test'

test('skopeo through dfdaemon as HTTPS_PROXY: the CONNECT to an HTTPS registry is intercepted with dfdaemon\'s CA and the layers come through the swarm', async (t) => {
  const cleanup = new CloseStack()
  t.after(() => cleanup.close())
  const dir = await createTmpDir('damselfly-dfdaemon-hijack-', true)
  cleanup.defer(() => dir.close())
  const file = (name: string): string => join(dir.path, name)

  // The registry's certificate, from a private CA only dfdaemon and the supernode trust.
  const registryCa = generateCertificateAuthority({ commonName: 'Damselfly test registry CA' })
  const registryLeaf = new CertificateAuthority(registryCa).issueLeafCertificate(REGISTRY_NAME)
  await writeFile(file('registry-ca.crt'), registryCa.certPem)
  await writeFile(file('registry.crt'), registryLeaf.certPem)
  await writeFile(file('registry.key'), registryLeaf.keyPem)
  // dfdaemon's interception CA: the only CA skopeo is given (besides the system's).
  const dfdaemonCa = generateCertificateAuthority()
  await writeFile(file('dfdaemon-ca.crt'), dfdaemonCa.certPem)
  await writeFile(file('dfdaemon-ca.key'), dfdaemonCa.keyPem)
  await mkdir(file('skopeo-certs'))
  await writeFile(join(file('skopeo-certs'), 'ca.crt'), dfdaemonCa.certPem)
  // The machine's hosts file plus the registry's name, for the private mount namespaces.
  const hostsFile = file('hosts')
  await writeFile(hostsFile, `${(await readFile('/etc/hosts', 'utf8')).trimEnd()}\n127.0.0.1 ${REGISTRY_NAME}\n`)
  const wrap = privateHostsFile(hostsFile)

  // Push over plain HTTP, then serve the same storage over TLS.
  const image = buildTestImage([3 * MiB, 5 * MiB], 7)
  const plain = await startRegistry(file('registry'))
  cleanup.defer(() => plain.close())
  await pushImage(plain.baseUrl, 'test/img', '1', image)
  await plain.close()
  const registry = await startRegistry(file('registry'), { tls: { certificate: file('registry.crt'), key: file('registry.key'), hostname: REGISTRY_NAME } })
  cleanup.defer(() => registry.close())

  const sn = await spawnSupernode(file('supernode'), [], '127.0.0.1', { wrap, env: { ...process.env, NODE_EXTRA_CA_CERTS: file('registry-ca.crt') } })
  cleanup.defer(() => stopChild(sn.child))
  const home = file('host')
  cleanup.defer(() => stopPeerServer(home))
  const port = new URL(registry.baseUrl).port
  await writeFile(file('dfdaemon.yaml'), [
    'hijack_https:',
    `  cert: ${JSON.stringify(file('dfdaemon-ca.crt'))}`,
    `  key: ${JSON.stringify(file('dfdaemon-ca.key'))}`,
    '  hosts:',
    // Matched against the CONNECT's "host:port".
    `    - regx: ${JSON.stringify(`^${REGISTRY_NAME.replaceAll('.', '\\.')}:${port}$`)}`,
    `      certs: [${JSON.stringify(file('registry-ca.crt'))}]`,
    '',
  ].join('\n'))
  const daemon = await spawnDfdaemon(['-n', sn.node, '--home', home, '--config', file('dfdaemon.yaml')], { wrap })
  cleanup.defer(() => daemon.close())
  // unshare and sh exec'd: the PID teardown signals is dfdaemon's own (it hosts the peer server).
  const hosted = JSON.parse(await readFile(join(home, 'peer-server.json'), 'utf8')) as { pid: number }
  assert.equal(hosted.pid, daemon.child.pid)

  await writeFile(file('registries.conf'), '')
  await mkdir(file('skopeo-home'))
  // Only what skopeo needs: no proxy setting of this process leaks in.
  const env = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: file('skopeo-home'), HTTPS_PROXY: daemon.baseUrl, NO_PROXY: '' }
  const pull = await runCommand('skopeo', [
    '--registries-conf', file('registries.conf'), 'copy', '--quiet', '--src-cert-dir', file('skopeo-certs'),
    `docker://${registry.host}/test/img:1`, `dir:${file('out')}`,
  ], env)
  assert.equal(pull.code, 0, `skopeo: ${pull.output}\n${daemon.logs()}`)
  for (const layer of image.layers) {
    const bytes = await readFile(join(file('out'), layer.digest.slice(7)))
    assert.ok(bytes.equals(layer.data), `layer ${layer.digest} differs`)
  }

  const layerBytes = image.layers.reduce((sum, l) => sum + l.data.length, 0)
  assert.ok(await daemon.metric('dragonfly_dfdaemon_requests_total', 'kind="connect_hijack"') >= 1, `no CONNECT was intercepted: ${daemon.logs()}`)
  assert.equal(await daemon.metric('dragonfly_dfdaemon_requests_total', 'kind="connect_tunnel"'), 0, 'a CONNECT was tunnelled')
  assert.ok(await daemon.metric('dragonfly_dfdaemon_requests_total', 'kind="blob_swarm"') >= image.layers.length, 'the layers were not routed to the swarm')
  assert.equal(await daemon.metric('dragonfly_dfdaemon_back_source_total'), 0, `dfdaemon fell back to the registry: ${daemon.logs()}`)
  const fromSupernode = await daemon.metric('dragonfly_dfdaemon_p2p_bytes_total', 'from="supernode"')
  assert.ok(fromSupernode >= layerBytes, `${fromSupernode} bytes from the supernode for ${layerBytes} bytes of layers`)
  assert.equal(await daemon.metric('dragonfly_dfdaemon_p2p_bytes_total', 'from="source"'), 0, 'the swarm download went to the registry itself')
  const cdnRead = metricValue(await (await fetch(`${sn.apiUrl}/metrics`)).text(), 'dragonfly_supernode_cdn_download_size_bytes_total')
  assert.ok(cdnRead >= layerBytes, `the supernode read ${cdnRead} bytes from the registry for ${layerBytes} bytes of layers`)
  let registryLayerBytes = 0
  for (const layer of image.layers) registryLayerBytes += registry.bytesServed(layer.digest)
  assert.ok(registryLayerBytes >= layerBytes && registryLayerBytes <= layerBytes * 1.1, `the registry served ${registryLayerBytes} layer bytes for ${layerBytes}`)
})
