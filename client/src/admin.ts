// Pause/Resume. Offered only once an admin token is entered; the token stays in sessionStorage (this tab only,
// gone when it closes) and goes out as `Authorization: Bearer <token>`. 401 and 403 are told apart: a rejected
// token is forgotten and asked for again; a server with controls disabled keeps it and says how to enable them.
import type { BackfillProgress } from './types.js'
import { field } from './dom.js'

const STORAGE_KEY = 'skyfill.adminToken'

/** The admin token this tab holds, if any (the audit card reads it too). */
export function readToken(): string | null {
  try {
    return sessionStorage.getItem(STORAGE_KEY)
  } catch {
    return null
  }
}

function writeToken(token: string | null): void {
  try {
    if (token === null) sessionStorage.removeItem(STORAGE_KEY)
    else sessionStorage.setItem(STORAGE_KEY, token)
  } catch {
    // Storage can be disabled; the token then lasts as long as the page.
  }
}

export class AdminControls {
  private token: string | null = readToken()
  private busy = false
  private progress: BackfillProgress | null = null
  private readonly form = field<HTMLFormElement>('token-form')
  private readonly input = field<HTMLInputElement>('token-input')
  private readonly controls = field('controls')
  private readonly pauseButton = field<HTMLButtonElement>('pause')
  private readonly resumeButton = field<HTMLButtonElement>('resume')
  private readonly forgetButton = field<HTMLButtonElement>('forget-token')
  private readonly message = field('control-message')

  constructor() {
    this.form.addEventListener('submit', (e) => {
      e.preventDefault()
      const token = this.input.value.trim()
      if (!token) {
        this.say('Enter the server’s ADMIN_TOKEN to unlock the controls.', 'error')
        return
      }
      this.token = token
      writeToken(token)
      this.input.value = ''
      this.say('')
      this.sync()
    })
    this.forgetButton.addEventListener('click', () => {
      this.token = null
      writeToken(null)
      this.say('Token forgotten.')
      this.sync()
    })
    this.pauseButton.addEventListener('click', () => void this.send('pause'))
    this.resumeButton.addEventListener('click', () => void this.send('resume'))
    this.sync()
  }

  update(progress: BackfillProgress): void {
    this.progress = progress
    this.sync()
  }

  private sync(): void {
    const unlocked = this.token !== null
    this.form.hidden = unlocked
    this.controls.hidden = !unlocked
    const p = this.progress
    const operatorPaused = p?.pausedBy.includes('operator') ?? false
    const inert = !p || p.state === 'off' || p.state === 'complete' || p.state === 'failed'
    this.pauseButton.disabled = this.busy || inert || operatorPaused
    this.resumeButton.disabled = this.busy || !operatorPaused
  }

  private say(text: string, kind: 'ok' | 'error' | 'info' = 'info'): void {
    this.message.textContent = text
    this.message.classList.toggle('error', kind === 'error')
    this.message.classList.toggle('ok', kind === 'ok')
    this.message.hidden = text === ''
  }

  private async send(action: 'pause' | 'resume'): Promise<void> {
    if (!this.token || this.busy) return
    this.busy = true
    this.sync()
    this.say(action === 'pause' ? 'Pausing…' : 'Resuming…')
    try {
      const res = await fetch(`api/backfill/${action}`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${this.token}`, Accept: 'application/json' },
        cache: 'no-store',
      })
      const body = (await res.json().catch(() => null)) as { state?: string; message?: string; error?: string } | null
      const detail = body?.message ?? body?.error ?? ''
      if (res.status === 401) {
        this.token = null
        writeToken(null)
        this.say(`401 Unauthorized: the server rejected this admin token${detail ? ` (${detail})` : ''}. Enter it again.`, 'error')
      } else if (res.status === 403) {
        this.say(`403 Forbidden: ${detail || 'the server refuses control requests'}.`, 'error')
      } else if (!res.ok) {
        this.say(`${action === 'pause' ? 'Pause' : 'Resume'} failed: HTTP ${res.status}${detail ? ` (${detail})` : ''}`, 'error')
      } else {
        this.say(`${action === 'pause' ? 'Paused' : 'Resumed'}: backfill is now ${body?.state ?? 'updated'}.`, 'ok')
      }
    } catch (err) {
      this.say(`Could not reach the server: ${err instanceof Error ? err.message : String(err)}`, 'error')
    } finally {
      this.busy = false
      this.sync()
    }
  }
}
