package node

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/paymesh/paymesh/api"
)

// Bounds of one POST /v1/streams/{id}/pay.
const (
	maxStreamPayCount       = 10_000_000
	maxStreamPayConcurrency = 4096
)

func (n *Node) registerStreamAPI(mux *http.ServeMux) {
	mux.HandleFunc("POST "+api.PathStreams, n.handleOpenStream)
	mux.HandleFunc("GET "+api.PathStreams, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, n.Streams()) })
	mux.HandleFunc("GET "+api.PathStreams+"/{id}", n.handleStream)
	mux.HandleFunc("POST "+api.PathStreams+"/{id}/pay", n.handleStreamPay)
	mux.HandleFunc("DELETE "+api.PathStreams+"/{id}", n.handleCloseStream)
}

func (n *Node) handleOpenStream(w http.ResponseWriter, r *http.Request) {
	var req api.StreamRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	dest, ok := decodeNodeID(w, req.Dest)
	if !ok {
		return
	}
	s, err := n.OpenStream(StreamRequest{Dest: dest, MaxAmount: req.MaxAmount, MaxFee: req.MaxFee})
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, s.Stats())
}

func (n *Node) streamOf(w http.ResponseWriter, r *http.Request) *Stream {
	s, err := n.Stream(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusNotFound, err)
		return nil
	}
	return s
}

func (n *Node) handleStream(w http.ResponseWriter, r *http.Request) {
	if s := n.streamOf(w, r); s != nil {
		writeJSON(w, http.StatusOK, s.Stats())
	}
}

func (n *Node) handleCloseStream(w http.ResponseWriter, r *http.Request) {
	if s := n.streamOf(w, r); s != nil {
		s.Close()
		writeJSON(w, http.StatusOK, s.Stats())
	}
}

func (n *Node) handleStreamPay(w http.ResponseWriter, r *http.Request) {
	s := n.streamOf(w, r)
	if s == nil {
		return
	}
	var req api.StreamPayRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	switch {
	case req.Count <= 0 || req.Count > maxStreamPayCount:
		writeError(w, http.StatusBadRequest, fmt.Errorf("count %d out of range 1..%d", req.Count, maxStreamPayCount))
		return
	case req.Concurrency < 0 || req.Concurrency > maxStreamPayConcurrency:
		writeError(w, http.StatusBadRequest, fmt.Errorf("concurrency %d out of range 0..%d", req.Concurrency, maxStreamPayConcurrency))
		return
	case req.Amount == 0 || req.Amount > s.req.MaxAmount:
		writeError(w, http.StatusBadRequest, fmt.Errorf("amount %d out of the stream's range 1..%d", req.Amount, s.req.MaxAmount))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeoutOf(req.TimeoutSeconds))
	defer cancel()
	res := s.PayMany(ctx, req.Amount, req.Count, max(req.Concurrency, 1))
	writeJSON(w, http.StatusOK, res)
}

// PayMany sends count payments of amount over the stream, at most
// concurrency in flight, and reports how they went. It stops sending when
// ctx ends; payments in flight then end on their own.
func (s *Stream) PayMany(ctx context.Context, amount uint64, count, concurrency int) api.StreamPayResult {
	var (
		mu   sync.Mutex
		res  api.StreamPayResult
		lat  = make([]time.Duration, 0, min(count, 1<<20))
		wg   sync.WaitGroup
		sem  = make(chan struct{}, max(concurrency, 1))
		t0   = time.Now()
		errs error
	)
	for i := 0; i < count && ctx.Err() == nil; i++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			start := time.Now()
			p, err := s.Pay(ctx, amount)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.Failed++
				errs = err
				return
			}
			res.Succeeded++
			res.Amount += p.Amount
			res.Fees += p.Fee
			if len(lat) < cap(lat) {
				lat = append(lat, time.Since(start))
			}
		}()
	}
	wg.Wait()
	res.ElapsedMS = float64(time.Since(t0).Microseconds()) / 1000
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		res.P50MS = float64(lat[len(lat)/2].Microseconds()) / 1000
		res.P99MS = float64(lat[len(lat)*99/100].Microseconds()) / 1000
	}
	if errs != nil {
		res.LastError = errs.Error()
	} else if ctx.Err() != nil && res.Succeeded+res.Failed < count {
		res.LastError = fmt.Sprintf("stopped after %d of %d payments: %v", res.Succeeded+res.Failed, count, ctx.Err())
	}
	res.Stream = s.Stats()
	return res
}
