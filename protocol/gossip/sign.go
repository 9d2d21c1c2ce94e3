package gossip

import (
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// ErrWrongKey is returned when a signing key is not an Ed25519 key or does
// not belong to the node the message names.
var ErrWrongKey = errors.New("gossip: wrong signing key")

// ErrIncomplete is returned by ChannelAnnouncement.Verify and Encode when
// one of the two signatures is missing.
var ErrIncomplete = errors.New("gossip: channel announcement lacks a signature")

// keyID returns the node id of an Ed25519 private key.
func keyID(key crypto.PrivKey) (peer.ID, error) {
	if key == nil || key.Type() != crypto.Ed25519 {
		return "", fmt.Errorf("%w: not an Ed25519 key", ErrWrongKey)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrWrongKey, err)
	}
	return id, nil
}

func sign(key crypto.PrivKey, msg []byte) ([]byte, error) {
	sig, err := key.Sign(msg)
	if err != nil {
		return nil, fmt.Errorf("gossip: sign: %w", err)
	}
	return sig, nil
}

func verify(pub crypto.PubKey, msg, sig []byte) error {
	if len(sig) != SignatureSize {
		return fmt.Errorf("%w: %d bytes", ErrBadSignature, len(sig))
	}
	ok, err := pub.Verify(msg, sig)
	if err != nil || !ok {
		return ErrBadSignature
	}
	return nil
}

// Sign checks the announcement's bounds and signs it with the node's key.
// If Node is empty it is set from the key; otherwise the key must be Node's.
func (a *NodeAnnouncement) Sign(key crypto.PrivKey) error {
	id, err := keyID(key)
	if err != nil {
		return err
	}
	if a.Node == "" {
		a.Node = id
	} else if a.Node != id {
		return fmt.Errorf("%w: key of %s signing for %s", ErrWrongKey, id, a.Node)
	}
	if err := a.Check(); err != nil {
		return err
	}
	a.Signature, err = sign(key, a.SigningBytes())
	return err
}

// Verify checks the bounds and the node's signature.
func (a *NodeAnnouncement) Verify() error {
	if err := a.Check(); err != nil {
		return err
	}
	pub, err := nodePubKey(a.Node)
	if err != nil {
		return err
	}
	return verify(pub, a.SigningBytes(), a.Signature)
}

// NewChannelAnnouncement returns the unsigned announcement of channel id
// between nodes a and b (in either order) with the given capacity. Both ends
// build it from the same values, each signs it (SignatureFor), they swap
// signatures over the channel protocol and each adds the other's
// (AddSignature); both then hold the same complete announcement.
func NewChannelAnnouncement(id ChannelID, a, b peer.ID, capacity uint64) (*ChannelAnnouncement, error) {
	if b < a {
		a, b = b, a
	}
	c := &ChannelAnnouncement{ChannelID: id, Node1: a, Node2: b, Capacity: capacity}
	if err := c.Check(); err != nil {
		return nil, err
	}
	return c, nil
}

// Side returns which end node is: Dir12 for Node1, Dir21 for Node2.
func (c *ChannelAnnouncement) Side(node peer.ID) (Direction, bool) {
	switch node {
	case c.Node1:
		return Dir12, true
	case c.Node2:
		return Dir21, true
	}
	return 0, false
}

// Endpoint returns the node at the start of direction d (Node1 for Dir12,
// Node2 for Dir21): the node that signs d's updates.
func (c *ChannelAnnouncement) Endpoint(d Direction) peer.ID {
	if d == Dir21 {
		return c.Node2
	}
	return c.Node1
}

// SignatureFor returns key's signature of the announcement without storing
// it. The key must be one of the two ends.
func (c *ChannelAnnouncement) SignatureFor(key crypto.PrivKey) ([]byte, error) {
	id, err := keyID(key)
	if err != nil {
		return nil, err
	}
	if _, ok := c.Side(id); !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotEndpoint, id)
	}
	if err := c.Check(); err != nil {
		return nil, err
	}
	return sign(key, c.SigningBytes())
}

