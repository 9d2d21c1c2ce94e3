package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/paymesh/paymesh/protocol/channel"
	"github.com/paymesh/paymesh/protocol/gossip"
	"github.com/paymesh/paymesh/protocol/wire"
	"github.com/paymesh/paymesh/store"
)

// A peerSession owns every channel this node has with one peer, and the
// stream that carries them. One goroutine runs it: peer messages, local
// operations and stream events all arrive on its inbox, so the channel
// machines (which are not safe for concurrent use) need no locks.
//
// The loop is a pipelined group commit. It takes whatever has queued up
// (up to sessionBatch items), steps every machine, asks each touched
// machine to Commit, and hands all their records to Badger as one synced
// transaction (a round); the round's messages are sent, and its events
// handled, only once that transaction is durable: persist before send, one
// fsync for many HTLC updates. While a round is being written the loop
// keeps stepping what arrives into the next round, which is written as
// soon as the previous one is durable: at most one round is in flight, so
// rounds become durable, and their messages leave, in order, and a failed
// write never leaves a later round on disk without an earlier one.
//
// An HTLC without an onion that the peer adds is settled by this node from
// its preimages (preimageHooks): its fulfill (or fail) is made in the same
// round as the co-signed state that adds it, before that round is written,
// so one synced write covers the countersignature, the fulfill and the
// next proposal. Nothing leaves before the write, so this is as safe as
// settling after it, one fsync sooner. HTLCs with an onion go to the
// switch after the write, as every other event does.
const (
	sessionInbox = 16384
	sessionBatch = 8192
	compactAfter = 4096 // live records before a channel's log is compacted
	// compactPerHTLC more live records per pending HTLC delay compaction:
	// a snapshot (and its checkpoint) holds every pending HTLC, so a busy
	// channel compacted every compactAfter records would write its whole
	// pending set again each time.
	compactPerHTLC = 8
	maxStepStrikes = 20 // consecutive bad messages before a channel is aborted
	// silentHold is how long a round that sends nothing and reports
	// nothing (a state the peer countersigned, see flush) waits to share
	// the write of what comes next.
	silentHold = 3 * time.Millisecond
	// gatherYields and gatherMax bound the wait for a burst of updates
	// (see gather).
	gatherYields = 64
	gatherMax    = time.Millisecond
	sessionTick  = 500 * time.Millisecond
)

type itemKind uint8

const (
	itemMsg itemKind = iota + 1
	itemStreamUp
	itemStreamDown
	itemOp
)

type sessItem struct {
	kind itemKind
	cs   *chanStream
	msgs []*wire.ChanMessage // itemMsg: messages read from cs, in order
	err  error
	op   func(*peerSession)
}

// chanEntry is one channel of the session.
type chanEntry struct {
	m       *channel.Machine
	strikes int
	// live counts records appended since the log's base, for compaction.
	live uint64
	// settled is set once the Settlement has paid out the channel.
	settled bool
	// ann is the channel's gossip announcement while it is being signed;
	// annDone once this process has seen it complete.
	ann     *gossip.ChannelAnnouncement
	annDone bool
	// expiredTold marks offered HTLCs already reported as expired.
	expiredTold map[uint64]bool
	// hint is how many records and messages the channel's last round
	// held (see newOutput).
	hint [2]int
}

// HTLCResult is how an HTLC offered by this node ended.
type HTLCResult struct {
	// Preimage is set when the peer fulfilled the HTLC.
	Preimage *channel.Hash
	// Reason is the peer's failure reason (an onion error) when it failed
	// the HTLC; Err is set when the HTLC ended without an answer from the
	// peer (the channel failed).
	Reason []byte
	Err    error
}

type htlcKey struct {
	ch channel.ID
	id uint64
}

type peerSession struct {
	mgr   *chanManager
	peer  peer.ID
	log   *slog.Logger
	inbox chan sessItem
	kick  chan struct{} // the peer connected: try to open a stream now
	store *store.ChannelLog

	// Owned by the loop goroutine.
	chans        map[channel.ID]*chanEntry
	cur          *chanStream
	backoff      time.Duration
	nextDial     time.Time
	dialing      bool
	later        []func(*peerSession) // operations for the next round
	openWaiters  map[channel.ID][]chan error
	closeWaiters map[channel.ID][]chan error
	htlcWaiters  map[htlcKey]chan HTLCResult

	// The round being built.
	outs    map[channel.ID]*channel.Output
	touched []channel.ID
	kvs     map[channel.ID][]store.KV
	// urgent is set once the round holds more than own updates (see
	// deferrable).
	urgent bool
	// holdStart is when the round being built began to wait (zero: it
	// does not); hold fires when the wait is over.
	holdStart time.Time
	hold      *time.Timer
	// The round being written, if any, and where its write reports.
	inflight   *round
	commitDone chan error
}

