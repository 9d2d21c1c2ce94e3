package node

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/paymesh/paymesh/api"
	"github.com/paymesh/paymesh/protocol/gossip"
	"github.com/paymesh/paymesh/routing"
	"github.com/paymesh/paymesh/store"
)

// registerGraphAPI adds the /v1/graph and /v1/fees routes.
func (n *Node) registerGraphAPI(mux *http.ServeMux) {
	mux.HandleFunc("GET "+api.PathGraphInfo, n.handleGraphInfo)
	mux.HandleFunc("GET "+api.PathGraphNodes+"{id}", n.handleGraphNode)
	mux.HandleFunc("GET "+api.PathGraphChannels, n.handleGraphChannels)
	mux.HandleFunc("GET "+api.PathGraphExport, n.handleGraphExport)
	mux.HandleFunc("POST "+api.PathFees, n.handleSetFees)
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// GraphInfo summarises the graph.
func (n *Node) GraphInfo() api.GraphInfo {
	s := n.gossip
	snap := s.graph.Snapshot()
	info := api.GraphInfo{Nodes: snap.NumNodes(), Channels: snap.NumChannels(), OwnChannels: len(n.OwnChannels())}
	snap.Channels(func(c routing.ChannelInfo) bool {
		info.TotalCapacity += c.Capacity
		return true
	})
	if l := s.latest.Load(); l > 0 {
		info.LastUpdate = rfc3339(time.UnixMilli(l))
	}
	return info
}

func (n *Node) handleGraphInfo(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, n.GraphInfo())
}

// graphChannel describes one channel of a snapshot for the API.
func (n *Node) graphChannel(c routing.ChannelInfo) api.GraphChannel {
	out := api.GraphChannel{
		ShortID:  strconv.FormatUint(uint64(c.ID), 10),
		Node1:    peer.ID(c.Node1).String(),
		Node2:    peer.ID(c.Node2).String(),
		Capacity: c.Capacity,
	}
	if ci, ok := n.gossip.v.Channel(uint64(c.ID)); ok {
		out.ChannelID = ci.ID.String()
	}
	for d, p := range c.Policy {
		if p == nil {
			continue
		}
		out.Policies[d] = &api.GraphPolicy{
			FeeBase: p.FeeBase, FeePPM: p.FeePPM, ExpiryDeltaMS: p.ExpiryDelta,
			HTLCMin: p.HTLCMin, HTLCMax: p.HTLCMax, Disabled: p.Disabled, LastUpdate: rfc3339(p.LastUpdate),
		}
	}
	return out
}

// nodeAnnouncement returns the newest accepted announcement of a node
// (alias, addresses, onion key), including one still queued for the store.
func (s *gossipService) nodeAnnouncement(id peer.ID) (*gossip.NodeAnnouncement, bool, error) {
	s.flushWrites()
	rec, found, err := s.n.store.Graph().Get(store.GraphRecord{Kind: store.GraphNode, Node: []byte(id)})
	if err != nil || !found {
		return nil, false, err
	}
	m, err := gossip.Decode(rec.Data)
	if err != nil {
		return nil, false, fmt.Errorf("node: stored announcement of %s: %w", id, err)
	}
	a, ok := m.(*gossip.NodeAnnouncement)
	if !ok {
		return nil, false, fmt.Errorf("node: stored announcement of %s is a %s", id, m.Kind())
	}
	return a, true, nil
}

// GraphChanged returns a channel that is closed at the next change of the
// graph (an accepted message, a pruning, the end of a graph sync): wait on
// it instead of polling the graph.
func (n *Node) GraphChanged() <-chan struct{} {
	if n.gossip == nil {
		c := make(chan struct{})
		close(c)
		return c
	}
	return n.gossip.changes()
}

// ErrUnknownGraphNode is returned for a node the graph does not hold.
var ErrUnknownGraphNode = errors.New("node: unknown node")

