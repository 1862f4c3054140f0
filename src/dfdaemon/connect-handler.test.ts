import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { createServer as createHttpsServer } from 'node:https'
import { connect as netConnect, type AddressInfo } from 'node:net'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ProxyAgent, request as undiciRequest } from 'undici'
import { createSilentLogger } from '../common/log.js'
import { createTmpDir } from '../../test/harness/tmp-dir.js'
import { createTestData, sha256Hex } from '../../test/harness/origin.js'
import { parseConnectTarget } from './connect-handler.js'
import { SourceP2pFetcher } from '../../test/harness/source-p2p-fetcher.js'
import { CertificateAuthority, generateCertificateAuthority } from './certificate-authority.js'
import { resolveDfdaemonConfig, type DfdaemonOptions } from './config.js'
import { Dfdaemon } from './dfdaemon.js'

const data = createTestData(3 * 1024 * 1024 + 11, 9)
const digest = `sha256:${sha256Hex(data)}`

/** An HTTPS "registry" on 127.0.0.1 with a certificate from its own CA. */
async function startHttpsRegistry (t: TestContext): Promise<{ port: number, caPem: string }> {
  const originCa = new CertificateAuthority(generateCertificateAuthority({ commonName: 'origin CA' }))
  const leaf = originCa.issueLeafCertificate('127.0.0.1')
  const server = createHttpsServer({ cert: leaf.certPem, key: leaf.keyPem }, (req, res) => {
    if (req.url !== `/v2/r/blobs/${digest}`) { res.writeHead(404).end(); return }
    res.writeHead(200, { 'content-length': data.length, 'content-type': 'application/octet-stream' })
    res.end(req.method === 'HEAD' ? undefined : data)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => { resolve() }) }))
  return { port: (server.address() as AddressInfo).port, caPem: originCa.certPem }
}

async function startDfdaemon (t: TestContext, options: DfdaemonOptions): Promise<{ dfdaemon: Dfdaemon, fetcher: SourceP2pFetcher }> {
  const home = await createTmpDir('dfdaemon-connect-')
  t.after(() => home.close())
  const fetcher = new SourceP2pFetcher()
  const dfdaemon = new Dfdaemon({ logger: createSilentLogger(), createFetcher: () => fetcher }, resolveDfdaemonConfig({ port: 0, homeDir: home.path, ...options }))
  await dfdaemon.start()
  t.after(() => dfdaemon.close())
  return { dfdaemon, fetcher }
}

test('CONNECT is tunnelled by default: the client talks TLS with the origin itself', async (t) => {
  const origin = await startHttpsRegistry(t)
  const { dfdaemon, fetcher } = await startDfdaemon(t, {})
  const agent = new ProxyAgent({ uri: dfdaemon.baseUrl, requestTls: { ca: origin.caPem } })
  t.after(() => agent.close())
  const response = await undiciRequest(`https://127.0.0.1:${origin.port}/v2/r/blobs/${digest}`, { dispatcher: agent })
  assert.equal(sha256Hex(Buffer.from(await response.body.arrayBuffer())), sha256Hex(data))
  assert.equal(fetcher.requests.length, 0, 'a tunnel never reaches the swarm')
})

test('CONNECT to a hijack host is intercepted with a certificate from the configured CA, and its blobs go through the swarm', async (t) => {
  const origin = await startHttpsRegistry(t)
  const dir = await createTmpDir('dfdaemon-ca-')
  t.after(() => dir.close())
  const ca = generateCertificateAuthority()
  await writeFile(join(dir.path, 'ca.crt'), ca.certPem)
  await writeFile(join(dir.path, 'ca.key'), ca.keyPem)
  await writeFile(join(dir.path, 'origin-ca.crt'), origin.caPem)
  const { dfdaemon, fetcher } = await startDfdaemon(t, {
    caCertFile: join(dir.path, 'ca.crt'),
    caKeyFile: join(dir.path, 'ca.key'),
    hijackHosts: [{ pattern: `^127\\.0\\.0\\.1:${origin.port}$`, certFiles: [join(dir.path, 'origin-ca.crt')] }],
  })
  const agent = new ProxyAgent({ uri: dfdaemon.baseUrl, requestTls: { ca: ca.certPem } })
  t.after(() => agent.close())
  const response = await undiciRequest(`https://127.0.0.1:${origin.port}/v2/r/blobs/${digest}`, { dispatcher: agent })
  assert.equal(response.statusCode, 200)
  assert.equal(sha256Hex(Buffer.from(await response.body.arrayBuffer())), sha256Hex(data))
  assert.equal(fetcher.requests.length, 1)
  assert.equal(fetcher.requests[0]?.url, `https://127.0.0.1:${origin.port}/v2/r/blobs/${digest}`)
  assert.equal(fetcher.requests[0]?.digest, digest)
  // The client trusts only the configured CA, so the handshake itself proves the interception.
})

test('CONNECT to a closed port answers 502 DF_ERR_PROXY_TUNNEL_FAILED', async (t) => {
  const { dfdaemon } = await startDfdaemon(t, {})
  const closed = await new Promise<number>((resolve) => {
    const probe = netConnect({ port: 1, host: '127.0.0.1' })
    probe.on('error', () => { resolve(1) })
  })
  const url = new URL(dfdaemon.baseUrl)
  const socket = netConnect({ host: url.hostname, port: Number(url.port) })
  t.after(() => { socket.destroy() })
  socket.write(`CONNECT 127.0.0.1:${closed} HTTP/1.1\r\nHost: 127.0.0.1:${closed}\r\n\r\n`)
  let text = ''
  for await (const chunk of socket) text += (chunk as Buffer).toString()
  assert.match(text, /^HTTP\/1\.1 502 /)
  assert.match(text, /DF_ERR_PROXY_TUNNEL_FAILED/)
})

test('a CA key that does not belong to the certificate is refused with DF_ERR_CONFIG_INVALID', () => {
  const a = generateCertificateAuthority()
  const b = generateCertificateAuthority()
  assert.throws(() => new CertificateAuthority({ certPem: a.certPem, keyPem: b.keyPem }), { code: 'DF_ERR_CONFIG_INVALID' })
})

test('CONNECT targets are host:port, default ports included; anything else is not one', () => {
  assert.deepEqual(parseConnectTarget('registry.example:443'), { hostname: 'registry.example', port: '443', host: 'registry.example:443' })
  assert.deepEqual(parseConnectTarget('registry.example:80'), { hostname: 'registry.example', port: '80', host: 'registry.example:80' }, 'the URL API would drop this port')
  assert.deepEqual(parseConnectTarget('[::1]:8443'), { hostname: '[::1]', port: '8443', host: '[::1]:8443' })
  for (const bad of ['registry.example', 'registry.example:0', 'registry.example:65536', 'user@host:443', 'host:443/path', 'http://host:443', ':443', 'host:']) {
    assert.equal(parseConnectTarget(bad), undefined, bad)
  }
})
