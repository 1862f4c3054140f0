/** TotalsView: the swarm's headline numbers — bytes by source, origin spared, peers, tasks. */
import type { DashboardSnapshot } from '../../../src/protocol/messages/dashboard.js'
import { el, setText } from './dom.js'
import { formatBytes, formatShare } from './format.js'

interface Card { readonly value: HTMLElement, readonly note: HTMLElement }

export class TotalsView {
  readonly #cards = new Map<string, Card>()

  constructor (root: HTMLElement) {
    for (const [key, label] of [
      ['delivered', 'Delivered to peers'],
      ['peers', 'Served by peers'],
      ['supernode', 'Served by supernode'],
      ['spared', 'Origin spared'],
      ['origin', 'Read from origin'],
      ['swarm', 'Swarm'],
    ] as const) {
      const value = el('div', 'card-value', '–')
      const note = el('div', 'card-note', '')
      root.append(el('div', `card card-${key}`, [el('div', 'card-label', label), value, note], { 'data-card': key }))
      this.#cards.set(key, { value, note })
    }
  }

  update (snapshot: DashboardSnapshot): void {
    const t = snapshot.totals
    const running = snapshot.tasks.filter((task) => task.state === 'pending' || task.state === 'running' || task.clients > task.clientsDone + task.clientsFailed).length
    this.#set('delivered', formatBytes(t.deliveredBytes), `${formatBytes(t.fromSourceBytes)} back-source`)
    this.#set('peers', formatShare(t.peerShare), formatBytes(t.fromPeersBytes))
    this.#set('supernode', formatBytes(t.fromSupernodeBytes), t.deliveredBytes === 0 ? '' : formatShare(t.fromSupernodeBytes / t.deliveredBytes))
    this.#set('spared', formatBytes(t.originSparedBytes), t.originBytes === 0 ? '' : `delivered ${(t.deliveredBytes / t.originBytes).toFixed(1)}× what it sent`)
    this.#set('origin', formatBytes(t.originBytes), 'CDN + back-source')
    this.#set('swarm', `${snapshot.peers} peer${snapshot.peers === 1 ? '' : 's'}`, `${snapshot.tasks.length} task${snapshot.tasks.length === 1 ? '' : 's'}, ${running} active`)
  }

  #set (key: string, value: string, note: string): void {
    const card = this.#cards.get(key)
    if (card === undefined) return
    setText(card.value, value)
    setText(card.note, note)
  }
}
