/**
 * dfdaemon's settings table: each setting once, with its YAML key (Dragonfly 1.x names,
 * snake_case; dotted keys sit in a mapping: `registry_mirror.remote`), its flag, kind,
 * default and help (common/settings/settings-table.ts). config.ts maps the values to
 * DfdaemonOptions; docs/configuration.md is generated from this table.
 */
import { homedir } from 'node:os'
import { join } from 'node:path'
import { Type } from '@sinclair/typebox'
import { TOKEN_ENV } from '../common/http/auth.js'
import { DEFAULT_DNS_REFRESH_MS } from '../common/node-list.js'
import { bool, dnsServerList, duration, httpUrl, ip, list, nodeList, oneOf, port, structured, text } from '../common/settings/setting-kinds.js'
import type { SettingsTable } from '../common/settings/settings-table.js'
import type { ProxyRule } from './routing-rules.js'

/** Default listen port (DESIGN.md §8). */
export const DEFAULT_DFDAEMON_PORT = 65001

/** A host whose CONNECT tunnels are intercepted. */
export interface HijackHostRule {
  /** Regular expression matched against "host:port" of the CONNECT. */
  readonly pattern: string
  /** Accept any certificate (self-signed registries). */
  readonly insecure?: boolean
  /** Paths of extra CA certificates (PEM). */
  readonly certFiles?: readonly string[]
}

/** The rule set used when the configuration has none: registry blobs through the swarm. */
export const DEFAULT_RULES: readonly ProxyRule[] = [{ pattern: 'blobs/sha256:[0-9a-f]{64}' }]

const CERTS = Type.Union([Type.Array(Type.String({ minLength: 1 })), Type.String({ minLength: 1 })])
const certList = (certs: string | readonly string[]): readonly string[] => typeof certs === 'string' ? [certs] : certs

const RULES_SCHEMA = Type.Array(Type.Object({
  regx: Type.String({ minLength: 1 }),
  direct: Type.Optional(Type.Boolean()),
  use_https: Type.Optional(Type.Boolean()),
  redirect: Type.Optional(Type.String({ minLength: 1 })),
}, { additionalProperties: false }))

const HIJACK_HOSTS_SCHEMA = Type.Array(Type.Object({
  regx: Type.String({ minLength: 1 }),
  insecure: Type.Optional(Type.Boolean()),
  certs: Type.Optional(CERTS),
}, { additionalProperties: false }))

/** Proxy rules as YAML writes them (`regx`, `use_https`) → ProxyRule. */
const rules = structured(RULES_SCHEMA, 'a list of rules { regx, direct, use_https, redirect }',
  (raw) => (raw as { regx: string, direct?: boolean, use_https?: boolean, redirect?: string }[]).map((rule): ProxyRule => ({ // checked by RULES_SCHEMA
    pattern: rule.regx,
    ...(rule.direct === undefined ? {} : { direct: rule.direct }),
    ...(rule.use_https === undefined ? {} : { useHttps: rule.use_https }),
    ...(rule.redirect === undefined ? {} : { redirect: rule.redirect }),
  })),
  (value: readonly ProxyRule[]) => value.map((rule) => ({ regx: rule.pattern, ...(rule.direct === undefined ? {} : { direct: rule.direct }), ...(rule.useHttps === undefined ? {} : { use_https: rule.useHttps }), ...(rule.redirect === undefined ? {} : { redirect: rule.redirect }) })))

/** Hijacked hosts as YAML writes them → HijackHostRule. */
const hijackHosts = structured(HIJACK_HOSTS_SCHEMA, 'a list of hosts { regx, insecure, certs }',
  (raw) => (raw as { regx: string, insecure?: boolean, certs?: string | string[] }[]).map((host): HijackHostRule => ({ // checked by HIJACK_HOSTS_SCHEMA
    pattern: host.regx,
    ...(host.insecure === undefined ? {} : { insecure: host.insecure }),
    ...(host.certs === undefined ? {} : { certFiles: certList(host.certs) }),
  })),
  (value: readonly HijackHostRule[]) => value.map((host) => ({ regx: host.pattern, ...(host.insecure === undefined ? {} : { insecure: host.insecure }), ...(host.certFiles === undefined ? {} : { certs: [...host.certFiles] }) })))

