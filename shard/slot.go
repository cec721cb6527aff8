package shard

// NumSlots is the number of hash slots, as in Redis Cluster.
const NumSlots = 16384

// crc16tab[k][b] is the CRC register after the byte b followed by k zero
// bytes, from a zero register: crc16tab[0] is the classic table, and the
// others let CRC16 take 8 bytes per step (slicing-by-8; the CRC is linear,
// so the contributions of the 8 bytes and of the register XOR together).
var crc16tab [8][256]uint16

func init() {
	// CRC16/XMODEM: polynomial 0x1021, initial value 0, no reflection.
	for i := 0; i < 256; i++ {
		crc := uint16(i) << 8
		for j := 0; j < 8; j++ {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
		crc16tab[0][i] = crc
	}
	for k := 1; k < 8; k++ {
		for i := 0; i < 256; i++ {
			c := crc16tab[k-1][i]
			crc16tab[k][i] = c<<8 ^ crc16tab[0][byte(c>>8)]
		}
	}
}

// CRC16 returns the CRC16/XMODEM checksum of b. Keys are hashed on every
// command (routing, then the store's lookup), so it takes 8 bytes per step
// (a 16-byte key in 2 steps instead of 16 dependent table lookups).
func CRC16[T ~string | ~[]byte](b T) uint16 {
	var crc uint16
	for len(b) >= 8 {
		x := crc ^ (uint16(b[0])<<8 | uint16(b[1]))
		crc = crc16tab[7][x>>8] ^ crc16tab[6][byte(x)] ^
			crc16tab[5][b[2]] ^ crc16tab[4][b[3]] ^
			crc16tab[3][b[4]] ^ crc16tab[2][b[5]] ^
			crc16tab[1][b[6]] ^ crc16tab[0][b[7]]
		b = b[8:]
	}
	for i := 0; i < len(b); i++ {
		crc = crc<<8 ^ crc16tab[0][byte(crc>>8)^b[i]]
	}
	return crc
}

// Slot returns the hash slot of key: CRC16 of the key, or of its hash tag (the
// bytes between the first '{' and the first '}' after it, when there is at
// least one byte between them), modulo NumSlots.
func Slot[T ~string | ~[]byte](key T) int {
	for i := 0; i < len(key); i++ {
		if key[i] == '{' {
			for j := i + 1; j < len(key); j++ {
				if key[j] == '}' {
					if j == i+1 {
						break // "{}": hash the whole key
					}
					return int(CRC16(key[i+1:j]) & (NumSlots - 1))
				}
			}
			break
		}
	}
	return int(CRC16(key) & (NumSlots - 1))
}