// round is what is left to do for a group commit once its records are
// durable.
type round struct {
	cs     *chanStream // the stream its messages are for
	msgs   []*wire.ChanMessage
	events []chanEvents
	start  time.Time
}

// chanEvents are the events of one channel in a round.
type chanEvents struct {
	id  channel.ID
	evs []channel.Event
}

func newPeerSession(mgr *chanManager, p peer.ID) *peerSession {
	return &peerSession{
		mgr:          mgr,
		peer:         p,
		log:          mgr.log.With("peer", p),
		inbox:        make(chan sessItem, sessionInbox),
		kick:         make(chan struct{}, 1),
		store:        mgr.store.Channels(),
		chans:        make(map[channel.ID]*chanEntry),
		openWaiters:  make(map[channel.ID][]chan error),
		closeWaiters: make(map[channel.ID][]chan error),
		htlcWaiters:  make(map[htlcKey]chan HTLCResult),
		outs:         make(map[channel.ID]*channel.Output),
		kvs:          make(map[channel.ID][]store.KV),
		commitDone:   make(chan error, 1),
		hold:         time.NewTimer(time.Hour),
	}
}

// post queues an item; it fails only when the node is shutting down.
func (s *peerSession) post(it sessItem) error {
	select {
	case s.inbox <- it:
		return nil
	case <-s.mgr.ctx.Done():
		return ErrStopped
	}
}

// do runs f inside the session loop and waits for it.
func (s *peerSession) do(ctx context.Context, f func(*peerSession)) error {
	done := make(chan struct{})
	if err := s.post(sessItem{kind: itemOp, op: func(s *peerSession) { f(s); close(done) }}); err != nil {
		return err
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.mgr.ctx.Done():
		return ErrStopped
	}
}

func (s *peerSession) run() {
	ctx := s.mgr.ctx
	tick := time.NewTicker(sessionTick)
	defer tick.Stop()
	defer func() {
		if s.cur != nil {
			s.cur.close()
		}
	}()
	s.hold.Stop()
	defer s.hold.Stop()
	s.ensureStream(time.Now())
	batch := make([]sessItem, 0, sessionBatch)
	for {
		batch = batch[:0]
		if len(s.later) > 0 && (s.inflight != nil || len(s.touched) > 0) {
			// Operations for the next round see the machines exactly as
			// on disk, every event handled: finish the rounds in progress
			// first, taking no new input meanwhile.
			if s.inflight != nil {
				select {
				case err := <-s.commitDone:
					s.onCommitted(err, time.Now())
				case <-ctx.Done():
					return
				}
			}
			s.flushAll(time.Now())
			continue
		}
		if len(s.later) == 0 {
			select {
			case it := <-s.inbox:
				batch = append(batch, it)
			case err := <-s.commitDone:
				s.onCommitted(err, time.Now())
			case <-s.hold.C:
			case <-tick.C:
				s.onTick(time.Now())
			case <-s.kick:
				s.nextDial = time.Time{}
				s.ensureStream(time.Now())
			case <-ctx.Done():
				return
			}
		}
		batch = s.drainInbox(batch)
		now := time.Now()
		// A write that completed meanwhile goes first: its messages are due.
		select {
		case err := <-s.commitDone:
			s.onCommitted(err, now)
		default:
		}
		later := s.later
		s.later = nil
		for _, f := range later {
			f(s)
		}
		for _, it := range batch {
			s.handle(it, now)
		}
		if s.inflight == nil && len(s.touched) > 0 && !s.urgent && !s.deferrable() {
			s.gather(batch[:0], now)
		}
		s.flush(now)
	}
}

// drainInbox appends to batch what the inbox holds now, up to
// sessionBatch items in all, without waiting.
func (s *peerSession) drainInbox(batch []sessItem) []sessItem {
	for len(batch) < sessionBatch {
		select {
		case it := <-s.inbox:
			batch = append(batch, it)
		default:
			return batch
		}
	}
	return batch
}

