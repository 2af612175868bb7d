import { describe, expect, it } from 'vitest'
import { describeAddress, isPublicAddress } from '../../../server/net/address-guard.js'

describe('the address guard', () => {
  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '44.202.11.9',
    '100.63.255.255',
    '100.128.0.0',
    '172.15.255.255',
    '172.32.0.1',
    '192.167.1.1',
    '192.169.0.1',
    '169.253.255.255',
    '223.255.255.255',
    '2606:4700:4700::1111',
    '2a03:2880:f10d:83:face:b00c::25de',
    '2001:4860:4860::8888',
    '::ffff:8.8.8.8',
    '::ffff:0808:0808',
    '64:ff9b::8.8.8.8',
    '2002:0808:0808::1',
  ])('lets %s through as public', (ip) => {
    expect(describeAddress(ip)).toBeNull()
    expect(isPublicAddress(ip)).toBe(true)
  })

  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['100.127.255.255', 'carrier-grade NAT'],
    ['169.254.169.254', 'link-local'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'this network'],
    ['255.255.255.255', 'broadcast'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['192.0.0.8', 'IETF protocol'],
    ['192.0.2.10', 'documentation'],
    ['198.51.100.7', 'documentation'],
    ['203.0.113.99', 'documentation'],
    ['198.18.0.1', 'benchmarking'],
    ['198.19.255.255', 'benchmarking'],
    ['192.88.99.1', '6to4 relay'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['[::1]', 'loopback'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['febf:ffff::1', 'link-local'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456:789a::1', 'unique-local'],
    ['fec0::1', 'site-local'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'documentation'],
    ['3fff::1', 'documentation'],
    ['2001::1', 'Teredo'],
    ['100::1', 'discard'],
    ['::ffff:127.0.0.1', 'IPv4-mapped 127.0.0.1: loopback'],
    ['::ffff:7f00:1', 'IPv4-mapped 127.0.0.1: loopback'],
    ['::FFFF:10.1.2.3', 'IPv4-mapped 10.1.2.3: private'],
    ['::ffff:169.254.169.254', 'IPv4-mapped 169.254.169.254: link-local'],
    ['::ffff:0:192.168.0.1', 'IPv4-translated 192.168.0.1: private'],
    ['::127.0.0.1', 'IPv4-compatible 127.0.0.1: loopback'],
    ['::10.0.0.1', 'IPv4-compatible 10.0.0.1: private'],
    ['64:ff9b::127.0.0.1', 'NAT64 127.0.0.1: loopback'],
    ['64:ff9b::a00:1', 'NAT64 10.0.0.1: private'],
    ['64:ff9b:1::1', 'local-use NAT64'],
    ['2002:7f00:1::', '6to4 127.0.0.1: loopback'],
    ['2002:c0a8:101::1', '6to4 192.168.1.1: private'],
    ['::2', 'outside global unicast'],
    ['4000::1', 'outside global unicast'],
  ])('refuses %s as %s', (ip, reason) => {
    expect(describeAddress(ip)).toContain(reason)
    expect(isPublicAddress(ip)).toBe(false)
  })

  it.each([
    'localhost',
    'example.com',
    '',
    '1.2.3',
    '1.2.3.4.5',
    '256.1.1.1',
    '01.2.3.4',
    '0x7f.0.0.1',
    '1::2::3',
    '12345::',
    ':::',
    'g::1',
    '1:2:3:4:5:6:7:8:9',
  ])('refuses %j, which is not an IP address', (text) => {
    expect(describeAddress(text)).toContain('not an IP address')
    expect(isPublicAddress(text)).toBe(false)
  })
})
