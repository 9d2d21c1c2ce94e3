package node

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/paymesh/paymesh/api"
	"github.com/paymesh/paymesh/protocol/channel"
	"github.com/paymesh/paymesh/protocol/gossip"
	"github.com/paymesh/paymesh/protocol/wire"
	"github.com/paymesh/paymesh/store"
)

// Errors callers of the channel API branch on.
var (
	ErrUnknownChannel = errors.New("unknown channel")
	ErrChannelNotOpen = errors.New("channel is not open")
)

// ChannelConfig holds the node's channel policy.
type ChannelConfig struct {
	// Limits bounds the HTLCs each side may offer on channels this node
	// opens (both directions get the same limits).
	Limits channel.Limits
	// MaxAcceptDeposit is the largest deposit this node puts into a channel
	// a peer opens (0: only the peer funds it, as with a push).
	MaxAcceptDeposit uint64
	// MaxCapacity is the largest channel this node opens or accepts.
	MaxCapacity uint64
	// ExpiryGrace is how long after expiry a peer's fulfill is still taken.
	ExpiryGrace time.Duration
}

// DefaultChannelConfig returns limits sized for micropayments: many small
// HTLCs in flight.
func DefaultChannelConfig() ChannelConfig {
	return ChannelConfig{
		Limits: channel.Limits{
			MaxPending:  4096,
			MaxInFlight: 1 << 62,
			MinHTLC:     1,
			MaxHTLC:     1 << 62,
			Reserve:     0,
		},
		MaxAcceptDeposit: 0,
		// The largest channel gossip can announce.
		MaxCapacity: gossip.MaxCapacity,
		ExpiryGrace: 5 * time.Second,
	}
}

// chanHooks connects channels to the rest of the node: the switch, gossip and
// payments. The default (issue 3) settles HTLCs addressed to this node when
// it knows the preimage.
type chanHooks interface {
	opened(p peer.ID, m *channel.Machine)
	closed(p peer.ID, m *channel.Machine)
	// incoming is called in the session loop for each HTLC the peer offered.
	// For an HTLC without an onion it is called before the round that
	// co-signs the HTLC is written (see peerSession.settleEarly): it must
	// then only settle that HTLC on its own channel (s.apply on id), whose
	// output joins the same write, and not act elsewhere (forward, post to
	// other sessions) on a state that is not durable yet. HTLCs with an
	// onion are handed over once their round is durable.
	incoming(s *peerSession, id channel.ID, h channel.HTLC, now time.Time)
	// resolved is called in the session loop when an HTLC we offered ends.
	resolved(id channel.ID, htlc uint64, r HTLCResult)
	// fulfilledKVs returns what to store, in the same transaction as the
	// state that holds the fulfill, of the preimage pre the peer revealed
	// for HTLC h this node offered on channel id.
	fulfilledKVs(id channel.ID, h channel.HTLC, pre channel.Hash) []store.KV
	// holds reports whether an incoming HTLC is being worked on (forwarded
	// downstream), so the expiry sweep must not fail it on its own.
	holds(id channel.ID, h channel.HTLC) bool
}

type chanMetrics struct {
	commitSeconds prometheus.Histogram
	htlcsSettled  prometheus.Counter
	htlcsFailed   prometheus.Counter
	htlcsReceived prometheus.Counter
	badMessages   prometheus.Counter
}

func newChanMetrics(reg prometheus.Registerer) *chanMetrics {
	m := &chanMetrics{
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "paymesh_channel_commit_seconds",
			Help:    "Time of one synced group commit of channel records.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 14),
		}),
		htlcsSettled:  prometheus.NewCounter(prometheus.CounterOpts{Name: "paymesh_channel_htlcs_settled_total", Help: "HTLCs this node offered that the peer fulfilled."}),
		htlcsFailed:   prometheus.NewCounter(prometheus.CounterOpts{Name: "paymesh_channel_htlcs_failed_total", Help: "HTLCs this node offered that the peer failed."}),
		htlcsReceived: prometheus.NewCounter(prometheus.CounterOpts{Name: "paymesh_channel_htlcs_received_total", Help: "HTLCs peers offered to this node."}),
		badMessages:   prometheus.NewCounter(prometheus.CounterOpts{Name: "paymesh_channel_bad_messages_total", Help: "Channel messages rejected as invalid."}),
	}
	reg.MustRegister(m.commitSeconds, m.htlcsSettled, m.htlcsFailed, m.htlcsReceived, m.badMessages)
	return m
}

