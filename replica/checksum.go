package replica

// Checksums. Both sides compute them the same way, so a client can tell
// whether its model matches what the server believes it sent.
//
// An entity's hash is FNV-1a (32 bit) over its id, kind, every field value
// (little-endian int32, as many as the kind has fields) and its name. A set
// of entities hashes to the sum (mod 2^32) of their hashes, so neither side
// has to sort. A snapshot's checksum adds the tile hash: FNV-1a over width
// and height (little-endian uint16) and then every tile byte, row by row.

const (
	fnvOffset = 2166136261
	fnvPrime  = 16777619
)

func fnvByte(h uint32, b byte) uint32 { return (h ^ uint32(b)) * fnvPrime }

func fnvU32(h, v uint32) uint32 {
	h = fnvByte(h, byte(v))
	h = fnvByte(h, byte(v>>8))
	h = fnvByte(h, byte(v>>16))
	return fnvByte(h, byte(v>>24))
}

// EntityHash is the checksum contribution of one entity: its id, kind,
// the first n values of vals and its name.
func EntityHash(id EntityID, kind uint8, vals []int32, name string) uint32 {
	h := fnvU32(fnvOffset, uint32(id))
	h = fnvByte(h, kind)
	for _, v := range vals {
		h = fnvU32(h, uint32(v))
	}
	for i := 0; i < len(name); i++ {
		h = fnvByte(h, name[i])
	}
	return h
}

// TilesHash is the checksum contribution of a w x h tile map.
func TilesHash(w, h int, tiles []uint8) uint32 {
	s := fnvByte(fnvOffset, byte(w))
	s = fnvByte(s, byte(w>>8))
	s = fnvByte(s, byte(h))
	s = fnvByte(s, byte(h>>8))
	for _, t := range tiles {
		s = fnvByte(s, t)
	}
	return s
}
