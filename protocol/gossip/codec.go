package gossip

import (
	"bytes"
	"fmt"
	"math"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/proto"

	"github.com/paymesh/paymesh/protocol/wire"
)

// Encode checks m's bounds and signatures' presence and returns its gossip
// envelope bytes: the data of a pubsub message on wire.GossipTopic and of a
// graph-sync item. It does not verify the signatures.
func Encode(m Message) ([]byte, error) {
	var err error
	switch m := m.(type) {
	case *NodeAnnouncement:
		err = m.Check()
		if err == nil && len(m.Signature) != SignatureSize {
			err = fmt.Errorf("%w: node announcement is not signed", ErrBadSignature)
		}
	case *ChannelAnnouncement:
		err = m.Check()
		if err == nil && (len(m.Sig1) != SignatureSize || len(m.Sig2) != SignatureSize) {
			err = ErrIncomplete
		}
	case *ChannelUpdate:
		err = m.Check()
		if err == nil && len(m.Signature) != SignatureSize {
			err = fmt.Errorf("%w: channel update is not signed", ErrBadSignature)
		}
	case *ChannelClosed:
		err = m.Check()
		if err == nil && len(m.Signature) != SignatureSize {
			err = fmt.Errorf("%w: closed notice is not signed", ErrBadSignature)
		}
	default:
		err = fmt.Errorf("%w: unknown message type %T", ErrMalformed, m)
	}
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	b, err := marshal(m)
	if err != nil {
		return nil, err
	}
	if len(b) > wire.MaxGossipMessage {
		return nil, fmt.Errorf("encode: %w: %d bytes, max %d", ErrOversize, len(b), wire.MaxGossipMessage)
	}
	return b, nil
}

var marshalOpts = proto.MarshalOptions{Deterministic: true}

// marshal encodes m without checking it.
func marshal(m Message) ([]byte, error) {
	env := &wire.GossipEnvelope{}
	switch m := m.(type) {
	case *NodeAnnouncement:
		addrs := make([][]byte, len(m.Addrs))
		for i, a := range m.Addrs {
			addrs[i] = a.Bytes()
		}
		env.Msg = &wire.GossipEnvelope_NodeAnnouncement{NodeAnnouncement: &wire.GossipNodeAnnouncement{
			NodeId:      []byte(m.Node),
			Alias:       m.Alias,
			Addrs:       addrs,
			OnionKey:    m.OnionKey[:],
			Features:    m.Features,
			TimestampMs: uint64(m.Timestamp),
			Signature:   m.Signature,
		}}
	case *ChannelAnnouncement:
		env.Msg = &wire.GossipEnvelope_ChannelAnnouncement{ChannelAnnouncement: &wire.GossipChannelAnnouncement{
			ChannelId:      m.ChannelID[:],
			Node1:          []byte(m.Node1),
			Node2:          []byte(m.Node2),
			Capacity:       m.Capacity,
			Node1Signature: m.Sig1,
			Node2Signature: m.Sig2,
		}}
	case *ChannelUpdate:
		env.Msg = &wire.GossipEnvelope_ChannelUpdate{ChannelUpdate: &wire.GossipChannelUpdate{
			ShortChannelId: m.ShortID,
			Direction:      uint32(m.Direction),
			FeeBase:        m.FeeBase,
			FeePpm:         m.FeePPM,
			ExpiryDeltaMs:  m.ExpiryDelta,
			HtlcMin:        m.HTLCMin,
			HtlcMax:        m.HTLCMax,
			Disabled:       m.Disabled,
			TimestampMs:    uint64(m.Timestamp),
			Signature:      m.Signature,
		}}
	case *ChannelClosed:
		env.Msg = &wire.GossipEnvelope_ChannelClosed{ChannelClosed: &wire.GossipChannelClosed{
			ShortChannelId: m.ShortID,
			Side:           uint32(m.Side),
			TimestampMs:    uint64(m.Timestamp),
			Signature:      m.Signature,
		}}
	default:
		return nil, fmt.Errorf("encode: %w: unknown message type %T", ErrMalformed, m)
	}
	b, err := marshalOpts.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return b, nil
}

// Decode parses gossip envelope bytes into a *NodeAnnouncement,
// *ChannelAnnouncement, *ChannelUpdate or *ChannelClosed and checks every
// bound that does not depend on other messages. It refuses anything but
// the canonical protobuf encoding (fields in number order, no unknown
// fields, no explicit defaults, minimal varints), so that a content has one
// pubsub message id. It does not verify signatures: updates and closed
// notices need their channel's announcement for that (see Validator).
// Errors wrap ErrOversize, ErrMalformed or ErrOutOfBounds.
func Decode(b []byte) (Message, error) {
	if len(b) > wire.MaxGossipMessage {
		return nil, fmt.Errorf("decode: %w: %d bytes, max %d", ErrOversize, len(b), wire.MaxGossipMessage)
	}
	var env wire.GossipEnvelope
	if err := proto.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("decode: %w: %w", ErrMalformed, err)
	}
	m, err := fromWire(&env)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", kindOf(&env), err)
	}
	canon, err := marshal(m)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if !bytes.Equal(canon, b) {
		return nil, fmt.Errorf("decode %s: %w: non-canonical encoding", m.Kind(), ErrMalformed)
	}
	return m, nil
}