// chanManager owns the peer sessions.
type chanManager struct {
	n          *Node
	log        *slog.Logger
	self       peer.ID
	key        ed25519.PrivateKey
	pub        ed25519.PublicKey
	cfg        ChannelConfig
	store      *store.Store
	settlement channel.Settlement
	hooks      chanHooks
	metrics    *chanMetrics
	failMargin time.Duration // fail unresolved incoming HTLCs this long before expiry
	abortGrace time.Duration // abort a channel whose peer keeps our HTLC this long past expiry
	// failWrites, when positive, makes that many of the next group commits
	// fail without writing (tests of the recovery from a failed write).
	failWrites atomic.Int32
	// splitReads, for tests that count a session's inbox, hands each
	// message read to the session as an item of its own.
	splitReads atomic.Bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	sessions map[peer.ID]*peerSession
	byChan   map[channel.ID]*peerSession
	byShort  map[uint64]channel.ID
	credit   *channel.Credit

	preimages preimageSet
}

// preimageSet holds the preimages this node settles HTLCs with, by payment
// hash; it is safe for concurrent use. A map behind a read-write lock
// rather than a sync.Map: a busy session looks one up per incoming HTLC,
// and a sync.Map's lookup (a boxed key, a trie walked node by node) costs
// several cache misses when it holds many preimages.
type preimageSet struct {
	mu sync.RWMutex
	m  map[channel.Hash]channel.Hash
}

// Store adds preimage pre of payment hash h.
func (p *preimageSet) Store(h, pre channel.Hash) {
	p.mu.Lock()
	if p.m == nil {
		p.m = make(map[channel.Hash]channel.Hash)
	}
	p.m[h] = pre
	p.mu.Unlock()
}

// Delete forgets the preimage of h.
func (p *preimageSet) Delete(h channel.Hash) {
	p.mu.Lock()
	delete(p.m, h)
	p.mu.Unlock()
}

// get returns the preimage of h.
func (p *preimageSet) get(h channel.Hash) (channel.Hash, bool) {
	p.mu.RLock()
	pre, ok := p.m[h]
	p.mu.RUnlock()
	return pre, ok
}

// Load returns the preimage of h as a channel.Hash, as a sync.Map would.
func (p *preimageSet) Load(h channel.Hash) (any, bool) {
	pre, ok := p.get(h)
	if !ok {
		return nil, false
	}
	return pre, true
}

func newChanManager(n *Node) (*chanManager, error) {
	raw, err := n.cfg.Identity.Raw()
	if err != nil || len(raw) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("node: identity is not a usable Ed25519 key: %v", err)
	}
	key := ed25519.PrivateKey(raw)
	credit := channel.NewCredit()
	ctx, cancel := context.WithCancel(context.Background())
	m := &chanManager{
		n:          n,
		log:        n.log.With("component", "channels"),
		self:       n.id,
		key:        key,
		pub:        key.Public().(ed25519.PublicKey),
		cfg:        n.cfg.Channels,
		store:      n.store,
		settlement: credit,
		credit:     credit,
		metrics:    newChanMetrics(n.registry),
		failMargin: 2 * time.Second,
		abortGrace: 30 * time.Second,
		ctx:        ctx,
		cancel:     cancel,
		sessions:   make(map[peer.ID]*peerSession),
		byChan:     make(map[channel.ID]*peerSession),
		byShort:    make(map[uint64]channel.ID),
	}
	m.hooks = preimageHooks{m}
	return m, nil
}

