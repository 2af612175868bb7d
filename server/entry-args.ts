// How the server process is started: `npm start` (package.json) runs `node` with exactly these arguments, and the
// bench's and the tests' server children take them from here, so all three run with the same Node options
// (server/node-options.env) and the same entry. Relative to the repository's root, the children's working directory.
export const SERVER_ENTRY_ARGS = ['--env-file=server/node-options.env', '--import', 'tsx', 'server/index.ts'] as const
