package routing

import (
	"fmt"
	"io"
	"time"
)

type lndPolicy struct {
	TimeLockDelta flexUint `json:"time_lock_delta"`
	MinHTLC       flexUint `json:"min_htlc"`
	FeeBaseMsat   flexUint `json:"fee_base_msat"`
	FeeRate       flexUint `json:"fee_rate_milli_msat"`
	Disabled      bool     `json:"disabled"`
	MaxHTLCMsat   flexUint `json:"max_htlc_msat"`
	LastUpdate    flexUint `json:"last_update"`
}

type lndEdge struct {
	ChannelID flexUint   `json:"channel_id"`
	ChanPoint string     `json:"chan_point"`
	Node1     string     `json:"node1_pub"`
	Node2     string     `json:"node2_pub"`
	Capacity  flexUint   `json:"capacity"`
	Policy1   *lndPolicy `json:"node1_policy"`
	Policy2   *lndPolicy `json:"node2_policy"`
}

type lndNode struct {
	PubKey string `json:"pub_key"`
}

func (p *lndPolicy) policy(prefix string) (*Policy, error) {
	if p == nil {
		return nil, nil
	}
	if p.TimeLockDelta.bad+p.MinHTLC.bad+p.FeeBaseMsat.bad+p.FeeRate.bad+p.MaxHTLCMsat.bad+p.LastUpdate.bad != "" {
		return nil, flexCheck(prefix+".time_lock_delta", &p.TimeLockDelta, prefix+".min_htlc", &p.MinHTLC,
			prefix+".fee_base_msat", &p.FeeBaseMsat, prefix+".fee_rate_milli_msat", &p.FeeRate,
			prefix+".max_htlc_msat", &p.MaxHTLCMsat, prefix+".last_update", &p.LastUpdate)
	}
	delta, err := blocksToMs(prefix+".time_lock_delta", p.TimeLockDelta.v)
	if err != nil {
		return nil, err
	}
	base, err := u32(prefix+".fee_base_msat", p.FeeBaseMsat.v)
	if err != nil {
		return nil, err
	}
	ppm, err := u32(prefix+".fee_rate_milli_msat", p.FeeRate.v)
	if err != nil {
		return nil, err
	}
	out := &Policy{FeeBase: uint64(base), FeePPM: ppm, ExpiryDelta: delta, HTLCMin: p.MinHTLC.v, HTLCMax: p.MaxHTLCMsat.v, Disabled: p.Disabled}
	if out.HTLCMax != 0 && out.HTLCMin > out.HTLCMax {
		return nil, &fieldError{prefix + ".min_htlc", fmt.Sprintf("%d above max_htlc_msat %d", out.HTLCMin, out.HTLCMax)}
	}
	if p.LastUpdate.v > 0 && p.LastUpdate.v < 1<<32 {
		out.LastUpdate = time.Unix(int64(p.LastUpdate.v), 0).UTC()
	}
	return out, nil
}

// LoadLND reads the JSON that `lncli describegraph` prints:
//
//	{"nodes": [{"pub_key": …}, …],
//	 "edges": [{"channel_id": "…", "chan_point": "txid:n", "node1_pub": …, "node2_pub": …,
//	            "capacity": "sat", "node1_policy": {…} | null, "node2_policy": {…} | null}, …]}
//
// with policies {"time_lock_delta", "min_htlc", "fee_base_msat",
// "fee_rate_milli_msat", "disabled", "max_htlc_msat", "last_update"}.
// Integers may be JSON numbers or decimal strings. Units: capacity is in sat
// and becomes msat (×1000); fees and HTLC limits are msat; time_lock_delta is
// blocks and becomes ms at MsPerBlock (600,000 ms) per block. gzip input is
// accepted. Arrays are streamed; see LoadOptions for the bounds.
func LoadLND(r io.Reader, opts LoadOptions) (*Graph, LoadReport, error) {
	return load(r, opts, FormatLND, func(l *loader) error {
		return l.object("top level", func(key string) error {
			switch key {
			case "nodes":
				return l.array("nodes", func(i int) error {
					var n lndNode
					ferr, err := l.decode("nodes", i, &n)
					if err != nil {
						return err
					}
					if ferr == nil {
						var id NodeID
						if id, ferr = pubKey("pub_key", n.PubKey); ferr == nil {
							return l.addNode(id)
						}
					}
					return l.skip("nodes", i, "", SkipMalformed, ferr.Error())
				})
			case "edges":
				return l.array("edges", func(i int) error {
					l.report.Records++
					var e lndEdge
					ferr, err := l.decode("edges", i, &e)
					if err != nil {
						return err
					}
					if ferr == nil {
						var c ChannelInfo
						if c, ferr = e.channel(); ferr == nil {
							return l.addChannel("edges", i, e.ChannelID, c)
						}
					}
					return l.skip("edges", i, e.ChannelID, SkipMalformed, ferr.Error())
				})
			default:
				return l.skipValue(key)
			}
		})
	})
}

func (e *lndEdge) channel() (ChannelInfo, error) {
	if err := flexCheck("channel_id", &e.ChannelID, "capacity", &e.Capacity); err != nil {
		return ChannelInfo{}, err
	}
	if !e.ChannelID.set {
		return ChannelInfo{}, &fieldError{"channel_id", "missing"}
	}
	n1, err := pubKey("node1_pub", e.Node1)
	if err != nil {
		return ChannelInfo{}, err
	}
	n2, err := pubKey("node2_pub", e.Node2)
	if err != nil {
		return ChannelInfo{}, err
	}
	if e.Capacity.v > ^uint64(0)/1000 {
		return ChannelInfo{}, &fieldError{"capacity", "overflows msat"}
	}
	c := ChannelInfo{ID: ChannelID(e.ChannelID.v), Node1: n1, Node2: n2, Capacity: e.Capacity.v * 1000}
	if c.Policy[0], err = e.Policy1.policy("node1_policy"); err != nil {
		return ChannelInfo{}, err
	}
	if c.Policy[1], err = e.Policy2.policy("node2_policy"); err != nil {
		return ChannelInfo{}, err
	}
	return c, nil
}
