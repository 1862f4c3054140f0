/**
 * Baseline (b): a BitTorrent swarm. opentracker and the seed (aria2c) run on the supernode's
 * host; the seed first fetches the file from the origin (timed: `seedFetchMs`), verifies it
 * and announces; only then do the leechers (aria2c, one per peer host) start together, so
 * the swarm's own time is "already seeded" and the time with the seed's fetch is reported
 * beside it. Leechers keep seeding after they finish, as BitTorrent clients do; each records
 * its completion time through aria2c's --on-bt-download-complete hook.
 *
 * Debian's opentracker serves only whitelisted info-hashes, refuses to stay root (drops to
 * nobody) and chroots to -d, so the whitelist path is inside that directory (HARNESS.md).
 */
import { createHash } from 'node:crypto'
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { sleep, type LabProcess } from './lab.js'
import { checkOutput, startCpuMeter, diffWireBytes, fetchOriginBytesSent, fetchWireBytes, resetOriginStats, type PeerOutcome, type SwarmContext, type SystemResult } from './context.js'

const TRACKER_PORT = 6969
const LISTEN_PORT = 6881
// DHT, local peer discovery and peer exchange off: peers come from the tracker only, as in a
// data centre. --seed-ratio=0.0 means "seed forever". No preallocation on tmpfs.
const ARIA2_OPTIONS = [
  '--enable-dht=false', '--enable-dht6=false', '--bt-enable-lpd=false', '--enable-peer-exchange=false',
  '--file-allocation=none', '--summary-interval=0', '--console-log-level=warn', '--seed-ratio=0.0',
  '--bt-tracker-interval=5', '--bt-max-peers=55', '--bt-request-peer-speed-limit=100M', '--disk-cache=32M',
  '--auto-save-interval=0', '--allow-overwrite=true', `--listen-port=${LISTEN_PORT}`,
]

/** The piece size of the torrent: 256 KiB up to 512 MiB (2048 pieces), then doubling. */
export function torrentPieceLog2 (fileSizeBytes: number): number {
  let log2 = 18
  while (log2 < 24 && fileSizeBytes / 2 ** log2 > 2048) log2++
  return log2
}

export async function runBitTorrentBaseline (context: SwarmContext): Promise<SystemResult> {
  const { lab } = context
  const seedIp = lab.ip(context.supernodeHost)
  const dir = join(context.workDir, 'bittorrent')
  const seedDir = join(dir, 'seed')
  const trackerDir = join(dir, 'tracker')
  await mkdir(seedDir, { recursive: true })
  await mkdir(trackerDir, { recursive: true })
  const torrent = join(dir, 'data.torrent')
  const name = basename(context.originFile)

  const made = await lab.run(context.supernodeHost, 'mktorrent', ['-a', `http://${seedIp}:${TRACKER_PORT}/announce`, '-l', String(torrentPieceLog2(context.fileSizeBytes)), '-o', torrent, context.originFile])
  if (made.exitCode !== 0) throw new Error(`mktorrent failed: ${made.stderr.trim() || made.stdout.trim()}`)
  const infoHash = infoHashOf(await readFile(torrent))

  // The tracker drops to nobody inside its chroot: the directory and list must be readable.
  await writeFile(join(trackerDir, 'whitelist.txt'), `${infoHash.toString('hex')}\n`)
  await chmod(trackerDir, 0o755)
  await chmod(join(trackerDir, 'whitelist.txt'), 0o644)
  await chmod(dir, 0o755)
  await chmod(context.workDir, 0o755)
  const tracker = lab.spawn(context.supernodeHost, 'opentracker', ['-i', seedIp, '-p', String(TRACKER_PORT), '-P', String(TRACKER_PORT), '-d', trackerDir, '-w', '/whitelist.txt'])
  const scrapeUrl = `http://${seedIp}:${TRACKER_PORT}/scrape?info_hash=${percentEncode(infoHash)}`
  await waitFor(async () => (await scrape(context, scrapeUrl)) !== undefined, 10_000, 'opentracker', tracker)

  await resetOriginStats(context)
  const wireBefore = await fetchWireBytes(context)
  const seedStart = performance.now()
  const fetched = await lab.run(context.supernodeHost, 'curl', ['-sS', '-f', '-o', join(seedDir, name), context.originUrl])
  const seedFetchMs = performance.now() - seedStart
  if (fetched.exitCode !== 0) throw new Error(`the seed's fetch from the origin failed: ${fetched.stderr.trim()}`)

  const seed = lab.spawn(context.supernodeHost, 'aria2c', [...ARIA2_OPTIONS, '-V', '--bt-seed-unverified=false', `--interface=${seedIp}`, `--bt-external-ip=${seedIp}`, `--dir=${seedDir}`, torrent])
  await waitFor(async () => ((await scrape(context, scrapeUrl))?.complete ?? 0) >= 1, 60_000, 'the aria2c seed', seed)

  const hook = join(dir, 'on-complete.sh')
  await writeFile(hook, '#!/bin/sh\n# aria2c calls this with GID, number of files, path of the first file.\ndate +%s.%N > "$(dirname "$3")/DONE"\n', { mode: 0o755 })
  const leechDirs = context.peerHosts.map((i) => join(dir, `leech-h${i}`))
  for (const d of leechDirs) await mkdir(d, { recursive: true })
  const cpuMeter = await startCpuMeter(lab)
  const stopSampler = lab.startUploadSampler(250)
  const startEpochMs = Date.now()
  const leechers: LabProcess[] = context.peerHosts.map((i, k) => {
    const ip = lab.ip(i)
    return lab.spawn(i, 'aria2c', [...ARIA2_OPTIONS, `--interface=${ip}`, `--bt-external-ip=${ip}`, `--dir=${leechDirs[k] ?? ''}`, `--on-bt-download-complete=${hook}`, torrent])
  })

  const doneAtMs: (number | undefined)[] = leechDirs.map(() => undefined)
  const deadline = performance.now() + context.timeoutMs
  while (doneAtMs.some((t) => t === undefined) && performance.now() < deadline) {
    for (const [k, d] of leechDirs.entries()) {
      if (doneAtMs[k] !== undefined) continue
      const text = await readFile(join(d, 'DONE'), 'utf8').catch(() => undefined)
      if (text !== undefined && text.trim() !== '') doneAtMs[k] = Number(text.trim()) * 1000
    }
    if (leechers.every((l) => l.child.exitCode !== null)) break
    await sleep(100)
  }
  const { cpuBusyFraction, cpuMsByRole } = await cpuMeter.read()
  const uploadTimeline = await stopSampler()
  const wireTxBytes = diffWireBytes(await fetchWireBytes(context), wireBefore)
  const originReadBytes = await fetchOriginBytesSent(context)
  for (const proc of [...leechers, seed, tracker]) await lab.stop(proc)

  const peers: PeerOutcome[] = []
  for (const [k, i] of context.peerHosts.entries()) {
    const output = join(leechDirs[k] ?? '', name)
    const at = doneAtMs[k]
    let error: string | undefined
    if (at === undefined) error = `not complete after ${context.timeoutMs} ms: ${leechers[k]?.output().stderr.trim().slice(-500) ?? ''}`
    else error = await checkOutput(output, context.fileSha256)
    peers.push({ host: i, ip: lab.ip(i), completionMs: error === undefined && at !== undefined ? at - startEpochMs : null, ...(error === undefined ? {} : { error }) })
  }
  await rm(dir, { recursive: true, force: true })

  // aria2c keeps no upload totals without RPC; split the N·F payload bytes in the ratio of
  // the hosts' wire bytes (headers are the same share of both).
  const payload = context.fileSizeBytes * peers.filter((p) => p.completionMs !== null).length
  const uploads = wireTxBytes.supernode + wireTxBytes.peers
  const seedShare = uploads > 0 ? wireTxBytes.supernode / uploads : 0
  return {
    system: 'bittorrent',
    peers,
    originReadBytes,
    // The seed's wire bytes include its fetch request to the origin (a few hundred bytes).
    supernodeServedBytes: payload * seedShare,
    peersServedBytes: payload * (1 - seedShare),
    servedBytesSource: 'estimated: N·F split in the ratio of the seed\'s and the leechers\' wire bytes',
    wireTxBytes,
    cpuBusyFraction,
    cpuMsByRole,
    uploadTimeline,
    seedFetchMs,
    notes: [`aria2c ${ARIA2_OPTIONS.join(' ')}`, `torrent piece size ${2 ** torrentPieceLog2(context.fileSizeBytes) / 1024} KiB`],
  }
}

