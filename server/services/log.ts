// Prefixed log lines ("[BACKFILL] ...") that are also kept, the last few, for the dashboard.
export type LogLine = { at: string; text: string }

export class ServiceLog {
  private readonly lines: LogLine[] = []

  constructor(
    readonly prefix: string,
    private readonly sink: (line: string) => void = (line) => console.log(line),
    private readonly keep = 50,
  ) {}

  readonly write = (text: string): void => {
    const line = `${this.prefix} ${text}`
    this.sink(line)
    this.lines.push({ at: new Date().toISOString(), text: line })
    if (this.lines.length > this.keep) this.lines.shift()
  }

  recent(): LogLine[] {
    return [...this.lines]
  }
}
