/** Base URLs of our servers. A module of its own so clients need not load fastify. */

/** "http://host:port", with IPv6 hosts bracketed. */
export function formatBaseUrl (host: string, port: number, protocol = 'http'): string {
  return `${protocol}://${host.includes(':') ? `[${host}]` : host}:${port}`
}
