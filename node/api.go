package node

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/paymesh/paymesh/api"
)

// startAPI listens on the configured loopback address, serves the API and
// records the address in use in DATADIR/api.addr.
func (n *Node) startAPI() error {
	addr := n.cfg.Settings.API.Address
	if err := CheckLoopback(addr); err != nil {
		return fmt.Errorf("node: api: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("node: api: cannot listen on %s (port in use?): %w", addr, err)
	}
	n.apiAddr = ln.Addr()
	n.api = &http.Server{
		Handler:           n.apiHandler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          nil,
	}
	if n.cfg.DataDir != "" {
		if err := writeFileAtomic(filepath.Join(n.cfg.DataDir, APIAddrFile), []byte(n.apiAddr.String()+"\n"), 0o600); err != nil {
			ln.Close()
			return fmt.Errorf("node: api: %w", err)
		}
	}
	n.goRun(func() {
		if err := n.api.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("api server stopped", "err", err)
		}
	})
	return nil
}

func (n *Node) apiHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+api.PathStatus, n.handleStatus)
	mux.HandleFunc("GET "+api.PathPeers, n.handlePeers)
	mux.HandleFunc("POST "+api.PathPeersConnect, n.handleConnect)
	mux.HandleFunc("POST "+api.PathPeersDiscon, n.handleDisconnect)
	n.registerGraphAPI(mux)
	n.registerChannelAPI(mux)
	n.registerPaymentAPI(mux)
	n.registerInvoiceAPI(mux)
	mux.Handle("GET "+api.PathMetrics, promhttp.HandlerFor(n.registry, promhttp.HandlerOpts{}))
	return n.authenticate(mux)
}

// authenticate demands the bearer token on every request, compared in
// constant time.
func (n *Node) authenticate(next http.Handler) http.Handler {
	want := []byte("Bearer " + n.cfg.APIToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="paymesh"`)
			writeError(w, http.StatusUnauthorized, errors.New("missing or wrong bearer token"))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, api.MaxRequestBodySize)
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, api.Error{Error: err.Error()})
}

// decodeBody reads a JSON request body strictly: unknown fields and trailing
// data are errors.
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("bad request body: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("bad request body: trailing data")
	}
	return nil
}

// Status reports what `paymesh status` shows.
func (n *Node) Status() api.Status {
	s := api.Status{
		PeerID:        n.id.String(),
		Version:       FullVersion(),
		UptimeSeconds: n.Uptime().Seconds(),
		Addrs:         []string{},
		Peers:         []string{},
	}
	for _, a := range n.Addrs() {
		s.Addrs = append(s.Addrs, a.String())
	}
	for _, p := range n.host.Network().Peers() {
		s.Peers = append(s.Peers, p.String())
	}
	return s
}

func (n *Node) handleStatus(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, n.Status())
}

func (n *Node) handlePeers(w http.ResponseWriter, _ *http.Request) {
	out := []api.Peer{}
	for _, p := range n.host.Network().Peers() {
		ap := api.Peer{ID: p.String(), Addrs: []string{}, Protected: n.host.ConnManager().IsProtected(p, "")}
		for _, c := range n.host.Network().ConnsToPeer(p) {
			ap.Addrs = append(ap.Addrs, c.RemoteMultiaddr().String())
			ap.Direction = strings.ToLower(c.Stat().Direction.String())
		}
		out = append(out, ap)
	}
	writeJSON(w, http.StatusOK, out)
}

// Connect dials a peer given as a multiaddr ending in /p2p/ID.
func (n *Node) Connect(ctx context.Context, addr string) (peer.ID, error) {
	ai, err := ParsePeerAddr(addr)
	if err != nil {
		return "", err
	}
	if ai.ID == n.id {
		return "", errors.New("cannot connect to self")
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Settings.Network.DialTimeout.Duration)
	defer cancel()
	if err := n.host.Connect(ctx, ai); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return "", fmt.Errorf("dial %s: timed out after %v", ai.ID, n.cfg.Settings.Network.DialTimeout.Duration)
		}
		return "", fmt.Errorf("dial %s: %w", ai.ID, err)
	}
	return ai.ID, nil
}

// ErrNotConnected is returned when an operation needs a connected peer.
var ErrNotConnected = errors.New("not connected to peer")

// Disconnect closes every connection to the peer.
func (n *Node) Disconnect(id peer.ID) error {
	if n.host.Network().Connectedness(id) != network.Connected {
		return fmt.Errorf("%w %s", ErrNotConnected, id)
	}
	return n.host.Network().ClosePeer(id)
}

func (n *Node) handleConnect(w http.ResponseWriter, r *http.Request) {
	var req api.ConnectRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if _, err := ParsePeerAddr(req.Addr); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	id, err := n.Connect(r.Context(), req.Addr)
	if err != nil {
		writeError(w, http.StatusBadGateway, err)
		return
	}
	writeJSON(w, http.StatusOK, api.ConnectResponse{ID: id.String()})
}

func (n *Node) handleDisconnect(w http.ResponseWriter, r *http.Request) {
	var req api.DisconnectRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	id, err := peer.Decode(req.ID)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("bad peer id %q: %w", req.ID, err))
		return
	}
	if err := n.Disconnect(id); err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, ErrNotConnected) {
			code = http.StatusNotFound
		}
		writeError(w, code, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}
