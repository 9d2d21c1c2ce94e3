package channel

import (
	"crypto/ed25519"
	"errors"
	"fmt"
)

// Settlement moves value into and out of channels, outside the protocol:
// a chain or a bank is an adapter implementing it. The protocol's promise
// is about what happens inside: no balance moves without both signatures.
// The node calls it; the Machine never does (it stays pure).
type Settlement interface {
	// Deposit commits amount of party's funds to channel id. Both parties'
	// deposits are made before the opening state is signed.
	Deposit(id ID, party ed25519.PublicKey, amount uint64) error
	// Settle pays out a co-signed state of channel id: the final state of
	// a cooperative close, or the latest co-signed state of a failed
	// channel (its pending HTLCs go back to their offerers). A channel is
	// settled once.
	Settle(id ID, keys [2]ed25519.PublicKey, ss *SignedState) error
}

// ErrSettlement is wrapped by the errors of the built-in settlement.
var ErrSettlement = errors.New("channel: settlement")

// Credit is the built-in Settlement: bilateral credit between parties who
// know each other. A deposit is a credit line; settling a channel moves
// each party's net gain or loss into its running position. It keeps
// everything in memory; a node persists Positions if it wants them.
type Credit struct {
	deposits  map[ID]map[string]uint64
	positions map[string]int64
}

var _ Settlement = (*Credit)(nil)

// NewCredit returns an empty bilateral-credit ledger.
func NewCredit() *Credit {
	return &Credit{deposits: make(map[ID]map[string]uint64), positions: make(map[string]int64)}
}

// Deposit records a credit line of amount from party in channel id.
func (c *Credit) Deposit(id ID, party ed25519.PublicKey, amount uint64) error {
	d := c.deposits[id]
	if d == nil {
		d = make(map[string]uint64)
		c.deposits[id] = d
	}
	if _, dup := d[string(party)]; dup {
		return fmt.Errorf("%w: second deposit by the same party in %s", ErrSettlement, id)
	}
	d[string(party)] = amount
	return nil
}

// Settle checks ss (both signatures, amounts equal to the deposits) and
// moves each party's balance minus its deposit into its position.
func (c *Credit) Settle(id ID, keys [2]ed25519.PublicKey, ss *SignedState) error {
	d, ok := c.deposits[id]
	if !ok {
		return fmt.Errorf("%w: no deposits for %s (or already settled)", ErrSettlement, id)
	}
	if ss.State.Channel != id {
		return fmt.Errorf("%w: state of another channel", ErrSettlement)
	}
	if err := ss.Verify(keys); err != nil {
		return fmt.Errorf("%w: %w", ErrSettlement, err)
	}
	payout := ss.State.Balance
	for _, h := range ss.State.HTLCs {
		payout[h.Offerer] += h.Amount
	}
	if payout[0]+payout[1] != d[string(keys[0])]+d[string(keys[1])] || len(d) > 2 {
		return fmt.Errorf("%w: state pays %d, deposits hold %d", ErrSettlement,
			payout[0]+payout[1], d[string(keys[0])]+d[string(keys[1])])
	}
	for s, k := range keys {
		c.positions[string(k)] += int64(payout[s]) - int64(d[string(k)])
	}
	delete(c.deposits, id)
	return nil
}

// Position returns party's net gain (positive) or loss over settled channels.
func (c *Credit) Position(party ed25519.PublicKey) int64 { return c.positions[string(party)] }