// start restores every channel from the store, then accepts streams.
func (m *chanManager) start() error {
	log := m.store.Channels()
	ids, err := log.IDs()
	if err != nil {
		return err
	}
	restored := make(map[peer.ID]map[channel.ID]*chanEntry)
	for _, id := range ids {
		mach, live, err := m.restore(log, id)
		if err != nil {
			return fmt.Errorf("node: restore channel %s: %w", channel.ID(id), err)
		}
		p := mach.Params()
		pid, err := peerOf(p.Keys[1-mach.Side()])
		if err != nil {
			return fmt.Errorf("node: channel %s: %w", channel.ID(id), err)
		}
		if restored[pid] == nil {
			restored[pid] = make(map[channel.ID]*chanEntry)
		}
		restored[pid][mach.ID()] = &chanEntry{m: mach, live: live}
		if st := mach.State(); st != nil {
			m.deposit(mach.ID(), &p)
		}
	}
	// Every channel is in its session and indexed before any incoming HTLC
	// is replayed: a replayed HTLC may be forwarded on any channel.
	for pid, chans := range restored {
		if addrs, err := m.store.PeerAddrs(string(pid)); err == nil {
			m.n.host.Peerstore().AddAddrs(pid, addrs, peerstore.PermanentAddrTTL)
		}
		s := m.session(pid)
		if s == nil {
			return ErrStopped
		}
		if err := s.do(context.Background(), func(s *peerSession) {
			// The session's store must know where each log ends.
			for id, e := range chans {
				if _, err := s.store.Load(id); err == nil {
					s.chans[id] = e
					m.index(id, s)
				}
			}
		}); err != nil {
			return err
		}
		m.n.host.ConnManager().Protect(pid, "channel")
	}
	for pid := range restored {
		s := m.session(pid)
		if s == nil {
			return ErrStopped
		}
		if err := s.do(context.Background(), func(s *peerSession) {
			for id, e := range s.chans {
				for _, h := range e.m.IncomingPending() {
					m.hooks.incoming(s, id, h, time.Now())
				}
			}
			s.nextDial = time.Time{}
			s.ensureStream(time.Now())
		}); err != nil {
			return err
		}
	}
	m.n.host.SetStreamHandler(protocol.ID(wire.ChannelProtocol), m.handleStream)
	m.n.host.Network().Notify(&network.NotifyBundle{
		ConnectedF: func(_ network.Network, c network.Conn) {
			m.mu.Lock()
			s := m.sessions[c.RemotePeer()]
			m.mu.Unlock()
			if s != nil {
				select {
				case s.kick <- struct{}{}:
				default:
				}
			}
		},
	})
	if len(ids) > 0 {
		m.log.Info("channels restored", "count", len(ids))
	}
	return nil
}

func (m *chanManager) close() {
	m.n.host.RemoveStreamHandler(protocol.ID(wire.ChannelProtocol))
	m.cancel()
	m.wg.Wait()
}

// session returns (creating) the session for p, or nil when stopping.
func (m *chanManager) session(p peer.ID) *peerSession {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx.Err() != nil {
		return nil
	}
	if s := m.sessions[p]; s != nil {
		return s
	}
	s := newPeerSession(m, p)
	m.sessions[p] = s
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		s.run()
	}()
	return s
}

func (m *chanManager) index(id channel.ID, s *peerSession) {
	m.mu.Lock()
	m.byChan[id] = s
	m.byShort[id.ShortID()] = id
	m.mu.Unlock()
}

// byShortID finds an own channel by its short id.
func (m *chanManager) byShortID(short uint64) (channel.ID, *peerSession, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id, ok := m.byShort[short]
	if !ok {
		return id, nil, false
	}
	return id, m.byChan[id], true
}

// post runs f in the loop of the session owning channel id, without
// waiting: sessions post to each other (forwarding), so a full inbox must
// not block the poster.
func (m *chanManager) post(id channel.ID, f func(*peerSession)) {
	m.mu.Lock()
	s := m.byChan[id]
	m.mu.Unlock()
	if s != nil {
		m.postTo(s, f)
	}
}

func (m *chanManager) postTo(s *peerSession, f func(*peerSession)) {
	it := sessItem{kind: itemOp, op: f}
	select {
	case s.inbox <- it:
	default:
		m.background(func() { _ = s.post(it) })
	}
}

type pendingRef struct {
	htlcRef
	amount uint64
}

