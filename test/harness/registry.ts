/**
 * startRegistry(): Debian's docker-registry (distribution 2.8) as a child process on
 * 127.0.0.1, port chosen by the registry itself (`addr: 127.0.0.1:0`, read back from its
 * "listening on" log line), storage in a temp dir, optional htpasswd basic auth, optional
 * token auth (a realm we run), optional TLS (HTTPS with a given certificate, named by the
 * host name it was issued for). Its JSON
 * access log is parsed so a test can assert how many body bytes it served per blob.
 * Stopped by PID at close (register it with t.after).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/** The one test user of `auth: true` registries. */
export const REGISTRY_USER = 'damselfly'
export const REGISTRY_PASSWORD = 'damselfly-pass'
// bcrypt of REGISTRY_PASSWORD (cost 4, to keep logins fast); the registry needs bcrypt.
const REGISTRY_PASSWORD_BCRYPT = '$2b$04$qIrqnuc.drnywM/exMB.r.eNtjKl2i6x9pmwjz9zmQcF4tzgJzQ1G'

export interface StartedRegistry {
  /** "http://127.0.0.1:port" ("https://<tls.hostname>:port" with TLS). */
  readonly baseUrl: string
  /** "127.0.0.1:port" ("<tls.hostname>:port" with TLS): the registry part of image names. */
  readonly host: string
  readonly child: ChildProcess
  /** "Basic …" for the test user (auth registries). */
  readonly authorization: string
  /** Body bytes the registry wrote for GETs of paths containing `pathPart`. */
  bytesServed(pathPart: string): number
  /** Requests seen whose path contains `pathPart`, by method. */
  requests(pathPart: string, method?: string): number
  close(): Promise<void>
}

interface AccessRecord { method: string, uri: string, written: number }

export interface RegistryOptions {
  /** Basic auth for REGISTRY_USER. */
  readonly auth?: boolean
  /**
   * Serve HTTPS with this certificate and key (PEM files), issued for `hostname`: the name
   * clients must use (resolving it to 127.0.0.1 is theirs to arrange).
   */
  readonly tls?: { readonly certificate: string, readonly key: string, readonly hostname: string }
  /**
   * Token auth (`auth: token`): clients get a bearer token from `realm` (a token server we
   * run, test/harness/token-server.ts) signed by the certificate in `rootCertBundle`.
   */
  readonly token?: { readonly realm: string, readonly service: string, readonly issuer: string, readonly rootCertBundle: string }
}

/**
 * Starts a registry storing under `dir`. Two registries may serve one `dir` in turn (push
 * through a plain one, stop it, serve the images over TLS), never at once.
 */
export async function startRegistry (dir: string, options: RegistryOptions = {}): Promise<StartedRegistry> {
  const configFile = await writeRegistryConfig(dir, '127.0.0.1:0', options.tls === undefined ? 'config.yml' : 'config-tls.yml', options)
  const child = spawn('docker-registry', ['serve', configFile], { stdio: ['ignore', 'pipe', 'pipe'] })
  const records: AccessRecord[] = []
  let tail = ''
  let pending = ''
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`docker-registry did not start: ${tail}`)) }, 15_000)
    const onData = (chunk: Buffer): void => {
      tail = (tail + chunk.toString()).slice(-4000)
      pending += chunk.toString()
      let newline: number
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline)
        pending = pending.slice(newline + 1)
        let record: Record<string, unknown>
        try { record = JSON.parse(line) as Record<string, unknown> } catch { continue }
        const msg = typeof record.msg === 'string' ? record.msg : ''
        const listening = /^listening on 127\.0\.0\.1:(\d+)(, tls)?$/.exec(msg)
        if (listening !== null) { clearTimeout(timer); resolve(Number(listening[1])) }
        if (msg === 'response completed' && typeof record['http.request.uri'] === 'string') {
          records.push({ method: String(record['http.request.method']), uri: record['http.request.uri'], written: Number(record['http.response.written'] ?? 0) })
        }
      }
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`docker-registry exited with ${code}: ${tail}`)) })
  })
  const host = `${options.tls?.hostname ?? '127.0.0.1'}:${port}`
  const baseUrl = `${options.tls === undefined ? 'http' : 'https'}://${host}`
  return {
    baseUrl,
    host,
    child,
    authorization: `Basic ${Buffer.from(`${REGISTRY_USER}:${REGISTRY_PASSWORD}`).toString('base64')}`,
    bytesServed: (pathPart) => records.filter((r) => r.method === 'GET' && r.uri.includes(pathPart)).reduce((sum, r) => sum + r.written, 0),
    requests: (pathPart, method) => records.filter((r) => r.uri.includes(pathPart) && (method === undefined || r.method === method)).length,
    close: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise<void>((resolve) => child.once('exit', () => { resolve() }))
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 3_000)
      await exited
      clearTimeout(timer)
    },
  }
}

/**
 * Writes a docker-registry configuration serving the storage of `startRegistry(dir)`
 * (`dir/data`) on `addr` ("198.18.0.1:5000"; startRegistry's own is "127.0.0.1:0"), so a
 * registry started elsewhere — inside a network namespace, say — serves the images pushed
 * through a startRegistry() one (stop that one first). Returns the file's path.
 */
export async function writeRegistryConfig (dir: string, addr: string, file = 'config-served.yml', options: RegistryOptions = {}): Promise<string> {
  await mkdir(join(dir, 'data'), { recursive: true })
  const lines = [
    'version: 0.1',
    'log: { level: info, formatter: json }',
    'storage:',
    `  filesystem: { rootdirectory: ${JSON.stringify(join(dir, 'data'))} }`,
    '  delete: { enabled: true }',
    'http:',
    `  addr: ${JSON.stringify(addr)}`,
    '  secret: damselfly-test',
  ]
  if (options.tls !== undefined) lines.push(`  tls: { certificate: ${JSON.stringify(options.tls.certificate)}, key: ${JSON.stringify(options.tls.key)} }`)
  if (options.auth === true) {
    await writeFile(join(dir, 'htpasswd'), `${REGISTRY_USER}:${REGISTRY_PASSWORD_BCRYPT}\n`)
    lines.push('auth:', `  htpasswd: { realm: damselfly-test, path: ${JSON.stringify(join(dir, 'htpasswd'))} }`)
  } else if (options.token !== undefined) {
    const { realm, service, issuer, rootCertBundle } = options.token
    lines.push('auth:', `  token: { realm: ${JSON.stringify(realm)}, service: ${JSON.stringify(service)}, issuer: ${JSON.stringify(issuer)}, rootcertbundle: ${JSON.stringify(rootCertBundle)} }`)
  }
  const path = join(dir, file)
  await writeFile(path, `${lines.join('\n')}\n`)
  return path
}
