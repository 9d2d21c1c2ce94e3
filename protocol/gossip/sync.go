package gossip

import (
	"errors"
	"fmt"
	"math"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/paymesh/paymesh/protocol/wire"
)

// MaxSyncChunkItems bounds the items in one SyncChunk. A chunk is also
// bounded by wire.MaxGraphSyncFrame bytes.
const MaxSyncChunkItems = 4096

// maxChunkBody leaves room in a frame for the done flag and the total.
const maxChunkBody = wire.MaxGraphSyncFrame - 16

// ErrSyncPeer is returned by SyncSession when the serving peer breaks the
// protocol or serves an item this node rejects. The node disconnects it and
// does not ask it again.
var ErrSyncPeer = errors.New("gossip: sync peer misbehaved")

// SyncRequest asks a peer for its graph.
type SyncRequest struct {
	// Since asks only for items with a timestamp at or after it (unix ms),
	// and for the announcements of the channels those updates belong to;
	// 0 asks for everything.
	Since int64
}

// Encode returns the request's frame body.
func (r SyncRequest) Encode() ([]byte, error) {
	if r.Since < 0 {
		return nil, fmt.Errorf("encode sync request: %w: since %d", ErrOutOfBounds, r.Since)
	}
	return marshalOpts.Marshal(&wire.SyncRequest{SinceMs: uint64(r.Since)})
}

// DecodeSyncRequest parses a request frame body.
func DecodeSyncRequest(b []byte) (SyncRequest, error) {
	if len(b) > wire.MaxGraphSyncFrame {
		return SyncRequest{}, fmt.Errorf("decode sync request: %w", ErrOversize)
	}
	var w wire.SyncRequest
	if err := proto.Unmarshal(b, &w); err != nil {
		return SyncRequest{}, fmt.Errorf("decode sync request: %w: %w", ErrMalformed, err)
	}
	if w.SinceMs > math.MaxInt64 {
		return SyncRequest{}, fmt.Errorf("decode sync request: %w: since %d", ErrOutOfBounds, w.SinceMs)
	}
	return SyncRequest{Since: int64(w.SinceMs)}, nil
}

// SyncChunk is one frame of a sync answer: items, each a gossip envelope
// exactly as gossiped. The last chunk has Done set and Total = the number
// of items in the whole answer.
type SyncChunk struct {
	Items [][]byte
	Done  bool
	Total uint64
}

// Encode returns the chunk's frame body.
func (c SyncChunk) Encode() ([]byte, error) {
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("encode sync chunk: %w", err)
	}
	b, err := marshalOpts.Marshal(&wire.SyncChunk{Items: c.Items, Done: c.Done, TotalItems: c.Total})
	if err != nil {
		return nil, fmt.Errorf("encode sync chunk: %w", err)
	}
	if len(b) > wire.MaxGraphSyncFrame {
		return nil, fmt.Errorf("encode sync chunk: %w: %d bytes", ErrOversize, len(b))
	}
	return b, nil
}

func (c SyncChunk) check() error {
	if len(c.Items) > MaxSyncChunkItems {
		return fmt.Errorf("%w: %d items, max %d", ErrOutOfBounds, len(c.Items), MaxSyncChunkItems)
	}
	for i, it := range c.Items {
		if len(it) == 0 {
			return fmt.Errorf("%w: item %d is empty", ErrMalformed, i)
		}
		if len(it) > wire.MaxGossipMessage {
			return fmt.Errorf("%w: item %d of %d bytes", ErrOversize, i, len(it))
		}
	}
	if !c.Done && c.Total != 0 {
		return fmt.Errorf("%w: total in a chunk that is not the last", ErrMalformed)
	}
	return nil
}

// DecodeSyncChunk parses a chunk frame body and checks its bounds. The
// items are not decoded: validate each with Validator.Validate(item, now,
// FromSync), or use a SyncSession.
func DecodeSyncChunk(b []byte) (SyncChunk, error) {
	if len(b) > wire.MaxGraphSyncFrame {
		return SyncChunk{}, fmt.Errorf("decode sync chunk: %w: %d bytes", ErrOversize, len(b))
	}
	var w wire.SyncChunk
	if err := proto.Unmarshal(b, &w); err != nil {
		return SyncChunk{}, fmt.Errorf("decode sync chunk: %w: %w", ErrMalformed, err)
	}
	c := SyncChunk{Items: w.Items, Done: w.Done, Total: w.TotalItems}
	if err := c.check(); err != nil {
		return SyncChunk{}, fmt.Errorf("decode sync chunk: %w", err)
	}
	return c, nil
}

// ChunkPacker packs the items of a sync answer into chunk frames of at most
// MaxSyncChunkItems items and wire.MaxGraphSyncFrame bytes. Feed it items
// in ascending Kind order (channel announcements, updates, closed notices,
// node announcements) so the receiver knows a channel before its updates
// and a node's channels before the node.
type ChunkPacker struct {
	maxItems int
	items    [][]byte
	size     int
	total    uint64
}