// offeredWithHash lists the HTLCs this node offered for payment hash that
// have not ended, on every channel.
func (m *chanManager) offeredWithHash(hash channel.Hash) []pendingRef {
	m.mu.Lock()
	sessions := make([]*peerSession, 0, len(m.sessions))
	for _, s := range m.sessions {
		sessions = append(sessions, s)
	}
	m.mu.Unlock()
	var out []pendingRef
	for _, s := range sessions {
		_ = s.do(context.Background(), func(s *peerSession) {
			for id, e := range s.chans {
				for _, h := range e.m.OfferedPending() {
					if h.PaymentHash == hash {
						out = append(out, pendingRef{htlcRef{id, h.ID}, h.Amount})
					}
				}
			}
		})
	}
	return out
}

func (m *chanManager) sessionOf(id channel.ID) (*peerSession, error) {
	m.mu.Lock()
	s := m.byChan[id]
	m.mu.Unlock()
	if s == nil {
		return nil, fmt.Errorf("%w %s", ErrUnknownChannel, id)
	}
	return s, nil
}

func (m *chanManager) machineConfig() channel.Config {
	return channel.Config{Key: m.key, ExpiryGrace: m.cfg.ExpiryGrace}
}

// acceptable applies this node's policy to a peer's channel proposal.
func (m *chanManager) acceptable(p channel.Params) error {
	if p.AcceptorDeposit > m.cfg.MaxAcceptDeposit {
		return fmt.Errorf("deposit of %d asked of this node, policy allows %d", p.AcceptorDeposit, m.cfg.MaxAcceptDeposit)
	}
	if p.Capacity() > m.cfg.MaxCapacity {
		return fmt.Errorf("capacity %d above this node's maximum %d", p.Capacity(), m.cfg.MaxCapacity)
	}
	return nil
}

func (m *chanManager) deposit(id channel.ID, p *channel.Params) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_ = m.credit.Deposit(id, p.Keys[channel.Opener], p.OpenerDeposit)
	_ = m.credit.Deposit(id, p.Keys[channel.Acceptor], p.AcceptorDeposit)
}

// restore rebuilds a machine from its log, verifying every state.
func (m *chanManager) restore(log *store.ChannelLog, id [32]byte) (*channel.Machine, uint64, error) {
	raw, err := log.Load(id)
	if err != nil {
		return nil, 0, err
	}
	recs := make([]channel.Record, len(raw))
	for i, b := range raw {
		if recs[i], err = channel.UnmarshalRecord(b); err != nil {
			return nil, 0, fmt.Errorf("record %d: %w", i, err)
		}
	}
	mach, err := channel.Restore(m.machineConfig(), recs)
	if err != nil {
		return nil, 0, err
	}
	return mach, uint64(len(raw)), nil
}

// background runs f on a goroutine that Close waits for.
func (m *chanManager) background(f func()) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		f()
	}()
}

func (m *chanManager) redialDelay() time.Duration { return 200 * time.Millisecond }

// openStream opens a stream to the session's peer in the background and
// hands it to the session.
func (m *chanManager) openStream(s *peerSession) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		ctx, cancel := context.WithTimeout(m.ctx, m.n.cfg.Settings.Network.DialTimeout.Duration)
		defer cancel()
		st, err := m.n.host.NewStream(ctx, s.peer, protocol.ID(wire.ChannelProtocol))
		if err != nil {
			s.log.Debug("open channel stream", "err", err)
			_ = s.post(sessItem{kind: itemOp, op: func(s *peerSession) { s.dialing = false }})
			return
		}
		cs, err := newChanStream(st, true)
		if err != nil {
			_ = s.post(sessItem{kind: itemOp, op: func(s *peerSession) { s.dialing = false }})
			return
		}
		if s.post(sessItem{kind: itemStreamUp, cs: cs}) != nil {
			cs.close()
			cs.release()
		}
	}()
}

func (m *chanManager) handleStream(st network.Stream) {
	cs, err := newChanStream(st, false)
	if err != nil {
		return
	}
	s := m.session(cs.peer)
	if s == nil || s.post(sessItem{kind: itemStreamUp, cs: cs}) != nil {
		cs.close()
		cs.release()
	}
}

