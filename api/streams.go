package api

import (
	"context"
	"net/http"
	"net/url"
)

// PathStreams is the collection of the node's payment streams:
//
//	POST   /v1/streams            open one (StreamRequest → Stream)
//	GET    /v1/streams            list the open ones ([]Stream)
//	GET    /v1/streams/{id}       one (Stream)
//	POST   /v1/streams/{id}/pay   send payments (StreamPayRequest → StreamPayResult)
//	DELETE /v1/streams/{id}       close it
const PathStreams = "/v1/streams"

// StreamRequest is the body of POST /v1/streams.
type StreamRequest struct {
	Dest string `json:"dest"`
	// MaxAmount is the largest single payment.
	MaxAmount uint64 `json:"max_amount"`
	// MaxFee caps the fee of one payment of MaxAmount.
	MaxFee uint64 `json:"max_fee,omitempty"`
}

// Stream is a payment stream and its counters.
type Stream struct {
	ID        string `json:"id"`
	Dest      string `json:"dest"`
	MaxAmount uint64 `json:"max_amount"`
	CreatedMS int64  `json:"created_unix_ms"`
	// Payments counts the HTLCs sent (attempts included); Succeeded and
	// Failed their outcomes so far.
	Payments  uint64 `json:"payments"`
	Succeeded uint64 `json:"succeeded"`
	Failed    uint64 `json:"failed"`
	// Amount is what the payee received; Fees what the hops kept.
	Amount uint64 `json:"amount"`
	Fees   uint64 `json:"fees"`
	// Routes counts the routes the stream was set up on.
	Routes uint64 `json:"routes"`
	// Route is the current route (empty until the first payment, or after
	// a failure until the next).
	Route     []AttemptHop `json:"route,omitempty"`
	Closed    bool         `json:"closed,omitempty"`
	LastError string       `json:"last_error,omitempty"`
}

// StreamPayRequest is the body of POST /v1/streams/{id}/pay: Count
// payments of Amount each, at most Concurrency in flight.
type StreamPayRequest struct {
	Amount      uint64 `json:"amount"`
	Count       int    `json:"count"`
	Concurrency int    `json:"concurrency,omitempty"`
	// TimeoutSeconds bounds the whole request (default 60).
	TimeoutSeconds int `json:"timeout_seconds,omitempty"`
}

// StreamPayResult reports a StreamPayRequest.
type StreamPayResult struct {
	Succeeded int     `json:"succeeded"`
	Failed    int     `json:"failed"`
	Amount    uint64  `json:"amount"`
	Fees      uint64  `json:"fees"`
	ElapsedMS float64 `json:"elapsed_ms"`
	// Latency percentiles of the successful payments, in ms.
	P50MS     float64 `json:"p50_ms"`
	P99MS     float64 `json:"p99_ms"`
	LastError string  `json:"last_error,omitempty"`
	Stream    Stream  `json:"stream"`
}

// OpenStream opens a payment stream.
func (c *Client) OpenStream(ctx context.Context, req StreamRequest) (Stream, error) {
	var r Stream
	err := c.Do(ctx, http.MethodPost, PathStreams, req, &r)
	return r, err
}

// Streams lists the open payment streams.
func (c *Client) Streams(ctx context.Context) ([]Stream, error) {
	var r []Stream
	err := c.Do(ctx, http.MethodGet, PathStreams, nil, &r)
	return r, err
}

// Stream shows one payment stream.
func (c *Client) Stream(ctx context.Context, id string) (Stream, error) {
	var r Stream
	err := c.Do(ctx, http.MethodGet, PathStreams+"/"+url.PathEscape(id), nil, &r)
	return r, err
}

// StreamPay sends payments over a stream and waits for all of them.
func (c *Client) StreamPay(ctx context.Context, id string, req StreamPayRequest) (StreamPayResult, error) {
	var r StreamPayResult
	err := c.Do(ctx, http.MethodPost, PathStreams+"/"+url.PathEscape(id)+"/pay", req, &r)
	return r, err
}

// CloseStream closes a payment stream.
func (c *Client) CloseStream(ctx context.Context, id string) error {
	return c.Do(ctx, http.MethodDelete, PathStreams+"/"+url.PathEscape(id), nil, nil)
}
