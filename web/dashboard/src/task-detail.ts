/**
 * TaskDetail: the selected task — its URL and byte breakdown, the CDN cache's piece map,
 * one PeerRow per cid (kept by cid so canvases are reused), and the list of cids that
 * failed or cut a source off.
 */
import type { DashboardTask, DashboardTaskDetail } from '../../../src/protocol/messages/dashboard.js'
import { el, setText } from './dom.js'
import { formatBytes, formatShare } from './format.js'
import { PeerRow } from './peer-row.js'
import { PieceMapView } from './piece-map.js'

export class TaskDetail {
  readonly element: HTMLElement
  readonly #url = el('div', 'detail-url')
  readonly #summary = el('div', 'detail-summary')
  readonly #cdnMap = new PieceMapView('cdn', 'pieces in the supernode\'s CDN cache')
  readonly #cdnText = el('span', 'peer-pieces')
  readonly #peers = el('div', 'peers')
  readonly #problems = el('ul', 'problems')
  readonly #problemsSection = el('section', 'problems-section', [el('h3', '', 'Failed or excluded'), this.#problems])
  readonly #rows = new Map<string, PeerRow>()

  constructor () {
    this.#problemsSection.hidden = true
    const legend = el('div', 'legend', [
      el('span', 'key key-done', 'received'), el('span', 'key key-fetching', 'in flight'), el('span', 'key key-missing', 'missing'),
      el('span', 'key key-peers', 'from peers'), el('span', 'key key-supernode', 'from supernode'), el('span', 'key key-source', 'from origin'),
    ])
    this.element = el('div', 'detail', [
      this.#url,
      this.#summary,
      legend,
      el('article', 'peer peer-cdn', [
        el('div', 'peer-id', [el('div', 'peer-title', [el('span', 'peer-host', 'CDN cache')]), el('span', 'peer-cid', 'on the supernode')]),
        el('div', 'peer-progress', [this.#cdnMap.element, el('div', 'peer-progress-text', [this.#cdnText])]),
      ]),
      this.#peers,
      this.#problemsSection,
    ])
  }

  update (task: DashboardTask, detail: DashboardTaskDetail): void {
    setText(this.#url, task.url)
    const b = task.bytes
    setText(this.#summary, [
      `${formatBytes(task.fileLengthBytes)} in ${task.pieceCount} pieces of ${formatBytes(task.pieceSizeBytes)}`,
      `delivered ${formatBytes(b.deliveredBytes)}: peers ${formatShare(b.peerShare)}, supernode ${formatBytes(b.fromSupernodeBytes)}, back-source ${formatBytes(b.fromSourceBytes)}`,
      `origin read ${formatBytes(b.originBytes)}, spared ${formatBytes(b.originSparedBytes)}`,
    ].join(' · '))
    this.#cdnMap.update(task.pieceCount, detail.cachedMap, '')
    setText(this.#cdnText, `${task.cachedPieces}/${task.pieceCount} pieces cached`)
    const seen = new Set<string>()
    const ordered = [...detail.clients].sort((x, y) => Date.parse(x.createdAt) - Date.parse(y.createdAt) || x.cid.localeCompare(y.cid))
    for (const [index, client] of ordered.entries()) {
      seen.add(client.cid)
      let row = this.#rows.get(client.cid)
      if (row === undefined) { row = new PeerRow(client.cid); this.#rows.set(client.cid, row) }
      if (this.#peers.children[index] !== row.element) this.#peers.insertBefore(row.element, this.#peers.children[index] ?? null)
      row.update(client, task.pieceCount)
    }
    for (const [cid, row] of this.#rows) {
      if (seen.has(cid)) continue
      row.element.remove()
      this.#rows.delete(cid)
    }
    const problems: HTMLElement[] = []
    for (const client of ordered) {
      if (client.problem !== undefined) problems.push(el('li', 'note-problem', `${client.hostName || client.peerId} (${client.cid}): ${client.problem}`))
      for (const exclusion of client.excluded) problems.push(el('li', 'note-excluded', `${client.hostName || client.peerId} (${client.cid}) no longer fetches from ${exclusion.sourceId}: ${exclusion.reason}`))
    }
    const key = problems.map((item) => item.textContent).join('\n')
    if (this.#problems.dataset.key !== key) {
      this.#problems.dataset.key = key
      this.#problems.replaceChildren(...problems)
    }
    this.#problemsSection.hidden = problems.length === 0
  }

  /** Redraws the piece maps at their new size. */
  redraw (): void {
    this.#cdnMap.redraw()
    for (const row of this.#rows.values()) row.map.redraw()
  }
}
