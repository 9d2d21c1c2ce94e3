package api

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
)

// Payment paths.
const (
	PathPay      = "/v1/pay"
	PathSend     = "/v1/send"
	PathPayments = "/v1/payments"
	PathForwards = "/v1/forwards"
)

// PayRequest is the body of POST /v1/pay.
type PayRequest struct {
	Invoice string `json:"invoice"`
	// Amount pays an invoice that has none.
	Amount         uint64 `json:"amount,omitempty"`
	MaxFee         uint64 `json:"max_fee,omitempty"`
	TimeoutSeconds int    `json:"timeout_seconds,omitempty"`
	MaxAttempts    int    `json:"max_attempts,omitempty"`
}

// SendRequest is the body of POST /v1/send: a spontaneous payment.
type SendRequest struct {
	Dest           string `json:"dest"`
	Amount         uint64 `json:"amount"`
	MaxFee         uint64 `json:"max_fee,omitempty"`
	TimeoutSeconds int    `json:"timeout_seconds,omitempty"`
	MaxAttempts    int    `json:"max_attempts,omitempty"`
}

// AttemptHop is one hop of a payment attempt's route.
type AttemptHop struct {
	Channel uint64 `json:"channel"`
	Node    string `json:"node"`
	Amount  uint64 `json:"amount"`
	Fee     uint64 `json:"fee"`
	Expiry  uint64 `json:"expiry_ms"`
}

// Attempt is one HTLC sent for a payment.
type Attempt struct {
	Route      []AttemptHop `json:"route"`
	Delivered  uint64       `json:"delivered"`
	SentMS     int64        `json:"sent_unix_ms"`
	Status     string       `json:"status"`
	Failure    string       `json:"failure,omitempty"`
	FailingHop int          `json:"failing_hop,omitempty"`
}

// Payment is a payment's record (POST /v1/pay, /v1/send, GET /v1/payments).
type Payment struct {
	Hash      string    `json:"payment_hash"`
	Dest      string    `json:"dest"`
	Amount    uint64    `json:"amount"`
	Invoice   string    `json:"invoice,omitempty"`
	Keysend   bool      `json:"keysend"`
	Status    string    `json:"status"`
	Preimage  string    `json:"preimage,omitempty"`
	Fee       uint64    `json:"fee"`
	Attempts  []Attempt `json:"attempts"`
	CreatedMS int64     `json:"created_unix_ms"`
	EndedMS   int64     `json:"ended_unix_ms,omitempty"`
	Failure   string    `json:"failure,omitempty"`
	LatencyMS float64   `json:"latency_ms,omitempty"`
}

// Forward is a settled forward (GET /v1/forwards).
type Forward struct {
	InChannel  string `json:"in_channel"`
	OutChannel string `json:"out_channel"`
	InAmount   uint64 `json:"in_amount"`
	OutAmount  uint64 `json:"out_amount"`
	Fee        uint64 `json:"fee"`
	Settled    bool   `json:"settled"`
	Failure    string `json:"failure,omitempty"`
	StartedMS  int64  `json:"started_unix_ms"`
	EndedMS    int64  `json:"ended_unix_ms"`
	// Payments is how many payments the record sums: a payment stream's
	// settled forwards are logged as one record per stream and period
	// (absent, i.e. 1, for an ordinary forward).
	Payments uint64 `json:"payments,omitempty"`
	// Stream is the payment stream's id at this node, for stream records.
	Stream string `json:"stream,omitempty"`
}

// Pay pays an invoice and waits for the outcome.
func (c *Client) Pay(ctx context.Context, req PayRequest) (Payment, error) {
	var r Payment
	err := c.Do(ctx, http.MethodPost, PathPay, req, &r)
	return r, err
}

// Send makes a spontaneous payment and waits for the outcome.
func (c *Client) Send(ctx context.Context, req SendRequest) (Payment, error) {
	var r Payment
	err := c.Do(ctx, http.MethodPost, PathSend, req, &r)
	return r, err
}

// Payments lists payments, newest first.
func (c *Client) Payments(ctx context.Context, limit int) ([]Payment, error) {
	var r []Payment
	err := c.Do(ctx, http.MethodGet, PathPayments+"?limit="+strconv.Itoa(limit), nil, &r)
	return r, err
}

// Payment shows one payment by hash.
func (c *Client) Payment(ctx context.Context, hash string) (Payment, error) {
	var r Payment
	err := c.Do(ctx, http.MethodGet, PathPayments+"/"+url.PathEscape(hash), nil, &r)
	return r, err
}

// Forwards lists settled forwards, newest first.
func (c *Client) Forwards(ctx context.Context, limit int) ([]Forward, error) {
	var r []Forward
	err := c.Do(ctx, http.MethodGet, PathForwards+"?limit="+strconv.Itoa(limit), nil, &r)
	return r, err
}
