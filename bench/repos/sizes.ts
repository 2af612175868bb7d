// How many records each repository of a repo workload holds: a realistic mix, most repositories small and a few
// very large, as a pure function of the seed. Tiers give the shape (a count of repositories around a mean size);
// sizes inside a tier vary by ±50% so no two repositories look alike, except the top tier, whose sizes are exact.
import { Rng } from '../source/prng.js'

export type SizeTier = { repos: number; meanRecords: number }

export type RepoWorkloadParams = { seed: string; tiers: SizeTier[] }

/** ~1.06M records in 5,000 repositories: two of 100k+, most under a hundred. */
export const FULL_REPOS: RepoWorkloadParams = {
  seed: 'skyfill-repos',
  tiers: [
    { repos: 2, meanRecords: 120_000 },
    { repos: 8, meanRecords: 20_000 },
    { repos: 90, meanRecords: 3_000 },
    { repos: 900, meanRecords: 300 },
    { repos: 4_000, meanRecords: 30 },
  ],
}

/** ~50k records in 500 repositories, the same shape scaled down. */
export const QUICK_REPOS: RepoWorkloadParams = {
  seed: 'skyfill-repos',
  tiers: [
    { repos: 1, meanRecords: 10_000 },
    { repos: 4, meanRecords: 2_500 },
    { repos: 45, meanRecords: 400 },
    { repos: 450, meanRecords: 27 },
  ],
}

/**
 * Records per repository, in the order the repositories are listed: shuffled, so a listing does not hand out the
 * big ones first or last. Every repository holds at least its profile record.
 */
export function repoSizes(params: RepoWorkloadParams): number[] {
  const rng = new Rng(`${params.seed}:sizes`)
  const sizes: number[] = []
  params.tiers.forEach((tier, i) => {
    for (let r = 0; r < tier.repos; r++) {
      const exact = i === 0
      sizes.push(Math.max(1, exact ? tier.meanRecords : Math.round(tier.meanRecords * (0.5 + rng.next()))))
    }
  })
  for (let i = sizes.length - 1; i > 0; i--) {
    const j = rng.int(i + 1)
    ;[sizes[i], sizes[j]] = [sizes[j], sizes[i]]
  }
  return sizes
}
