package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ErrUnauthorized is returned when the node rejects the client's token.
var ErrUnauthorized = errors.New("api: unauthorized (wrong or missing token)")

// ErrNotRunning is returned when a data dir has no running daemon.
var ErrNotRunning = errors.New("api: no daemon running for this data dir")

// StatusError is a non-2xx answer from the node.
type StatusError struct {
	Code    int
	Message string
}

func (e *StatusError) Error() string { return e.Message }

// Client talks to one node's local API.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// NewClient returns a client for the API at addr (HOST:PORT) with the token.
func NewClient(addr, token string) *Client {
	return &Client{
		base:  "http://" + addr,
		token: token,
		http:  &http.Client{Timeout: 60 * time.Second},
	}
}

// ClientForDataDir finds a running daemon through DIR/api.addr and
// DIR/api.token.
func ClientForDataDir(dir string) (*Client, error) {
	addr, err := os.ReadFile(filepath.Join(dir, "api.addr"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s has no api.addr (start it with `paymesh daemon --datadir %s`)", ErrNotRunning, dir, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	tok, err := os.ReadFile(filepath.Join(dir, "api.token"))
	if err != nil {
		return nil, fmt.Errorf("api: read token: %w", err)
	}
	return NewClient(strings.TrimSpace(string(addr)), strings.TrimSpace(string(tok))), nil
}

// Do sends a request with an optional JSON body and decodes a JSON answer
// into out (if non-nil).
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("api: encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if strings.Contains(err.Error(), "connection refused") {
			return fmt.Errorf("%w: nothing listens on %s", ErrNotRunning, strings.TrimPrefix(c.base, "http://"))
		}
		return fmt.Errorf("api: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("api: read answer: %w", err)
	}
	if resp.StatusCode == http.StatusUnauthorized {
		return ErrUnauthorized
	}
	if resp.StatusCode/100 != 2 {
		var e Error
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return &StatusError{Code: resp.StatusCode, Message: e.Error}
		}
		return &StatusError{Code: resp.StatusCode, Message: fmt.Sprintf("api: %s", resp.Status)}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("api: decode answer: %w", err)
	}
	return nil
}

// Status fetches the node's status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	err := c.Do(ctx, http.MethodGet, PathStatus, nil, &s)
	return s, err
}

// Peers lists connected peers.
func (c *Client) Peers(ctx context.Context) ([]Peer, error) {
	var p []Peer
	err := c.Do(ctx, http.MethodGet, PathPeers, nil, &p)
	return p, err
}

// Connect dials a peer by multiaddr (ending in /p2p/ID).
func (c *Client) Connect(ctx context.Context, addr string) (ConnectResponse, error) {
	var r ConnectResponse
	err := c.Do(ctx, http.MethodPost, PathPeersConnect, ConnectRequest{Addr: addr}, &r)
	return r, err
}

// Disconnect closes all connections to a peer.
func (c *Client) Disconnect(ctx context.Context, id string) error {
	return c.Do(ctx, http.MethodPost, PathPeersDiscon, DisconnectRequest{ID: id}, nil)
}
