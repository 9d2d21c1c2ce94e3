package node

import (
	"crypto/ed25519"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// peerIDFromEd25519 returns the libp2p peer id of a raw Ed25519 public key.
func peerIDFromEd25519(k ed25519.PublicKey) (peer.ID, error) {
	pk, err := crypto.UnmarshalEd25519PublicKey(k)
	if err != nil {
		return "", err
	}
	return peer.IDFromPublicKey(pk)
}
