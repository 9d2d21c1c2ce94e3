package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/paymesh/paymesh/api"
)

func (n *Node) registerChannelAPI(mux *http.ServeMux) {
	mux.HandleFunc("POST "+api.PathChannelsOpen, n.handleOpenChannel)
	mux.HandleFunc("GET "+api.PathChannels, n.handleListChannels)
	mux.HandleFunc("GET "+api.PathChannels+"/{id}", n.handleShowChannel)
	mux.HandleFunc("POST "+api.PathChannels+"/{id}/close", n.handleCloseChannel)
	mux.HandleFunc("GET "+api.PathChannels+"/{id}/audit", n.handleAuditChannel)
}

// errorStatus maps an error of the channel API to an HTTP status.
func errorStatus(err error) int {
	switch {
	case errors.Is(err, ErrUnknownChannel):
		return http.StatusNotFound
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	case errors.Is(err, ErrStopped):
		return http.StatusServiceUnavailable
	}
	return http.StatusBadRequest
}

func (n *Node) handleOpenChannel(w http.ResponseWriter, r *http.Request) {
	var req api.OpenChannelRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	p, err := peer.Decode(req.Peer)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("bad peer id %q: %w", req.Peer, err))
		return
	}
	timeout := 30 * time.Second
	if req.TimeoutSeconds > 0 {
		timeout = time.Duration(min(req.TimeoutSeconds, 600)) * time.Second
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	id, err := n.OpenChannel(ctx, p, req.Amount, req.Push)
	if err != nil {
		writeError(w, errorStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, api.OpenChannelResponse{ID: id.String()})
}

func (n *Node) handleListChannels(w http.ResponseWriter, r *http.Request) {
	cis, err := n.Channels(r.Context())
	if err != nil {
		writeError(w, errorStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, cis)
}

func (n *Node) channelFromPath(w http.ResponseWriter, r *http.Request) (ChannelInfo, bool) {
	id, err := n.ParseChannelID(r.PathValue("id"))
	if err != nil {
		writeError(w, errorStatus(err), err)
		return ChannelInfo{}, false
	}
	ci, err := n.Channel(r.Context(), id)
	if err != nil {
		writeError(w, errorStatus(err), err)
		return ChannelInfo{}, false
	}
	return ci, true
}

func (n *Node) handleShowChannel(w http.ResponseWriter, r *http.Request) {
	if ci, ok := n.channelFromPath(w, r); ok {
		writeJSON(w, http.StatusOK, ci)
	}
}

func (n *Node) handleCloseChannel(w http.ResponseWriter, r *http.Request) {
	id, err := n.ParseChannelID(r.PathValue("id"))
	if err != nil {
		writeError(w, errorStatus(err), err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 60*time.Second)
	defer cancel()
	if err := n.CloseChannel(ctx, id); err != nil {
		writeError(w, errorStatus(err), err)
		return
	}
	n.handleShowChannel(w, r)
}

func (n *Node) handleAuditChannel(w http.ResponseWriter, r *http.Request) {
	id, err := n.ParseChannelID(r.PathValue("id"))
	if err != nil {
		writeError(w, errorStatus(err), err)
		return
	}
	rep, err := n.AuditChannel(id)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, api.Audit(rep))
}