// gather takes in a burst of updates still arriving before they are
// proposed. A round of nothing but updates is about to be proposed; more
// are likely being posted (callers woken by the outcomes just reported,
// the rest of a peer's flush). While each yield of the processor brings
// more, up to gatherYields times and gatherMax in all, they are handled
// into the same round, so that one proposal covers the burst rather than
// its first few, with the rest waiting a whole round trip for the next.
func (s *peerSession) gather(batch []sessItem, now time.Time) {
	deadline := time.Now().Add(gatherMax)
	for range gatherYields {
		runtime.Gosched()
		batch = s.drainInbox(batch[:0])
		for _, it := range batch {
			s.handle(it, now)
		}
		if len(batch) == 0 || s.urgent || time.Now().After(deadline) {
			return
		}
	}
}

func (s *peerSession) handle(it sessItem, now time.Time) {
	switch it.kind {
	case itemMsg:
		// A message may end the stream's epoch: the rest are then dropped,
		// as if they had arrived after it.
		for _, msg := range it.msgs {
			if it.cs != s.cur {
				break
			}
			it.cs.heard = true
			s.onMessage(msg, now)
		}
	case itemStreamUp:
		s.onStreamUp(it.cs)
	case itemStreamDown:
		if it.cs == s.cur {
			s.log.Debug("channel stream down", "err", it.err)
			s.endEpoch()
			s.backoff = 0
			s.nextDial = now.Add(s.mgr.redialDelay())
		}
	case itemOp:
		it.op(s)
	}
}

// addKV makes kv durable in the same transaction as this round's records
// of channel id.
func (s *peerSession) addKV(id channel.ID, kv store.KV) {
	s.apply(id, channel.Output{})
	s.kvs[id] = append(s.kvs[id], kv)
	s.urgent = true
}

// apply merges a machine's output into this round's.
func (s *peerSession) apply(id channel.ID, out channel.Output) {
	o, ok := s.outs[id]
	if !ok {
		o = s.newOutput(id)
		s.outs[id] = o
		s.touched = append(s.touched, id)
	}
	if out.Empty() {
		return
	}
	if !s.urgent && !onlyUpdates(out) {
		s.urgent = true
	}
	if len(o.Events) == 0 {
		// The first events of the round are taken over rather than copied
		// (a co-signed state reports one event per HTLC it settles): a
		// machine's output is built afresh for each call and never
		// retained by the machine, so the round may own it.
		o.Events, out.Events = out.Events, nil
	}
	o.Merge(out)
}

// newOutput returns the empty output of channel id for the round being
// built, with room for as many records and messages as the channel's
// previous round held: a busy channel's round holds thousands, and growing
// them from nothing would allocate and copy each about twice. (Events are
// taken over from the machine, see apply.)
func (s *peerSession) newOutput(id channel.ID) *channel.Output {
	o := &channel.Output{}
	if e := s.chans[id]; e != nil {
		if n := e.hint[0]; n > 0 {
			o.Records = make([]channel.Record, 0, n)
		}
		if n := e.hint[1]; n > 0 {
			o.Messages = make([]*wire.ChanMessage, 0, n)
		}
	}
	return o
}

// maxHint bounds the room newOutput makes for a round's records and
// messages of one channel.
const maxHint = 8192

// onlyUpdates reports whether out holds nothing but own updates (their
// records and messages).
func onlyUpdates(out channel.Output) bool {
	if len(out.Events) > 0 {
		return false
	}
	for _, r := range out.Records {
		if r.Kind() != channel.RecordUpdate {
			return false
		}
	}
	for _, msg := range out.Messages {
		switch msg.GetBody().(type) {
		case *wire.ChanMessage_Add, *wire.ChanMessage_Fulfill, *wire.ChanMessage_Fail:
		default:
			return false
		}
	}
	return true
}

// flush ends a round unless one is being written (the round then grows
// until that write completes): commit every touched channel, hand all
// records to the store as one synced transaction, and once it is durable
// send the messages and handle the events (onCommitted). A round without
// records needs no write: its messages go out at once, and handling its
// events may touch channels again, which starts a further round.
//
// A round that holds nothing but our own updates, on channels whose
// proposal awaits the peer's countersignature, waits for more (deferrable):
// the peer can do nothing with those updates before our next proposal,
// which Commit makes once the countersignature arrives, and they then
// share its write instead of taking one of their own.
//
// A silent round (silent) waits up to silentHold for more: typically the
// state the peer just countersigned, with the peer's next updates and
// proposal on their way; writing it alone would make them wait for its
// sync. Nothing is promised meanwhile, and if the node stops before it is
// written, the peer's re-establish completes our proposal again.
func (s *peerSession) flush(now time.Time) {
	for s.inflight == nil && len(s.touched) > 0 && !s.deferrable() {
		if until, wait := s.holdUntil(now); wait {
			s.hold.Reset(until.Sub(now))
			return
		}
		s.flushOnce(now)
	}
}

