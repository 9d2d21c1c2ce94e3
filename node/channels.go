package node

import (
	"context"
	"encoding/hex"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/paymesh/paymesh/protocol/wire"
)

// handleChanMessage receives every channel-protocol message from peers.
// Until the channel manager is wired in, every channel is unknown to this
// node, and the peer is told so.
func (n *Node) handleChanMessage(from peer.ID, m *wire.ChanMessage) {
	if m.GetError() != nil {
		return // never answer an error with an error
	}
	n.log.Debug("message for unknown channel", "peer", from, "channel", hex.EncodeToString(m.GetChannelId()))
	reply := &wire.ChanMessage{ChannelId: m.GetChannelId(), Body: &wire.ChanMessage_Error{Error: &wire.ChanError{Reason: "unknown channel"}}}
	_ = n.links.send(context.Background(), from, reply)
}

// handleChanGarbage is told of peers that sent garbled or oversize frames.
func (n *Node) handleChanGarbage(from peer.ID, err error) {
	n.log.Warn("peer sent a bad channel frame", "peer", from, "err", err)
}
