package node

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/paymesh/paymesh/api"
	"github.com/paymesh/paymesh/protocol/channel"
	"github.com/paymesh/paymesh/protocol/invoice"
	"github.com/paymesh/paymesh/store"
)

func (n *Node) registerPaymentAPI(mux *http.ServeMux) {
	mux.HandleFunc("POST "+api.PathPay, n.handlePay)
	mux.HandleFunc("POST "+api.PathSend, n.handleSend)
	mux.HandleFunc("GET "+api.PathPayments, n.handlePayments)
	mux.HandleFunc("GET "+api.PathPayments+"/{hash}", n.handlePayment)
	mux.HandleFunc("GET "+api.PathForwards, n.handleForwards)
	n.registerStreamAPI(mux)
}

func toAPIPayment(p *Payment) api.Payment {
	out := api.Payment{Hash: p.Hash, Dest: p.Dest, Amount: p.Amount, Invoice: p.Invoice, Keysend: p.Keysend, Status: p.Status,
		Preimage: p.Preimage, Fee: p.Fee, CreatedMS: p.CreatedMS, EndedMS: p.EndedMS, Failure: p.Failure, LatencyMS: p.LatencyMS,
		Attempts: []api.Attempt{}}
	for _, a := range p.Attempts {
		out.Attempts = append(out.Attempts, api.Attempt{Route: a.Route, Delivered: a.Delivered, SentMS: a.SentMS,
			Status: a.Status, Failure: a.Failure, FailingHop: a.FailingHop})
	}
	return out
}

func timeoutOf(seconds int) time.Duration {
	if seconds <= 0 {
		return 60 * time.Second
	}
	return time.Duration(min(seconds, 3600)) * time.Second
}

func (n *Node) runPayment(w http.ResponseWriter, r *http.Request, req PayRequest) {
	ctx, cancel := context.WithTimeout(r.Context(), req.Timeout+30*time.Second)
	defer cancel()
	p, err := n.Pay(ctx, req)
	if err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, ErrAlreadyPaid) || errors.Is(err, ErrPaymentBusy) {
			code = http.StatusConflict
		}
		writeError(w, code, err)
		return
	}
	writeJSON(w, http.StatusOK, toAPIPayment(p))
}

func (n *Node) handlePay(w http.ResponseWriter, r *http.Request) {
	var req api.PayRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	inv, err := invoice.Decode(req.Invoice)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	n.runPayment(w, r, PayRequest{Invoice: inv, Amount: req.Amount, MaxFee: req.MaxFee, Timeout: timeoutOf(req.TimeoutSeconds), MaxAttempts: req.MaxAttempts})
}

func (n *Node) handleSend(w http.ResponseWriter, r *http.Request) {
	var req api.SendRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	dest, ok := decodeNodeID(w, req.Dest)
	if !ok {
		return
	}
	n.runPayment(w, r, PayRequest{Dest: dest, Amount: req.Amount, MaxFee: req.MaxFee, Timeout: timeoutOf(req.TimeoutSeconds), MaxAttempts: req.MaxAttempts})
}

// decodeNodeID parses a node id from a request, answering 400 when it is bad.
func decodeNodeID(w http.ResponseWriter, s string) (peer.ID, bool) {
	id, err := peer.Decode(s)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("bad node id %q: %w", s, err))
		return "", false
	}
	return id, true
}

func limitParam(r *http.Request) int {
	limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || limit <= 0 {
		return 100
	}
	return min(limit, 10_000)
}

func (n *Node) handlePayments(w http.ResponseWriter, r *http.Request) {
	ps, err := n.Payments(limitParam(r))
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	out := make([]api.Payment, 0, len(ps))
	for _, p := range ps {
		out = append(out, toAPIPayment(p))
	}
	writeJSON(w, http.StatusOK, out)
}

func (n *Node) handlePayment(w http.ResponseWriter, r *http.Request) {
	b, err := hex.DecodeString(r.PathValue("hash"))
	if err != nil || len(b) != 32 {
		writeError(w, http.StatusBadRequest, fmt.Errorf("bad payment hash %q: want 64 hex digits", r.PathValue("hash")))
		return
	}
	p, err := n.Payment(channel.Hash(b))
	if errors.Is(err, store.ErrNoPayment) {
		writeError(w, http.StatusNotFound, fmt.Errorf("no payment with hash %x", b))
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, toAPIPayment(p))
}

func (n *Node) handleForwards(w http.ResponseWriter, r *http.Request) {
	fs, err := n.Forwards(limitParam(r))
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, fs)
}
