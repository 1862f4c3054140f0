/**
 * The supernode's settings table: each setting once, with its key, flag, kind, default and
 * help (common/settings/settings-table.ts). Keys are camelCase; the kebab-case form of each
 * key (the flag's name) is accepted in files too. config.ts maps the values to
 * SupernodeOptions; docs/configuration.md is generated from this table.
 */
import { TOKEN_ENV } from '../common/http/auth.js'
import { bool, duration, int, ip, list, oneOf, port, size, text } from '../common/settings/setting-kinds.js'
import type { Setting, SettingsTable } from '../common/settings/settings-table.js'

/** pino's levels. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

const kebab = (key: string): string => key.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)

/** Every key gets its flag `--<kebab-case>` and the kebab-case key as an alias (unless `flag: false`). */
function table<T extends Record<string, Setting<never> | Setting<unknown>>> (settings: T): T {
  return Object.fromEntries(Object.entries(settings).map(([key, setting]) => [key, {
    ...setting,
    ...(kebab(key) === key ? {} : { aliases: [kebab(key)] }),
    flag: setting.flag ?? `--${kebab(key)}`,
  }])) as T // the same keys, each setting with its flag and alias added
}

export const SUPERNODE_SETTINGS = table({
  listen: { kind: ip, default: '0.0.0.0', help: 'bind address of both servers' },
  port: { kind: port, default: 8002, help: 'API port (0 picks a free port)' },
  downloadPort: { kind: port, default: 8001, help: 'piece-data port; equal to port = one server for both' },
  advertiseIp: { kind: ip, defaultText: 'listen if specific, else the first non-loopback IPv4, else 127.0.0.1', help: 'address peers are told' },
  homeDir: { kind: text('<dir>'), defaultText: '~/.damselfly/supernode', help: 'CDN cache and metadata' },
  logLevel: { kind: oneOf(LOG_LEVELS), default: 'info', help: 'log level (--verbose = debug)' },
  maxUploadsPerPeer: { kind: int(1, 1024), default: 5, help: 'most uploads in flight from one peer' },
  supernodeMaxUploads: { kind: int(1, 4096), default: 8, help: 'most uploads in flight from the supernode, per task' },
  cdnConcurrency: { kind: int(1, 64), default: 1, help: 'parallel ranged source requests per task (1: one request, pieces in order; more for sources slow per connection)' },
  pieceTimeout: { kind: duration, default: 30_000, help: 'a piece handed out and not reported within this is handed out again' },
  taskExpireTime: { kind: duration, default: 180_000, help: 'a task nobody uses leaves memory after this' },
  cacheExpireTime: { kind: duration, default: 86_400_000, help: 'a CDN cache file unused this long is deleted' },
  gcInterval: { kind: duration, default: 60_000, help: 'how often GC runs' },
  cacheMaxSize: { kind: size, default: 0, help: 'most bytes of CDN cache files, e.g. 50G; least recently used files go first (0 = no limit)' },
  cacheMinFreeSpace: { kind: size, default: 0, help: 'least free space kept on the cache\'s filesystem, e.g. 5G (0 = no limit)' },
  cdnMemoryCache: { kind: size, default: 64 * 1024 * 1024, help: 'bytes of just-cached pieces kept in memory, served without reading the cache file (0 = none)' },
  sourceTimeout: { kind: duration, default: 30_000, help: 'source deadline for headers and between body chunks' },
  sourceAllow: { kind: list(), default: [], help: 'sources the CDN may fetch: host names, *.domains, IPs, CIDR networks, a list or comma-separated (empty = any; docs/supernode.md)' },
  sourceDeny: { kind: list(), default: [], help: 'sources the CDN never fetches (same forms; wins over sourceAllow)' },
  token: { kind: text('<token>'), env: TOKEN_ENV, help: 'shared token required on the API and piece data (Authorization: Bearer); prefer the file or the environment, argv is visible to ps' },
  tlsCert: { kind: text('<file>'), help: 'serve the API over HTTPS with this PEM certificate (chain); needs tlsKey' },
  tlsKey: { kind: text('<file>'), help: 'the PEM private key of tlsCert' },
  tlsData: { kind: bool, default: false, help: 'serve the piece-data port over HTTPS too, with tlsCert and tlsKey, and hand out peers\' piece URLs as https (every host agent then serves TLS: dfget server --tls-cert --tls-key; docs/security.md)' },
  grantKeyFile: { kind: text('<file>'), defaultText: '<homeDir>/grant-key.pem', help: 'Ed25519 private key (PEM) signing piece grants, created (mode 0600) when missing; give every supernode of a fleet the same file (docs/security.md)' },
  grantLifetime: { kind: duration, default: 60_000, help: 'how long a piece grant opens its task\'s pieces' },
  accessCheckTtl: { kind: duration, default: 60_000, help: 'how long a registration\'s proven access to its source stands, per task, URL and headers (0 = prove every registration)' },
} satisfies SettingsTable)