// NewChunkPacker returns a packer whose chunks hold at most maxItems items
// (MaxSyncChunkItems if maxItems <= 0 or larger).
func NewChunkPacker(maxItems int) *ChunkPacker {
	if maxItems <= 0 || maxItems > MaxSyncChunkItems {
		maxItems = MaxSyncChunkItems
	}
	return &ChunkPacker{maxItems: maxItems}
}

// itemCost is the bytes an item adds to a chunk: tag, length, body.
func itemCost(n int) int {
	c := 1 + n
	for v := uint64(n); v >= 0x80; v >>= 7 {
		c++
	}
	return c + 1
}

// Add queues an item (gossip envelope bytes, kept by reference). When the
// pending chunk cannot take it, Add returns that chunk's frame body first,
// to be sent; otherwise it returns nil.
func (p *ChunkPacker) Add(item []byte) ([]byte, error) {
	if len(item) == 0 || len(item) > wire.MaxGossipMessage {
		return nil, fmt.Errorf("pack sync item: %w: %d bytes", ErrOversize, len(item))
	}
	var out []byte
	if len(p.items) >= p.maxItems || p.size+itemCost(len(item)) > maxChunkBody {
		var err error
		if out, err = p.flush(false); err != nil {
			return nil, err
		}
	}
	p.items = append(p.items, item)
	p.size += itemCost(len(item))
	p.total++
	return out, nil
}

// Finish returns the last chunk's frame body: the remaining items with Done
// set and the total count.
func (p *ChunkPacker) Finish() ([]byte, error) { return p.flush(true) }

func (p *ChunkPacker) flush(done bool) ([]byte, error) {
	c := SyncChunk{Items: p.items, Done: done}
	if done {
		c.Total = p.total
	}
	b, err := c.Encode()
	p.items, p.size = nil, 0
	return b, err
}

// SyncSession checks one sync answer as its chunks arrive: the chunk
// bounds, that nothing follows the last chunk, that the total matches, and
// every item through the Validator as FromSync.
//
// Signature checks dominate a sync. Receive takes the validator's first
// look at a run of consecutive items of the same kind (items of one kind do
// not depend on each other), checks their signatures in a few batches, one
// randomised equation each (about a fifth of the cost of one by one; when
// a batch fails its signatures are checked one by one, so a bad signature
// is found exactly as Validate finds it), then takes the validator's
// second look (state, bounds, staleness, parking) at each item in order:
// the verdicts are those of validating the run one item after another.
type SyncSession struct {
	// Run, if set, calls f(i) for every i in [0, n), possibly concurrently,
	// and returns when all calls have; nil runs them one after another. A
	// node with several cores sets Run to fan out over a worker pool; this
	// package starts no goroutines itself.
	Run func(n int, f func(i int))
	// Workers is how many calls Run makes at once: Receive splits the
	// items of a run into twice that many batches (of at least
	// minBatchPerWorker items each). 0 means 1.
	Workers int

	v     *Validator
	keys  *keyCache
	items uint64
	done  bool
}

// minBatchPerWorker keeps the batches large enough to be worth it: the
// cost per signature of a batch falls until about a thousand signatures.
const minBatchPerWorker = 256

// NewSyncSession starts checking an answer against v.
func NewSyncSession(v *Validator) *SyncSession { return &SyncSession{v: v, keys: newKeyCache()} }

// envelopeField is the oneof field number an item's first byte names: the
// message's kind for a well-formed item, a group of its own otherwise.
func envelopeField(item []byte) byte { return item[0] >> 3 }

// Receive decodes and validates one chunk frame. It returns every item's
// Result in order (apply the accepted ones; validate their Released items
// again) and whether this was the last chunk. An error wraps ErrSyncPeer:
// the chunk is garbled, comes after the last one, has a wrong total, or
// holds an item this node rejects; the results of the items validated so
// far are still returned.
func (s *SyncSession) Receive(frame []byte, now time.Time) (results []Result, done bool, err error) {
	if s.done {
		return nil, true, fmt.Errorf("%w: chunk after the last", ErrSyncPeer)
	}
	c, err := DecodeSyncChunk(frame)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %w", ErrSyncPeer, err)
	}
	results = make([]Result, len(c.Items))
	for start := 0; start < len(c.Items); {
		end := start + 1
		for end < len(c.Items) && envelopeField(c.Items[end]) == envelopeField(c.Items[start]) {
			end++
		}
		group := c.Items[start:end]
		s.v.validateRun(group, results[start:end], now, FromSync, s.Run, s.Workers, s.keys)
		s.items += uint64(len(group))
		for i := start; i < end; i++ {
			if r := results[i]; r.Verdict == Reject {
				return results[:end], false, fmt.Errorf("%w: item %d rejected (%s): %w", ErrSyncPeer, s.items-uint64(end-i), r.Reason, r.Err)
			}
		}
		start = end
	}
	if c.Done {
		s.done = true
		if c.Total != s.items {
			return results, true, fmt.Errorf("%w: total %d, received %d", ErrSyncPeer, c.Total, s.items)
		}
	}
	return results, c.Done, nil
}

// Items returns how many items the session has received.
func (s *SyncSession) Items() uint64 { return s.items }
