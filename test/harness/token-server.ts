/**
 * A registry token server we run ourselves (the "token" auth of the distribution spec,
 * https://distribution.github.io/distribution/spec/auth/token/): `GET /token?service=…&scope=…`
 * with optional Basic credentials answers `{ token, access_token, expires_in, issued_at }`,
 * a JWT signed RS256 with a key we generate (openssl), its certificate in the `x5c` header
 * so a docker-registry with `auth: token` and that certificate as `rootcertbundle` trusts
 * it. Each user may pull (or push) the repositories its ACL names; anyone, also without
 * credentials, may pull the public ones. A scope the caller may not have is granted with
 * no actions (the registry then answers 401), as real token servers do. Wrong credentials
 * get 401. Signing goes through node:crypto; nothing is hand-made but the JSON.
 */
import { execFileSync } from 'node:child_process'
import { createPrivateKey, randomUUID, sign, X509Certificate, type KeyObject } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

export type RegistryAction = 'pull' | 'push'

export interface TokenUser {
  readonly password: string
  /** Repository name → the actions this user may take on it. */
  readonly repositories: Readonly<Record<string, readonly RegistryAction[]>>
}

export interface TokenServerOptions {
  /** Directory for the signing key and certificate. */
  readonly dir: string
  readonly users: Readonly<Record<string, TokenUser>>
  /** Repositories anyone may pull, with or without credentials. */
  readonly publicRepositories?: readonly string[]
  /** Token lifetime (default 300 s). */
  readonly lifetimeSeconds?: number
}

interface AccessEntry { type: 'repository', name: string, actions: RegistryAction[] }

export interface StartedTokenServer {
  /** "http://127.0.0.1:port/token": the registry's `realm`. */
  readonly realm: string
  readonly service: string
  readonly issuer: string
  /** PEM file of the signing certificate: the registry's `rootcertbundle`. */
  readonly rootCertBundle: string
  /** Tokens issued so far, by subject ("" for anonymous). */
  issued(subject: string): number
  /** A token for `subject` with exactly `access` (for pushing test images). */
  mint(subject: string, access: readonly AccessEntry[]): string
  close(): Promise<void>
}

const base64url = (value: Buffer | string): string => Buffer.from(value).toString('base64url')

/** Starts the token server on 127.0.0.1 (port 0). Close it with close(). */
export async function startTokenServer (options: TokenServerOptions): Promise<StartedTokenServer> {
  const keyFile = join(options.dir, 'token-signer.key')
  const certFile = join(options.dir, 'token-signer.crt')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=damselfly-token-signer'], { stdio: 'ignore' })
  const privateKey: KeyObject = createPrivateKey(readFileSync(keyFile))
  const certDer = new X509Certificate(readFileSync(certFile)).raw.toString('base64')
  const service = 'damselfly-registry'
  const issuer = 'damselfly-token-issuer'
  const lifetimeSeconds = options.lifetimeSeconds ?? 300
  const counts = new Map<string, number>()

  const mint = (subject: string, access: readonly AccessEntry[]): string => {
    const nowSeconds = Math.floor(Date.now() / 1000)
    const header = base64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', x5c: [certDer] }))
    const claims = base64url(JSON.stringify({
      iss: issuer, sub: subject, aud: service, exp: nowSeconds + lifetimeSeconds, nbf: nowSeconds - 5, iat: nowSeconds, jti: randomUUID(), access,
    }))
    const signature = sign('sha256', Buffer.from(`${header}.${claims}`), privateKey)
    return `${header}.${claims}.${base64url(signature)}`
  }

  const allowed = (subject: string, repository: string): readonly RegistryAction[] => {
    const own = options.users[subject]?.repositories[repository] ?? []
    return (options.publicRepositories ?? []).includes(repository) ? [...new Set<RegistryAction>([...own, 'pull'])] : own
  }

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://token.test')
    if (url.pathname !== '/token') { res.writeHead(404).end(); return }
    let subject = ''
    const authorization = req.headers.authorization
    if (authorization !== undefined) {
      const match = /^Basic (\S+)$/i.exec(authorization)
      const [user, ...rest] = Buffer.from(match?.[1] ?? '', 'base64').toString().split(':')
      const entry = options.users[user ?? '']
      if (match === null || entry === undefined || entry.password !== rest.join(':')) {
        res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ details: 'wrong credentials' }))
        return
      }
      subject = user ?? ''
    }
    const access: AccessEntry[] = []
    for (const scope of url.searchParams.getAll('scope')) {
      const parts = scope.split(':')
      if (parts.length < 3 || parts[0] !== 'repository') continue
      const name = parts.slice(1, -1).join(':')
      const wanted = (parts.at(-1) ?? '').split(',')
      const granted = allowed(subject, name)
      access.push({ type: 'repository', name, actions: granted.filter((action) => wanted.includes(action)) })
    }
    counts.set(subject, (counts.get(subject) ?? 0) + 1)
    const token = mint(subject, access)
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ token, access_token: token, expires_in: lifetimeSeconds, issued_at: new Date().toISOString() }))
  }

  const server = createServer(handle)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => { server.off('error', reject); resolve() })
  })
  const { port } = server.address() as AddressInfo // a TCP server has an AddressInfo
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    rootCertBundle: certFile,
    issued: (subject) => counts.get(subject) ?? 0,
    mint,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
    },
  }
}
