/**
 * A small SVG line chart, enough for the swarm lab's two pictures: per-peer completion CDFs
 * (one N) and completion time against N (a sweep). No dependencies; the output is a
 * standalone SVG file that GitHub and browsers render.
 */

/** One line. */
export interface ChartSeries {
  readonly name: string
  readonly color: string
  readonly points: readonly (readonly [number, number])[]
  readonly dashed?: boolean
  /** Draw a marker at each point. */
  readonly markers?: boolean
}

/** A vertical reference line (e.g. the bound on a time axis). */
export interface ChartMarkerLine {
  readonly x: number
  readonly label: string
  readonly color: string
}

export interface ChartSpec {
  readonly title: string
  readonly xLabel: string
  readonly yLabel: string
  readonly series: readonly ChartSeries[]
  readonly verticalLines?: readonly ChartMarkerLine[]
  /** Fixed y range (e.g. [0, 1] for a CDF); default 0 … the data's max. */
  readonly yMax?: number
  /** Fixed end of the x axis (data past it must be cut by the caller). */
  readonly xMax?: number
  /** X ticks at exactly these values (e.g. the N of a sweep). */
  readonly xTicks?: readonly number[]
  readonly yFormat?: (y: number) => string
}

const WIDTH = 860
const HEIGHT = 440
const MARGIN = { left: 70, right: 250, top: 44, bottom: 56 }

/** "Nice" tick step for a range: 1, 2 or 5 × 10^k, about `count` ticks. */
export function niceStep (range: number, count = 6): number {
  if (!(range > 0)) return 1
  const raw = range / count
  const power = 10 ** Math.floor(Math.log10(raw))
  const fraction = raw / power
  const nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10
  return nice * power
}

function escapeXml (text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

function formatTick (value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(Math.max(0, -Math.floor(Math.log10(Math.abs(value) || 1)) + 1))
}

export function renderLineChart (spec: ChartSpec): string {
  const xs = [...spec.series.flatMap((s) => s.points.map((p) => p[0])), ...(spec.verticalLines ?? []).map((l) => l.x), ...(spec.xTicks ?? [])]
  const ys = spec.series.flatMap((s) => s.points.map((p) => p[1]))
  const xMin = 0
  const xEnd = spec.xMax ?? Math.max(...xs, 1)
  const xStep = niceStep(xEnd - xMin)
  // Given ticks (the N of a sweep) sit inside the axis, not on its right edge.
  const xMax = spec.xTicks === undefined ? Math.ceil(xEnd / xStep) * xStep : Math.max(...spec.xTicks) * 1.08
  const yStep = niceStep(spec.yMax ?? Math.max(...ys, 1))
  const yMax = spec.yMax ?? Math.ceil(Math.max(...ys, 1) / yStep) * yStep
  const plotW = WIDTH - MARGIN.left - MARGIN.right
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom
  const sx = (x: number): number => MARGIN.left + (xMax === xMin ? plotW / 2 : ((x - xMin) / (xMax - xMin)) * plotW)
  const sy = (y: number): number => MARGIN.top + plotH - (y / yMax) * plotH
  const yFormat = spec.yFormat ?? formatTick
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${MARGIN.left}" y="24" font-size="15" font-weight="bold">${escapeXml(spec.title)}</text>`,
  ]
  const xTicks = spec.xTicks !== undefined ? [0, ...spec.xTicks] : Array.from({ length: Math.round((xMax - xMin) / xStep) + 1 }, (_, k) => xMin + k * xStep)
  for (const x of xTicks) {
    out.push(`<line x1="${sx(x).toFixed(1)}" y1="${MARGIN.top}" x2="${sx(x).toFixed(1)}" y2="${MARGIN.top + plotH}" stroke="#eee"/>`)
    out.push(`<text x="${sx(x).toFixed(1)}" y="${MARGIN.top + plotH + 18}" text-anchor="middle">${escapeXml(formatTick(x))}</text>`)
  }
  for (let y = 0; y <= yMax + 1e-9; y += yStep) {
    out.push(`<line x1="${MARGIN.left}" y1="${sy(y).toFixed(1)}" x2="${MARGIN.left + plotW}" y2="${sy(y).toFixed(1)}" stroke="#eee"/>`)
    out.push(`<text x="${MARGIN.left - 8}" y="${(sy(y) + 4).toFixed(1)}" text-anchor="end">${escapeXml(yFormat(y))}</text>`)
  }
  out.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#888"/>`)
  out.push(`<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 14}" text-anchor="middle">${escapeXml(spec.xLabel)}</text>`)
  out.push(`<text transform="translate(18 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escapeXml(spec.yLabel)}</text>`)
  for (const line of spec.verticalLines ?? []) {
    const x = sx(line.x).toFixed(1)
    out.push(`<line x1="${x}" y1="${MARGIN.top}" x2="${x}" y2="${MARGIN.top + plotH}" stroke="${line.color}" stroke-width="1.5" stroke-dasharray="6 4"/>`)
    out.push(`<text x="${(sx(line.x) - 4).toFixed(1)}" y="${MARGIN.top + plotH - 8}" text-anchor="end" fill="${line.color}">${escapeXml(line.label)}</text>`)
  }
  let legendY = MARGIN.top + 8
  for (const series of spec.series) {
    if (series.points.length > 0) {
      const path = series.points.map((p, k) => `${k === 0 ? 'M' : 'L'}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(' ')
      out.push(`<path d="${path}" fill="none" stroke="${series.color}" stroke-width="2"${series.dashed === true ? ' stroke-dasharray="6 4"' : ''}/>`)
      if (series.markers === true) {
        for (const p of series.points) out.push(`<circle cx="${sx(p[0]).toFixed(1)}" cy="${sy(p[1]).toFixed(1)}" r="3.5" fill="${series.color}"/>`)
      }
    }
    const lx = MARGIN.left + plotW + 14
    out.push(`<line x1="${lx}" y1="${legendY}" x2="${lx + 22}" y2="${legendY}" stroke="${series.color}" stroke-width="2"${series.dashed === true ? ' stroke-dasharray="6 4"' : ''}/>`)
    for (const [k, text] of wrapWords(series.name, 30).entries()) {
      out.push(`<text x="${lx + 28}" y="${legendY + 4 + k * 15}">${escapeXml(text)}</text>`)
      if (k > 0) legendY += 15
    }
    legendY += 20
  }
  out.push('</svg>', '')
  return out.join('\n')
}

/** Splits text into lines of at most `width` characters, at spaces. */
function wrapWords (text: string, width: number): string[] {
  const lines: string[] = []
  let line = ''
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line)
      line = word
    } else {
      line = line === '' ? word : `${line} ${word}`
    }
  }
  if (line !== '') lines.push(line)
  return lines
}

/** The points of an empirical CDF drawn as steps: (t, k/n) for the sorted times. */
export function cdfPoints (times: readonly number[], total: number): [number, number][] {
  const sorted = [...times].sort((a, b) => a - b)
  const points: [number, number][] = [[0, 0]]
  for (const [k, t] of sorted.entries()) {
    points.push([t, k / total], [t, (k + 1) / total])
  }
  return points
}
