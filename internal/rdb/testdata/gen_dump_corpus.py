#!/usr/bin/env python3
# Writes integration/testdata/diff/dump.txt from the golden payloads that
# redis-server 7.0.15 DUMPed (internal/rdb/testdata/golden.json) and a few
# hand-made bad or old-format payloads. Run from the repository root after
# recapturing the golden payloads:
#
#   SHOAL_RDB_CAPTURE=1 go test -run TestGoldenCapture ./internal/rdb
#   python3 internal/rdb/testdata/gen_dump_corpus.py
import json, struct, sys
G = {e['name']: e for e in json.load(open('internal/rdb/testdata/golden.json'))}

POLY = 0x95ac9329ac4bc9b5
T = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ POLY if c & 1 else c >> 1
    T.append(c)
def crc64(b):
    c = 0
    for x in b:
        c = T[(c ^ x) & 0xff] ^ (c >> 8)
    return c
def footer(obj, ver=10):
    b = bytes(obj) + struct.pack('<H', ver)
    return b + struct.pack('<Q', crc64(b))
def q(b):
    out = '"'
    for x in b:
        c = chr(x)
        if 32 <= x < 127 and c not in '"\\\'':
            out += c
        else:
            out += '\\x%02x' % x
    return out + '"'
def P(name):
    return bytes.fromhex(G[name]['payload'])

# How each golden case reads back: (command template, directive)
def reads(name, enc):
    k = 'r:' + name
    if name.startswith('str'):
        return [('GET ' + k, None)]
    if name.startswith('list'):
        return [('LRANGE %s 0 -1' % k, None), ('LLEN ' + k, None)]
    if name.startswith('hash'):
        return [('HGETALL ' + k, None if enc == 'listpack' else '!sort'), ('HLEN ' + k, None)]
    if name.startswith('set'):
        return [('SMEMBERS ' + k, None if enc == 'intset' else '!sort'), ('SCARD ' + k, None)]
    if name.startswith('zset'):
        return [('ZRANGE %s 0 -1 WITHSCORES' % k, None), ('ZCARD ' + k, None)]
    raise Exception(name)

L = []
w = L.append
w('''# DUMP and RESTORE (Redis 7.0, RDB version 10 payloads). DUMP is compared
# byte for byte where Shoal keeps Redis's element order (strings, listpack
# hashes and sorted sets, intsets, lists built by RPUSH or small LPUSHes);
# RESTORE gets payloads captured from redis-server 7.0.15
# (internal/rdb/testdata/golden.json, in literal form here: regenerate both
# together with internal/rdb/testdata/gen_dump_corpus.py) and the values are read back with each type's read commands,
# TYPE and OBJECT ENCODING. Then every error path, REPLACE, ABSTTL, TTLs,
# IDLETIME and FREQ.
FLUSHALL

# --- DUMP byte for byte
DUMP nokey
SET s hello
DUMP s
SET s ""
DUMP s
SET s -5
DUMP s
SET s 12345
DUMP s
SET s -100000
DUMP s
SET s 12345678901
DUMP s
SET s 007
DUMP s
SET s aaaaaaaaaaaaaaaaaaaaa
DUMP s
SET s %s
DUMP s
SET s %s
DUMP s
SET s "\\x00\\xff\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\r\\n"
DUMP s
APPEND s tail
DUMP s
INCR n
INCRBY n 1000000
DUMP n
RPUSH l a b 1 2 -100 5000 100000 "" -9999999999 9223372036854775807 %s
DUMP l
LPUSH l2 a b c 17
DUMP l2
HSET h f1 v1 f2 2 num -42 empty ""
DUMP h
HDEL h f2
DUMP h
SADD si 3 1 2 -7
DUMP si
SADD si 100000
DUMP si
SADD si 9999999999
DUMP si
ZADD z 1 a 2.5 b -3 c inf d -inf e 0 f -0 g 1e20 h 0.1 i 4611686018427387904 j -1.5e-300 l
DUMP z
ZINCRBY z 0.5 a
DUMP z
''' % ('a' * 200, 'hello world, ' * 50, 'x' * 70))