// startStream runs the reader and writer of a stream the session adopted.
func (m *chanManager) startStream(s *peerSession, cs *chanStream) {
	m.wg.Add(2)
	go func() {
		defer m.wg.Done()
		cs.runWriter(func(error) { cs.close() })
	}()
	go func() {
		defer m.wg.Done()
		var downErr error
		cs.runReader(func(msgs []*wire.ChanMessage) {
			if m.splitReads.Load() {
				for _, msg := range msgs {
					_ = s.post(sessItem{kind: itemMsg, cs: cs, msgs: []*wire.ChanMessage{msg}})
				}
				return
			}
			_ = s.post(sessItem{kind: itemMsg, cs: cs, msgs: msgs})
		}, func(err error) { downErr = err })
		cs.close()
		<-cs.done
		cs.release()
		if errors.Is(downErr, wire.ErrBadFrame) || errors.Is(downErr, wire.ErrFrameTooLarge) {
			m.metrics.badMessages.Inc()
			s.log.Warn("peer sent a bad channel frame", "err", downErr)
		}
		_ = s.post(sessItem{kind: itemStreamDown, cs: cs, err: downErr})
	}()
}

// rememberAddrs stores a channel peer's addresses, so that after a restart
// the node can redial it before gossip has told it anything.
func (m *chanManager) rememberAddrs(p peer.ID) {
	addrs := m.n.host.Peerstore().Addrs(p)
	if len(addrs) == 0 {
		return
	}
	if err := m.store.SetPeerAddrs(string(p), addrs); err != nil {
		m.log.Warn("store peer addresses", "peer", p, "err", err)
	}
}

func (m *chanManager) expiredReason(channel.HTLC) []byte { return []byte("expired") }

// preimageHooks is the default wiring: settle HTLCs whose preimage this
// node knows, fail the others.
type preimageHooks struct{ m *chanManager }

func (h preimageHooks) opened(peer.ID, *channel.Machine) {}
func (h preimageHooks) closed(peer.ID, *channel.Machine) {}
func (h preimageHooks) resolved(channel.ID, uint64, HTLCResult) {
}
func (h preimageHooks) holds(channel.ID, channel.HTLC) bool { return false }

// fulfilledKVs stores the preimage of an onion-routed HTLC under pre/ for
// PreimageTTL: a payment resumed after a restart learns from it that it
// was paid. A direct HTLC (no onion) has no payment record to resume: its
// preimage went to the caller of SendHTLC/OfferHTLC and stays in the
// channel's log, so nothing more is stored.
func (h preimageHooks) fulfilledKVs(_ channel.ID, htlc channel.HTLC, pre channel.Hash) []store.KV {
	if len(htlc.Onion) == 0 {
		return nil
	}
	return []store.KV{{Key: store.PreimageKey(htlc.PaymentHash), Value: pre[:], TTL: store.PreimageTTL}}
}

func (h preimageHooks) incoming(s *peerSession, id channel.ID, htlc channel.HTLC, now time.Time) {
	e := s.chans[id]
	if e == nil {
		return
	}
	var out channel.Output
	var err error
	if pre, ok := h.m.preimages.get(htlc.PaymentHash); ok {
		out, err = e.m.Fulfill(htlc.ID, pre, now)
	} else {
		out, err = e.m.FailHTLC(htlc.ID, []byte("unknown payment hash"))
	}
	if err != nil {
		s.log.Debug("settle incoming HTLC", "channel", id, "htlc", htlc.ID, "err", err)
		return
	}
	s.apply(id, out)
}

// peerOf returns the peer id of an Ed25519 channel key.
func peerOf(k ed25519.PublicKey) (peer.ID, error) {
	return peerIDFromEd25519(k)
}

// AddPreimage makes the node fulfill HTLCs paying SHA-256(preimage).
func (n *Node) AddPreimage(preimage channel.Hash) channel.Hash {
	h := channel.Hash(sha256.Sum256(preimage[:]))
	n.chans.preimages.Store(h, preimage)
	return h
}

