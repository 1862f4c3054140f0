/**
 * dfget's settings table: each setting once, with its key in the host's configuration file
 * (camelCase), its flag (Dragonfly 1.x names), kind, default and help
 * (common/settings/settings-table.ts). Settings with `inFile: false` are flags of one run
 * only. The download command has every flag; `dfget server` those of SERVER_SETTING_KEYS.
 * docs/configuration.md is generated from this table.
 */
import { TOKEN_ENV } from '../common/http/auth.js'
import { bool, dnsServerList, duration, httpUrl, int, ip, list, nodeList, oneOf, port, rate, text } from '../common/settings/setting-kinds.js'
import type { SettingsTable } from '../common/settings/settings-table.js'
import { DEFAULT_DNS_REFRESH_MS } from '../common/node-list.js'
import { defaultHomeDir } from './home-layout.js'
import { DEFAULT_ALIVE_TIME_MS, DEFAULT_EXPIRE_TIME_MS } from './uploader/peer-server-config.js'

/** Where pieces come from: the swarm, only the supernode's CDN cache, or only the source. */
export const DOWNLOAD_PATTERNS = ['p2p', 'cdn', 'source'] as const

/** Default supernode when no -n is given. */
export const DEFAULT_NODE = '127.0.0.1:8002'

export const DFGET_SETTINGS = {
  url: { kind: text('<url>'), flag: '-u, --url', inFile: false, help: 'the URL to download (http, https, s3://bucket/key, or hf://owner/repo[@revision][/path]); also the first argument' },
  output: { kind: text('<path>'), flag: '-o, --output', inFile: false, defaultText: 'the URL\'s file name in the current directory', help: 'where to write the file ("-" = stdout)' },
  nodes: { kind: nodeList, flag: '-n, --node', default: [DEFAULT_NODE], help: 'supernodes, host:port[=weight], repeatable or comma-separated; dns://name[:port][=weight] (A/AAAA records) or dns+srv://name (SRV records) name them by DNS' },
  dnsServers: { kind: dnsServerList, flag: '--dns-server', default: [], defaultText: '[] = the system\'s', help: 'DNS servers (ip[:port]) that resolve dns:// and dns+srv:// nodes, repeatable or comma-separated (docs/dfget.md, "Supernodes by DNS")' },
  dnsRefresh: { kind: duration, flag: '--dns-refresh', default: DEFAULT_DNS_REFRESH_MS, help: 'a DNS answer for those nodes is used this long, then resolved again (at least 1s)' },
  home: { kind: text('<dir>'), flag: '--home', default: defaultHomeDir(), defaultText: '~/.damselfly', help: 'per-host state: peer server, data, logs' },
  localLimit: { kind: rate, flag: '-s, --locallimit', default: 0, help: 'download rate limit of one run, e.g. 20M, 100mbit (0 = none)' },
  totalLimit: { kind: rate, flag: '--totallimit', default: 0, help: 'rate limit of the whole host: downloads of a run and uploads of the peer server (0 = none)' },
  md5: { kind: text('<md5>'), flag: '-m, --md5', inFile: false, help: 'expected md5 of the file' },
  identifier: { kind: text('<id>'), flag: '-i, --identifier', inFile: false, help: 'identifies the task instead of the md5' },
  filter: { kind: text('<names>'), flag: '-f, --filter', inFile: false, help: 'query parameters left out of the task identity, comma-separated' },
  headers: { kind: list({ split: false, placeholder: '<header>' }), flag: '--header', default: [], help: 'headers sent to sources, "Name: value" (repeatable)' },
  notbs: { kind: bool, flag: '--notbs', default: false, help: 'never download from the source itself (no back-source)' },
  timeout: { kind: duration, flag: '-e, --timeout', default: 0, help: 'whole-download deadline: seconds, or 30s, 5m (0 = none)' },
  stallTimeout: { kind: duration, flag: '--stalltimeout', default: 20_000, help: 'back-source after this long without a verified piece' },
  pattern: { kind: oneOf(DOWNLOAD_PATTERNS), flag: '-p, --pattern', default: 'p2p', help: 'where pieces come from' },
  stream: { kind: bool, flag: '--stream', inFile: false, help: 'stream mode: write the file in order (to -o -, usually) holding only a window of pieces in memory; nothing goes to disk' },
  window: { kind: int(1, 4096), flag: '--window', inFile: false, default: 16, help: 'stream mode: the window, in pieces' },
  aliveTime: { kind: duration, flag: '--alivetime', default: DEFAULT_ALIVE_TIME_MS, help: 'the peer server stops after this long without work' },
  expireTime: { kind: duration, flag: '--expiretime', default: DEFAULT_EXPIRE_TIME_MS, help: 'the peer server deletes a served file unused this long' },
  showBar: { kind: bool, flag: '-b, --showbar', default: false, help: 'show a progress bar on a terminal' },
  verbose: { kind: bool, flag: '--verbose', default: false, help: 'debug logs to stderr' },
  ip: { kind: ip, flag: '--ip', defaultText: 'as the supernode sees it (dfget server listens on 0.0.0.0)', help: 'address other peers reach this host\'s peer server at' },
  port: { kind: port, flag: '--port', default: 0, help: 'port of the peer server (0 = a free port)' },
  token: { kind: text('<token>'), flag: '--token', env: TOKEN_ENV, inFile: false, help: 'shared token of the supernodes and peers (prefer the environment: argv is visible to ps)' },
  cacert: { kind: text('<file>'), flag: '--cacert', inFile: false, help: 'PEM CA certificate trusted for https supernodes (-n https://host:port)' },
  recursive: { kind: bool, flag: '--recursive', inFile: false, help: 's3:// URL: download every object under the prefix, to its key under -o DIR (default: the current directory); hf:// URL: every file under the folder' },
  s3Endpoint: { kind: httpUrl, flag: '--s3-endpoint', defaultText: '$AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, else AWS', help: 'endpoint of an S3-compatible store for s3:// URLs (docs/dfget.md, "Object stores")' },
  s3PathStyle: { kind: bool, flag: '--s3-path-style', default: false, help: 'path-style S3 addressing (endpoint/bucket/key), as most S3-compatible stores need' },
  hfEndpoint: { kind: httpUrl, flag: '--hf-endpoint', defaultText: '$HF_ENDPOINT, else https://huggingface.co', help: 'endpoint of the Hugging Face Hub for hf:// URLs (docs/dfget.md, "Hugging Face")' },
  tlsCert: { kind: text('<file>'), flag: '--tls-cert', inFile: false, help: 'dfget server: PEM certificate, serve piece data over HTTPS (with --tls-key; for supernodes run with tlsData)' },
  tlsKey: { kind: text('<file>'), flag: '--tls-key', inFile: false, help: 'dfget server: the PEM private key of --tls-cert' },
  s3Region: { kind: text('<region>'), flag: '--s3-region', defaultText: '$AWS_REGION, $AWS_DEFAULT_REGION, else us-east-1', help: 'region the s3:// requests are signed for' },
} satisfies SettingsTable

/** The settings `dfget server` takes as flags. */
export const SERVER_SETTING_KEYS = ['home', 'port', 'ip', 'aliveTime', 'expireTime', 'totalLimit', 'cacert', 'tlsCert', 'tlsKey', 'verbose'] as const satisfies readonly (keyof typeof DFGET_SETTINGS)[]