# multi-node list and big hash via many args
w('RPUSH biglist ' + ' '.join('element-%d' % i for i in range(3000)))
w('DUMP biglist')
w('RPUSH bigints ' + ' '.join(str(i * 37) for i in range(5000)))
w('DUMP bigints')
w('HSET h512 ' + ' '.join('field:%d %d' % (i, i) for i in range(512)))
w('DUMP h512')
w('ZADD z128 ' + ' '.join('%d m%d' % (i % 10, i) for i in range(128)))
w('DUMP z128')
w('SADD s512 ' + ' '.join(str(i * 3 - 700) for i in range(512)))
w('DUMP s512')
w('')
w('# --- RESTORE of redis-server 7.0.15 payloads, read back')
for name, e in G.items():
    k = 'r:' + name
    w('RESTORE %s 0 %s' % (k, q(P(name))))
    w('TYPE ' + k)
    w('OBJECT ENCODING ' + k)
    for cmd, d in reads(name, e['encoding']):
        if d:
            w(d)
        w(cmd)
w('')
w('''# Restored values DUMP again as Redis does (same order only).
DUMP r:str-lzf-long
DUMP r:list-nodes
DUMP r:hash-512
DUMP r:zset-small
DUMP r:set-intset-512
# A restored hashtable/skiplist keeps working as one.
HSET r:hash-big extra 1
HLEN r:hash-big
SADD r:set-big-ints 1000 a
SCARD r:set-big-ints
ZADD r:zset-skiplist 0 zero
ZRANGE r:zset-skiplist 0 2 WITHSCORES
OBJECT ENCODING r:zset-skiplist
''')