// OpenChannel opens a channel with p, funded by amount from this node, of
// which push goes to the peer at once. It returns when the opening state is
// co-signed.
func (n *Node) OpenChannel(ctx context.Context, p peer.ID, amount, push uint64) (channel.ID, error) {
	if p == n.id {
		return channel.ID{}, errors.New("cannot open a channel with self")
	}
	peerKey, err := ed25519Key(p)
	if err != nil {
		return channel.ID{}, fmt.Errorf("peer %s: %w", p, err)
	}
	cfg := n.chans.cfg
	if amount == 0 || amount > cfg.MaxCapacity {
		return channel.ID{}, fmt.Errorf("amount %d outside (0, %d]", amount, cfg.MaxCapacity)
	}
	params := channel.Params{
		Keys:          [2]ed25519.PublicKey{n.chans.pub, peerKey},
		OpenerDeposit: amount,
		Push:          push,
		Limits:        [2]channel.Limits{cfg.Limits, cfg.Limits},
	}
	if _, err := rand.Read(params.Nonce[:]); err != nil {
		return channel.ID{}, err
	}
	if err := params.Validate(); err != nil {
		return channel.ID{}, err
	}
	s := n.chans.session(p)
	if s == nil {
		return channel.ID{}, ErrStopped
	}
	n.host.ConnManager().Protect(p, "channel")
	id := params.ID()
	done := make(chan error, 1)
	var openErr error
	if err := s.do(ctx, func(s *peerSession) {
		m, out, err := channel.Open(n.chans.machineConfig(), params)
		if err != nil {
			openErr = err
			return
		}
		s.chans[id] = &chanEntry{m: m}
		n.chans.index(id, s)
		s.openWaiters[id] = append(s.openWaiters[id], done)
		s.apply(id, out)
		s.nextDial = time.Time{}
		s.ensureStream(time.Now())
	}); err != nil {
		return id, err
	}
	if openErr != nil {
		return id, openErr
	}
	select {
	case err := <-done:
		return id, err
	case <-ctx.Done():
		return id, fmt.Errorf("channel %s not open yet (it stays pending): %w", id, ctx.Err())
	}
}

// SendHTLC offers an HTLC on channel id and waits for the peer to fulfill or
// fail it, or for ctx to end (the HTLC then stays pending). An HTLC the
// channel refuses returns its error.
func (n *Node) SendHTLC(ctx context.Context, id channel.ID, amount uint64, hash channel.Hash, expiry time.Time, onion []byte) (HTLCResult, error) {
	res, err := n.OfferHTLC(ctx, id, amount, hash, expiry, onion)
	if err != nil {
		return HTLCResult{}, err
	}
	var r HTLCResult
	if done := ctx.Done(); done == nil {
		// A context that never ends: a plain receive, cheaper than a
		// select for callers that send many HTLCs at once.
		r = <-res
	} else {
		select {
		case r = <-res:
		case <-done:
			return HTLCResult{}, ctx.Err()
		}
	}
	if r.Err != nil && r.Preimage == nil && r.Reason == nil {
		return r, r.Err
	}
	return r, nil
}