// GraphNode describes a node of the graph.
func (n *Node) GraphNode(id peer.ID) (api.GraphNode, error) {
	s := n.gossip
	snap := s.graph.Snapshot()
	rid := routing.NodeID(id)
	out := api.GraphNode{ID: id.String(), Addrs: []string{}, Channels: []string{}}
	a, found, err := s.nodeAnnouncement(id)
	if err != nil {
		return out, err
	}
	if !found && !snap.HasNode(rid) {
		return out, fmt.Errorf("%w: %s", ErrUnknownGraphNode, id)
	}
	if found {
		out.Announced = true
		out.Alias = a.Alias
		for _, ad := range a.Addrs {
			out.Addrs = append(out.Addrs, ad.String())
		}
		out.OnionKey = hex.EncodeToString(a.OnionKey[:])
		out.Features = hex.EncodeToString(a.Features)
		out.Timestamp = rfc3339(time.UnixMilli(a.Timestamp))
	}
	for _, cid := range snap.ChannelsOf(rid) {
		out.Channels = append(out.Channels, strconv.FormatUint(uint64(cid), 10))
		if c, ok := snap.Channel(cid); ok {
			out.Capacity += c.Capacity
		}
	}
	return out, nil
}

func (n *Node) handleGraphNode(w http.ResponseWriter, r *http.Request) {
	id, err := peer.Decode(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("bad node id %q: %w", r.PathValue("id"), err))
		return
	}
	out, err := n.GraphNode(id)
	if errors.Is(err, ErrUnknownGraphNode) {
		writeError(w, http.StatusNotFound, err)
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (n *Node) handleGraphChannels(w http.ResponseWriter, r *http.Request) {
	snap := n.gossip.graph.Snapshot()
	out := []api.GraphChannel{}
	if q := r.URL.Query().Get("node"); q != "" {
		id, err := peer.Decode(q)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("bad node id %q: %w", q, err))
			return
		}
		if !snap.HasNode(routing.NodeID(id)) {
			writeError(w, http.StatusNotFound, fmt.Errorf("%w: %s", ErrUnknownGraphNode, id))
			return
		}
		for _, cid := range snap.ChannelsOf(routing.NodeID(id)) {
			if c, ok := snap.Channel(cid); ok {
				out = append(out, n.graphChannel(c))
			}
		}
	} else {
		snap.Channels(func(c routing.ChannelInfo) bool {
			out = append(out, n.graphChannel(c))
			return true
		})
	}
	writeJSON(w, http.StatusOK, out)
}

func (n *Node) handleGraphExport(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if err := routing.WriteExport(w, n.gossip.graph.Snapshot()); err != nil {
		n.log.Warn("graph export", "err", err)
		panic(http.ErrAbortHandler) // cut the connection: the client must not keep half a file
	}
}

// ParseChannelRef reads a channel reference: a decimal short id, a
// BLOCKxTXxOUT short id, or a 64-hex channel id (whose short id is its first
// 8 bytes).
func ParseChannelRef(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	if len(s) == 2*gossip.ChannelIDSize {
		b, err := hex.DecodeString(s)
		if err == nil {
			var id gossip.ChannelID
			copy(id[:], b)
			return id.Short(), nil
		}
	}
	id, err := routing.ParseChannelID(s)
	if err != nil {
		return 0, fmt.Errorf("bad channel %q: want a short id or a 64-hex channel id", s)
	}
	return uint64(id), nil
}

func (n *Node) handleSetFees(w http.ResponseWriter, r *http.Request) {
	var req api.FeesRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	short, err := ParseChannelRef(req.Channel)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if req.FeeBase > gossip.MaxFeeBase || req.FeePPM > gossip.MaxFeePPM || req.ExpiryDeltaMS == 0 || req.ExpiryDeltaMS > gossip.MaxExpiryDelta {
		writeError(w, http.StatusBadRequest, fmt.Errorf("fees out of bounds: base ≤ %d, ppm ≤ %d, 0 < delta ≤ %d ms", uint64(gossip.MaxFeeBase), gossip.MaxFeePPM, gossip.MaxExpiryDelta))
		return
	}
	err = n.SetFees(short, req.FeeBase, req.FeePPM, req.ExpiryDeltaMS)
	switch {
	case errors.Is(err, ErrNotOwnChannel):
		writeError(w, http.StatusNotFound, err)
		return
	case errors.Is(err, ErrGossipRefused):
		writeError(w, http.StatusConflict, err)
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	c, ok := n.gossip.graph.Snapshot().Channel(routing.ChannelID(short))
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Errorf("%w: %d", ErrNotOwnChannel, short))
		return
	}
	writeJSON(w, http.StatusOK, n.graphChannel(c))
}
