import { describe, expect, it } from 'vitest'
import { listingSources } from '../../../server/repos/repo-lister.js'

describe('listing sources', () => {
  it('names the relay and each PDS by host, and reads ws(s) URLs as http(s)', () => {
    expect(listingSources('wss://relay.example.com', ['https://pds.example.com', 'http://127.0.0.1:2583/'])).toEqual([
      { name: 'relay', baseUrl: 'https://relay.example.com', host: null },
      { name: 'pds:pds.example.com', baseUrl: 'https://pds.example.com', host: 'pds.example.com' },
      { name: 'pds:127.0.0.1:2583', baseUrl: 'http://127.0.0.1:2583', host: '127.0.0.1:2583' },
    ])
    expect(() => listingSources('ftp://relay.example.com', [])).toThrow(/expected an http\(s\) or ws\(s\) URL, got protocol ftp:/)
  })
})
