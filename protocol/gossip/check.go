package gossip

import (
	"bytes"
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// CheckNodeID reports whether id is an Ed25519 libp2p peer.ID, the only kind
// of node id paymesh accepts, so that every node's public key can be taken
// from its id.
func CheckNodeID(id peer.ID) error {
	if len(id) != NodeIDSize || !bytes.HasPrefix([]byte(id), ed25519IDPrefix) {
		return fmt.Errorf("%w: node id is not an Ed25519 peer id (%d bytes)", ErrMalformed, len(id))
	}
	return nil
}

// nodePubKey returns the public key inside an Ed25519 peer id.
func nodePubKey(id peer.ID) (crypto.PubKey, error) {
	if err := CheckNodeID(id); err != nil {
		return nil, err
	}
	pk, err := crypto.UnmarshalEd25519PublicKey([]byte(id[len(ed25519IDPrefix):]))
	if err != nil {
		return nil, fmt.Errorf("%w: node key: %w", ErrMalformed, err)
	}
	return pk, nil
}

func checkTimestamp(ts int64) error {
	if ts < MinTimestamp {
		return fmt.Errorf("%w: timestamp %d before %d", ErrOutOfBounds, ts, MinTimestamp)
	}
	return nil
}

func checkSide(d Direction) error {
	if d > Dir21 {
		return fmt.Errorf("%w: direction %d", ErrMalformed, d)
	}
	return nil
}

// CheckOnionKey reports whether k is a compressed secp256k1 public key on
// the curve.
func CheckOnionKey(k [OnionKeySize]byte) error {
	if k[0] != 2 && k[0] != 3 {
		return fmt.Errorf("%w: onion key is not a compressed point", ErrMalformed)
	}
	if _, err := secp256k1.ParsePubKey(k[:]); err != nil {
		return fmt.Errorf("%w: onion key: %w", ErrMalformed, err)
	}
	return nil
}

// Check reports whether every field is within bounds. It does not look at
// the signature.
func (a *NodeAnnouncement) Check() error {
	if err := CheckNodeID(a.Node); err != nil {
		return err
	}
	if len(a.Alias) > MaxAliasBytes {
		return fmt.Errorf("%w: alias of %d bytes, max %d", ErrOutOfBounds, len(a.Alias), MaxAliasBytes)
	}
	if !utf8.ValidString(a.Alias) {
		return fmt.Errorf("%w: alias is not UTF-8", ErrMalformed)
	}
	for _, r := range a.Alias {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: control character in alias", ErrMalformed)
		}
	}
	if len(a.Addrs) > MaxAddrs {
		return fmt.Errorf("%w: %d addrs, max %d", ErrOutOfBounds, len(a.Addrs), MaxAddrs)
	}
	for i, addr := range a.Addrs {
		if _, err := checkAddr(addr.Bytes()); err != nil {
			return fmt.Errorf("addr %d: %w", i, err)
		}
	}
	if err := CheckOnionKey(a.OnionKey); err != nil {
		return err
	}
	if len(a.Features) > MaxFeatureBytes {
		return fmt.Errorf("%w: %d feature bytes, max %d", ErrOutOfBounds, len(a.Features), MaxFeatureBytes)
	}
	return checkTimestamp(a.Timestamp)
}

// Check reports whether every field is within bounds: valid and ordered node
// ids, a capacity in (0, MaxCapacity]. It does not look at the signatures.
func (c *ChannelAnnouncement) Check() error {
	if c.ChannelID == (ChannelID{}) {
		return fmt.Errorf("%w: zero channel id", ErrMalformed)
	}
	if err := CheckNodeID(c.Node1); err != nil {
		return fmt.Errorf("node1: %w", err)
	}
	if err := CheckNodeID(c.Node2); err != nil {
		return fmt.Errorf("node2: %w", err)
	}
	if c.Node1 >= c.Node2 {
		return fmt.Errorf("%w: node1 must sort strictly before node2", ErrMalformed)
	}
	if c.Capacity == 0 || c.Capacity > MaxCapacity {
		return fmt.Errorf("%w: capacity %d not in (0, %d]", ErrOutOfBounds, c.Capacity, uint64(MaxCapacity))
	}
	return nil
}

// Check reports whether every field is within the bounds that do not depend
// on the channel: fee base <= MaxFeeBase, fee ppm <= MaxFeePPM, expiry delta
// in (0, MaxExpiryDelta], 1 <= HTLCMin <= HTLCMax <= MaxCapacity, timestamp
// >= MinTimestamp. HTLCMax <= capacity is checked by Verify.
func (u *ChannelUpdate) Check() error {
	if err := checkSide(u.Direction); err != nil {
		return err
	}
	if u.FeeBase > MaxFeeBase {
		return fmt.Errorf("%w: fee base %d, max %d", ErrOutOfBounds, u.FeeBase, uint64(MaxFeeBase))
	}
	if u.FeePPM > MaxFeePPM {
		return fmt.Errorf("%w: fee ppm %d, max %d", ErrOutOfBounds, u.FeePPM, MaxFeePPM)
	}
	if u.ExpiryDelta == 0 || u.ExpiryDelta > MaxExpiryDelta {
		return fmt.Errorf("%w: expiry delta %d ms not in (0, %d]", ErrOutOfBounds, u.ExpiryDelta, MaxExpiryDelta)
	}
	if u.HTLCMin == 0 || u.HTLCMin > u.HTLCMax || u.HTLCMax > MaxCapacity {
		return fmt.Errorf("%w: htlc min %d, max %d", ErrOutOfBounds, u.HTLCMin, u.HTLCMax)
	}
	return checkTimestamp(u.Timestamp)
}

// checkFor checks the bounds that depend on the channel.
func (u *ChannelUpdate) checkFor(id ChannelID, capacity uint64) error {
	if u.ShortID != id.Short() {
		return fmt.Errorf("%w: short id %d, channel %d", ErrWrongChannel, u.ShortID, id.Short())
	}
	if u.HTLCMax > capacity {
		return fmt.Errorf("%w: htlc max %d above capacity %d", ErrOutOfBounds, u.HTLCMax, capacity)
	}
	return nil
}

// Check reports whether every field is within bounds.
func (c *ChannelClosed) Check() error {
	if err := checkSide(c.Side); err != nil {
		return err
	}
	return checkTimestamp(c.Timestamp)
}

// checkAddr parses a binary multiaddr as a receiver does.
func checkAddr(b []byte) (ma.Multiaddr, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty addr", ErrMalformed)
	}
	if len(b) > MaxAddrBytes {
		return nil, fmt.Errorf("%w: addr of %d bytes, max %d", ErrOutOfBounds, len(b), MaxAddrBytes)
	}
	m, err := ma.NewMultiaddrBytes(b)
	if err != nil {
		return nil, fmt.Errorf("%w: addr: %w", ErrMalformed, err)
	}
	return m, nil
}
