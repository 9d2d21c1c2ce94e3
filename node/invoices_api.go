package node

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/paymesh/paymesh/api"
	"github.com/paymesh/paymesh/protocol/invoice"
)

// defaultInvoiceList is how many invoices GET /v1/invoices returns without
// a limit.
const defaultInvoiceList = 100

func (n *Node) registerInvoiceAPI(mux *http.ServeMux) {
	mux.HandleFunc("POST "+api.PathInvoices, n.handleCreateInvoice)
	mux.HandleFunc("GET "+api.PathInvoices, n.handleListInvoices)
	mux.HandleFunc("POST "+api.PathInvoicesDecode, n.handleDecodeInvoice)
	mux.HandleFunc("GET "+api.PathInvoices+"/{hash}", n.handleShowInvoice)
	mux.HandleFunc("POST "+api.PathInvoices+"/{hash}/cancel", n.handleCancelInvoice)
}

// invoiceErrorStatus maps an error of the invoice API to an HTTP status.
func invoiceErrorStatus(err error) int {
	switch {
	case errors.Is(err, ErrUnknownInvoice):
		return http.StatusNotFound
	case errors.Is(err, ErrInvoicePaid):
		return http.StatusConflict
	case errors.Is(err, ErrStopped):
		return http.StatusServiceUnavailable
	case errors.Is(err, invoice.ErrMalformed), errors.Is(err, invoice.ErrBadSignature),
		errors.Is(err, invoice.ErrChecksum), errors.Is(err, errBadHash):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

func toAPIInvoice(r *InvoiceRecord, now time.Time) api.Invoice {
	out := api.DescribeInvoice(r.Text, r.Invoice, now)
	out.State = r.State
	out.AmountReceived = r.Received
	if r.State == InvoiceStatePaid {
		out.PaidAt = api.FormatTime(r.PaidAt)
		out.Preimage = hex.EncodeToString(r.Preimage[:])
	}
	for _, h := range r.HTLCs {
		out.HTLCs = append(out.HTLCs, api.InvoiceHTLC{Channel: hex.EncodeToString(h.Channel[:]), ID: h.ID, Amount: h.Amount})
	}
	return out
}

var errBadHash = errors.New("bad payment hash")

// ParseInvoiceHash resolves a payment hash given as 64 hex digits, or as a
// prefix of at least 8 hex digits naming exactly one of the node's
// invoices.
func (n *Node) ParseInvoiceHash(s string) ([32]byte, error) {
	var h [32]byte
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) < 8 || len(s) > 64 {
		return h, fmt.Errorf("%w %q: want 64 hex digits or a unique prefix of at least 8", errBadHash, s)
	}
	if _, err := hex.DecodeString(s[:len(s)&^1]); err != nil || strings.Trim(s[len(s)&^1:], "0123456789abcdef") != "" {
		return h, fmt.Errorf("%w %q: not hex", errBadHash, s)
	}
	if len(s) == 64 {
		b, _ := hex.DecodeString(s)
		return [32]byte(b), nil
	}
	if n.store == nil {
		return h, ErrStopped
	}
	prefix, _ := hex.DecodeString(s[:len(s)&^1])
	var match [][32]byte
	hashes, err := n.store.InvoiceHashes(prefix, 0)
	if err != nil {
		return h, err
	}
	for _, c := range hashes {
		if strings.HasPrefix(hex.EncodeToString(c[:]), s) {
			match = append(match, c)
			if len(match) > 1 {
				return h, fmt.Errorf("%w %q: prefix names several invoices", errBadHash, s)
			}
		}
	}
	if len(match) == 0 {
		return h, fmt.Errorf("%w %s", ErrUnknownInvoice, s)
	}
	return match[0], nil
}

func (n *Node) handleCreateInvoice(w http.ResponseWriter, r *http.Request) {
	var req api.CreateInvoiceRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if req.ExpirySeconds < 0 || req.ExpirySeconds > int64(invoice.MaxExpiry/time.Second) {
		writeError(w, http.StatusBadRequest, fmt.Errorf("expiry_seconds %d outside [0, %d]", req.ExpirySeconds, int64(invoice.MaxExpiry/time.Second)))
		return
	}
	rec, err := n.CreateInvoice(req.Amount, req.Description, time.Duration(req.ExpirySeconds)*time.Second, nil)
	if err != nil {
		writeError(w, invoiceErrorStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, toAPIInvoice(rec, time.Now()))
}

func (n *Node) handleListInvoices(w http.ResponseWriter, r *http.Request) {
	limit := defaultInvoiceList
	if s := r.URL.Query().Get("limit"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			writeError(w, http.StatusBadRequest, fmt.Errorf("bad limit %q: want a number >= 0 (0: all)", s))
			return
		}
		limit = v
	}
	recs, err := n.Invoices(limit)
	if err != nil {
		writeError(w, invoiceErrorStatus(err), err)
		return
	}
	now := time.Now()
	out := make([]api.Invoice, 0, len(recs))
	for _, rec := range recs {
		out = append(out, toAPIInvoice(rec, now))
	}
	writeJSON(w, http.StatusOK, out)
}

func (n *Node) handleShowInvoice(w http.ResponseWriter, r *http.Request) {
	hash, err := n.ParseInvoiceHash(r.PathValue("hash"))
	if err != nil {
		writeError(w, invoiceErrorStatus(err), err)
		return
	}
	rec, err := n.Invoice(hash)
	if err != nil {
		writeError(w, invoiceErrorStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, toAPIInvoice(rec, time.Now()))
}

func (n *Node) handleCancelInvoice(w http.ResponseWriter, r *http.Request) {
	hash, err := n.ParseInvoiceHash(r.PathValue("hash"))
	if err != nil {
		writeError(w, invoiceErrorStatus(err), err)
		return
	}
	rec, err := n.CancelInvoice(hash)
	if err != nil {
		writeError(w, invoiceErrorStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, toAPIInvoice(rec, time.Now()))
}

func (n *Node) handleDecodeInvoice(w http.ResponseWriter, r *http.Request) {
	var req api.DecodeInvoiceRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	text := strings.TrimSpace(req.Invoice)
	inv, err := invoice.Decode(text)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, api.DescribeInvoice(text, inv, time.Now()))
}
