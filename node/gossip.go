package node

import (
	"context"
	"net/http"
)

// startGossip joins the gossip topic and serves graph sync. (Being written
// for issue 4: GossipSub, topic validator, graph store, graph sync.)
func (n *Node) startGossip(context.Context) error { return nil }

// stopGossip leaves the topic and stops the graph sync service.
func (n *Node) stopGossip() {}

// registerGraphAPI adds the /v1/graph and /v1/fees routes.
func (n *Node) registerGraphAPI(*http.ServeMux) {}
