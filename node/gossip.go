package node

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/paymesh/paymesh/protocol/gossip"
	"github.com/paymesh/paymesh/protocol/wire"
	"github.com/paymesh/paymesh/routing"
)

// How gossip fits in the node. Every message from the gossip topic, every
// item of a graph sync and every message this node publishes goes through
// one gossip.Validator; what it accepts is applied to the routing graph in
// memory and queued for the graph store. Three locks keep that consistent:
//
//   - a stripe lock per channel (or node) is held from Validate to the end
//     of the apply, so that two messages of one channel reach the routing
//     graph and the store in the order the validator accepted them, while
//     messages of different channels are validated in parallel;
//   - gate, a RWMutex: gossip takes it for reading; a graph sync chunk,
//     the pruner and shutdown take it for writing, because they touch many
//     channels at once;
//   - routing.Graph serialises its own commits.
//
// Store writes are asynchronous (one writer goroutine, WriteBatch): graph
// data can always be fetched again from peers.

// GossipConfig tunes gossip, graph sync and the graph store. Zero fields
// take the defaults in parentheses.
type GossipConfig struct {
	// Alias is the name in the node announcement (at most 32 bytes; "").
	Alias string
	// NodeRefresh is how often the node re-announces itself (24h).
	NodeRefresh time.Duration
	// KeepAlive: an own channel update older than this is re-signed and
	// published again so peers do not prune the channel (7 days; must be
	// well under PruneAge).
	KeepAlive time.Duration
	// PruneAge: channels with no update for this long are forgotten, as are
	// closed-channel tombstones (14 days).
	PruneAge time.Duration
	// PruneInterval is how often the pruner runs (1h).
	PruneInterval time.Duration
	// SyncTimeout bounds a whole graph sync (5 min).
	SyncTimeout time.Duration
	// SyncStall is the longest wait for the next frame of a graph sync, in
	// both roles (30 s). A serving peer that stalls longer is dropped.
	SyncStall time.Duration
	// SyncOverlap is subtracted from the newest timestamp the node knows to
	// form the `since` of an incremental sync (1h).
	SyncOverlap time.Duration
	// AntiEntropy is how often the node pulls what changed recently from
	// one random peer (5s), and it also does so with every newly
	// identified peer: gossip alone loses what is published before the
	// topic's mesh includes a peer.
	AntiEntropy time.Duration
	// MaxSyncServes is how many graph syncs the node serves at once (4).
	MaxSyncServes int
	// ScoreInspect is how often pubsub reports peer scores, which feed the
	// graylist gauge (10 s).
	ScoreInspect time.Duration
	// Validator holds the validator's limits; its MaxAge is set to
	// PruneAge.
	Validator gossip.Config

	// tracer, set by tests, observes pubsub (mesh grafts).
	tracer pubsub.RawTracer
	// noAutoSync, set by benchmarks, disables the automatic graph sync.
	noAutoSync bool
}

// Validate fills defaults and rejects nonsense.
func (c *GossipConfig) Validate() error {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.NodeRefresh, 24*time.Hour)
	def(&c.KeepAlive, 7*24*time.Hour)
	def(&c.PruneAge, 14*24*time.Hour)
	def(&c.PruneInterval, time.Hour)
	def(&c.SyncTimeout, 5*time.Minute)
	def(&c.SyncStall, 30*time.Second)
	def(&c.SyncOverlap, time.Hour)
	def(&c.AntiEntropy, 5*time.Second)
	def(&c.ScoreInspect, 10*time.Second)
	if c.MaxSyncServes == 0 {
		c.MaxSyncServes = 4
	}
	if len(c.Alias) > gossip.MaxAliasBytes {
		return fmt.Errorf("node: gossip alias is %d bytes, max %d", len(c.Alias), gossip.MaxAliasBytes)
	}
	for _, d := range []time.Duration{c.NodeRefresh, c.KeepAlive, c.PruneAge, c.PruneInterval, c.SyncTimeout, c.SyncStall, c.SyncOverlap, c.ScoreInspect, c.AntiEntropy} {
		if d < 0 {
			return errors.New("node: negative gossip duration")
		}
	}
	if c.KeepAlive >= c.PruneAge {
		return fmt.Errorf("node: gossip keep-alive %v must be shorter than the prune age %v", c.KeepAlive, c.PruneAge)
	}
	if c.MaxSyncServes < 0 {
		return errors.New("node: negative MaxSyncServes")
	}
	c.Validator.MaxAge = c.PruneAge
	return c.Validator.Validate()
}

