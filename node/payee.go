package node

import (
	"time"

	"github.com/paymesh/paymesh/protocol/channel"
	"github.com/paymesh/paymesh/protocol/onion"
)

// What the switch does with an HTLC that ends at this node.
type decisionKind uint8

const (
	decideReject decisionKind = iota
	decideFulfill
	decideHold
	decideTemporary // the invoice store failed: temporary_node_failure
)

type payeeDecision struct {
	kind     decisionKind
	preimage channel.Hash
	// release lists every HTLC to fulfill when a payment completes: all
	// its parts, including the one just presented.
	release []htlcRef
}

// settleInvoice decides on a final-hop HTLC that pays one of this node's
// invoices (see settleInvoiceHTLC).
func (n *Node) settleInvoice(hash, secret channel.Hash, amount, total uint64, ref htlcRef, _ onion.SharedSecret, now time.Time) payeeDecision {
	pre, d, err := n.settleInvoiceHTLC(hash, secret, amount, total, HTLCRef{Channel: ref.Ch, ID: ref.ID}, now)
	if err != nil {
		n.log.Error("settle invoice HTLC", "hash", hash, "err", err)
		return payeeDecision{kind: decideTemporary}
	}
	switch d.Action {
	case settleFulfill:
		out := payeeDecision{kind: decideFulfill, preimage: pre}
		for _, r := range d.Release {
			out.release = append(out.release, htlcRef{Ch: r.Channel, ID: r.ID})
		}
		return out
	case settleHold:
		return payeeDecision{kind: decideHold}
	}
	return payeeDecision{kind: decideReject}
}
