/**
 * Per request: through the swarm or direct, and to which URL (Dragonfly 1.x's `proxies`
 * rules). Rules are ordered; the first whose regular expression matches the full upstream
 * URL decides. `direct: true` sends the request straight to the upstream; otherwise the
 * request goes through the swarm (when it is a download the swarm can serve: a GET without
 * Range). `use_https` upgrades the URL to https; `redirect` replaces its host (or, when it
 * holds a scheme, its scheme and host). No matching rule means direct.
 */

/** One rule as configured. */
export interface ProxyRule {
  /** Regular expression matched against the full URL. */
  readonly pattern: string
  /** Pass the request straight to the upstream. */
  readonly direct?: boolean
  /** Rewrite http:// to https://. */
  readonly useHttps?: boolean
  /** New host ("registry:5000") or origin ("https://registry:5000") for the URL. */
  readonly redirect?: string
}

/** What to do with one request. */
export interface RouteDecision {
  readonly route: 'swarm' | 'direct'
  /** The upstream URL after use_https and redirect. */
  readonly url: URL
  /** Index of the rule that decided, or -1 when none matched. */
  readonly ruleIndex: number
}

interface CompiledRule {
  readonly rule: ProxyRule
  readonly regex: RegExp
}

/** The compiled rule list. Stateless after construction. */
export class RoutingRules {
  readonly #rules: readonly CompiledRule[]

  /** @throws SyntaxError on a bad pattern (the config resolver validates them first). */
  constructor (rules: readonly ProxyRule[]) {
    this.#rules = rules.map((rule) => ({ rule, regex: new RegExp(rule.pattern) }))
  }

  /** Decides the route of `url` (not modified). */
  decide (url: URL): RouteDecision {
    const text = url.href
    for (const [index, { rule, regex }] of this.#rules.entries()) {
      if (!regex.test(text)) continue
      return { route: rule.direct === true ? 'direct' : 'swarm', url: rewriteUrl(url, rule), ruleIndex: index }
    }
    return { route: 'direct', url: new URL(url.href), ruleIndex: -1 }
  }
}

/** Applies a rule's use_https and redirect to a copy of `url`. */
export function rewriteUrl (url: URL, rule: ProxyRule): URL {
  const out = new URL(url.href)
  if (rule.useHttps === true && out.protocol === 'http:') {
    out.protocol = 'https:'
    if (out.port === '80') out.port = ''
  }
  if (rule.redirect !== undefined && rule.redirect !== '') {
    const target = new URL(rule.redirect.includes('://') ? rule.redirect : `${out.protocol}//${rule.redirect}`)
    out.protocol = target.protocol
    out.hostname = target.hostname
    out.port = target.port
  }
  return out
}
