import { test } from 'node:test'
import assert from 'node:assert/strict'
import { DEFAULT_DFDAEMON_PORT, mergeDfdaemonOptions, parseDfdaemonConfigText, resolveDfdaemonConfig } from './config.js'
import { RoutingRules } from './routing-rules.js'
import { parseBlobPath, resolveMirrorUpstream } from './registry-request.js'

test('a YAML file in Dragonfly 1.x key names becomes options, and flags override it', () => {
  const file = parseDfdaemonConfigText(`
port: 7000
registry_mirror: { remote: "http://reg:5000", ns_scheme: http, insecure: true }
proxies:
  - regx: blobs/sha256.*
  - regx: no-proxy
    direct: true
  - regx: old-reg
    use_https: true
    redirect: new-reg:5000
hijack_https: { cert: ca.crt, key: ca.key, hosts: [{ regx: "reg:443", insecure: true }] }
`)
  const config = resolveDfdaemonConfig(mergeDfdaemonOptions(file, { port: 0 }))
  assert.equal(config.port, 0)
  assert.equal(config.registryUrl?.href, 'http://reg:5000/')
  assert.equal(config.nsScheme, 'http')
  assert.equal(config.registryTls.insecure, true)
  assert.deepEqual(config.rules[2], { pattern: 'old-reg', useHttps: true, redirect: 'new-reg:5000' })
  assert.equal(config.hijackHosts[0]?.pattern, 'reg:443')
  assert.equal(resolveDfdaemonConfig({}).port, DEFAULT_DFDAEMON_PORT)
  assert.equal(resolveDfdaemonConfig({}).prefetch, true)
  assert.equal(resolveDfdaemonConfig(parseDfdaemonConfigText('prefetch: false\ncacert: sn-ca.pem\n')).prefetch, false)
  assert.match(resolveDfdaemonConfig(parseDfdaemonConfigText('cacert: sn-ca.pem\n')).supernodeCaCertFile ?? '', /\/sn-ca\.pem$/)
  assert.throws(() => parseDfdaemonConfigText('prefetch: sometimes\n'), { code: 'DF_ERR_CONFIG_INVALID', message: /prefetch/ })
})

test('bad values name the key: unknown keys, bad regexes, bad URLs, hijack hosts without a CA', () => {
  assert.throws(() => parseDfdaemonConfigText('prot: 1'), { code: 'DF_ERR_CONFIG_INVALID', message: /prot/ })
  assert.throws(() => resolveDfdaemonConfig({ rules: [{ pattern: '(' }] }), { code: 'DF_ERR_CONFIG_INVALID', message: /proxies\[0\]\.regx/ })
  assert.throws(() => resolveDfdaemonConfig({ registryUrl: 'ftp://x' }), { code: 'DF_ERR_CONFIG_INVALID', message: /registry/ })
  assert.throws(() => resolveDfdaemonConfig({ hijackHosts: [{ pattern: 'x' }] }), { code: 'DF_ERR_CONFIG_INVALID', message: /hijack_https/ })
  assert.throws(() => parseDfdaemonConfigText('proxies: [{ regx: a, direct: "yes" }]'), { code: 'DF_ERR_CONFIG_INVALID', message: /proxies\[0\]\.direct/ })
})

test('rules: the first match decides; no match is direct; use_https and redirect rewrite the URL', () => {
  const rules = new RoutingRules([
    { pattern: 'no-proxy', direct: true },
    { pattern: 'blobs/sha256:' },
    { pattern: 'old-reg', useHttps: true, redirect: 'new-reg:5000' },
    { pattern: 'moved', redirect: 'https://elsewhere' },
  ])
  assert.equal(rules.decide(new URL('http://r/no-proxy/blobs/sha256:1')).route, 'direct')
  assert.equal(rules.decide(new URL('http://r/v2/a/blobs/sha256:1')).route, 'swarm')
  assert.equal(rules.decide(new URL('http://r/v2/a/manifests/1')).route, 'direct')
  assert.equal(rules.decide(new URL('http://r/v2/a/manifests/1')).ruleIndex, -1)
  assert.equal(rules.decide(new URL('http://old-reg/v2/x')).url.href, 'https://new-reg:5000/v2/x')
  assert.equal(rules.decide(new URL('http://moved:81/v2/x?y=1')).url.href, 'https://elsewhere/v2/x?y=1')
})

test('blob paths and mirror upstreams: ns= wins, docker.io maps to Docker Hub, the registry scheme applies to its own host', () => {
  const hex = 'a'.repeat(64)
  assert.deepEqual(parseBlobPath(`/v2/library/busybox/blobs/sha256:${hex}`), { repository: 'library/busybox', digest: `sha256:${hex}` })
  assert.equal(parseBlobPath('/v2/x/blobs/uploads/'), undefined)
  assert.equal(parseBlobPath('/v2/x/manifests/sha256:' + hex), undefined)
  const registryUrl = new URL('http://reg:5000')
  assert.equal(resolveMirrorUpstream('/v2/a/manifests/1', { registryUrl, nsScheme: 'https' }).href, 'http://reg:5000/v2/a/manifests/1')
  assert.equal(resolveMirrorUpstream('/v2/a/manifests/1?ns=reg:5000', { registryUrl, nsScheme: 'https' }).href, 'http://reg:5000/v2/a/manifests/1')
  assert.equal(resolveMirrorUpstream('/v2/a/manifests/1?ns=other.io&x=1', { registryUrl, nsScheme: 'https' }).href, 'https://other.io/v2/a/manifests/1?x=1')
  assert.equal(resolveMirrorUpstream('/v2/a/manifests/1?ns=docker.io', { registryUrl: undefined, nsScheme: 'http' }).href, 'https://registry-1.docker.io/v2/a/manifests/1')
  assert.throws(() => resolveMirrorUpstream('/v2/?ns=a/b', { registryUrl, nsScheme: 'https' }), { code: 'DF_ERR_PROXY_BAD_REQUEST' })
})

test('DNS settings of DNS supernode entries: dns_servers and dns_refresh, with defaults, refused when bad', () => {
  const config = resolveDfdaemonConfig(parseDfdaemonConfigText('nodes: [dns+srv://_api._tcp.sn.test]\ndns_servers: [127.0.0.1:5353]\ndns_refresh: 10\n'))
  assert.deepEqual(config.nodes, ['dns+srv://_api._tcp.sn.test'])
  assert.deepEqual(config.dnsServers, ['127.0.0.1:5353'])
  assert.equal(config.dnsRefreshMs, 10_000)
  assert.deepEqual(resolveDfdaemonConfig({}).dnsServers, [])
  assert.equal(resolveDfdaemonConfig({}).dnsRefreshMs, 30_000)
  assert.throws(() => resolveDfdaemonConfig({ dnsServers: ['resolver.test'] }), (err: unknown) => err instanceof Error && err.message.startsWith('dns_servers: bad DNS server "resolver.test"'))
  assert.throws(() => resolveDfdaemonConfig({ dnsRefresh: 'often' }), (err: unknown) => err instanceof Error && err.message.startsWith('dns_refresh: must be a duration'))
  assert.throws(() => parseDfdaemonConfigText('nodes: ["dns+srv://sn.test:80"]\n'), (err: unknown) => err instanceof Error && err.message.startsWith('nodes: bad supernode'))
})