func kindOf(env *wire.GossipEnvelope) Kind {
	switch env.Msg.(type) {
	case *wire.GossipEnvelope_NodeAnnouncement:
		return KindNodeAnnouncement
	case *wire.GossipEnvelope_ChannelAnnouncement:
		return KindChannelAnnouncement
	case *wire.GossipEnvelope_ChannelUpdate:
		return KindChannelUpdate
	case *wire.GossipEnvelope_ChannelClosed:
		return KindChannelClosed
	}
	return 0
}

func fromWire(env *wire.GossipEnvelope) (Message, error) {
	var m interface {
		Message
		Check() error
	}
	switch w := env.Msg.(type) {
	case *wire.GossipEnvelope_NodeAnnouncement:
		n := w.NodeAnnouncement
		a := &NodeAnnouncement{Alias: n.Alias, Features: n.Features}
		var err error
		if a.Node, err = nodeID(n.NodeId); err != nil {
			return nil, err
		}
		if len(n.Addrs) > MaxAddrs {
			return nil, fmt.Errorf("%w: %d addrs, max %d", ErrOutOfBounds, len(n.Addrs), MaxAddrs)
		}
		a.Addrs = make([]ma.Multiaddr, len(n.Addrs))
		for i, ab := range n.Addrs {
			if a.Addrs[i], err = checkAddr(ab); err != nil {
				return nil, fmt.Errorf("addr %d: %w", i, err)
			}
		}
		if len(n.OnionKey) != OnionKeySize {
			return nil, fmt.Errorf("%w: onion key of %d bytes", ErrMalformed, len(n.OnionKey))
		}
		copy(a.OnionKey[:], n.OnionKey)
		if a.Timestamp, err = timestamp(n.TimestampMs); err != nil {
			return nil, err
		}
		if a.Signature, err = signature(n.Signature); err != nil {
			return nil, err
		}
		m = a
	case *wire.GossipEnvelope_ChannelAnnouncement:
		n := w.ChannelAnnouncement
		c := &ChannelAnnouncement{Capacity: n.Capacity}
		if len(n.ChannelId) != ChannelIDSize {
			return nil, fmt.Errorf("%w: channel id of %d bytes", ErrMalformed, len(n.ChannelId))
		}
		copy(c.ChannelID[:], n.ChannelId)
		var err error
		if c.Node1, err = nodeID(n.Node1); err != nil {
			return nil, fmt.Errorf("node1: %w", err)
		}
		if c.Node2, err = nodeID(n.Node2); err != nil {
			return nil, fmt.Errorf("node2: %w", err)
		}
		if c.Sig1, err = signature(n.Node1Signature); err != nil {
			return nil, fmt.Errorf("node1: %w", err)
		}
		if c.Sig2, err = signature(n.Node2Signature); err != nil {
			return nil, fmt.Errorf("node2: %w", err)
		}
		m = c
	case *wire.GossipEnvelope_ChannelUpdate:
		n := w.ChannelUpdate
		u := &ChannelUpdate{
			ShortID:     n.ShortChannelId,
			FeeBase:     n.FeeBase,
			FeePPM:      n.FeePpm,
			ExpiryDelta: n.ExpiryDeltaMs,
			HTLCMin:     n.HtlcMin,
			HTLCMax:     n.HtlcMax,
			Disabled:    n.Disabled,
		}
		var err error
		if u.Direction, err = direction(n.Direction); err != nil {
			return nil, err
		}
		if u.Timestamp, err = timestamp(n.TimestampMs); err != nil {
			return nil, err
		}
		if u.Signature, err = signature(n.Signature); err != nil {
			return nil, err
		}
		m = u
	case *wire.GossipEnvelope_ChannelClosed:
		n := w.ChannelClosed
		c := &ChannelClosed{ShortID: n.ShortChannelId}
		var err error
		if c.Side, err = direction(n.Side); err != nil {
			return nil, err
		}
		if c.Timestamp, err = timestamp(n.TimestampMs); err != nil {
			return nil, err
		}
		if c.Signature, err = signature(n.Signature); err != nil {
			return nil, err
		}
		m = c
	default:
		return nil, fmt.Errorf("%w: empty envelope", ErrMalformed)
	}
	if err := m.Check(); err != nil {
		return nil, err
	}
	return m, nil
}

func nodeID(b []byte) (peer.ID, error) {
	id := peer.ID(b)
	if err := CheckNodeID(id); err != nil {
		return "", err
	}
	return id, nil
}

func timestamp(ms uint64) (int64, error) {
	if ms > math.MaxInt64 {
		return 0, fmt.Errorf("%w: timestamp %d", ErrOutOfBounds, ms)
	}
	return int64(ms), nil
}

func signature(b []byte) ([]byte, error) {
	if len(b) != SignatureSize {
		return nil, fmt.Errorf("%w: signature of %d bytes", ErrBadSignature, len(b))
	}
	return b, nil
}

func direction(d uint32) (Direction, error) {
	if d > uint32(Dir21) {
		return 0, fmt.Errorf("%w: direction %d", ErrMalformed, d)
	}
	return Direction(d), nil
}