// Peer score thresholds. A peer below graylistThreshold has every RPC
// ignored. Each rejected message a peer delivers adds 1 to a counter whose
// square is weighted by invalidWeight: three rejected messages in a short
// time (the counter decays over an hour) put a peer below the graylist.
const (
	gossipThreshold   = -10
	publishThreshold  = -50
	graylistThreshold = -80
	invalidWeight     = -20
)

func peerScoreParams() (*pubsub.PeerScoreParams, *pubsub.PeerScoreThresholds) {
	hour := pubsub.ScoreParameterDecay(time.Hour)
	topic := &pubsub.TopicScoreParams{
		TopicWeight:                    1,
		TimeInMeshWeight:               0.01,
		TimeInMeshQuantum:              time.Second,
		TimeInMeshCap:                  100,
		FirstMessageDeliveriesWeight:   1,
		FirstMessageDeliveriesDecay:    hour,
		FirstMessageDeliveriesCap:      20,
		InvalidMessageDeliveriesWeight: invalidWeight,
		InvalidMessageDeliveriesDecay:  hour,
	}
	_, loop4, _ := net.ParseCIDR("127.0.0.0/8")
	_, loop6, _ := net.ParseCIDR("::1/128")
	params := &pubsub.PeerScoreParams{
		Topics:                      map[string]*pubsub.TopicScoreParams{wire.GossipTopic: topic},
		TopicScoreCap:               50,
		AppSpecificScore:            func(peer.ID) float64 { return 0 },
		AppSpecificWeight:           1,
		IPColocationFactorWeight:    -5,
		IPColocationFactorThreshold: 10,
		IPColocationFactorWhitelist: []*net.IPNet{loop4, loop6}, // devnets run on loopback
		BehaviourPenaltyWeight:      -10,
		BehaviourPenaltyThreshold:   6,
		BehaviourPenaltyDecay:       hour,
		DecayInterval:               pubsub.DefaultDecayInterval,
		DecayToZero:                 pubsub.DefaultDecayToZero,
		RetainScore:                 time.Hour,
	}
	th := &pubsub.PeerScoreThresholds{
		GossipThreshold:             gossipThreshold,
		PublishThreshold:            publishThreshold,
		GraylistThreshold:           graylistThreshold,
		AcceptPXThreshold:           20,
		OpportunisticGraftThreshold: 2,
	}
	return params, th
}

// gossipMessageID is the pubsub message id DESIGN.md fixes: SHA-256 of the
// message data, so any implementation computes the same id.
func gossipMessageID(m *pb.Message) string {
	h := sha256.Sum256(m.GetData())
	return string(h[:])
}

// maxPubsubRPC bounds one pubsub RPC (several messages and control data).
const maxPubsubRPC = 256 << 10

const graphSyncService = "paymesh.graphsync"

const numStripes = 256