/** sha1 of the bencoded `info` dictionary of a .torrent file. */
export function infoHashOf (torrent: Buffer): Buffer {
  if (torrent[0] !== 0x64) throw new Error('torrent: not a bencoded dictionary')
  let pos = 1
  while (pos < torrent.length && torrent[pos] !== 0x65) {
    const keyEnd = skipBencode(torrent, pos)
    const key = torrent.subarray(torrent.indexOf(0x3a, pos) + 1, keyEnd).toString('latin1')
    const valueEnd = skipBencode(torrent, keyEnd)
    if (key === 'info') return createHash('sha1').update(torrent.subarray(keyEnd, valueEnd)).digest()
    pos = valueEnd
  }
  throw new Error('torrent: no info dictionary')
}

/** The end offset of the bencoded value starting at `pos`. */
function skipBencode (buf: Buffer, pos: number): number {
  const c = buf[pos]
  if (c === 0x69) return buf.indexOf(0x65, pos) + 1 // i…e
  if (c === 0x6c || c === 0x64) { // l…e, d…e
    let p = pos + 1
    while (p < buf.length && buf[p] !== 0x65) p = skipBencode(buf, p)
    return p + 1
  }
  const colon = buf.indexOf(0x3a, pos)
  const length = Number(buf.subarray(pos, colon).toString('latin1'))
  if (colon < 0 || !Number.isInteger(length)) throw new Error(`torrent: bad bencode at ${pos}`)
  return colon + 1 + length
}

function percentEncode (bytes: Buffer): string {
  return [...bytes].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')
}

/** The tracker's scrape answer for our torrent, or undefined when it does not answer. */
async function scrape (context: SwarmContext, url: string): Promise<{ complete: number } | undefined> {
  const result = await context.lab.run(context.supernodeHost, 'curl', ['-sS', '-f', '--max-time', '2', url])
  if (result.exitCode !== 0) return undefined
  const match = /8:completei(\d+)e/.exec(result.stdout)
  return { complete: match === null ? 0 : Number(match[1]) }
}

async function waitFor (condition: () => Promise<boolean>, timeoutMs: number, what: string, proc: LabProcess): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!(await condition())) {
    if (proc.child.exitCode !== null) throw new Error(`${what} exited: ${proc.output().stderr.trim().slice(-1000)}`)
    if (performance.now() > deadline) throw new Error(`${what} was not ready within ${timeoutMs} ms: ${proc.output().stderr.trim().slice(-1000)}`)
    await sleep(100)
  }
}
