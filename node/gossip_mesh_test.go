package node

import (
	"sync"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// meshTracer counts a node's mesh peers, so tests can wait until meshes
// have formed: a message that reaches a node before its first heartbeat
// has grafted any peer is not forwarded by it.
type meshTracer struct {
	mu      sync.Mutex
	mesh    map[peer.ID]bool
	changed chan struct{}
}

func newMeshTracer() *meshTracer {
	return &meshTracer{mesh: make(map[peer.ID]bool), changed: make(chan struct{}, 1)}
}

func (m *meshTracer) set(p peer.ID, in bool) {
	m.mu.Lock()
	if in {
		m.mesh[p] = true
	} else {
		delete(m.mesh, p)
	}
	m.mu.Unlock()
	select {
	case m.changed <- struct{}{}:
	default:
	}
}

func (m *meshTracer) size() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.mesh)
}

func (m *meshTracer) AddPeer(peer.ID, protocol.ID)                         {}
func (m *meshTracer) RemovePeer(p peer.ID)                                 { m.set(p, false) }
func (m *meshTracer) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (m *meshTracer) OnClosedOutboundStream(peer.ID)                       {}
func (m *meshTracer) Join(string)                                          {}
func (m *meshTracer) Leave(string)                                         {}
func (m *meshTracer) Graft(p peer.ID, _ string)                            { m.set(p, true) }
func (m *meshTracer) Prune(p peer.ID, _ string)                            { m.set(p, false) }
func (m *meshTracer) ValidateMessage(*pubsub.Message)                      {}
func (m *meshTracer) DeliverMessage(*pubsub.Message)                       {}
func (m *meshTracer) RejectMessage(*pubsub.Message, string)                {}
func (m *meshTracer) DuplicateMessage(*pubsub.Message)                     {}
func (m *meshTracer) ThrottlePeer(peer.ID)                                 {}
func (m *meshTracer) RecvRPC(*pubsub.RPC)                                  {}
func (m *meshTracer) SendRPC(*pubsub.RPC, peer.ID)                         {}
func (m *meshTracer) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
func (m *meshTracer) DropRPC(*pubsub.RPC, peer.ID)                         {}
func (m *meshTracer) UndeliverableMessage(*pubsub.Message)                 {}

// waitMesh waits until every node's mesh holds as many peers as it can:
// all its topic peers, up to GossipSub's low watermark D_lo.
func waitMesh(tb testing.TB, nodes []*Node) {
	tb.Helper()
	deadline := time.After(20 * time.Second)
	for _, n := range nodes {
		tr := n.cfg.Gossip.tracer.(*meshTracer)
		for tr.size() < min(len(n.gossip.topic.ListPeers()), pubsub.GossipSubDlo) || tr.size() == 0 {
			select {
			case <-tr.changed:
			case <-deadline:
				tb.Fatalf("node %s: mesh of %d peers, %d topic peers", n.ID(), tr.size(), len(n.gossip.topic.ListPeers()))
			}
		}
	}
}