// gossipService is the node's gossip, graph store and graph sync.
type gossipService struct {
	n     *Node
	cfg   GossipConfig
	log   *slog.Logger
	v     *gossip.Validator
	graph *routing.Graph
	m     gossipMetrics

	ps    *pubsub.PubSub
	topic *pubsub.Topic
	sub   *pubsub.Subscription

	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	stopOnce sync.Once

	gate    sync.RWMutex
	closed  bool                   // under gate (write)
	stripes [numStripes]sync.Mutex // per channel
	nstripe [numStripes]sync.Mutex // per node; taken after a channel's, never before
	seed    maphash.Seed

	// forward holds messages accepted out of band (released from the
	// validator's parking, or parked here) that the node re-publishes:
	// pubsub dropped them as ignored, so no peer forwarded them.
	forward  sync.Map // string(data) -> struct{}
	forwardQ chan []byte

	writes     chan writeOp
	writerDone chan struct{}

	latest atomic.Int64 // newest message timestamp accepted (unix ms)

	changeMu sync.Mutex
	changed  chan struct{} // closed and replaced on every accepted message

	local sync.Map // string(data) -> *gossip.Result: verdicts on own publishes

	mu       sync.Mutex
	own      map[uint64]*ownChannel
	lastTS   map[ownKey]int64 // newest timestamp this node signed, per key
	annOK    bool             // the network has accepted a node announcement of ours
	banned   map[peer.ID]bool // sync peers that served garbage or stalled
	tried    map[peer.ID]bool // sync peers asked since the last successful sync
	needSync bool
	syncing  bool
	pulling  bool // an anti-entropy pull runs
	scores   map[peer.ID]float64
	serving  map[peer.ID]bool
	serveSem chan struct{}
	scoreCh  chan struct{}

	parkedNodes map[peer.ID]parkedNode // node announcements that came before a channel of theirs
}

// parkedNode is a node announcement ignored because its node had no known
// channel yet (the channel announcement was still on its way).
type parkedNode struct {
	data []byte
	at   time.Time
}

// maxParkedNodes bounds the parked node announcements.
const maxParkedNodes = 1024

type gossipMetrics struct {
	accepted  *prometheus.CounterVec
	rejected  *prometheus.CounterVec
	ignored   *prometheus.CounterVec
	published *prometheus.CounterVec
	syncs     *prometheus.CounterVec
	syncItems *prometheus.CounterVec
	syncBytes *prometheus.CounterVec
}

func newGossipMetrics(reg prometheus.Registerer, s *gossipService) (gossipMetrics, error) {
	m := gossipMetrics{
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paymesh_gossip_accepted_total", Help: "Gossip messages and sync items accepted, by kind.",
		}, []string{"kind"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paymesh_gossip_rejected_total", Help: "Gossip messages and sync items rejected (provably bad), by reason.",
		}, []string{"reason"}),
		ignored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paymesh_gossip_ignored_total", Help: "Gossip messages and sync items ignored (stale, duplicate, premature, rate-limited), by reason.",
		}, []string{"reason"}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paymesh_gossip_published_total", Help: "Messages this node signed and published, by kind.",
		}, []string{"kind"}),
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paymesh_graphsync_total", Help: "Graph syncs, by role (client, server) and result.",
		}, []string{"role", "result"}),
		syncItems: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paymesh_graphsync_items_total", Help: "Items sent (server) or received (client) by graph sync.",
		}, []string{"role"}),
		syncBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paymesh_graphsync_bytes_total", Help: "Frame bytes sent (server) or received (client) by graph sync.",
		}, []string{"role"}),
	}
	for _, k := range []gossip.Kind{gossip.KindChannelAnnouncement, gossip.KindChannelUpdate, gossip.KindChannelClosed, gossip.KindNodeAnnouncement} {
		m.accepted.WithLabelValues(k.String())
		m.published.WithLabelValues(k.String())
	}
	for _, r := range gossip.Reasons() {
		m.rejected.WithLabelValues(string(r))
		m.ignored.WithLabelValues(string(r))
	}
	snap := func() *routing.Snapshot { return s.graph.Snapshot() }
	cs := []prometheus.Collector{m.accepted, m.rejected, m.ignored, m.published, m.syncs, m.syncItems, m.syncBytes,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "paymesh_graph_channels", Help: "Open channels in the routing graph."},
			func() float64 { return float64(snap().NumChannels()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "paymesh_graph_nodes", Help: "Nodes in the routing graph."},
			func() float64 { return float64(snap().NumNodes()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "paymesh_gossip_graylisted_peers", Help: "Peers whose gossip score is below the graylist threshold."},
			func() float64 {
				s.mu.Lock()
				defer s.mu.Unlock()
				n := 0
				for _, sc := range s.scores {
					if sc < graylistThreshold {
						n++
					}
				}
				return float64(n)
			}),
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return m, fmt.Errorf("node: register gossip metrics: %w", err)
		}
	}
	return m, nil
}