// holdUntil tells whether the round being built should wait, and until
// when (see flush).
func (s *peerSession) holdUntil(now time.Time) (time.Time, bool) {
	if !s.silent() {
		return time.Time{}, false
	}
	if s.holdStart.IsZero() {
		s.holdStart = now
	}
	until := s.holdStart.Add(silentHold)
	return until, now.Before(until)
}

// silent reports whether the round being built would send nothing and
// report nothing: no message, no key to write with it, no event but
// co-signed states.
func (s *peerSession) silent() bool {
	for _, id := range s.touched {
		out := s.outs[id]
		if len(out.Messages) > 0 || len(s.kvs[id]) > 0 {
			return false
		}
		for i := range out.Events {
			if out.Events[i].Kind != channel.EventCoSigned {
				return false
			}
		}
		if e := s.chans[id]; e == nil || e.m.Failed() != nil {
			return false
		}
	}
	return true
}

// flushAll is flush without deferring.
func (s *peerSession) flushAll(now time.Time) {
	for s.inflight == nil && len(s.touched) > 0 {
		s.flushOnce(now)
	}
}

// deferrable reports whether the round being built holds only own updates
// of channels with a proposal in flight (see flush).
func (s *peerSession) deferrable() bool {
	if s.urgent {
		return false
	}
	for _, id := range s.touched {
		e := s.chans[id]
		if e == nil || !e.m.Proposing() || e.m.Failed() != nil {
			return false
		}
	}
	return true
}

func (s *peerSession) flushOnce(now time.Time) {
	s.settleEarly(now)
	for _, id := range s.touched {
		e := s.chans[id]
		if e == nil || e.m.Failed() != nil || e.m.State() == nil {
			continue
		}
		out, err := e.m.Commit()
		if err != nil {
			s.log.Debug("commit", "channel", id, "err", err)
			continue
		}
		s.outs[id].Merge(out)
	}
	appends := make([]pendingAppend, 0, len(s.touched))
	nmsgs := 0
	for _, id := range s.touched {
		out := s.outs[id]
		e := s.chans[id]
		nmsgs += len(out.Messages)
		if e != nil {
			e.hint[0], e.hint[1] = min(len(out.Records), maxHint), min(len(out.Messages), maxHint)
		}
		// A preimage the peer revealed is stored with the state that
		// holds its fulfill: after a crash the node still knows it, and
		// can claim the incoming HTLC it paid for (see fulfilledKVs).
		for _, ev := range out.Events {
			if ev.Kind == channel.EventHTLCFulfilled {
				s.kvs[id] = append(s.kvs[id], s.mgr.hooks.fulfilledKVs(id, ev.HTLC, ev.Preimage)...)
			}
		}
		if (len(out.Records) == 0 && len(s.kvs[id]) == 0) || e == nil {
			continue
		}
		a := pendingAppend{a: store.ChannelAppend{ID: id, KVs: s.kvs[id]}, recs: out.Records}
		e.live += uint64(len(out.Records))
		if e.live >= compactAfter && e.live >= compactPerHTLC*pendingHTLCs(e.m) {
			snap := e.m.Snapshot()
			a.snap = &snap
			e.live = 1
			a.cosigned = e.m.State()
		}
		appends = append(appends, a)
	}
	r := &round{cs: s.cur, start: time.Now(), msgs: make([]*wire.ChanMessage, 0, nmsgs)}
	for _, id := range s.touched {
		r.msgs = append(r.msgs, s.outs[id].Messages...)
	}
	for _, id := range s.touched {
		if evs := s.outs[id].Events; len(evs) > 0 {
			r.events = append(r.events, chanEvents{id, evs})
		}
	}
	s.resetRound()
	if len(appends) == 0 {
		s.finish(r, now)
		return
	}
	s.inflight = r
	st, done, m := s.store, s.commitDone, s.mgr
	m.background(func() {
		if m.failWrites.Load() > 0 && m.failWrites.Add(-1) >= 0 {
			done <- errInjected
			return
		}
		done <- writeAppends(st, appends)
	})
}

