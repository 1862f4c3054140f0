/**
 * Options of the peer server (`dfget server`), resolved in one place: defaults applied,
 * every value validated, DF_ERR_CONFIG_INVALID naming the flag and the value.
 */
import { isIP } from 'node:net'
import { resolve } from 'node:path'
import { DfError } from '../../protocol/errors.js'
import { parseDurationMs } from '../../common/duration.js'
import { parseRate } from '../../common/rate-limiter.js'
import { isRefusal, port } from '../../common/settings/setting-kinds.js'
import { defaultHomeDir } from '../home-layout.js'
import { TOKEN_ENV } from '../../common/http/auth.js'

/** Defaults (DESIGN.md §2, §8). */
export const DEFAULT_ALIVE_TIME_MS = 5 * 60_000
export const DEFAULT_EXPIRE_TIME_MS = 3 * 60_000

/** As given on the command line or by a library caller; all optional. */
export interface PeerServerOptions {
  readonly home?: string | undefined
  readonly port?: string | number | undefined
  readonly ip?: string | undefined
  readonly alivetime?: string | number | undefined
  readonly expiretime?: string | number | undefined
  readonly totallimit?: string | number | undefined
  /** Shared token required on piece requests; default DAMSELFLY_TOKEN from the environment. */
  readonly token?: string | undefined
  /** PEM CA file trusted for https supernodes (and for https piece servers, in the host agent's downloads). */
  readonly cacert?: string | undefined
  /** PEM certificate and key files: serve piece data over HTTPS (the fleet's supernodes run with tlsData). */
  readonly tlsCert?: string | undefined
  readonly tlsKey?: string | undefined
}

export interface PeerServerConfig {
  readonly homeDir: string
  /** Bind address; default 0.0.0.0. */
  readonly listenHost: string
  /** 0 picks a free port. */
  readonly port: number
  readonly aliveTimeMs: number
  readonly expireTimeMs: number
  /** Upload rate of the whole host; 0 = unlimited. */
  readonly uploadRateBytesPerSec: number
  /** Required on piece requests (Authorization: Bearer); undefined = none. */
  readonly token?: string | undefined
  /** PEM CA file trusted for https supernodes (the service-down calls) and https piece servers; undefined = system CAs only. */
  readonly caCertPath?: string | undefined
  /**
   * Serve piece data over HTTPS with these PEM files, on the advertised port; the plain port
   * of the state file then listens on loopback only, for this host's own dfget runs.
   */
  readonly tls?: { readonly certPath: string, readonly keyPath: string } | undefined
}

function nonEmpty (value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value
}

/** @throws DF_ERR_CONFIG_INVALID */
export function resolvePeerServerConfig (options: PeerServerOptions): PeerServerConfig {
  const listenHost = options.ip ?? '0.0.0.0'
  if (isIP(listenHost) === 0) throw configInvalid('ip', listenHost, 'must be an IPv4 or IPv6 address')
  return {
    homeDir: options.home ?? defaultHomeDir(),
    listenHost,
    port: resolvePort('port', options.port ?? 0),
    aliveTimeMs: resolveDuration('alivetime', options.alivetime, DEFAULT_ALIVE_TIME_MS),
    expireTimeMs: resolveDuration('expiretime', options.expiretime, DEFAULT_EXPIRE_TIME_MS),
    uploadRateBytesPerSec: resolveRate('totallimit', options.totallimit),
    token: nonEmpty(options.token ?? process.env[TOKEN_ENV]),
    caCertPath: nonEmpty(options.cacert === undefined ? undefined : resolve(options.cacert)),
    tls: resolveTls(nonEmpty(options.tlsCert), nonEmpty(options.tlsKey)),
  }
}

function resolveTls (cert: string | undefined, key: string | undefined): PeerServerConfig['tls'] {
  if ((cert === undefined) !== (key === undefined)) throw configInvalid(cert === undefined ? 'tls-cert' : 'tls-key', '', '--tls-cert and --tls-key go together')
  return cert === undefined || key === undefined ? undefined : { certPath: resolve(cert), keyPath: resolve(key) }
}

/** DF_ERR_CONFIG_INVALID naming the flag and its value. */
export function configInvalid (flag: string, value: unknown, problem: string): DfError {
  return new DfError('DF_ERR_CONFIG_INVALID', `--${flag}: invalid value "${String(value)}": ${problem}`, { details: { field: flag, value: String(value) } })
}

/** A port 0-65535. @throws DF_ERR_CONFIG_INVALID */
export function resolvePort (flag: string, value: string | number): number {
  const parsed = port.parse(typeof value === 'string' ? value.trim() : value, flag)
  if (isRefusal(parsed)) throw configInvalid(flag, value, parsed.problem)
  return parsed
}

/** A duration ("30s", "5m", bare seconds); numbers are milliseconds. @throws DF_ERR_CONFIG_INVALID */
export function resolveDuration (flag: string, value: string | number | undefined, fallbackMs: number): number {
  if (value === undefined) return fallbackMs
  const ms = typeof value === 'number' ? value : parseDurationMs(value)
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) throw configInvalid(flag, value, 'must be a duration like 30s, 5m or 1h')
  return ms
}

/** A rate ("20M", "100mbit"); numbers are bytes per second; absent = 0 (unlimited). @throws DF_ERR_CONFIG_INVALID */
export function resolveRate (flag: string, value: string | number | undefined): number {
  if (value === undefined) return 0
  const rate = typeof value === 'number' ? value : parseRate(value)
  if (rate === undefined || !Number.isFinite(rate) || rate < 0) throw configInvalid(flag, value, 'must be a rate like 20M, 512K or 100mbit')
  return rate
}