// startGossip loads the graph from the store, joins the gossip topic and
// serves graph sync.
func (n *Node) startGossip(ctx context.Context) error {
	cfg := n.cfg.Gossip
	if err := cfg.Validate(); err != nil {
		return err
	}
	v, err := gossip.NewValidator(cfg.Validator)
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	gctx, cancel := context.WithCancel(ctx)
	s := &gossipService{
		n:           n,
		cfg:         cfg,
		log:         n.log.With("component", "gossip"),
		v:           v,
		graph:       routing.NewGraph(),
		ctx:         gctx,
		cancel:      cancel,
		seed:        maphash.MakeSeed(),
		writes:      make(chan writeOp, 4096),
		writerDone:  make(chan struct{}),
		changed:     make(chan struct{}),
		own:         make(map[uint64]*ownChannel),
		lastTS:      make(map[ownKey]int64),
		banned:      make(map[peer.ID]bool),
		tried:       make(map[peer.ID]bool),
		needSync:    true,
		scores:      make(map[peer.ID]float64),
		serving:     make(map[peer.ID]bool),
		serveSem:    make(chan struct{}, cfg.MaxSyncServes),
		scoreCh:     make(chan struct{}, 1),
		forwardQ:    make(chan []byte, 1024),
		parkedNodes: make(map[peer.ID]parkedNode),
	}
	n.gossip = s
	go s.runWriter()
	if s.m, err = newGossipMetrics(n.registry, s); err != nil {
		return err
	}
	if err := s.load(time.Now()); err != nil {
		return err
	}

	params, th := peerScoreParams()
	opts := []pubsub.Option{
		pubsub.WithMessageIdFn(gossipMessageID),
		pubsub.WithMaxMessageSize(maxPubsubRPC),
		pubsub.WithPeerScore(params, th),
		pubsub.WithPeerScoreInspect(pubsub.PeerScoreInspectFn(s.inspectScores), cfg.ScoreInspect),
		// Own messages go to every topic peer, not only the mesh: they are
		// few, and a message published before the first heartbeat has
		// formed the mesh would otherwise reach nobody.
		pubsub.WithFloodPublish(true),
		pubsub.WithLogger(s.log.With("system", "pubsub")),
	}
	if cfg.tracer != nil {
		opts = append(opts, pubsub.WithRawTracer(cfg.tracer))
	}
	s.ps, err = pubsub.NewGossipSub(gctx, n.host, opts...)
	if err != nil {
		return fmt.Errorf("node: start gossipsub: %w", err)
	}
	if err := s.ps.RegisterTopicValidator(wire.GossipTopic, s.validatePubsub); err != nil {
		return fmt.Errorf("node: gossip validator: %w", err)
	}
	if s.topic, err = s.ps.Join(wire.GossipTopic); err != nil {
		return fmt.Errorf("node: join %s: %w", wire.GossipTopic, err)
	}
	if s.sub, err = s.topic.Subscribe(); err != nil {
		return fmt.Errorf("node: subscribe %s: %w", wire.GossipTopic, err)
	}
	s.goRun(s.drain)
	s.goRun(s.runForward)
	n.host.SetStreamHandler(protocol.ID(wire.GraphSyncProtocol), s.handleSync)
	if err := s.startSyncLoop(); err != nil {
		return err
	}
	s.goRun(s.maintain)
	return nil
}