good = P('str-word')
bad_crc = bytearray(good); bad_crc[-1] ^= 1
bad_data = bytearray(good); bad_data[2] ^= 1
v11 = footer(good[:-10], 11)
v9 = footer(good[:-10], 9)
garbage = footer(b'\x63')
settype20 = footer(b'\x14' + bytes([len(b'\x0d\x00\x00\x00\x01\x00\x81a\x02\xff')]) + b'\x0d\x00\x00\x00\x01\x00\x81a\x02\xff')
stream = footer(b'\x0f\x00')
empty_list = footer(b'\x01\x00')
trunc = footer(P('hash-small')[:-14])
dupset = footer(b'\x02\x02\x01a\x01a')
nanz = footer(b'\x03\x01\x01a\xfd')
zl_hash = footer(b'\x0d' + bytes([0x18]) + bytes.fromhex('18000000120000000400') + b'\x00\x01f' + bytes([3]) + b'\xf2' + bytes([2]) + b'\x01g' + bytes([3]) + b'\x03two' + b'\xff')
zm_blob = b'\x02\x01f\x01\x01vx\x03big\xfe\x2c\x01\x00\x00\x00' + b'h' * 300 + b'\xff'
zipmap = footer(b'\x09' + bytes([0x40 | len(zm_blob) >> 8, len(zm_blob) & 0xff]) + zm_blob)
zm_long = b'\x01\x03big\xfe\x05\x00\x00\x00\x00hello\xff'
zipmap_long = footer(b'\x09' + bytes([len(zm_long)]) + zm_long)
zm_bad = b'\x03\x01f\x01\x00v\xff'
zipmap_bad = footer(b'\x09' + bytes([len(zm_bad)]) + zm_bad)
w('''# --- errors
DUMP
DUMP a b
RESTORE k 0
RESTORE k 0 %(good)s
RESTORE k 0 %(good)s
GET k
RESTORE k 0 %(good)s REPLACE
RESTORE k 0 %(good)s replace
RESTORE k -1 %(good)s
RESTORE k2 -1 %(good)s
RESTORE k2 x %(good)s
RESTORE k2 1.5 %(good)s
RESTORE k2 0 %(good)s BOGUS
RESTORE k2 0 %(good)s REPLACE BOGUS
RESTORE k -1 %(good)s BOGUS
RESTORE k2 0 %(good)s IDLETIME
RESTORE k2 0 %(good)s IDLETIME -1
RESTORE k2 0 %(good)s IDLETIME x
RESTORE k2 0 %(good)s FREQ
RESTORE k2 0 %(good)s FREQ 256
RESTORE k2 0 %(good)s FREQ -1
RESTORE k2 0 %(good)s FREQ x
RESTORE k2 0 %(good)s IDLETIME 1 FREQ 1
RESTORE k2 0 %(good)s FREQ 1 IDLETIME 1
RESTORE k2 0 %(bad_crc)s
RESTORE k2 0 %(bad_data)s
RESTORE k2 0 %(v11)s
RESTORE k2 0 short
RESTORE k2 0 ""
RESTORE k2 0 %(garbage)s
RESTORE k2 0 %(settype20)s
RESTORE k2 0 %(stream)s
RESTORE k2 0 %(empty_list)s
RESTORE k2 0 %(trunc)s
RESTORE k2 0 %(dupset)s
RESTORE k2 0 %(nanz)s
EXISTS k2
# BUSYKEY is checked before the payload, the payload before REPLACE deletes
RESTORE k 0 %(bad_crc)s
RESTORE k 0 %(bad_crc)s REPLACE
GET k
# older RDB versions are accepted, and old encodings (ziplist hash)
RESTORE v9 0 %(v9)s
GET v9
RESTORE zl 0 %(zl_hash)s
HGETALL zl
OBJECT ENCODING zl
RESTORE zm 0 %(zipmap)s
!sort
HGETALL zm
OBJECT ENCODING zm
RESTORE zm1 0 %(zipmap_long)s
RESTORE zm2 0 %(zipmap_bad)s

# --- REPLACE over another type; TYPE after
RPUSH other x
RESTORE other 0 %(good)s REPLACE
TYPE other
GET other
RESTORE other 0 %(list)s REPLACE
TYPE other
LRANGE other 0 -1

# --- TTLs
RESTORE t1 100000 %(good)s
!ttl
TTL t1
RESTORE t2 4102444800000 %(good)s ABSTTL
!ttl
TTL t2
PEXPIRETIME t2
RESTORE t3 0 %(good)s ABSTTL
TTL t3
# already expired: nothing created, the old key deleted under REPLACE
RESTORE t4 1 %(good)s ABSTTL
EXISTS t4
RESTORE t1 1 %(good)s ABSTTL REPLACE
EXISTS t1
RESTORE t5 1000000000 %(good)s ABSTTL
EXISTS t5
SET t6 old EX 1000
RESTORE t6 0 %(good)s REPLACE
TTL t6

# --- IDLETIME and FREQ
RESTORE i1 0 %(good)s IDLETIME 1000
!ttl
OBJECT IDLETIME i1
RESTORE i2 0 %(good)s IDLETIME 0 REPLACE ABSTTL
!ttl
OBJECT IDLETIME i2
RESTORE i3 0 %(good)s FREQ 100
!ttl
OBJECT IDLETIME i3
CONFIG SET maxmemory-policy allkeys-lfu
RESTORE f1 0 %(good)s FREQ 100
!ttl
OBJECT FREQ f1
RESTORE f2 0 %(good)s IDLETIME 100
OBJECT FREQ f2
RESTORE f3 0 %(good)s FREQ 0
OBJECT FREQ f3
RESTORE f4 0 %(good)s FREQ 255
!ttl
OBJECT FREQ f4
OBJECT IDLETIME f4
CONFIG SET maxmemory-policy noeviction

# --- in a transaction and a script
MULTI
RESTORE m1 0 %(good)s
RESTORE m1 0 %(good)s
DUMP m1
RESTORE m2 0 %(bad_crc)s
EXEC
EXISTS m2
EVAL "return redis.call('DUMP', KEYS[1])" 1 m1
EVAL "return redis.call('RESTORE', KEYS[1], 0, ARGV[1])" 1 m3 %(list)s
LRANGE m3 0 -1
EVAL "return redis.pcall('RESTORE', KEYS[1], 0, ARGV[1])" 1 m3 %(list)s
''' % dict(good=q(good), bad_crc=q(bad_crc), bad_data=q(bad_data), v11=q(v11), v9=q(v9), garbage=q(garbage),
          settype20=q(settype20), stream=q(stream), empty_list=q(empty_list), trunc=q(trunc), dupset=q(dupset),
          nanz=q(nanz), zl_hash=q(zl_hash), zipmap=q(zipmap), zipmap_long=q(zipmap_long), zipmap_bad=q(zipmap_bad), list=q(P('list-small'))))
open('integration/testdata/diff/dump.txt', 'w').write('\n'.join(L))
