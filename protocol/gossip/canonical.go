package gossip

import (
	"encoding/binary"

	"github.com/paymesh/paymesh/protocol/wire"
)

// The signed bytes of each message are its signing domain (wire.Domain*)
// followed by a hand-written canonical encoding of its fields, never the
// protobuf bytes: fixed-width big-endian integers, and uvarint length
// prefixes before every variable-length field. Updates and closed notices
// sign the full 32-byte channel id although they carry only the short id.

// SigningBytes returns the bytes the node signs: wire.DomainNodeAnnouncement
// followed by the canonical encoding of every field but the signature.
func (a *NodeAnnouncement) SigningBytes() []byte {
	n := len(wire.DomainNodeAnnouncement) + 8 + len(a.Node) + len(a.Alias) + 2 + OnionKeySize + len(a.Features) + 8
	for _, addr := range a.Addrs {
		n += 2 + len(addr.Bytes())
	}
	b := make([]byte, 0, n+8)
	b = append(b, wire.DomainNodeAnnouncement...)
	b = appendBytes(b, []byte(a.Node))
	b = appendBytes(b, []byte(a.Alias))
	b = binary.AppendUvarint(b, uint64(len(a.Addrs)))
	for _, addr := range a.Addrs {
		b = appendBytes(b, addr.Bytes())
	}
	b = append(b, a.OnionKey[:]...)
	b = appendBytes(b, a.Features)
	b = binary.BigEndian.AppendUint64(b, uint64(a.Timestamp))
	return b
}

// SigningBytes returns the bytes both ends sign:
// wire.DomainChannelAnnouncement followed by the channel id, both node ids
// and the capacity.
func (c *ChannelAnnouncement) SigningBytes() []byte {
	b := make([]byte, 0, len(wire.DomainChannelAnnouncement)+ChannelIDSize+2+len(c.Node1)+len(c.Node2)+8)
	b = append(b, wire.DomainChannelAnnouncement...)
	b = append(b, c.ChannelID[:]...)
	b = appendBytes(b, []byte(c.Node1))
	b = appendBytes(b, []byte(c.Node2))
	b = binary.BigEndian.AppendUint64(b, c.Capacity)
	return b
}

// SigningBytes returns the bytes the direction's node signs:
// wire.DomainChannelUpdate followed by the full channel id (which must be
// the one whose short id the update carries) and every field but the
// signature.
func (u *ChannelUpdate) SigningBytes(id ChannelID) []byte {
	b := make([]byte, 0, len(wire.DomainChannelUpdate)+ChannelIDSize+1+8+4+4+8+8+1+8)
	b = append(b, wire.DomainChannelUpdate...)
	b = append(b, id[:]...)
	b = append(b, byte(u.Direction))
	b = binary.BigEndian.AppendUint64(b, u.FeeBase)
	b = binary.BigEndian.AppendUint32(b, u.FeePPM)
	b = binary.BigEndian.AppendUint32(b, u.ExpiryDelta)
	b = binary.BigEndian.AppendUint64(b, u.HTLCMin)
	b = binary.BigEndian.AppendUint64(b, u.HTLCMax)
	if u.Disabled {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.BigEndian.AppendUint64(b, uint64(u.Timestamp))
	return b
}

// SigningBytes returns the bytes the closing end signs:
// wire.DomainChannelClosed followed by the full channel id, the side and the
// timestamp.
func (c *ChannelClosed) SigningBytes(id ChannelID) []byte {
	b := make([]byte, 0, len(wire.DomainChannelClosed)+ChannelIDSize+1+8)
	b = append(b, wire.DomainChannelClosed...)
	b = append(b, id[:]...)
	b = append(b, byte(c.Side))
	b = binary.BigEndian.AppendUint64(b, uint64(c.Timestamp))
	return b
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}