func (s *gossipService) goRun(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// drain consumes the subscription: messages were applied when validated,
// so the deliveries themselves carry nothing new.
func (s *gossipService) drain() {
	for {
		if _, err := s.sub.Next(s.ctx); err != nil {
			return
		}
	}
}

// stopGossip leaves the topic and stops the graph sync service, then waits
// for the graph store's pending writes.
func (n *Node) stopGossip() {
	s := n.gossip
	if s == nil {
		return
	}
	s.stopOnce.Do(func() { s.stop() })
}

func (s *gossipService) stop() {
	n := s.n
	if n.host != nil {
		n.host.RemoveStreamHandler(protocol.ID(wire.GraphSyncProtocol))
	}
	s.gate.Lock()
	s.closed = true
	s.gate.Unlock()
	if s.sub != nil {
		s.sub.Cancel()
	}
	s.cancel()
	s.wg.Wait()
	close(s.writes)
	<-s.writerDone
}

// inspectScores receives pubsub's peer scores.
func (s *gossipService) inspectScores(scores map[peer.ID]float64) {
	s.mu.Lock()
	s.scores = scores
	s.mu.Unlock()
	select {
	case s.scoreCh <- struct{}{}:
	default:
	}
}

// peerScore returns the last reported gossip score of p.
func (s *gossipService) peerScore(p peer.ID) (float64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, ok := s.scores[p]
	return sc, ok
}

// stripe returns the lock of the channel or node a message is about, or
// nil for bytes that do not decode (Validate rejects them without state).
func (s *gossipService) stripe(data []byte) *sync.Mutex {
	m, err := gossip.Decode(data)
	if err != nil {
		return nil
	}
	switch m := m.(type) {
	case *gossip.ChannelAnnouncement:
		return &s.stripes[m.ChannelID.Short()%numStripes]
	case *gossip.ChannelUpdate:
		return &s.stripes[m.ShortID%numStripes]
	case *gossip.ChannelClosed:
		return &s.stripes[m.ShortID%numStripes]
	case *gossip.NodeAnnouncement:
		return s.nodeStripe(m.Node)
	}
	return nil
}

func (s *gossipService) nodeStripe(id peer.ID) *sync.Mutex {
	return &s.nstripe[maphash.String(s.seed, string(id))%numStripes]
}

// validatePubsub is the topic validator: every gossiped message, and every
// message this node publishes, passes here.
func (s *gossipService) validatePubsub(_ context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	now := time.Now()
	if from == s.n.id {
		if _, ok := s.forward.Load(string(msg.Data)); ok {
			return pubsub.ValidationAccept // re-published: validated and applied already
		}
	}
	s.gate.RLock()
	defer s.gate.RUnlock()
	if s.closed {
		return pubsub.ValidationIgnore
	}
	if mu := s.stripe(msg.Data); mu != nil {
		mu.Lock()
		defer mu.Unlock()
	}
	r := s.v.Validate(msg.Data, now, gossip.FromGossip)
	s.count(r)
	if from == s.n.id {
		res := r
		if p, ok := s.local.Load(string(msg.Data)); ok {
			*p.(*gossip.Result) = res
		}
	}
	switch r.Verdict {
	case gossip.Accept:
		s.applyOne(r, msg.Data, now, gossip.FromGossip)
		return pubsub.ValidationAccept
	case gossip.Ignore:
		if r.Reason == gossip.ReasonUnknownNode {
			s.parkNode(r.Message.(*gossip.NodeAnnouncement).Node, msg.Data, now)
		}
	case gossip.Reject:
		s.log.Debug("gossip rejected", "from", from, "origin", msg.GetFrom(), "reason", r.Reason, "err", r.Err)
		return pubsub.ValidationReject
	}
	return pubsub.ValidationIgnore
}

// count records a verdict in the metrics.
func (s *gossipService) count(r gossip.Result) {
	switch r.Verdict {
	case gossip.Accept:
		s.m.accepted.WithLabelValues(r.Message.Kind().String()).Inc()
	case gossip.Reject:
		s.m.rejected.WithLabelValues(string(r.Reason)).Inc()
	case gossip.Ignore:
		s.m.ignored.WithLabelValues(string(r.Reason)).Inc()
	}
}

// applyOne applies an accepted message (and the premature messages it
// releases) to the graph and the store. The caller holds the message's
// stripe lock or the gate for writing. Released messages are queued for
// re-publishing when src is gossip.
func (s *gossipService) applyOne(r gossip.Result, data []byte, now time.Time, src gossip.Source) {
	muts := s.prepare(nil, r, data, now)
	muts, fwd := s.release(muts, r, now, src)
	s.commit(muts)
	if src == gossip.FromGossip {
		for _, d := range fwd {
			s.reforward(d)
		}
	}
}

// release validates what an accepted channel announcement releases: the
// validator's parked updates and closed notices, and node announcements
// parked here. It returns the grown mutations and the accepted released
// messages.
func (s *gossipService) release(muts []graphMutation, r gossip.Result, now time.Time, src gossip.Source) ([]graphMutation, [][]byte) {
	var accepted [][]byte
	queue := r.Released
	for i := 0; i < len(queue); i++ {
		rr := s.v.Validate(queue[i], now, src)
		s.count(rr)
		if rr.Verdict == gossip.Accept {
			muts = s.prepare(muts, rr, queue[i], now)
			queue = append(queue, rr.Released...)
			accepted = append(accepted, queue[i])
		}
	}
	if ann, ok := r.Message.(*gossip.ChannelAnnouncement); ok {
		for _, id := range []peer.ID{ann.Node1, ann.Node2} {
			s.mu.Lock()
			p, ok := s.parkedNodes[id]
			delete(s.parkedNodes, id)
			s.mu.Unlock()
			if !ok {
				continue
			}
			var rr gossip.Result
			func() {
				if src == gossip.FromGossip { // a sync holds the gate: no stripes needed
					mu := s.nodeStripe(id)
					mu.Lock()
					defer mu.Unlock()
				}
				rr = s.v.Validate(p.data, now, src)
				s.count(rr)
				if rr.Verdict == gossip.Accept {
					muts = s.prepare(muts, rr, p.data, now)
				}
			}()
			if rr.Verdict == gossip.Accept {
				accepted = append(accepted, p.data)
			}
		}
	}
	return muts, accepted
}

// parkNode keeps a node announcement that came before any channel of its
// node, for PendingTTL, to validate again when a channel of the node is
// accepted.
func (s *gossipService) parkNode(id peer.ID, data []byte, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ttl := s.v.Config().PendingTTL
	if _, ok := s.parkedNodes[id]; !ok && len(s.parkedNodes) >= maxParkedNodes {
		for k, p := range s.parkedNodes {
			if now.Sub(p.at) > ttl || len(s.parkedNodes) >= maxParkedNodes {
				delete(s.parkedNodes, k)
			}
			if len(s.parkedNodes) < maxParkedNodes/2 {
				break
			}
		}
	}
	s.parkedNodes[id] = parkedNode{data: data, at: now}
}

// reforward queues an accepted message for re-publishing.
func (s *gossipService) reforward(data []byte) {
	select {
	case s.forwardQ <- data:
	default: // the next keep-alive or sync will carry it
	}
}

// runForward re-publishes messages that were accepted out of band. Their
// pubsub id is the hash of the data, so peers that have them drop the copy.
func (s *gossipService) runForward() {
	for {
		select {
		case <-s.ctx.Done():
			return
		case data := <-s.forwardQ:
			key := string(data)
			s.forward.Store(key, struct{}{})
			err := s.topic.Publish(s.ctx, data)
			s.forward.Delete(key)
			if err != nil && s.ctx.Err() == nil {
				s.log.Debug("re-publish released message", "err", err)
			}
		}
	}
}

// changes returns a channel closed at the next accepted message.
func (s *gossipService) changes() <-chan struct{} {
	s.changeMu.Lock()
	defer s.changeMu.Unlock()
	return s.changed
}

func (s *gossipService) notify() {
	s.changeMu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.changeMu.Unlock()
}

// Graph returns the channel graph learnt by gossip, kept current as
// messages are accepted. Valid after Start.
func (n *Node) Graph() *routing.Graph {
	if n.gossip == nil {
		return nil
	}
	return n.gossip.graph
}
