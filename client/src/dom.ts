// Small DOM helpers. Everything that comes from data goes in through textContent (never innerHTML), so a log line
// or a record like `<img src=x onerror=alert(1)>` is shown as text.

/** The element marked `data-field="name"` (throws if the page lacks it: a template/code mismatch is a bug). */
export function field<T extends Element = HTMLElement>(name: string, root: ParentNode = document): T {
  const el = root.querySelector<T & Element>(`[data-field="${name}"]`)
  if (!el) throw new Error(`dashboard template has no [data-field="${name}"]`)
  return el as T
}

export function setText(name: string, text: string, root: ParentNode = document): void {
  const el = field(name, root)
  if (el.textContent !== text) el.textContent = text
}

/** Creates an element with text content and optional classes. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, className?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag)
  if (text !== undefined) node.textContent = text
  if (className) node.className = className
  return node
}

/** A bar's fill as a fraction 0..1 (CSSOM, which a `default-src 'self'` policy allows; style attributes it would not). */
export function setBar(name: string, fraction: number | null, root: ParentNode = document): void {
  const bar = field(name, root)
  const fill = bar.querySelector<HTMLElement>('.bar-fill')
  const f = fraction === null || !Number.isFinite(fraction) ? 0 : Math.max(0, Math.min(1, fraction))
  if (fill) fill.style.width = `${(f * 100).toFixed(2)}%`
  bar.setAttribute('aria-valuenow', String(Math.round(f * 1000) / 10))
  bar.classList.toggle('unknown', fraction === null)
}

export function setLevel(name: string, level: 'ok' | 'warn' | 'bad', root: ParentNode = document): void {
  const node = field(name, root)
  node.classList.toggle('level-ok', level === 'ok')
  node.classList.toggle('level-warn', level === 'warn')
  node.classList.toggle('level-bad', level === 'bad')
}
