package api

import (
	"context"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/paymesh/paymesh/protocol/invoice"
)

// Invoice paths. {hash} is a payment hash in hex (64 digits, or a unique
// prefix of at least 8).
const (
	PathInvoices       = "/v1/invoices"
	PathInvoicesDecode = "/v1/invoices/decode"
)

// CreateInvoiceRequest is the body of POST /v1/invoices.
type CreateInvoiceRequest struct {
	// Amount is what the payer must pay; 0 lets the payer choose.
	Amount      uint64 `json:"amount"`
	Description string `json:"description,omitempty"`
	// ExpirySeconds is the invoice's lifetime (default 3600).
	ExpirySeconds int64 `json:"expiry_seconds,omitempty"`
}

// DecodeInvoiceRequest is the body of POST /v1/invoices/decode.
type DecodeInvoiceRequest struct {
	Invoice string `json:"invoice"`
}

// RouteHintHop is one hop of an invoice's route hint.
type RouteHintHop struct {
	Node           string `json:"node"`
	ShortChannelID uint64 `json:"short_channel_id"`
	FeeBase        uint64 `json:"fee_base"`
	FeePPM         uint32 `json:"fee_ppm"`
	ExpiryDeltaMS  uint32 `json:"expiry_delta_ms"`
}

// InvoiceHTLC is an HTLC that paid an invoice.
type InvoiceHTLC struct {
	Channel string `json:"channel"`
	ID      uint64 `json:"id"`
	Amount  uint64 `json:"amount"`
}

// Invoice is a decoded invoice, and for the node's own invoices its payment
// state. Times are RFC 3339 in UTC.
type Invoice struct {
	Invoice       string           `json:"invoice"`
	PaymentHash   string           `json:"payment_hash"`
	PaymentSecret string           `json:"payment_secret"`
	Payee         string           `json:"payee"`
	Amount        uint64           `json:"amount"`
	Description   string           `json:"description"`
	CreatedAt     string           `json:"created_at"`
	ExpiresAt     string           `json:"expires_at"`
	Expired       bool             `json:"expired"`
	RouteHints    [][]RouteHintHop `json:"route_hints,omitempty"`

	// The rest is set for the node's own invoices only.

	// State is open, paid, expired or cancelled.
	State          string `json:"state,omitempty"`
	AmountReceived uint64 `json:"amount_received,omitempty"`
	PaidAt         string `json:"paid_at,omitempty"`
	// Preimage is shown once the invoice is paid.
	Preimage string        `json:"preimage,omitempty"`
	HTLCs    []InvoiceHTLC `json:"htlcs,omitempty"`
}

// FormatTime is how the API writes times.
func FormatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// DescribeInvoice returns the fields of a decoded invoice (text is its text
// form), with Expired evaluated at now. It needs no node: `paymesh invoice
// decode` uses it offline.
func DescribeInvoice(text string, inv *invoice.Invoice, now time.Time) Invoice {
	out := Invoice{
		Invoice:       text,
		PaymentHash:   hex.EncodeToString(inv.PaymentHash[:]),
		PaymentSecret: hex.EncodeToString(inv.PaymentSecret[:]),
		Payee:         inv.Payee.String(),
		Amount:        inv.Amount,
		Description:   inv.Description,
		CreatedAt:     FormatTime(inv.CreatedAt),
		ExpiresAt:     FormatTime(inv.ExpiresAt()),
		Expired:       inv.Expired(now),
	}
	for _, h := range inv.RouteHints {
		hint := make([]RouteHintHop, 0, len(h))
		for _, hop := range h {
			hint = append(hint, RouteHintHop{Node: hop.Node.String(), ShortChannelID: hop.ShortChannelID,
				FeeBase: hop.FeeBase, FeePPM: hop.FeePPM, ExpiryDeltaMS: hop.ExpiryDeltaMS})
		}
		out.RouteHints = append(out.RouteHints, hint)
	}
	return out
}

// CreateInvoice issues an invoice.
func (c *Client) CreateInvoice(ctx context.Context, req CreateInvoiceRequest) (Invoice, error) {
	var r Invoice
	err := c.Do(ctx, http.MethodPost, PathInvoices, req, &r)
	return r, err
}

// Invoices lists up to limit of the node's invoices, newest first (0: the
// node's default of 100).
func (c *Client) Invoices(ctx context.Context, limit int) ([]Invoice, error) {
	path := PathInvoices
	if limit > 0 {
		path += "?limit=" + strconv.Itoa(limit)
	}
	var r []Invoice
	err := c.Do(ctx, http.MethodGet, path, nil, &r)
	return r, err
}

// Invoice shows one of the node's invoices by payment hash (hex).
func (c *Client) Invoice(ctx context.Context, hash string) (Invoice, error) {
	var r Invoice
	err := c.Do(ctx, http.MethodGet, PathInvoices+"/"+url.PathEscape(hash), nil, &r)
	return r, err
}

// CancelInvoice withdraws one of the node's open invoices.
func (c *Client) CancelInvoice(ctx context.Context, hash string) (Invoice, error) {
	var r Invoice
	err := c.Do(ctx, http.MethodPost, PathInvoices+"/"+url.PathEscape(hash)+"/cancel", nil, &r)
	return r, err
}

// DecodeInvoice has the node decode and verify an invoice's text.
func (c *Client) DecodeInvoice(ctx context.Context, text string) (Invoice, error) {
	var r Invoice
	err := c.Do(ctx, http.MethodPost, PathInvoicesDecode, DecodeInvoiceRequest{Invoice: text}, &r)
	return r, err
}