// errInjected is the error of a write failed on purpose (chanManager.failWrites).
var errInjected = errors.New("injected write failure")

// pendingHTLCs returns how many HTLCs a channel's co-signed state holds.
func pendingHTLCs(m *channel.Machine) uint64 {
	if ss := m.State(); ss != nil {
		return uint64(len(ss.State.HTLCs))
	}
	return 0
}

// pendingAppend is one channel's share of a round, before its records are
// marshalled: the write goroutine marshals them, off the session loop.
// Records and states are immutable once a machine has output them.
type pendingAppend struct {
	a    store.ChannelAppend
	recs []channel.Record
	// snap, when set, compacts the log, with the co-signed state (if any)
	// kept as a checkpoint.
	snap     *channel.Record
	cosigned *channel.SignedState
}

// writeAppends marshals a round's records and writes them in one synced
// transaction.
func writeAppends(st *store.ChannelLog, pending []pendingAppend) error {
	appends := make([]store.ChannelAppend, len(pending))
	for i := range pending {
		p := &pending[i]
		a := p.a
		recs, err := channel.MarshalRecords(p.recs)
		if err != nil {
			return fmt.Errorf("channel %s: %w", channel.ID(a.ID), err)
		}
		a.Records = recs
		if p.snap != nil {
			snap, err := p.snap.Marshal()
			if err != nil {
				return fmt.Errorf("channel %s: snapshot: %w", channel.ID(a.ID), err)
			}
			a.Compact = snap
			if p.cosigned != nil {
				a.Checkpoint, a.CheckpointSeq = encodeCheckpoint(p.cosigned), p.cosigned.State.Seq
			}
		}
		appends[i] = a
	}
	return st.Append(appends)
}

// onCommitted completes the round in flight once its write returned err.
func (s *peerSession) onCommitted(err error, now time.Time) {
	r := s.inflight
	s.inflight = nil
	if r == nil {
		return
	}
	if err != nil {
		// Nothing of this round may be sent: the peer would hold
		// signatures this node forgot. The round being built stands on it:
		// drop it too, rebuild from disk and start a new epoch.
		s.log.Error("persist channel records; reloading channels from disk", "err", err)
		s.resetRound()
		s.reload()
		return
	}
	s.mgr.metrics.commitSeconds.Observe(time.Since(r.start).Seconds())
	s.finish(r, now)
}

// finish sends a durable round's messages, if their stream is still the
// current one (otherwise the re-establish on the next stream retransmits
// what the peer lacks), and handles its events.
func (s *peerSession) finish(r *round, now time.Time) {
	if len(r.msgs) > 0 && r.cs != nil && r.cs == s.cur {
		s.cur.send(r.msgs...)
	}
	for _, ce := range r.events {
		for i := range ce.evs {
			s.onEvent(ce.id, ce.evs[i], now)
		}
	}
}

// settleEarly handles, before the round is written, the HTLCs without an
// onion that the peer added in this round: the node settles them from its
// preimages, and their fulfills or fails join the same write as the state
// that co-signs them (see the package comment on the loop).
func (s *peerSession) settleEarly(now time.Time) {
	for _, id := range s.touched {
		out := s.outs[id]
		early := false
		for i := range out.Events {
			if ev := &out.Events[i]; ev.Kind == channel.EventHTLCAdded && len(ev.HTLC.Onion) == 0 {
				early = true
				break
			}
		}
		if !early {
			continue
		}
		// The events are filtered in place; what handling the early ones
		// outputs goes to a fresh list, appended to the kept ones after.
		evs := out.Events
		out.Events = nil
		k := 0
		for i := range evs {
			if ev := &evs[i]; ev.Kind == channel.EventHTLCAdded && len(ev.HTLC.Onion) == 0 {
				s.onEvent(id, *ev, now)
				continue
			}
			if k != i {
				evs[k] = evs[i]
			}
			k++
		}
		clear(evs[k:])
		out.Events = append(evs[:k], out.Events...)
	}
}

func (s *peerSession) resetRound() {
	clear(s.outs)
	clear(s.kvs)
	s.touched = s.touched[:0]
	s.urgent = false
	s.holdStart = time.Time{}
}

