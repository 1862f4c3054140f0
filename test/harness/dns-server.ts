/**
 * startDnsServer(): a real DNS server we control (STYLE.md B10.4), on UDP 127.0.0.1 port 0.
 * It answers A, AAAA and SRV questions from a zone the test sets and may change at any time
 * (`setZone`), as a cluster's DNS does when a headless Service's pods come and go: a name not
 * in the zone is NXDOMAIN, a name without records of the asked type is an empty NOERROR
 * answer (NODATA). Faults: `setFault('servfail')` answers every question SERVFAIL,
 * `setFault('silent')` answers nothing (the client times out). It counts the questions per
 * name and type, so a test can assert that clients asked again. The wire format is
 * dns-packet's; the socket is node:dgram's.
 */
import { createSocket, type RemoteInfo } from 'node:dgram'
import type { AddressInfo } from 'node:net'
import dnsPacket from 'dns-packet'

/** The SRV data of one record. */
export interface SrvRecord {
  readonly target: string
  readonly port: number
  readonly priority?: number
  readonly weight?: number
}

/** The records of one name. */
export interface ZoneEntry {
  readonly A?: readonly string[]
  readonly AAAA?: readonly string[]
  readonly SRV?: readonly SrvRecord[]
}

/** Name (any case, no trailing dot) → its records. */
export type Zone = Readonly<Record<string, ZoneEntry>>

export type DnsFault = 'none' | 'servfail' | 'silent'

export interface DnsServer {
  /** "127.0.0.1:PORT", as --dns-server takes it. */
  readonly address: string
  setZone(zone: Zone): void
  setFault(fault: DnsFault): void
  /** Questions asked for `name` (of `type`, or all types). */
  questions(name: string, type?: 'A' | 'AAAA' | 'SRV'): number
  close(): Promise<void>
}

const RCODE_SERVFAIL = 2
const RCODE_NXDOMAIN = 3
const TTL_SECONDS = 1

export async function startDnsServer (zone: Zone = {}): Promise<DnsServer> {
  let current = normalize(zone)
  let fault: DnsFault = 'none'
  const asked = new Map<string, number>()
  const socket = createSocket('udp4')
  socket.on('message', (message: Buffer, from: RemoteInfo) => {
    let query: dnsPacket.Packet
    try {
      query = dnsPacket.decode(message)
    } catch {
      return // not DNS: ignore, as a server would
    }
    const question = query.questions?.[0]
    if (question === undefined) return
    const name = question.name.toLowerCase().replace(/\.$/, '')
    asked.set(`${name} ${question.type}`, (asked.get(`${name} ${question.type}`) ?? 0) + 1)
    if (fault === 'silent') return
    const entry = current.get(name)
    let rcode = 0
    const answers: dnsPacket.Answer[] = []
    if (fault === 'servfail') {
      rcode = RCODE_SERVFAIL
    } else if (entry === undefined) {
      rcode = RCODE_NXDOMAIN
    } else if (question.type === 'A') {
      for (const ip of entry.A ?? []) answers.push({ type: 'A', name: question.name, ttl: TTL_SECONDS, data: ip })
    } else if (question.type === 'AAAA') {
      for (const ip of entry.AAAA ?? []) answers.push({ type: 'AAAA', name: question.name, ttl: TTL_SECONDS, data: ip })
    } else if (question.type === 'SRV') {
      for (const srv of entry.SRV ?? []) {
        answers.push({ type: 'SRV', name: question.name, ttl: TTL_SECONDS, data: { target: srv.target, port: srv.port, priority: srv.priority ?? 0, weight: srv.weight ?? 10 } })
      }
    }
    const response = dnsPacket.encode({
      type: 'response',
      id: query.id ?? 0,
      flags: dnsPacket.AUTHORITATIVE_ANSWER | (query.flags ?? 0) & dnsPacket.RECURSION_DESIRED | rcode,
      questions: [question],
      answers,
    })
    socket.send(response, from.port, from.address)
  })
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject)
    socket.bind(0, '127.0.0.1', () => { socket.off('error', reject); resolve() })
  })
  const { port } = socket.address() as AddressInfo
  let closed = false
  return {
    address: `127.0.0.1:${port}`,
    setZone (zone) { current = normalize(zone) },
    setFault (next) { fault = next },
    questions (name, type) {
      const key = name.toLowerCase()
      if (type !== undefined) return asked.get(`${key} ${type}`) ?? 0
      return ['A', 'AAAA', 'SRV'].reduce((sum, t) => sum + (asked.get(`${key} ${t}`) ?? 0), 0)
    },
    async close () {
      if (closed) return
      closed = true
      await new Promise<void>((resolve) => { socket.close(() => { resolve() }) })
    },
  }
}

function normalize (zone: Zone): Map<string, ZoneEntry> {
  return new Map(Object.entries(zone).map(([name, entry]) => [name.toLowerCase().replace(/\.$/, ''), entry]))
}
