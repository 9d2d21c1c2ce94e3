// Package wire holds what crosses the wire between paymesh nodes: the fixed
// protocol identifiers and gossip topic, the signing domains, the protobuf
// messages and the length-prefixed framing used on streams.
//
// The values in this file are part of the wire contract in DESIGN.md; other
// implementations depend on them, so they never change.
package wire

const (
	// ChannelProtocol is the stream protocol that carries channel updates.
	ChannelProtocol = "/paymesh/channel/1.0.0"
	// GraphSyncProtocol is the stream protocol a late joiner uses to fetch
	// the channel graph from a peer.
	GraphSyncProtocol = "/paymesh/graphsync/1.0.0"
	// GossipTopic is the GossipSub topic that carries announcements.
	GossipTopic = "paymesh/gossip/1"
)

// Signing domains. Every signature in paymesh covers one of these prefixes
// followed by a canonical byte encoding, so a signature made for one purpose
// can never be replayed as another.
const (
	DomainChannelState        = "paymesh/channel/state/v1\x00"
	DomainNodeAnnouncement    = "paymesh/gossip/node/v1\x00"
	DomainChannelAnnouncement = "paymesh/gossip/channel/v1\x00"
	DomainChannelUpdate       = "paymesh/gossip/update/v1\x00"
	DomainChannelClosed       = "paymesh/gossip/closed/v1\x00"
	DomainInvoice             = "paymesh/invoice/v1\x00"
)

// Maximum sizes of a single framed message, by protocol. A frame larger than
// its limit is refused before it is read into memory.
const (
	MaxChannelFrame   = 256 << 10
	MaxGraphSyncFrame = 1 << 20
	MaxGossipMessage  = 4 << 10
)