// reload rebuilds every machine of the session from the store. HTLCs this
// node offered that only the lost rounds held never reached the peer: they
// end now, with an error, for whoever waits on them (a caller, the switch,
// the payer), as their ids may be offered again.
func (s *peerSession) reload() {
	if s.cur != nil {
		s.endEpoch()
	}
	offered := make(map[htlcKey]bool)
	for id, e := range s.chans {
		for _, h := range e.m.OfferedPending() {
			offered[htlcKey{id, h.ID}] = true
		}
	}
	for id := range s.chans {
		m, live, err := s.mgr.restore(s.store, id)
		if err != nil {
			s.log.Error("reload channel", "channel", id, "err", err)
			delete(s.chans, id)
			continue
		}
		s.chans[id] = &chanEntry{m: m, live: live}
	}
	lost := errors.New("not persisted: the channel was reloaded from disk")
	for id, e := range s.chans {
		for _, h := range e.m.OfferedPending() {
			delete(offered, htlcKey{id, h.ID})
		}
	}
	for k := range offered {
		// A channel that did not reload is in an unknown state: what it
		// carried stays unresolved rather than be taken for lost.
		if s.chans[k.ch] != nil {
			s.resolve(k, HTLCResult{Err: lost})
		}
	}
	for id, ws := range s.openWaiters {
		if s.chans[id] == nil {
			for _, w := range ws {
				w <- lost
			}
			delete(s.openWaiters, id)
		}
	}
}

func (s *peerSession) onMessage(msg *wire.ChanMessage, now time.Time) {
	if len(msg.GetChannelId()) != 32 {
		s.log.Debug("message with a malformed channel id", "len", len(msg.GetChannelId()))
		s.mgr.metrics.badMessages.Inc()
		return
	}
	id := channel.ID(msg.GetChannelId())
	e := s.chans[id]
	if e != nil {
		if as := msg.GetAnnouncementSig(); as != nil {
			s.onAnnouncementSig(id, e, as.GetSig())
			return
		}
	}
	if e == nil {
		if open := msg.GetOpen(); open != nil {
			s.onOpen(id, msg)
			return
		}
		if msg.GetError() == nil {
			// A copy of the id: slicing id itself would move it to the heap
			// for every message.
			s.send(&wire.ChanMessage{ChannelId: bytes.Clone(id[:]), Body: &wire.ChanMessage_Error{Error: &wire.ChanError{Reason: "unknown channel"}}})
		}
		return
	}
	out, err := e.m.Step(msg, now)
	if err != nil {
		e.strikes++
		s.mgr.metrics.badMessages.Inc()
		s.log.Warn("rejected channel message", "channel", id, "err", err, "strikes", e.strikes)
		if e.strikes >= maxStepStrikes {
			s.apply(id, e.m.Abort(fmt.Sprintf("peer sent %d bad messages in a row; last: %v", e.strikes, err)))
			return
		}
		// A message out of order means something was lost between the two
		// machines: end the stream, and the re-establish on the next one
		// retransmits what is missing. A peer that keeps sending bad
		// messages across re-establishes gets the channel aborted above.
		if s.cur != nil {
			s.endEpoch()
			s.nextDial = now.Add(s.mgr.redialDelay())
		}
		return
	}
	e.strikes = 0
	s.apply(id, out)
}

// onOpen decides on a peer's channel proposal.
func (s *peerSession) onOpen(id channel.ID, msg *wire.ChanMessage) {
	reject := func(reason string) {
		s.log.Info("refused channel", "channel", id, "reason", reason)
		s.send(&wire.ChanMessage{ChannelId: id[:], Body: &wire.ChanMessage_Error{Error: &wire.ChanError{Reason: reason}}})
	}
	p, err := channel.ParseOpen(msg.GetOpen())
	if err != nil {
		reject(err.Error())
		return
	}
	if p.ID() != id {
		reject("channel id does not match its parameters")
		return
	}
	peerKey, err := ed25519Key(s.peer)
	if err != nil || !peerKey.Equal(p.Keys[channel.Opener]) {
		reject("opener key is not the key of the peer that sent the proposal")
		return
	}
	if !s.mgr.pub.Equal(p.Keys[channel.Acceptor]) {
		reject("acceptor key is not this node's key")
		return
	}
	if err := s.mgr.acceptable(p); err != nil {
		reject(err.Error())
		return
	}
	if len(s.chans) >= maxChannelsPerPeer {
		reject("too many channels with this node")
		return
	}
	m, out, err := channel.Accept(s.mgr.machineConfig(), msg)
	if err != nil {
		reject(err.Error())
		return
	}
	s.chans[id] = &chanEntry{m: m}
	s.mgr.index(id, s)
	s.apply(id, out)
}