// AddSignature verifies node's signature and stores it in node's slot.
func (c *ChannelAnnouncement) AddSignature(node peer.ID, sig []byte) error {
	side, ok := c.Side(node)
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotEndpoint, node)
	}
	if err := c.Check(); err != nil {
		return err
	}
	pub, err := nodePubKey(node)
	if err != nil {
		return err
	}
	if err := verify(pub, c.SigningBytes(), sig); err != nil {
		return fmt.Errorf("signature of %s: %w", node, err)
	}
	if side == Dir12 {
		c.Sig1 = append([]byte(nil), sig...)
	} else {
		c.Sig2 = append([]byte(nil), sig...)
	}
	return nil
}

// Sign signs with key (one of the ends) and stores the signature.
func (c *ChannelAnnouncement) Sign(key crypto.PrivKey) error {
	sig, err := c.SignatureFor(key)
	if err != nil {
		return err
	}
	id, _ := keyID(key)
	return c.AddSignature(id, sig)
}

// Complete reports whether both signatures are present.
func (c *ChannelAnnouncement) Complete() bool { return len(c.Sig1) != 0 && len(c.Sig2) != 0 }

// Verify checks the bounds and both signatures.
func (c *ChannelAnnouncement) Verify() error {
	if err := c.Check(); err != nil {
		return err
	}
	if !c.Complete() {
		return fmt.Errorf("%w: %w", ErrBadSignature, ErrIncomplete)
	}
	pub1, err := nodePubKey(c.Node1)
	if err != nil {
		return err
	}
	pub2, err := nodePubKey(c.Node2)
	if err != nil {
		return err
	}
	return c.verifyWith(pub1, pub2)
}

func (c *ChannelAnnouncement) verifyWith(pub1, pub2 crypto.PubKey) error {
	msg := c.SigningBytes()
	if err := verify(pub1, msg, c.Sig1); err != nil {
		return fmt.Errorf("node1: %w", err)
	}
	if err := verify(pub2, msg, c.Sig2); err != nil {
		return fmt.Errorf("node2: %w", err)
	}
	return nil
}

// Sign fills in ShortID and Direction from the channel and the key (which
// must be one of its ends), checks the bounds and signs the update.
func (u *ChannelUpdate) Sign(ann *ChannelAnnouncement, key crypto.PrivKey) error {
	id, err := keyID(key)
	if err != nil {
		return err
	}
	side, ok := ann.Side(id)
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotEndpoint, id)
	}
	u.ShortID = ann.ChannelID.Short()
	u.Direction = side
	if err := u.Check(); err != nil {
		return err
	}
	if err := u.checkFor(ann.ChannelID, ann.Capacity); err != nil {
		return err
	}
	u.Signature, err = sign(key, u.SigningBytes(ann.ChannelID))
	return err
}

// Verify checks the bounds, that the update belongs to ann's channel and
// fits its capacity, and the signature of the direction's node.
func (u *ChannelUpdate) Verify(ann *ChannelAnnouncement) error {
	if err := u.Check(); err != nil {
		return err
	}
	if err := u.checkFor(ann.ChannelID, ann.Capacity); err != nil {
		return err
	}
	pub, err := nodePubKey(ann.Endpoint(u.Direction))
	if err != nil {
		return err
	}
	return verify(pub, u.SigningBytes(ann.ChannelID), u.Signature)
}

// Sign fills in ShortID and Side from the channel and the key (which must be
// one of its ends) and signs the notice.
func (c *ChannelClosed) Sign(ann *ChannelAnnouncement, key crypto.PrivKey) error {
	id, err := keyID(key)
	if err != nil {
		return err
	}
	side, ok := ann.Side(id)
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotEndpoint, id)
	}
	c.ShortID = ann.ChannelID.Short()
	c.Side = side
	if err := c.Check(); err != nil {
		return err
	}
	c.Signature, err = sign(key, c.SigningBytes(ann.ChannelID))
	return err
}

// Verify checks the bounds, that the notice belongs to ann's channel, and
// the signature of the end it names.
func (c *ChannelClosed) Verify(ann *ChannelAnnouncement) error {
	if err := c.Check(); err != nil {
		return err
	}
	if c.ShortID != ann.ChannelID.Short() {
		return fmt.Errorf("%w: short id %d, channel %d", ErrWrongChannel, c.ShortID, ann.ChannelID.Short())
	}
	pub, err := nodePubKey(ann.Endpoint(c.Side))
	if err != nil {
		return err
	}
	return verify(pub, c.SigningBytes(ann.ChannelID), c.Signature)
}
