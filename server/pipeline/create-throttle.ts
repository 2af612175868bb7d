// Chooses the throttle the configuration asks for: a profile's fixed values, the adaptive governor, or a schedule
// that switches between them by local time. Explicitly set variables override every profile's values.
import type { BackfillConfig } from '../config/index.js'
import { PROFILES, type ProfileName, type ThrottleSettings } from '../config/profiles.js'
import { profileAt, type Schedule } from '../config/schedule.js'
import { AdaptiveThrottle, type GovernorSample } from './governor.js'
import { StaticThrottle, type BatchObservation, type Throttle } from './throttle.js'

export type ThrottleDeps = { sample: () => GovernorSample; log: (line: string) => void; now?: () => Date }

function withOverrides(config: BackfillConfig, profile: ProfileName): ThrottleSettings {
  const settings = { ...PROFILES[profile] }
  for (const key of Object.keys(config.explicit) as (keyof ThrottleSettings)[]) {
    Object.assign(settings, { [key]: config.throttle[key] })
  }
  return settings
}

function throttleFor(config: BackfillConfig, profile: ProfileName, deps: ThrottleDeps): Throttle {
  const base = withOverrides(config, profile)
  if (profile !== 'adaptive') return new StaticThrottle(base, profile)
  return new AdaptiveThrottle({
    base,
    fixed: { batchSize: config.explicit.batchSize, batchDelayMs: config.explicit.batchDelayMs },
    budget: { maxCpuPercent: config.maxCpuPercent, maxLagMs: config.maxLagMs },
    sample: deps.sample,
    log: deps.log,
  })
}

/** Switches profile when the local time enters another rule's range; each profile keeps its own throttle state. */
export class ScheduledThrottle implements Throttle {
  private readonly throttles = new Map<ProfileName, Throttle>()
  private active: ProfileName | null = null

  constructor(
    private readonly schedule: Schedule,
    private readonly make: (profile: ProfileName) => Throttle,
    private readonly log: (line: string) => void,
    private readonly now: () => Date = () => new Date(),
  ) {}

  current(): ThrottleSettings {
    return this.throttle().current()
  }

  observe(observation: BatchObservation): void {
    this.throttle().observe(observation)
  }

  describe(): string {
    return `schedule → ${this.throttle().describe()}`
  }

  budget() {
    return this.throttle().budget()
  }

  private throttle(): Throttle {
    const profile = profileAt(this.schedule, this.now())
    if (profile !== this.active) {
      if (this.active !== null) this.log(`Schedule: switching from ${this.active} to ${profile}`)
      this.active = profile
    }
    let t = this.throttles.get(profile)
    if (!t) this.throttles.set(profile, (t = this.make(profile)))
    return t
  }
}

export function createThrottle(config: BackfillConfig, deps: ThrottleDeps): Throttle {
  if (config.schedule) {
    return new ScheduledThrottle(config.schedule, (p) => throttleFor(config, p, deps), deps.log, deps.now)
  }
  return throttleFor(config, config.profile, deps)
}

/** The pool must serve the largest concurrency any scheduled profile may ask for. */
export function poolSizeFor(config: BackfillConfig): number {
  if (!config.schedule) return config.throttle.dbPoolSize
  return Math.max(...config.schedule.map((rule) => withOverrides(config, rule.profile).dbPoolSize))
}
