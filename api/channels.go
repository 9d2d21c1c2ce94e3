package api

import (
	"context"
	"net/http"
	"net/url"
)

// Channel paths. {id} is a channel id in hex (64 digits, or a unique prefix
// of at least 8).
const (
	PathChannels     = "/v1/channels"
	PathChannelsOpen = "/v1/channels/open"
)

// OpenChannelRequest is the body of POST /v1/channels/open.
type OpenChannelRequest struct {
	Peer   string `json:"peer"`
	Amount uint64 `json:"amount"`
	Push   uint64 `json:"push"`
	// TimeoutSeconds bounds the wait for the peer's signature (default 30).
	TimeoutSeconds int `json:"timeout_seconds,omitempty"`
}

// OpenChannelResponse answers POST /v1/channels/open.
type OpenChannelResponse struct {
	ID string `json:"id"`
}

// Channel is a channel as listed by GET /v1/channels.
type Channel struct {
	ID            string `json:"id"`
	ShortID       uint64 `json:"short_id"`
	Peer          string `json:"peer"`
	Opener        bool   `json:"opener"`
	Capacity      uint64 `json:"capacity"`
	LocalBalance  uint64 `json:"local_balance"`
	RemoteBalance uint64 `json:"remote_balance"`
	PendingHTLCs  int    `json:"pending_htlcs"`
	PendingAmount uint64 `json:"pending_amount"`
	Seq           uint64 `json:"seq"`
	// State is opening, open, closing, closed or failed.
	State     string `json:"state"`
	Failure   string `json:"failure,omitempty"`
	Connected bool   `json:"connected"`
	HTLCs     []HTLC `json:"htlcs,omitempty"`
}

// HTLC is a pending HTLC of a channel (GET /v1/channels/{id}).
type HTLC struct {
	ID          uint64 `json:"id"`
	Incoming    bool   `json:"incoming"`
	Amount      uint64 `json:"amount"`
	PaymentHash string `json:"payment_hash"`
	Expiry      int64  `json:"expiry_unix_ms"`
}

// Audit is the answer to GET /v1/channels/{id}/audit.
type Audit struct {
	Channel     string `json:"channel"`
	Records     int    `json:"records"`
	Checkpoints int    `json:"checkpoints"`
	Seq         uint64 `json:"seq"`
	StateHash   string `json:"state_hash"`
	OK          bool   `json:"ok"`
	// Error names the first bad record or checkpoint when OK is false.
	Error string `json:"error,omitempty"`
}

// OpenChannel opens a channel and waits until it is co-signed.
func (c *Client) OpenChannel(ctx context.Context, req OpenChannelRequest) (OpenChannelResponse, error) {
	var r OpenChannelResponse
	err := c.Do(ctx, http.MethodPost, PathChannelsOpen, req, &r)
	return r, err
}

// Channels lists the node's channels.
func (c *Client) Channels(ctx context.Context) ([]Channel, error) {
	var r []Channel
	err := c.Do(ctx, http.MethodGet, PathChannels, nil, &r)
	return r, err
}

// Channel shows one channel with its pending HTLCs.
func (c *Client) Channel(ctx context.Context, id string) (Channel, error) {
	var r Channel
	err := c.Do(ctx, http.MethodGet, PathChannels+"/"+url.PathEscape(id), nil, &r)
	return r, err
}

// CloseChannel closes a channel cooperatively and waits for the final state.
func (c *Client) CloseChannel(ctx context.Context, id string) (Channel, error) {
	var r Channel
	err := c.Do(ctx, http.MethodPost, PathChannels+"/"+url.PathEscape(id)+"/close", nil, &r)
	return r, err
}

// AuditChannel verifies a channel's log end to end.
func (c *Client) AuditChannel(ctx context.Context, id string) (Audit, error) {
	var r Audit
	err := c.Do(ctx, http.MethodGet, PathChannels+"/"+url.PathEscape(id)+"/audit", nil, &r)
	return r, err
}
