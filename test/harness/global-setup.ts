// Starts what every test file shares, once per `npm test`. Filled in as the harness grows.
export default async function setup() {
  return async () => {}
}
