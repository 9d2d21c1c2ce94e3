// Package onion builds and peels Sphinx onion packets as specified in
// Lightning's BOLT 4, with paymesh's own TLV hop payloads, and wraps and
// unwraps failure messages on their way back to the payer.
package onion
