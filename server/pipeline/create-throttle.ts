// Chooses the throttle the configuration asks for.
import type { BackfillConfig } from '../config/index.js'
import { StaticThrottle, type Throttle } from './throttle.js'

export function createThrottle(config: BackfillConfig): Throttle {
  return new StaticThrottle(config.throttle, config.profile)
}