// OfferHTLC offers an HTLC on channel id and returns at once with a channel
// that receives the outcome: fulfilled, failed by the peer, or refused
// (Err set: over the balance or a limit, channel not open). It does not
// wait for the session, so many offers in a row ride in one commit.
func (n *Node) OfferHTLC(ctx context.Context, id channel.ID, amount uint64, hash channel.Hash, expiry time.Time, onion []byte) (<-chan HTLCResult, error) {
	s, err := n.chans.sessionOf(id)
	if err != nil {
		return nil, err
	}
	res := make(chan HTLCResult, 1)
	err = s.post(sessItem{kind: itemOp, op: func(s *peerSession) {
		e := s.chans[id]
		if e == nil {
			res <- HTLCResult{Err: fmt.Errorf("%w %s", ErrUnknownChannel, id)}
			return
		}
		hid, out, err := e.m.AddHTLC(amount, hash, expiry, onion, time.Now())
		if err != nil {
			res <- HTLCResult{Err: err}
			return
		}
		s.htlcWaiters[htlcKey{id, hid}] = res
		s.apply(id, out)
	}})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// CloseChannel closes a channel cooperatively and waits for the final
// co-signed state.
func (n *Node) CloseChannel(ctx context.Context, id channel.ID) error {
	s, err := n.chans.sessionOf(id)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	var closeErr error
	if err := s.do(ctx, func(s *peerSession) {
		e := s.chans[id]
		if e.m.Closed() {
			done <- nil
			return
		}
		out, err := e.m.StartClose()
		if err != nil {
			closeErr = err
			return
		}
		s.closeWaiters[id] = append(s.closeWaiters[id], done)
		s.apply(id, out)
	}); err != nil {
		return err
	}
	if closeErr != nil {
		return closeErr
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("channel %s still closing: %w", id, ctx.Err())
	}
}

// ChannelInfo is a channel as `paymesh channel list/show` shows it: the
// API's type, so the node and its clients share one definition.
type ChannelInfo = api.Channel

// HTLCOf is a pending HTLC in ChannelInfo.
type HTLCOf = api.HTLC

func (s *peerSession) info(id channel.ID, e *chanEntry, withHTLCs bool) ChannelInfo {
	m := e.m
	p := m.Params()
	ci := ChannelInfo{
		ID:        id.String(),
		ShortID:   id.ShortID(),
		Peer:      s.peer.String(),
		Opener:    m.Side() == channel.Opener,
		Capacity:  p.Capacity(),
		Connected: s.cur != nil,
	}
	switch {
	case m.Failed() != nil:
		ci.State, ci.Failure = "failed", m.Failed().Error()
	case m.Closed():
		ci.State = "closed"
	case m.Closing():
		ci.State = "closing"
	case m.State() == nil:
		ci.State = "opening"
	default:
		ci.State = "open"
	}
	if ss := m.State(); ss != nil {
		st := ss.State
		ci.Seq = st.Seq
		ci.LocalBalance, ci.RemoteBalance = st.Balance[m.Side()], st.Balance[1-m.Side()]
		for _, h := range st.HTLCs {
			ci.PendingHTLCs++
			ci.PendingAmount += h.Amount
			if withHTLCs {
				ci.HTLCs = append(ci.HTLCs, HTLCOf{ID: h.ID, Incoming: h.Offerer != m.Side(), Amount: h.Amount, PaymentHash: h.PaymentHash.String(), Expiry: h.Expiry})
			}
		}
	}
	return ci
}

// Channels lists every channel of the node, sorted by id.
func (n *Node) Channels(ctx context.Context) ([]ChannelInfo, error) {
	n.chans.mu.Lock()
	sessions := make([]*peerSession, 0, len(n.chans.sessions))
	for _, s := range n.chans.sessions {
		sessions = append(sessions, s)
	}
	n.chans.mu.Unlock()
	out := []ChannelInfo{}
	for _, s := range sessions {
		var part []ChannelInfo
		if err := s.do(ctx, func(s *peerSession) {
			for id, e := range s.chans {
				part = append(part, s.info(id, e, false))
			}
		}); err != nil {
			return nil, err
		}
		out = append(out, part...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Channel returns one channel, with its pending HTLCs.
func (n *Node) Channel(ctx context.Context, id channel.ID) (ChannelInfo, error) {
	s, err := n.chans.sessionOf(id)
	if err != nil {
		return ChannelInfo{}, err
	}
	var ci ChannelInfo
	err = s.do(ctx, func(s *peerSession) { ci = s.info(id, s.chans[id], true) })
	return ci, err
}

// ParseChannelID parses a channel id given in hex (64 digits) or as a
// unique hex prefix of at least 8 digits among the node's channels.
func (n *Node) ParseChannelID(s string) (channel.ID, error) {
	var id channel.ID
	if len(s) == 64 {
		b, err := hex.DecodeString(s)
		if err != nil {
			return id, fmt.Errorf("bad channel id %q: %w", s, err)
		}
		return channel.ID(b), nil
	}
	if len(s) < 8 {
		return id, fmt.Errorf("bad channel id %q: give at least 8 hex digits", s)
	}
	n.chans.mu.Lock()
	defer n.chans.mu.Unlock()
	found := 0
	for cid := range n.chans.byChan {
		if len(cid.String()) >= len(s) && cid.String()[:len(s)] == s {
			id = cid
			found++
		}
	}
	switch found {
	case 0:
		return id, fmt.Errorf("%w %s", ErrUnknownChannel, s)
	case 1:
		return id, nil
	}
	return id, fmt.Errorf("channel id prefix %q is ambiguous", s)
}

// AuditReport is the result of verifying a channel's log.
type AuditReport struct {
	Channel     string `json:"channel"`
	Records     int    `json:"records"`
	Checkpoints int    `json:"checkpoints"`
	Seq         uint64 `json:"seq"`
	StateHash   string `json:"state_hash"`
	OK          bool   `json:"ok"`
	Error       string `json:"error,omitempty"`
}

// AuditChannel verifies a channel's durable log end to end: every
// checkpoint's two signatures and their order, then the live records
// (recomputing every state from its updates and verifying every hash and
// signature).
func (n *Node) AuditChannel(id channel.ID) (AuditReport, error) {
	return auditChannel(n.store, n.chans.machineConfig(), id)
}

func auditChannel(st *store.Store, cfg channel.Config, id channel.ID) (AuditReport, error) {
	rep := AuditReport{Channel: id.String()}
	log := st.Channels()
	raw, err := log.Load(id)
	if err != nil {
		return rep, err
	}
	rep.Records = len(raw)
	recs := make([]channel.Record, len(raw))
	for i, b := range raw {
		if recs[i], err = channel.UnmarshalRecord(b); err != nil {
			rep.Error = fmt.Sprintf("record %d: %v", i, err)
			return rep, nil
		}
	}
	m, err := channel.Restore(cfg, recs)
	if err != nil {
		rep.Error = err.Error()
		return rep, nil
	}
	p := m.Params()
	cks, err := log.Checkpoints(id)
	if err != nil {
		return rep, err
	}
	rep.Checkpoints = len(cks)
	var last uint64
	for i, b := range cks {
		ss, err := decodeCheckpoint(b)
		if err != nil {
			rep.Error = fmt.Sprintf("checkpoint %d: %v", i, err)
			return rep, nil
		}
		if ss.State.Channel != id {
			rep.Error = fmt.Sprintf("checkpoint %d belongs to channel %s", i, ss.State.Channel)
			return rep, nil
		}
		if err := ss.Verify(p.Keys); err != nil {
			rep.Error = fmt.Sprintf("checkpoint %d (seq %d): %v", i, ss.State.Seq, err)
			return rep, nil
		}
		if i > 0 && ss.State.Seq <= last {
			rep.Error = fmt.Sprintf("checkpoint %d: seq %d after %d", i, ss.State.Seq, last)
			return rep, nil
		}
		last = ss.State.Seq
	}
	if ss := m.State(); ss != nil {
		rep.Seq, rep.StateHash = ss.State.Seq, ss.Hash.String()
		if len(cks) > 0 && ss.State.Seq < last {
			rep.Error = fmt.Sprintf("latest state %d is older than checkpoint %d", ss.State.Seq, last)
			return rep, nil
		}
	}
	rep.OK = true
	return rep, nil
}

// encodeCheckpoint stores a co-signed state: canonical state bytes and both
// signatures, each length-prefixed.
func encodeCheckpoint(ss *channel.SignedState) []byte {
	st := ss.State.Encode()
	b := make([]byte, 0, 12+len(st)+len(ss.Sigs[0])+len(ss.Sigs[1]))
	for _, part := range [][]byte{st, ss.Sigs[0], ss.Sigs[1]} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(part)))
		b = append(b, part...)
	}
	return b
}

func decodeCheckpoint(b []byte) (*channel.SignedState, error) {
	var parts [3][]byte
	for i := range parts {
		if len(b) < 4 {
			return nil, errors.New("truncated")
		}
		n := binary.BigEndian.Uint32(b)
		b = b[4:]
		if uint64(n) > uint64(len(b)) {
			return nil, errors.New("truncated")
		}
		parts[i], b = b[:n], b[n:]
	}
	if len(b) != 0 {
		return nil, errors.New("trailing bytes")
	}
	st, err := channel.DecodeState(parts[0])
	if err != nil {
		return nil, err
	}
	return &channel.SignedState{State: st, Hash: st.Hash(), Sigs: [2][]byte{parts[1], parts[2]}}, nil
}
