/**
 * PeerRow: one cid of the selected task — its host, its piece map filling in, its download
 * rate, where its bytes came from (origin, supernode, peers), what its peer uploaded, and
 * any source it was cut off from or why it failed.
 */
import type { DashboardClient } from '../../../src/protocol/messages/dashboard.js'
import { el, setText } from './dom.js'
import { formatBytes, formatRate, formatShare } from './format.js'
import { PieceMapView } from './piece-map.js'

export class PeerRow {
  readonly element: HTMLElement
  readonly map: PieceMapView
  readonly #host = el('span', 'peer-host')
  readonly #cid = el('span', 'peer-cid')
  readonly #address = el('span', 'peer-address')
  readonly #status = el('span', 'badge')
  readonly #pieces = el('span', 'peer-pieces')
  readonly #percent = el('span', 'peer-percent')
  readonly #rate = el('span', 'peer-rate')
  readonly #sourceBar = el('div', 'source-bar')
  readonly #sourceSegments = { source: el('span', 'seg seg-source'), supernode: el('span', 'seg seg-supernode'), peers: el('span', 'seg seg-peers') }
  readonly #fromPeers = el('span', 'from-peers')
  readonly #fromSupernode = el('span', 'from-supernode')
  readonly #fromSource = el('span', 'from-source')
  readonly #sourceText = el('div', 'source-text', [this.#fromPeers, this.#fromSupernode, this.#fromSource])
  readonly #uploaded = el('span', 'peer-uploaded')
  readonly #notes = el('div', 'peer-notes')

  constructor (cid: string) {
    this.map = new PieceMapView('peer', `pieces of ${cid}`)
    this.#sourceBar.append(this.#sourceSegments.source, this.#sourceSegments.supernode, this.#sourceSegments.peers)
    this.element = el('article', 'peer', [
      el('div', 'peer-id', [el('div', 'peer-title', [this.#host, this.#status]), this.#address, this.#cid]),
      el('div', 'peer-progress', [this.map.element, el('div', 'peer-progress-text', [this.#percent, this.#pieces])]),
      el('div', 'peer-rate-cell', [el('span', 'cell-label', 'Rate'), this.#rate]),
      el('div', 'peer-sources', [el('span', 'cell-label', 'Came from'), this.#sourceBar, this.#sourceText]),
      el('div', 'peer-upload-cell', [el('span', 'cell-label', 'Uploaded'), this.#uploaded]),
      this.#notes,
    ], { 'data-cid': cid })
  }

  update (client: DashboardClient, pieceCount: number): void {
    setText(this.#host, client.hostName === '' ? client.peerId : client.hostName)
    setText(this.#cid, `cid ${client.cid}`)
    setText(this.#address, client.isPeerLive ? client.address : 'peer gone')
    this.element.title = `peer ${client.peerId}${client.isPeerLive ? ` at ${client.address}` : ' (gone)'}\ncid ${client.cid}`
    const status = !client.isPeerLive && client.status === 'running' ? 'left' : client.status
    setText(this.#status, status)
    this.#status.dataset.state = status === 'left' ? 'failed' : client.status
    const share = pieceCount === 0 ? 0 : client.donePieces / pieceCount
    setText(this.#percent, formatShare(share))
    setText(this.#pieces, `${client.donePieces}/${pieceCount} pieces${client.fetchingPieces > 0 ? ` · ${client.fetchingPieces} in flight` : ''}`)
    this.map.update(pieceCount, client.doneMap, client.fetchingMap)
    setText(this.#rate, formatRate(client.rateBytesPerSec))
    const total = client.fromSourceBytes + client.fromSupernodeBytes + client.fromPeersBytes
    const part = (bytes: number): string => `${total === 0 ? 0 : (bytes / total) * 100}%`
    this.#sourceSegments.source.style.setProperty('width', part(client.fromSourceBytes))
    this.#sourceSegments.supernode.style.setProperty('width', part(client.fromSupernodeBytes))
    this.#sourceSegments.peers.style.setProperty('width', part(client.fromPeersBytes))
    setText(this.#fromPeers, formatBytes(client.fromPeersBytes))
    setText(this.#fromSupernode, formatBytes(client.fromSupernodeBytes))
    setText(this.#fromSource, formatBytes(client.fromSourceBytes))
    this.#sourceText.title = `from peers ${formatBytes(client.fromPeersBytes)}, from the supernode ${formatBytes(client.fromSupernodeBytes)}, from the origin ${formatBytes(client.fromSourceBytes)}`
    setText(this.#uploaded, formatBytes(client.uploadedBytes))
    this.#updateNotes(client)
    Object.assign(this.element.dataset, { donePieces: String(client.donePieces), pieceCount: String(pieceCount), status })
  }

  #updateNotes (client: DashboardClient): void {
    const notes: HTMLElement[] = []
    if (client.problem !== undefined) notes.push(el('span', 'note note-problem', client.problem))
    for (const exclusion of client.excluded) notes.push(el('span', 'note note-excluded', `excluded ${exclusion.sourceId}: ${exclusion.reason}`))
    const key = notes.map((note) => note.textContent).join('\n')
    if (this.#notes.dataset.key === key) return
    this.#notes.dataset.key = key
    this.#notes.replaceChildren(...notes)
    this.#notes.hidden = notes.length === 0
  }
}
