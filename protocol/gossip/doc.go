// Package gossip constructs and validates the signed announcements that
// describe the channel graph: node announcements, channel announcements,
// per-direction channel updates and channel-closed notices. It is pure: time
// is passed in and nothing is sent or stored here.
package gossip
