package gossip

import (
	"encoding/binary"
	"encoding/hex"
	"errors"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Bounds on the fields of gossip messages. They are part of the wire
// contract: a message outside them is rejected by every node.
const (
	// MaxAliasBytes is the longest node alias, in bytes of UTF-8.
	MaxAliasBytes = 32
	// MaxAddrs is the most multiaddrs a node announcement may list.
	MaxAddrs = 8
	// MaxAddrBytes is the longest binary multiaddr.
	MaxAddrBytes = 256
	// MaxFeatureBytes is the longest feature bit vector.
	MaxFeatureBytes = 16
	// OnionKeySize is the size of a compressed secp256k1 public key.
	OnionKeySize = 33
	// SignatureSize is the size of an Ed25519 signature.
	SignatureSize = 64
	// ChannelIDSize is the size of a channel id.
	ChannelIDSize = 32
	// MaxCapacity is the largest channel capacity, in the smallest unit.
	// It is 10^13, so that amount*ppm (with amount <= capacity and
	// ppm <= 10^6) never overflows a uint64 when a router computes fees.
	MaxCapacity = 10_000_000_000_000
	// MaxFeeBase is the largest base fee: no more than the largest capacity.
	MaxFeeBase = MaxCapacity
	// MaxFeePPM is the largest proportional fee: 100%.
	MaxFeePPM = 1_000_000
	// MaxExpiryDelta is the largest expiry delta a hop may ask for, in
	// milliseconds (one day: micropayments resolve in seconds).
	MaxExpiryDelta = 24 * 60 * 60 * 1000
	// MinTimestamp is the earliest timestamp a message may carry
	// (2020-01-01T00:00:00Z in unix milliseconds). It catches unset clocks.
	MinTimestamp = 1_577_836_800_000
)

// ed25519IDPrefix is the prefix of every Ed25519 peer.ID: identity
// multihash (0x00, length 36) of a protobuf PublicKey{Type: Ed25519 (1),
// Data: 32 bytes}. paymesh node ids are exactly these 38 bytes.
var ed25519IDPrefix = []byte{0x00, 0x24, 0x08, 0x01, 0x12, 0x20}

// NodeIDSize is the size of an Ed25519 libp2p peer.ID, the only node id
// paymesh accepts.
const NodeIDSize = 38

// Errors returned by constructors, decoders and verifiers. Validator
// results map them onto a Reason.
var (
	// ErrOversize is returned for a message larger than wire.MaxGossipMessage
	// or a sync frame larger than wire.MaxGraphSyncFrame.
	ErrOversize = errors.New("gossip: message too large")
	// ErrMalformed is returned for bytes that do not decode into a
	// well-formed message: bad protobuf, non-canonical encoding, wrong
	// lengths, unparseable ids, keys or multiaddrs.
	ErrMalformed = errors.New("gossip: malformed message")
	// ErrOutOfBounds is returned for a field outside its documented bounds.
	ErrOutOfBounds = errors.New("gossip: field out of bounds")
	// ErrBadSignature is returned for a missing or invalid signature.
	ErrBadSignature = errors.New("gossip: bad signature")
	// ErrNotEndpoint is returned when a key signs for a channel it is not
	// an end of.
	ErrNotEndpoint = errors.New("gossip: key is not an end of the channel")
	// ErrWrongChannel is returned when an update or closed notice is checked
	// against the announcement of another channel.
	ErrWrongChannel = errors.New("gossip: message is for another channel")
)

// ChannelID is a channel's 32-byte id.
type ChannelID [ChannelIDSize]byte

// Short returns the channel's short id: the big-endian first 8 bytes. It is
// routing.ChannelID and what updates and closed notices carry on the wire.
func (c ChannelID) Short() uint64 { return binary.BigEndian.Uint64(c[:8]) }

// String returns the id in hex.
func (c ChannelID) String() string { return hex.EncodeToString(c[:]) }

// Direction names one direction of a channel. Direction 0 goes from Node1 to
// Node2 and is signed by Node1; direction 1 goes from Node2 to Node1 and is
// signed by Node2. A closed notice uses the same values to say which end
// signed it.
type Direction uint8

const (
	// Dir12 is the direction Node1 -> Node2.
	Dir12 Direction = 0
	// Dir21 is the direction Node2 -> Node1.
	Dir21 Direction = 1
)

// Kind says which of the four gossip messages a Message is.
type Kind uint8

// The kinds of gossip messages. The order is the order a graph sync sends
// them in: a channel before its updates, nodes after their channels.
const (
	KindChannelAnnouncement Kind = iota + 1
	KindChannelUpdate
	KindChannelClosed
	KindNodeAnnouncement
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case KindNodeAnnouncement:
		return "node_announcement"
	case KindChannelAnnouncement:
		return "channel_announcement"
	case KindChannelUpdate:
		return "channel_update"
	case KindChannelClosed:
		return "channel_closed"
	}
	return "unknown"
}

// Message is one of *NodeAnnouncement, *ChannelAnnouncement, *ChannelUpdate
// and *ChannelClosed.
type Message interface {
	// Kind says which message this is.
	Kind() Kind
	isMessage()
}

// NodeAnnouncement describes a node: how to reach it and its onion key.
// It is signed by the node.
type NodeAnnouncement struct {
	Node      peer.ID
	Alias     string
	Addrs     []ma.Multiaddr
	OnionKey  [OnionKeySize]byte
	Features  []byte
	Timestamp int64 // unix milliseconds
	Signature []byte
}

// ChannelAnnouncement announces a channel between Node1 and Node2
// (Node1 < Node2 by bytes) of the given capacity. Both ends sign it.
type ChannelAnnouncement struct {
	ChannelID ChannelID
	Node1     peer.ID
	Node2     peer.ID
	Capacity  uint64
	Sig1      []byte // by Node1
	Sig2      []byte // by Node2
}

// ChannelUpdate is the routing policy of one direction of a channel, signed
// by the node the direction starts at. Fees are FeeBase + amount*FeePPM/1e6.
type ChannelUpdate struct {
	ShortID     uint64
	Direction   Direction
	FeeBase     uint64
	FeePPM      uint32
	ExpiryDelta uint32 // milliseconds
	HTLCMin     uint64
	HTLCMax     uint64
	Disabled    bool
	Timestamp   int64 // unix milliseconds
	Signature   []byte
}

// ChannelClosed tells the network that a channel is closed. Either end may
// sign it; Side says which (Dir12: Node1, Dir21: Node2).
type ChannelClosed struct {
	ShortID   uint64
	Side      Direction
	Timestamp int64 // unix milliseconds
	Signature []byte
}

// Kind implements Message.
func (*NodeAnnouncement) Kind() Kind { return KindNodeAnnouncement }

// Kind implements Message.
func (*ChannelAnnouncement) Kind() Kind { return KindChannelAnnouncement }

// Kind implements Message.
func (*ChannelUpdate) Kind() Kind { return KindChannelUpdate }

// Kind implements Message.
func (*ChannelClosed) Kind() Kind { return KindChannelClosed }

func (*NodeAnnouncement) isMessage()    {}
func (*ChannelAnnouncement) isMessage() {}
func (*ChannelUpdate) isMessage()       {}
func (*ChannelClosed) isMessage()       {}
