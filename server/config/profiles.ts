// The documented throttle profiles. `background` is the default: an appview on a small machine should not feel the
// backfill. `max` removes every deliberate pause; memory stays bounded by backpressure alone. `adaptive` starts
// small and lets the governor grow batch size and shrink the delay while CPU and event-loop lag stay in budget.

export const PROFILE_NAMES = ['background', 'moderate', 'fast', 'max', 'adaptive'] as const
export type ProfileName = (typeof PROFILE_NAMES)[number]

export type ThrottleSettings = {
  batchSize: number
  batchDelayMs: number
  maxConcurrent: number
  maxMemoryMb: number
  useIdle: boolean
  dbPoolSize: number
}

export const PROFILES: Record<ProfileName, ThrottleSettings> = {
  background: { batchSize: 5, batchDelayMs: 2000, maxConcurrent: 2, maxMemoryMb: 512, useIdle: true, dbPoolSize: 2 },
  moderate: { batchSize: 20, batchDelayMs: 1000, maxConcurrent: 5, maxMemoryMb: 1024, useIdle: true, dbPoolSize: 3 },
  fast: { batchSize: 50, batchDelayMs: 500, maxConcurrent: 10, maxMemoryMb: 2048, useIdle: false, dbPoolSize: 5 },
  max: { batchSize: 500, batchDelayMs: 0, maxConcurrent: 2, maxMemoryMb: 1024, useIdle: false, dbPoolSize: 2 },
  adaptive: { batchSize: 50, batchDelayMs: 500, maxConcurrent: 2, maxMemoryMb: 512, useIdle: true, dbPoolSize: 2 },
}