func (s *peerSession) send(msgs ...*wire.ChanMessage) {
	if s.cur != nil {
		s.cur.send(msgs...)
	}
}

func (s *peerSession) onEvent(id channel.ID, ev channel.Event, now time.Time) {
	e := s.chans[id]
	switch ev.Kind {
	case channel.EventOpened:
		p := e.m.Params()
		s.mgr.deposit(id, &p)
		for _, w := range s.openWaiters[id] {
			w <- nil
		}
		delete(s.openWaiters, id)
		s.log.Info("channel open", "channel", id, "capacity", p.Capacity())
		s.startAnnouncement(id, e)
		s.mgr.hooks.opened(s.peer, e.m)
	case channel.EventHTLCAdded:
		s.mgr.metrics.htlcsReceived.Inc()
		s.mgr.hooks.incoming(s, id, ev.HTLC, now)
	case channel.EventHTLCFulfilled:
		s.mgr.metrics.htlcsSettled.Inc()
		pre := ev.Preimage
		s.resolve(htlcKey{id, ev.HTLC.ID}, HTLCResult{Preimage: &pre})
	case channel.EventHTLCFailed:
		s.mgr.metrics.htlcsFailed.Inc()
		s.resolve(htlcKey{id, ev.HTLC.ID}, HTLCResult{Reason: ev.Reason})
	case channel.EventClosed:
		s.settle(id, e, ev.State)
		for _, w := range s.closeWaiters[id] {
			w <- nil
		}
		delete(s.closeWaiters, id)
		s.log.Info("channel closed", "channel", id)
		s.announceClosed(id)
		s.mgr.hooks.closed(s.peer, e.m)
	case channel.EventFailed:
		s.log.Warn("channel failed", "channel", id, "err", ev.Err)
		if ss := e.m.State(); ss != nil {
			s.settle(id, e, ss)
		}
		// The latest co-signed state is what gets settled: its pending
		// HTLCs go back to their offerers, so ours end unanswered.
		if ss := e.m.State(); ss != nil {
			for _, h := range ss.State.HTLCs {
				if h.Offerer == e.m.Side() {
					s.resolve(htlcKey{id, h.ID}, HTLCResult{Err: fmt.Errorf("channel failed: %w", ev.Err)})
				}
			}
		}
		for k, w := range s.htlcWaiters {
			if k.ch == id {
				w <- HTLCResult{Err: fmt.Errorf("channel failed: %w", ev.Err)}
				delete(s.htlcWaiters, k)
			}
		}
		for _, ws := range [][]chan error{s.openWaiters[id], s.closeWaiters[id]} {
			for _, w := range ws {
				w <- fmt.Errorf("channel failed: %w", ev.Err)
			}
		}
		delete(s.openWaiters, id)
		delete(s.closeWaiters, id)
		s.mgr.hooks.closed(s.peer, e.m)
	}
}

func (s *peerSession) resolve(k htlcKey, r HTLCResult) {
	if w, ok := s.htlcWaiters[k]; ok {
		w <- r
		delete(s.htlcWaiters, k)
	}
	s.mgr.hooks.resolved(k.ch, k.id, r)
}

func (s *peerSession) settle(id channel.ID, e *chanEntry, ss *channel.SignedState) {
	if e.settled {
		return
	}
	p := e.m.Params()
	if err := s.mgr.settlement.Settle(id, p.Keys, ss); err != nil {
		s.log.Error("settle channel", "channel", id, "err", err)
		return
	}
	e.settled = true
}

// onTick fails incoming HTLCs nobody resolved before their expiry, aborts
// channels whose peer leaves our HTLCs pending past expiry, and redials.
func (s *peerSession) onTick(now time.Time) {
	nowMS := now.UnixMilli()
	for id, e := range s.chans {
		if e.m.Failed() != nil || e.m.State() == nil || e.m.Closed() {
			continue
		}
		for _, h := range e.m.IncomingPending() {
			if h.Expiry-nowMS < s.mgr.failMargin.Milliseconds() && !s.mgr.hooks.holds(id, h) {
				out, err := e.m.FailHTLC(h.ID, s.mgr.expiredReason(h))
				if err == nil {
					s.apply(id, out)
				}
			}
		}
		// Past its expiry plus the grace, an HTLC we offered can no longer
		// be fulfilled (the machine refuses the peer's fulfill), so what
		// waits on it — an incoming HTLC we forwarded, a payment — learns
		// now that it failed, connected peer or not. The funds stay locked
		// until the peer fails it or the channel is aborted below.
		for _, h := range e.m.OfferedExpired(now) {
			if e.expiredTold == nil {
				e.expiredTold = make(map[uint64]bool)
			}
			if !e.expiredTold[h.ID] {
				e.expiredTold[h.ID] = true
				s.resolve(htlcKey{id, h.ID}, HTLCResult{Err: fmt.Errorf("HTLC %d expired unanswered", h.ID)})
			}
		}
		if ss := e.m.State(); ss != nil && s.cur != nil {
			for _, h := range ss.State.HTLCs {
				if h.Offerer == e.m.Side() && nowMS > h.Expiry+s.mgr.abortGrace.Milliseconds() {
					s.apply(id, e.m.Abort(fmt.Sprintf("peer left HTLC %d pending %v past its expiry", h.ID, s.mgr.abortGrace)))
					break
				}
			}
		}
	}
	s.ensureStream(now)
	s.flush(now)
}

