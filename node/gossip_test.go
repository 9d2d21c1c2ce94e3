package node

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/paymesh/paymesh/api"
	"github.com/paymesh/paymesh/protocol/gossip"
	"github.com/paymesh/paymesh/protocol/wire"
	"github.com/paymesh/paymesh/routing"
	"github.com/paymesh/paymesh/store"
)

// startOnHost starts a node on a mocknet host: identity from cfg, an
// in-memory store (or one in dbDir), a registry and gossip; no API, no
// channel links, no bootstrap. It replicates the parts of Start that gossip
// depends on.
func startOnHost(tb testing.TB, mn mocknet.Mocknet, i int, cfg Config, dbDir string) *Node {
	tb.Helper()
	cfg.DisableAPI = true
	n, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	addr := ma.StringCast(fmt.Sprintf("/ip4/10.%d.%d.%d/tcp/4141", i>>16&0xff, i>>8&0xff, i&0xff+1))
	h, err := mn.AddPeer(cfg.Identity, addr)
	if err != nil {
		tb.Fatal(err)
	}
	n.start = time.Now()
	if n.store, err = store.Open(store.Options{InMemory: dbDir == "", Dir: dbDir}); err != nil {
		tb.Fatal(err)
	}
	n.registry = prometheus.NewRegistry()
	n.host = h
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	if err := n.startGossip(ctx); err != nil {
		n.Close()
		tb.Fatal(err)
	}
	n.started = true
	tb.Cleanup(func() { n.Close() })
	return n
}