export const DFDAEMON_SETTINGS = {
  port: { kind: port, flag: '--port', default: DEFAULT_DFDAEMON_PORT, help: 'listen port (0 picks a free one)' },
  listen: { kind: ip, flag: '--listen', default: '127.0.0.1', help: 'bind address, an IP address' },
  home: { kind: text('<dir>'), flag: '--home', default: join(homedir(), '.damselfly'), defaultText: '~/.damselfly', help: 'per-host state shared with dfget (peer server, data)' },
  nodes: { kind: nodeList, flag: '-n, --node', default: [], defaultText: '[] = 127.0.0.1:8002', help: 'supernodes, host:port[=weight], as dfget -n; repeatable or comma-separated; dns://name[:port][=weight] (A/AAAA records) or dns+srv://name (SRV records) name them by DNS' },
  dns_servers: { kind: dnsServerList, flag: '--dns-server', default: [], defaultText: '[] = the system\'s', help: 'DNS servers (ip[:port]) that resolve dns:// and dns+srv:// nodes, as dfget\'s dnsServers' },
  dns_refresh: { kind: duration, flag: '--dns-refresh', default: DEFAULT_DNS_REFRESH_MS, help: 'resolve dns:// and dns+srv:// nodes again after this long (at least 1s), as dfget\'s dnsRefresh' },
  cacert: { kind: text('<file>'), flag: '--cacert', help: 'PEM CA certificate trusted for https supernodes (-n https://host:port)' },
  verbose: { kind: bool, flag: '--verbose', default: false, help: 'debug logs' },
  back_source: { kind: bool, flag: '--notbs', flagValue: false, default: true, help: 'when the swarm cannot deliver a blob, fetch it from the registry directly (--notbs = false)' },
  prefetch: {
    kind: bool,
    flag: '--no-prefetch',
    flagValue: false,
    default: true,
    help: 'when an image manifest passes through, have the supernode start fetching its layers (--no-prefetch = false)',
    doc: 'when an image\'s manifest (not a list or index) passes through, ask the supernode to preheat that image, so its CDN reads every layer while the engine is still on the first blob (`--no-prefetch` = `false`). With several supernodes each is asked for the blobs whose tasks it owns (the one a blob\'s digest orders first, as dfget picks it), with the image preheat\'s `digests`; a manifest over 4 MiB is not prefetched there',
  },
  token: { kind: text('<token>'), flag: '--token', env: TOKEN_ENV, inFile: false, help: 'shared token of the supernodes and peers (prefer the environment: argv is visible to ps)' },
  'registry_mirror.remote': { kind: httpUrl, flag: '--registry', help: 'mirror mode: the upstream registry of /v2/ requests without ns=, http(s)://host[:port]' },
  hf_endpoint: { kind: httpUrl, flag: '--hf-endpoint', help: 'serve as a Hugging Face endpoint (HF_ENDPOINT of the Hub client) for this Hub, e.g. https://huggingface.co: LFS files through the swarm, other requests straight to the Hub (docs/dfdaemon.md)' },
  'registry_mirror.ns_scheme': { kind: oneOf(['http', 'https'] as const), default: 'https' as const, help: 'scheme of the upstreams named by containerd\'s ns= parameter' },
  'registry_mirror.insecure': { kind: bool, defaultText: 'false', help: 'skip TLS verification of the upstream registry' },
  'registry_mirror.certs': { kind: list({ split: false, placeholder: '<file>' }), defaultText: 'none', help: 'extra CA certificates (PEM files) trusted for the upstream registry' },
  proxies: { kind: rules, default: DEFAULT_RULES, help: 'ordered rules, first match wins: regx (matched against the URL), direct (never through the swarm), use_https, redirect (another host)' },
  'hijack_https.cert': { kind: text('<file>'), help: 'CONNECT interception: the CA certificate (PEM) of the certificates dfdaemon makes (dfdaemon gen-ca)' },
  'hijack_https.key': { kind: text('<file>'), help: 'the CA\'s private key (PEM)' },
  'hijack_https.hosts': { kind: hijackHosts, defaultText: 'none', help: 'hosts whose CONNECT tunnels are intercepted: regx (matched against host:port), insecure, certs' },
} satisfies SettingsTable
