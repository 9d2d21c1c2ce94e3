// Package api defines the paymesh node's local HTTP/JSON API — its paths,
// request and response types — and a Go client for it, used by the CLI and
// by apps that drive a node from another process.
//
// Every request carries "Authorization: Bearer TOKEN", TOKEN being the
// contents of the data dir's api.token. Errors come back as a non-2xx status
// with a JSON body {"error": "..."}.
package api

// Paths of the API.
const (
	PathStatus         = "/v1/status"
	PathPeers          = "/v1/peers"
	PathPeersConnect   = "/v1/peers/connect"
	PathPeersDiscon    = "/v1/peers/disconnect"
	PathMetrics        = "/metrics"
	MaxRequestBodySize = 64 << 10
)

// Status is the answer to GET /v1/status.
type Status struct {
	PeerID        string   `json:"peer_id"`
	Addrs         []string `json:"addrs"`
	Peers         []string `json:"peers"`
	Version       string   `json:"version"`
	UptimeSeconds float64  `json:"uptime_seconds"`
}

// Peer describes one connected peer in GET /v1/peers.
type Peer struct {
	ID        string   `json:"id"`
	Addrs     []string `json:"addrs"`
	Direction string   `json:"direction"`
	Protected bool     `json:"protected"`
}

// ConnectRequest is the body of POST /v1/peers/connect.
type ConnectRequest struct {
	Addr string `json:"addr"`
}

// ConnectResponse is the answer to POST /v1/peers/connect.
type ConnectResponse struct {
	ID string `json:"id"`
}

// DisconnectRequest is the body of POST /v1/peers/disconnect.
type DisconnectRequest struct {
	ID string `json:"id"`
}

// Error is the body of every error response.
type Error struct {
	Error string `json:"error"`
}