func testConfig(tb testing.TB) Config {
	tb.Helper()
	cfg, err := ephemeralConfig()
	if err != nil {
		tb.Fatal(err)
	}
	cfg.Gossip.ScoreInspect = 100 * time.Millisecond
	cfg.Gossip.tracer = newMeshTracer()
	if testing.Verbose() && os.Getenv("GOSSIP_DEBUG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return cfg
}

// mockNodes starts count nodes on a fresh mocknet, all linked (not yet
// connected).
func mockNodes(tb testing.TB, count int) (mocknet.Mocknet, []*Node) {
	tb.Helper()
	mn := mocknet.New()
	tb.Cleanup(func() { mn.Close() })
	nodes := make([]*Node, count)
	for i := range nodes {
		nodes[i] = startOnHost(tb, mn, i, testConfig(tb), "")
	}
	quiesce(tb, nodes)
	if err := mn.LinkAll(); err != nil {
		tb.Fatal(err)
	}
	return mn, nodes
}

// connectSparse connects nodes in a ring with `extra` random chords per
// node: a connected graph with multi-hop paths, like a real network.
func connectSparse(tb testing.TB, mn mocknet.Mocknet, nodes []*Node, extra int, seed uint64) {
	tb.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	for i, n := range nodes {
		peers := []int{(i + 1) % len(nodes)}
		for range extra {
			peers = append(peers, r.IntN(len(nodes)))
		}
		for _, j := range peers {
			if j == i || n.host.Network().Connectedness(nodes[j].ID()) == network.Connected {
				continue
			}
			if _, err := mn.ConnectPeers(n.ID(), nodes[j].ID()); err != nil {
				tb.Fatal(err)
			}
		}
	}
}

// waitTopicPeers waits until every node knows at least min topic peers.
func waitTopicPeers(tb testing.TB, nodes []*Node, min int) {
	tb.Helper()
	deadline := time.After(20 * time.Second)
	for _, n := range nodes {
		tr := n.cfg.Gossip.tracer.(*meshTracer)
		for len(n.gossip.topic.ListPeers()) < min {
			select {
			case <-tr.changed:
			case <-deadline:
				tb.Fatalf("node %s: %d topic peers, want %d", n.ID(), len(n.gossip.topic.ListPeers()), min)
			}
		}
	}
}

// waitGraph waits, on each node's change notifications, until cond holds.
func waitGraph(tb testing.TB, nodes []*Node, what string, cond func(*Node) bool) {
	tb.Helper()
	deadline := time.After(30 * time.Second)
	for _, n := range nodes {
		for {
			ch := n.gossip.changes()
			if cond(n) {
				break
			}
			select {
			case <-ch:
			case <-deadline:
				if mfs, err := n.registry.Gather(); err == nil {
					for _, mf := range mfs {
						if strings.HasPrefix(mf.GetName(), "paymesh_g") {
							for _, m := range mf.GetMetric() {
								if v := m.GetCounter().GetValue(); v > 0 {
									tb.Logf("%s %v %v", mf.GetName(), m.GetLabel(), v)
								}
							}
						}
					}
				}
				tb.Logf("graph %+v, topic peers %d", n.GraphInfo(), len(n.gossip.topic.ListPeers()))
				tb.Fatalf("node %s: %s not reached within 30s", n.ID(), what)
			}
		}
	}
}

// quiesce stops every node's gossip before any host closes (cleanups run
// last-registered first), so that no pubsub opens a stream on a mocknet
// connection being torn down: mocknet would leave its goroutine behind.
func quiesce(tb testing.TB, nodes []*Node) {
	tb.Cleanup(func() {
		for _, n := range nodes {
			n.stopGossip()
		}
	})
}

var testChannelSeq uint64

// channelBetween returns a channel announcement between the owners of
// keys a and b, signed by both.
func channelBetween(tb testing.TB, a, b crypto.PrivKey, capacity uint64) *gossip.ChannelAnnouncement {
	tb.Helper()
	testChannelSeq++
	id := gossip.ChannelID(sha256.Sum256(binary.BigEndian.AppendUint64([]byte(tb.Name()), testChannelSeq)))
	ida, _ := peer.IDFromPrivateKey(a)
	idb, _ := peer.IDFromPrivateKey(b)
	ann, err := gossip.NewChannelAnnouncement(id, ida, idb, capacity)
	if err != nil {
		tb.Fatal(err)
	}
	if err := ann.Sign(a); err != nil {
		tb.Fatal(err)
	}
	if err := ann.Sign(b); err != nil {
		tb.Fatal(err)
	}
	return ann
}

// hasPolicy reports whether n's graph holds channel short with a policy
// from node from whose fee base is base.
func hasPolicy(n *Node, ann *gossip.ChannelAnnouncement, from peer.ID, base uint64) bool {
	c, ok := n.Graph().Snapshot().Channel(routing.ChannelID(ann.ChannelID.Short()))
	if !ok {
		return false
	}
	d, _ := ann.Side(from)
	p := c.Policy[d]
	return p != nil && p.FeeBase == base
}

// counterValue reads one labelled value of a gossip counter vector.
func counterValue(tb testing.TB, vec *prometheus.CounterVec, values ...string) float64 {
	tb.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(vec); err != nil {
		tb.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	// Gather sorts labels by name; match the values as a set.
	want := slices.Clone(values)
	slices.Sort(want)
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var got []string
			for _, l := range m.GetLabel() {
				got = append(got, l.GetValue())
			}
			slices.Sort(got)
			if slices.Equal(got, want) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestGossip30 runs 30 nodes on a sparse mocknet: a channel announcement,
// both ends' policies and node announcements reach every node; a fee
// change propagates; a node that joins late syncs the whole graph from the
// one peer it connects to; a closed notice removes the channel everywhere.
func TestGossip30(t *testing.T) {
	mn, nodes := mockNodes(t, 31)
	late, nodes := nodes[30], nodes[:30]
	connectSparse(t, mn, nodes, 2, 1)
	waitTopicPeers(t, nodes, 1)
	waitMesh(t, nodes)

	a, b := nodes[0], nodes[15]
	ann := channelBetween(t, a.cfg.Identity, b.cfg.Identity, 5_000_000)
	if err := a.AnnounceChannel(ann); err != nil {
		t.Fatal(err)
	}
	if err := b.AnnounceChannel(ann); err != nil { // the other end does the same
		t.Fatal(err)
	}
	base := a.cfg.Settings.Fees.Base
	waitGraph(t, nodes, "channel with both policies and both node announcements", func(n *Node) bool {
		if !hasPolicy(n, ann, a.ID(), base) || !hasPolicy(n, ann, b.ID(), base) {
			return false
		}
		for _, end := range []*Node{a, b} {
			if gn, err := n.GraphNode(end.ID()); err != nil || !gn.Announced {
				return false
			}
		}
		return true
	})
	gn, err := nodes[29].GraphNode(a.ID())
	if err != nil || len(gn.Addrs) == 0 || gn.OnionKey == "" || len(gn.Channels) != 1 {
		t.Fatalf("node %s as seen from afar: %+v, %v", a.ID(), gn, err)
	}

	// A second channel between two other nodes, and a fee change.
	c, d := nodes[7], nodes[22]
	ann2 := channelBetween(t, c.cfg.Identity, d.cfg.Identity, 9_000_000)
	if err := c.AnnounceChannel(ann2); err != nil {
		t.Fatal(err)
	}
	if err := a.SetFees(ann.ChannelID.Short(), 7, 250, 40_000); err != nil {
		t.Fatal(err)
	}
	waitGraph(t, nodes, "fee change and second channel", func(n *Node) bool {
		return hasPolicy(n, ann, a.ID(), 7) && hasPolicy(n, ann2, c.ID(), base)
	})

	// A node joining late connects to one peer and syncs the graph from it.
	if _, err := mn.ConnectPeers(late.ID(), nodes[3].ID()); err != nil {
		t.Fatal(err)
	}
	waitGraph(t, []*Node{late}, "full graph by sync", func(n *Node) bool {
		if !hasPolicy(n, ann, a.ID(), 7) || !hasPolicy(n, ann, b.ID(), base) || !hasPolicy(n, ann2, c.ID(), base) {
			return false
		}
		gn, err := n.GraphNode(c.ID())
		return err == nil && gn.Announced && counterValue(t, n.gossip.m.syncs, "client", "ok") >= 1
	})
	if got := counterValue(t, late.gossip.m.syncs, "client", "ok"); got < 1 {
		t.Fatalf("late joiner: %v successful syncs", got)
	}
	if info := late.GraphInfo(); info.Channels != 2 || info.TotalCapacity != 14_000_000 || info.LastUpdate == "" {
		t.Fatalf("late joiner graph info %+v", info)
	}

	// An incremental sync asks only for what changed since a time.
	before := counterValue(t, late.gossip.m.syncItems, "client")
	got, err := late.SyncGraph(context.Background(), nodes[3].ID(), time.Now().Add(-time.Hour))
	if err != nil || got == 0 {
		t.Fatalf("incremental sync: %d items, %v", got, err)
	}
	if after := counterValue(t, late.gossip.m.syncItems, "client"); after-before != float64(got) {
		t.Fatalf("items metric moved by %v, sync returned %d", after-before, got)
	}
	got, err = late.SyncGraph(context.Background(), nodes[3].ID(), time.Now().Add(time.Hour))
	if err != nil || got != 0 {
		t.Fatalf("sync since the future: %d items, %v; want 0", got, err)
	}

	// Closing removes the channel everywhere, the late joiner included
	// once gossip has taken it into a mesh.
	waitMesh(t, []*Node{late})
	if err := c.AnnounceClosed(ann2.ChannelID.Short()); err != nil {
		t.Fatal(err)
	}
	waitGraph(t, append(nodes, late), "channel closed", func(n *Node) bool {
		_, ok := n.Graph().Snapshot().Channel(routing.ChannelID(ann2.ChannelID.Short()))
		return !ok
	})
	if err := c.SetFees(ann2.ChannelID.Short(), 1, 1, 1000); err == nil {
		t.Fatal("fees set on a closed channel")
	}
}

// TestGossipRestartKeepsGraph restarts a node on an on-disk Badger and
// checks that the graph, its own channels and the validator's memory
// survive.
func TestGossipRestartKeepsGraph(t *testing.T) {
	dir := initDir(t)
	cfg, err := ConfigFromDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	peerKey := func() crypto.PrivKey {
		k, _, err := crypto.GenerateEd25519Key(nil)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	x, y := peerKey(), peerKey()
	own := channelBetween(t, cfg.Identity, x, 1_000_000)
	other := channelBetween(t, x, y, 2_000_000)

	n := startDir(t, dir)
	for _, ann := range []*gossip.ChannelAnnouncement{own, other} {
		if err := n.AnnounceChannel(ann); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.SetFees(own.ChannelID.Short(), 11, 22, 33_000); err != nil {
		t.Fatal(err)
	}
	if err := n.SetFees(other.ChannelID.Short(), 1, 2, 3000); err == nil {
		t.Fatal("fees set on a channel of other nodes")
	}
	before := n.GraphInfo()
	if before.Channels != 2 || before.OwnChannels != 1 {
		t.Fatalf("before restart: %+v", before)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	n2 := startDir(t, dir)
	after := n2.GraphInfo()
	after.LastUpdate = before.LastUpdate // the restarted node announces itself anew
	if after != before {
		t.Fatalf("graph after restart %+v, before %+v", after, before)
	}
	if !hasPolicy(n2, own, n2.ID(), 11) {
		t.Fatal("own policy lost across restart")
	}
	if p, ok := n2.OwnPolicy(own.ChannelID.Short()); !ok || p.FeePPM != 22 || p.ExpiryDeltaMS != 33_000 {
		t.Fatalf("own policy after restart: %+v %v", p, ok)
	}
	gn, err := n2.GraphNode(n2.ID())
	if err != nil || !gn.Announced {
		t.Fatalf("own node announcement after restart: %+v %v", gn, err)
	}
	// The validator remembers: the same announcement is a duplicate (not an
	// error), and a new fee change is newer than the stored one.
	if err := n2.AnnounceChannel(own); err != nil {
		t.Fatal(err)
	}
	if got := counterValue(t, n2.gossip.m.ignored, "duplicate"); got < 1 {
		t.Fatalf("re-announcement not seen as a duplicate (%v)", got)
	}
	if err := n2.SetFees(own.ChannelID.Short(), 12, 22, 33_000); err != nil {
		t.Fatal(err)
	}
	if !hasPolicy(n2, own, n2.ID(), 12) {
		t.Fatal("fee change after restart not applied")
	}
	testGraphAPI(t, dir, n2, own, other)
}

// testGraphAPI drives the graph and fee endpoints through the Go client.
func testGraphAPI(t *testing.T, dir string, n *Node, own, other *gossip.ChannelAnnouncement) {
	ctx := context.Background()
	c, err := api.ClientForDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.GraphInfo(ctx)
	if err != nil || info.Channels != 2 || info.TotalCapacity != 3_000_000 || info.OwnChannels != 1 {
		t.Fatalf("graph info %+v, %v", info, err)
	}
	gn, err := c.GraphNode(ctx, n.ID().String())
	if err != nil || !gn.Announced || len(gn.Channels) != 1 || gn.Capacity != 1_000_000 {
		t.Fatalf("graph node %+v, %v", gn, err)
	}
	far := other.Node1 // the end of other that is not on own
	if _, onOwn := own.Side(far); onOwn {
		far = other.Node2
	}
	chs, err := c.GraphChannels(ctx, far.String())
	if err != nil || len(chs) != 1 || chs[0].ChannelID != other.ChannelID.String() {
		t.Fatalf("channels of %s: %+v, %v", far, chs, err)
	}
	all, err := c.GraphChannels(ctx, "")
	if err != nil || len(all) != 2 {
		t.Fatalf("all channels: %+v, %v", all, err)
	}
	ch, err := c.SetFees(ctx, api.FeesRequest{Channel: own.ChannelID.String(), FeeBase: 5, FeePPM: 6, ExpiryDeltaMS: 7000})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := own.Side(n.ID())
	if p := ch.Policies[d]; p == nil || p.FeeBase != 5 || p.FeePPM != 6 || p.ExpiryDeltaMS != 7000 {
		t.Fatalf("fees set answered %+v", ch)
	}
	var se *api.StatusError
	for _, tc := range []struct {
		name string
		err  error
		code int
	}{
		{"fees on others' channel", func() error {
			_, err := c.SetFees(ctx, api.FeesRequest{Channel: strconv.FormatUint(other.ChannelID.Short(), 10), FeeBase: 1, FeePPM: 1, ExpiryDeltaMS: 1000})
			return err
		}(), 404},
		{"fees bad channel", func() error {
			_, err := c.SetFees(ctx, api.FeesRequest{Channel: "nope", FeeBase: 1, FeePPM: 1, ExpiryDeltaMS: 1000})
			return err
		}(), 400},
		{"fees ppm too high", func() error {
			_, err := c.SetFees(ctx, api.FeesRequest{Channel: own.ChannelID.String(), FeeBase: 1, FeePPM: 2_000_000, ExpiryDeltaMS: 1000})
			return err
		}(), 400},
		{"unknown node", func() error {
			_, err := c.GraphNode(ctx, "12D3KooWNgHfnSuLx3d2MJHJVq8Ck9vwhzSc5mR8TDZTgGT6Jeok")
			return err
		}(), 404},
		{"bad node id", func() error { _, err := c.GraphNode(ctx, "x"); return err }(), 400},
	} {
		if !errors.As(tc.err, &se) || se.Code != tc.code {
			t.Errorf("%s: %v, want HTTP %d", tc.name, tc.err, tc.code)
		}
	}
	// The export loads with the simulator's loader and matches the graph.
	file := filepath.Join(t.TempDir(), "graph.json")
	if _, err := c.GraphExport(ctx, file); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g, rep, err := routing.LoadExport(f, routing.LoadOptions{Strict: true, KeepDisabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Channels != 2 || g.Snapshot().NumChannels() != 2 {
		t.Fatalf("export loaded %+v", rep)
	}
	got, ok := g.Snapshot().Channel(routing.ChannelID(own.ChannelID.Short()))
	if !ok || got.Policy[d] == nil || got.Policy[d].FeeBase != 5 || got.Capacity != own.Capacity {
		t.Fatalf("exported own channel %+v", got)
	}
}

// TestGossipMisbehavingPeerGraylisted connects a raw pubsub peer that
// publishes forged announcements (with its own valid pubsub signature) to
// an honest node: every forgery is rejected and counted, the peer sinks
// below the graylist threshold, and honest traffic still flows.
func TestGossipMisbehavingPeerGraylisted(t *testing.T) {
	mn, nodes := mockNodes(t, 4)
	badKey, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	badHost, err := mn.AddPeer(badKey, ma.StringCast("/ip4/10.9.9.9/tcp/4141"))
	if err != nil {
		t.Fatal(err)
	}
	if err := mn.LinkAll(); err != nil {
		t.Fatal(err)
	}
	for i := range nodes {
		if _, err := mn.ConnectPeers(nodes[i].ID(), nodes[(i+1)%len(nodes)].ID()); err != nil {
			t.Fatal(err)
		}
	}
	victim := nodes[0]
	if _, err := mn.ConnectPeers(badHost.ID(), victim.ID()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	badPS, err := pubsub.NewGossipSub(ctx, badHost, pubsub.WithMessageIdFn(gossipMessageID), pubsub.WithFloodPublish(true))
	if err != nil {
		t.Fatal(err)
	}
	badTopic, err := badPS.Join(wire.GossipTopic)
	if err != nil {
		t.Fatal(err)
	}
	badSub, err := badTopic.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	defer badSub.Cancel()
	waitTopicPeers(t, nodes, 2)
	waitMesh(t, nodes)
	bh, err := badTopic.EventHandler()
	if err != nil {
		t.Fatal(err)
	}
	for len(badTopic.ListPeers()) == 0 {
		if _, err := bh.NextPeerEvent(ctx); err != nil {
			t.Fatal(err)
		}
	}
	bh.Cancel()

	// Forged: two honest-looking keys, the second signature broken.
	var forged []*gossip.ChannelAnnouncement
	graylisted := false
	for i := 0; i < 30 && !graylisted; i++ {
		k1, _, _ := crypto.GenerateEd25519Key(nil)
		k2, _, _ := crypto.GenerateEd25519Key(nil)
		ann := channelBetween(t, k1, k2, 1000)
		ann.Sig2[0] ^= 0xff
		data, err := gossip.Encode(ann)
		if err != nil {
			t.Fatal(err)
		}
		forged = append(forged, ann)
		if err := badTopic.Publish(ctx, data); err != nil {
			t.Fatal(err)
		}
		// Wait for the victim to count the rejection and rescore the peer.
		deadline := time.After(10 * time.Second)
		want := float64(len(forged))
		for counterValue(t, victim.gossip.m.rejected, string(gossip.ReasonBadSignature)) < want {
			select {
			case <-victim.gossip.scoreCh:
			case <-deadline:
				t.Fatalf("forgery %d never rejected", len(forged))
			}
		}
		for range 2 { // a fresh score report after the rejection
			select {
			case <-victim.gossip.scoreCh:
			case <-deadline:
				t.Fatal("no peer score report")
			}
		}
		sc, ok := victim.gossip.peerScore(badHost.ID())
		graylisted = ok && sc < graylistThreshold
	}
	if !graylisted {
		sc, _ := victim.gossip.peerScore(badHost.ID())
		t.Fatalf("bad peer not graylisted after %d forgeries (score %v)", len(forged), sc)
	}
	if len(forged) > 5 {
		t.Fatalf("graylisting took %d forgeries, want at most 5", len(forged))
	}

	// Honest traffic still flows, through the victim too.
	a, b := nodes[1], nodes[2]
	ann := channelBetween(t, a.cfg.Identity, b.cfg.Identity, 3_000_000)
	if err := a.AnnounceChannel(ann); err != nil {
		t.Fatal(err)
	}
	waitGraph(t, nodes, "honest channel", func(n *Node) bool { return hasPolicy(n, ann, a.ID(), a.cfg.Settings.Fees.Base) })
	for _, n := range nodes {
		for _, f := range forged {
			if _, ok := n.Graph().Snapshot().Channel(routing.ChannelID(f.ChannelID.Short())); ok {
				t.Fatalf("forged channel in the graph of %s", n.ID())
			}
		}
	}
	// Graylisted: the victim now drops the bad peer's RPCs unread.
	rejected := counterValue(t, victim.gossip.m.rejected, string(gossip.ReasonBadSignature))
	k1, _, _ := crypto.GenerateEd25519Key(nil)
	k2, _, _ := crypto.GenerateEd25519Key(nil)
	more := channelBetween(t, k1, k2, 1000)
	more.Sig1[0] ^= 0xff
	data, _ := gossip.Encode(more)
	if err := badTopic.Publish(ctx, data); err != nil {
		t.Fatal(err)
	}
	if err := a.SetFees(ann.ChannelID.Short(), 99, 1, 1000); err != nil {
		t.Fatal(err)
	}
	waitGraph(t, []*Node{victim}, "honest fee change", func(n *Node) bool { return hasPolicy(n, ann, a.ID(), 99) })
	if got := counterValue(t, victim.gossip.m.rejected, string(gossip.ReasonBadSignature)); got != rejected {
		t.Logf("graylisted peer's message still validated (%v → %v rejections)", rejected, got)
	}
}

// TestGossipBadInputCounted feeds the validator garbage through the local
// publish path and through a sync peer that lies.
func TestGossipPublishRefusals(t *testing.T) {
	_, nodes := mockNodes(t, 1)
	n := nodes[0]
	k, _, _ := crypto.GenerateEd25519Key(nil)
	ann := channelBetween(t, n.cfg.Identity, k, 1000)
	if err := n.AnnounceChannel(ann); err != nil {
		t.Fatal(err)
	}
	short := ann.ChannelID.Short()
	// The rate limit (burst 4 per direction) refuses a flood of updates.
	var err error
	for i := 0; i < 10 && err == nil; i++ {
		err = n.SetFees(short, uint64(i), 1, 1000)
	}
	if err == nil || !strings.Contains(err.Error(), string(gossip.ReasonRateLimited)) {
		t.Fatalf("flood of fee changes: %v, want rate_limited", err)
	}
	if err := n.SetFees(short+1, 1, 1, 1000); err == nil {
		t.Fatal("fees set on an unknown channel")
	}
	incomplete := *ann
	incomplete.Sig2 = nil
	if err := n.AnnounceChannel(&incomplete); err == nil {
		t.Fatal("incomplete announcement accepted")
	}
}

// TestGraphSyncBadPeers serves graph sync from raw hosts that lie (a forged
// item) or stall: the client fails the sync, counts it, drops the peer and
// does not ask it again.
func TestGraphSyncBadPeers(t *testing.T) {
	mn := mocknet.New()
	t.Cleanup(func() { mn.Close() })
	cfg := testConfig(t)
	cfg.Gossip.SyncStall = 300 * time.Millisecond
	cfg.Gossip.noAutoSync = true
	client := startOnHost(t, mn, 0, cfg, "")
	quiesce(t, []*Node{client})

	k1, _, _ := crypto.GenerateEd25519Key(nil)
	k2, _, _ := crypto.GenerateEd25519Key(nil)
	forged := channelBetween(t, k1, k2, 1000)
	forged.Sig1[3] ^= 1
	item, err := gossip.Encode(forged)
	if err != nil {
		t.Fatal(err)
	}
	p := gossip.NewChunkPacker(0)
	if _, err := p.Add(item); err != nil {
		t.Fatal(err)
	}
	lie, err := p.Finish()
	if err != nil {
		t.Fatal(err)
	}
	// The forged item among 200 good channel announcements, one chunk:
	// their signatures are checked in a batch.
	var keys []crypto.PrivKey
	for range 10 {
		k, _, _ := crypto.GenerateEd25519Key(nil)
		keys = append(keys, k)
	}
	var good []*gossip.ChannelAnnouncement
	p = gossip.NewChunkPacker(0)
	for i := range 200 {
		if i == 100 {
			if _, err := p.Add(item); err != nil {
				t.Fatal(err)
			}
		}
		a := channelBetween(t, keys[i%10], keys[(i%10+1+(i/10)%9)%10], 1000)
		good = append(good, a)
		data, err := gossip.Encode(a)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Add(data); err != nil {
			t.Fatal(err)
		}
	}
	crowd, err := p.Finish()
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	defer close(release)
	tests := []struct {
		name  string
		serve func(s network.Stream)
		want  error
		good  []*gossip.ChannelAnnouncement // accepted all the same
	}{
		{"forged item among good ones", func(s network.Stream) {
			if _, err := wire.NewFrameReader(s, wire.MaxGraphSyncFrame).ReadFrame(); err != nil {
				s.Reset()
				return
			}
			fw := wire.NewFrameWriter(s, wire.MaxGraphSyncFrame)
			_ = fw.WriteFrame(crowd)
			_ = fw.Flush()
			s.Close()
		}, gossip.ErrSyncPeer, good},
		{"forged item", func(s network.Stream) {
			fw := wire.NewFrameWriter(s, wire.MaxGraphSyncFrame)
			_ = fw.WriteFrame(lie)
			_ = fw.Flush()
			s.Close()
		}, gossip.ErrSyncPeer, nil},
		{"garbled frame", func(s network.Stream) {
			_, _ = s.Write([]byte{0x05, 0xff, 0xff, 0xff, 0xff, 0xff})
			s.Close()
		}, gossip.ErrSyncPeer, nil},
		{"ends early", func(s network.Stream) { s.Close() }, gossip.ErrSyncPeer, nil},
		{"stalls", func(s network.Stream) { <-release; s.Reset() }, errSyncStalled, nil},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, _, _ := crypto.GenerateEd25519Key(nil)
			h, err := mn.AddPeer(key, ma.StringCast(fmt.Sprintf("/ip4/10.8.0.%d/tcp/4141", i+1)))
			if err != nil {
				t.Fatal(err)
			}
			h.SetStreamHandler(protocol.ID(wire.GraphSyncProtocol), tt.serve)
			if err := mn.LinkAll(); err != nil {
				t.Fatal(err)
			}
			if _, err := mn.ConnectPeers(client.ID(), h.ID()); err != nil {
				t.Fatal(err)
			}
			before := counterValue(t, client.gossip.m.syncs, "client", "misbehaved")
			_, err = client.SyncGraph(context.Background(), h.ID(), time.Time{})
			if !errors.Is(err, tt.want) {
				t.Fatalf("sync: %v, want %v", err, tt.want)
			}
			if got := counterValue(t, client.gossip.m.syncs, "client", "misbehaved"); got != before+1 {
				t.Fatalf("misbehaved syncs %v → %v", before, got)
			}
			if client.Host().Network().Connectedness(h.ID()) == network.Connected {
				t.Fatal("misbehaving sync peer still connected")
			}
			client.gossip.mu.Lock()
			banned := client.gossip.banned[h.ID()]
			client.gossip.mu.Unlock()
			if !banned {
				t.Fatal("misbehaving sync peer not banned")
			}
			if _, ok := client.Graph().Snapshot().Channel(routing.ChannelID(forged.ChannelID.Short())); ok {
				t.Fatal("forged channel entered the graph")
			}
			for _, a := range tt.good {
				if _, ok := client.Graph().Snapshot().Channel(routing.ChannelID(a.ChannelID.Short())); !ok {
					t.Fatalf("good channel %s of the chunk missing", a.ChannelID)
				}
			}
		})
	}
	if got := counterValue(t, client.gossip.m.rejected, string(gossip.ReasonBadSignature)); got != 2 {
		t.Fatalf("bad_signature rejections %v, want 2 (one per forged item served)", got)
	}
}
