package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Paths of the graph and fee endpoints.
const (
	PathGraphInfo     = "/v1/graph/info"
	PathGraphNodes    = "/v1/graph/nodes/" // + peer id
	PathGraphChannels = "/v1/graph/channels"
	PathGraphExport   = "/v1/graph/export"
	PathFees          = "/v1/fees"
)

// GraphInfo is the answer to GET /v1/graph/info.
type GraphInfo struct {
	Nodes    int `json:"nodes"`
	Channels int `json:"channels"`
	// TotalCapacity is the sum of the open channels' capacities.
	TotalCapacity uint64 `json:"total_capacity"`
	// LastUpdate is the newest timestamp of an accepted message, RFC 3339;
	// empty when the graph is empty.
	LastUpdate string `json:"last_update"`
	// OwnChannels counts the channels this node is an end of.
	OwnChannels int `json:"own_channels"`
}

// GraphPolicy is one direction's forwarding policy.
type GraphPolicy struct {
	FeeBase       uint64 `json:"fee_base"`
	FeePPM        uint32 `json:"fee_ppm"`
	ExpiryDeltaMS uint64 `json:"expiry_delta_ms"`
	HTLCMin       uint64 `json:"htlc_min"`
	HTLCMax       uint64 `json:"htlc_max"`
	Disabled      bool   `json:"disabled"`
	// LastUpdate is when the policy was signed, RFC 3339.
	LastUpdate string `json:"last_update"`
}

// GraphChannel is one channel of the graph.
type GraphChannel struct {
	// ShortID is the short channel id in decimal (the first 8 bytes of
	// the channel id, big-endian).
	ShortID string `json:"short_id"`
	// ChannelID is the full 32-byte channel id in hex.
	ChannelID string `json:"channel_id"`
	// Node1 and Node2 are peer ids, Node1 < Node2 by bytes.
	Node1    string `json:"node1"`
	Node2    string `json:"node2"`
	Capacity uint64 `json:"capacity"`
	// Policies[0] is Node1→Node2, Policies[1] Node2→Node1; null when not
	// announced.
	Policies [2]*GraphPolicy `json:"policies"`
}

// GraphNode is the answer to GET /v1/graph/nodes/ID.
type GraphNode struct {
	ID string `json:"id"`
	// Announced is false when the node is known only as a channel end.
	Announced bool     `json:"announced"`
	Alias     string   `json:"alias,omitempty"`
	Addrs     []string `json:"addrs"`
	// OnionKey is the compressed secp256k1 key in hex.
	OnionKey string `json:"onion_key,omitempty"`
	Features string `json:"features,omitempty"`
	// Timestamp of the announcement, RFC 3339.
	Timestamp string `json:"timestamp,omitempty"`
	// Channels are the short ids of its open channels.
	Channels []string `json:"channels"`
	// Capacity is the sum of its channels' capacities.
	Capacity uint64 `json:"capacity"`
}

// FeesRequest is the body of POST /v1/fees.
type FeesRequest struct {
	// Channel is a short id (decimal or BLOCKxTXxOUT) or a 64-hex channel id.
	Channel       string `json:"channel"`
	FeeBase       uint64 `json:"fee_base"`
	FeePPM        uint32 `json:"fee_ppm"`
	ExpiryDeltaMS uint32 `json:"expiry_delta_ms"`
}

// GraphInfo fetches the graph summary.
func (c *Client) GraphInfo(ctx context.Context) (GraphInfo, error) {
	var r GraphInfo
	err := c.Do(ctx, http.MethodGet, PathGraphInfo, nil, &r)
	return r, err
}

// GraphNode fetches what the graph knows of a node (a peer id).
func (c *Client) GraphNode(ctx context.Context, id string) (GraphNode, error) {
	var r GraphNode
	err := c.Do(ctx, http.MethodGet, PathGraphNodes+url.PathEscape(id), nil, &r)
	return r, err
}

// GraphChannels lists the graph's channels, or those of one node when node
// (a peer id) is not empty.
func (c *Client) GraphChannels(ctx context.Context, node string) ([]GraphChannel, error) {
	var r []GraphChannel
	path := PathGraphChannels
	if node != "" {
		path += "?node=" + url.QueryEscape(node)
	}
	err := c.Do(ctx, http.MethodGet, path, nil, &r)
	return r, err
}

// SetFees changes the fees of one of the node's channels and returns the
// channel as the graph now holds it.
func (c *Client) SetFees(ctx context.Context, req FeesRequest) (GraphChannel, error) {
	var r GraphChannel
	err := c.Do(ctx, http.MethodPost, PathFees, req, &r)
	return r, err
}

// GraphExport writes the graph in the paymesh-graph export format (see
// routing.WriteExport) to the file path, atomically, and returns its size.
func (c *Client) GraphExport(ctx context.Context, path string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+PathGraphExport, nil)
	if err != nil {
		return 0, fmt.Errorf("api: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	hc := *c.http
	hc.Timeout = 0 // a large graph takes a while; ctx bounds the request
	resp, err := hc.Do(req)
	if err != nil {
		if strings.Contains(err.Error(), "connection refused") {
			return 0, fmt.Errorf("%w: nothing listens on %s", ErrNotRunning, strings.TrimPrefix(c.base, "http://"))
		}
		return 0, fmt.Errorf("api: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		return 0, ErrUnauthorized
	}
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var e Error
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return 0, &StatusError{Code: resp.StatusCode, Message: e.Error}
		}
		return 0, &StatusError{Code: resp.StatusCode, Message: fmt.Sprintf("api: %s", resp.Status)}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".graph-export-*")
	if err != nil {
		return 0, fmt.Errorf("api: export: %w", err)
	}
	n, err := io.Copy(tmp, resp.Body)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return 0, fmt.Errorf("api: export: %w", err)
	}
	return n, nil
}