// onStreamUp adopts a new stream, or refuses it when a preferred one is up.
func (s *peerSession) onStreamUp(cs *chanStream) {
	if cs.outbound {
		s.dialing = false
	}
	if s.cur != nil && s.cur != cs && cs.outbound {
		// Our dial finished after a stream came up: keep the working one,
		// so that this node never opens a stream while it has one.
		cs.close()
		return
	}
	if s.cur != nil && s.cur != cs {
		// A peer opens a stream only when it has none: a new inbound
		// stream after the peer has spoken on the current one proves the
		// peer lost it (it crashed, or its side of a half-open connection
		// died). Otherwise the two streams crossed and the tie-break
		// decides.
		peerLostCur := s.cur.heard && !cs.outbound
		if !peerLostCur && !s.prefer(cs, s.cur) {
			cs.close()
			return
		}
		s.endEpoch()
	}
	s.dropUnsent()
	s.cur = cs
	s.backoff = 0
	s.mgr.startStream(s, cs)
	s.mgr.rememberAddrs(s.peer)
	for id, e := range s.chans {
		s.apply(id, e.m.Reconnect())
	}
	for id, e := range s.chans {
		if e.m.State() != nil && e.m.Failed() == nil && !e.m.Closed() && !e.annDone {
			s.startAnnouncement(id, e)
		}
	}
}

// prefer reports whether stream a should replace stream b: the one opened
// by the node with the smaller peer id wins; between two streams opened by
// the same node, the newer wins (the older one is dead on that side).
func (s *peerSession) prefer(a, b *chanStream) bool {
	oa, ob := a.openerID(s.mgr.self), b.openerID(s.mgr.self)
	if oa == ob {
		return a.opened.After(b.opened)
	}
	return oa < ob
}

func (s *peerSession) endEpoch() {
	s.cur.close()
	s.cur = nil
	s.dropUnsent()
	for _, e := range s.chans {
		e.m.Disconnect()
	}
}

// dropUnsent forgets the messages of this round that were meant for the
// stream now gone: the re-establish on the next stream retransmits what the
// peer lacks, and must be the first thing the peer reads. Records and
// events of the round stay.
func (s *peerSession) dropUnsent() {
	for _, o := range s.outs {
		o.Messages = nil
	}
}

// ensureStream opens a stream to the peer when there are channels to carry
// and none is up, dialing the peer first if needed, with backoff.
func (s *peerSession) ensureStream(now time.Time) {
	if s.cur != nil || s.dialing || len(s.chans) == 0 || now.Before(s.nextDial) {
		return
	}
	active := false
	for _, e := range s.chans {
		if e.m.Failed() == nil && !e.m.Closed() {
			active = true
			break
		}
	}
	if !active {
		return
	}
	s.dialing = true
	s.backoff = min(max(2*s.backoff, time.Second), time.Minute)
	s.nextDial = now.Add(s.backoff)
	s.mgr.openStream(s)
}

// ErrStopped is returned by operations on a node that is shutting down.
var ErrStopped = errors.New("node is stopping")

// maxChannelsPerPeer bounds the channels one peer may open with this node.
const maxChannelsPerPeer = 64

func ed25519Key(p peer.ID) (ed25519.PublicKey, error) {
	pk, err := p.ExtractPublicKey()
	if err != nil {
		return nil, err
	}
	raw, err := pk.Raw()
	if err != nil {
		return nil, err
	}
	if len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("peer %s has no Ed25519 key", p)
	}
	return ed25519.PublicKey(raw), nil
}
