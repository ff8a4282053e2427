import { describe, expect, it } from 'vitest'
import { clientBlock } from '../../src/plugins/login-throttle.js'

describe('clientBlock (the client key of the login throttle)', () => {
  it.each([
    ['203.0.113.7', '203.0.113.7'],
    ['2001:db8:7:1::1', '2001:db8:7:1::/64'],
    ['2001:0DB8:0007:0001:ffff:ab:cd:ef', '2001:db8:7:1::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['::ffff:198.51.100.9', '198.51.100.9'],
    ['::ffff:c633:6409', '198.51.100.9'],
    ['64:ff9b::198.51.100.9', '64:ff9b:0:0::/64'],
  ])('%s → %s', (address, block) => expect(clientBlock(address)).toBe(block))
})
