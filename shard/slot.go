package shard

// NumSlots is the number of hash slots, as in Redis Cluster.
const NumSlots = 16384

var crc16tab [256]uint16

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
		crc16tab[i] = crc
	}
}

// CRC16 returns the CRC16/XMODEM checksum of b.
func CRC16[T ~string | ~[]byte](b T) uint16 {
	var crc uint16
	for i := 0; i < len(b); i++ {
		crc = crc<<8 ^ crc16tab[byte(crc>>8)^b[i]]
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
