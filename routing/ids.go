package routing

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// NodeID is an opaque node identity. For paymesh nodes it holds the raw bytes
// of a libp2p peer.ID; for loaded Lightning snapshots it holds the 66-character
// hex public key. Channels order their two ends by the bytes of NodeID.
type NodeID string

// ChannelID is a short channel id. Lightning "BLOCKxTXxOUT" strings map to
// block<<40 | tx<<16 | out; paymesh derives it from the first 8 bytes
// (big-endian) of its 32-byte channel id.
type ChannelID uint64

// ErrBadChannelID is returned when a short channel id string is malformed.
var ErrBadChannelID = errors.New("routing: malformed short channel id")

// ParseChannelID parses a Lightning short channel id of the form
// "BLOCKxTXxOUT" (block < 2^24, tx < 2^24, out < 2^16), or a plain decimal
// uint64 as lnd prints channel_id.
func ParseChannelID(s string) (ChannelID, error) {
	if !strings.ContainsRune(s, 'x') {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: %q", ErrBadChannelID, s)
		}
		return ChannelID(v), nil
	}
	parts := strings.Split(s, "x")
	if len(parts) != 3 {
		return 0, fmt.Errorf("%w: %q", ErrBadChannelID, s)
	}
	block, err1 := strconv.ParseUint(parts[0], 10, 24)
	tx, err2 := strconv.ParseUint(parts[1], 10, 24)
	out, err3 := strconv.ParseUint(parts[2], 10, 16)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, fmt.Errorf("%w: %q", ErrBadChannelID, s)
	}
	return ChannelID(block<<40 | tx<<16 | out), nil
}

// ChannelIDFromBytes derives a ChannelID from a paymesh 32-byte channel id: the
// first 8 bytes read big-endian. Shorter input is zero-padded on the right.
func ChannelIDFromBytes(id []byte) ChannelID {
	var b [8]byte
	copy(b[:], id)
	return ChannelID(binary.BigEndian.Uint64(b[:]))
}

// String formats the id in Lightning's "BLOCKxTXxOUT" notation.
func (c ChannelID) String() string {
	v := uint64(c)
	return fmt.Sprintf("%dx%dx%d", v>>40, (v>>16)&0xffffff, v&0xffff)
}

// Direction of a channel edge: 0 is node1→node2, 1 is node2→node1, where
// node1 < node2 by NodeID bytes.
type Direction uint8

// DirectionOf returns the direction of an edge from → to given the channel's
// ordering rule (node1 < node2).
func DirectionOf(from, to NodeID) Direction {
	if from < to {
		return 0
	}
	return 1
}

// EdgeKey names one direction of a channel.
type EdgeKey struct {
	Channel   ChannelID
	Direction Direction
}
