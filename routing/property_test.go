package routing

import (
	"errors"
	"fmt"
	"math/big"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// randGraph draws a small random multigraph with random policies, some
// directions missing or disabled, and random true balances per direction.
type randGraph struct {
	g       *Graph
	n       int
	infos   map[ChannelID]ChannelInfo
	balance mapOracle
}

func nodeName(i int) NodeID { return NodeID(fmt.Sprintf("n%02d", i)) }

func drawGraph(t *rapid.T, htlcMinCap uint64) randGraph {
	n := rapid.IntRange(2, 9).Draw(t, "nodes")
	m := rapid.IntRange(1, 4*n).Draw(t, "channels")
	rg := randGraph{g: NewGraph(), n: n, infos: map[ChannelID]ChannelInfo{}, balance: mapOracle{}}
	drawPolicy := func(capacity uint64) *Policy {
		if rapid.IntRange(0, 19).Draw(t, "missing") == 0 {
			return nil
		}
		return &Policy{
			FeeBase:     rapid.Uint64Range(0, 2000).Draw(t, "base"),
			FeePPM:      rapid.Uint32Range(0, 200_000).Draw(t, "ppm"),
			ExpiryDelta: rapid.Uint64Range(0, 100).Draw(t, "delta") * 600_000,
			HTLCMin:     rapid.Uint64Range(0, htlcMinCap).Draw(t, "htlcmin"),
			HTLCMax:     rapid.Uint64Range(0, capacity).Draw(t, "htlcmax"),
			Disabled:    rapid.IntRange(0, 19).Draw(t, "disabled") == 0,
		}
	}
	err := rg.g.Update(func(tx *Tx) error {
		for i := range m {
			a := rapid.IntRange(0, n-1).Draw(t, "a")
			b := rapid.IntRange(0, n-1).Draw(t, "b")
			if a == b {
				continue
			}
			capacity := rapid.Uint64Range(1, 10_000_000).Draw(t, "capacity")
			p1, p2 := drawPolicy(capacity), drawPolicy(capacity)
			if p1 != nil && p1.HTLCMax != 0 && p1.HTLCMin > p1.HTLCMax {
				p1.HTLCMin = p1.HTLCMax
			}
			if p2 != nil && p2.HTLCMax != 0 && p2.HTLCMin > p2.HTLCMax {
				p2.HTLCMin = p2.HTLCMax
			}
			info := ChannelInfo{ID: ChannelID(i + 1), Node1: nodeName(a), Node2: nodeName(b), Capacity: capacity, Policy: [2]*Policy{p1, p2}}
			if err := tx.UpsertChannel(info); err != nil {
				return err
			}
			info, _ = tx.Snapshot().Channel(info.ID)
			rg.infos[info.ID] = info
			local := rapid.Uint64Range(0, capacity).Draw(t, "balance")
			rg.balance[EdgeKey{info.ID, 0}] = local
			rg.balance[EdgeKey{info.ID, 1}] = capacity - local
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return rg
}

// checkRoute verifies r against the request and the channel infos,
// independently of the pathfinder's arithmetic (big integers).
func checkRoute(t *rapid.T, rg randGraph, req Request, r Route) {
	if len(r.Hops) == 0 {
		t.Fatal("empty route")
	}
	maxHops := req.MaxHops
	if maxHops == 0 {
		maxHops = DefaultMaxHops
	}
	if len(r.Hops) > maxHops {
		t.Fatalf("%d hops > max %d", len(r.Hops), maxHops)
	}
	if r.Hops[0].From != req.Source || r.Hops[len(r.Hops)-1].To != req.Target {
		t.Fatalf("route %v does not go from %s to %s", r.Hops, req.Source, req.Target)
	}
	visited := map[NodeID]bool{req.Source: true}
	last := len(r.Hops) - 1
	if r.Hops[last].Amount != req.Amount || r.Hops[last].Expiry != req.FinalExpiryDelta {
		t.Fatalf("last hop amount %d expiry %d, want %d %d", r.Hops[last].Amount, r.Hops[last].Expiry, req.Amount, req.FinalExpiryDelta)
	}
	for i, h := range r.Hops {
		if visited[h.To] {
			t.Fatalf("loop: %s visited twice", h.To)
		}
		visited[h.To] = true
		if i > 0 && r.Hops[i-1].To != h.From {
			t.Fatalf("hop %d does not continue hop %d", i, i-1)
		}
		for _, x := range req.ExcludeNodes {
			if x == h.To && x != req.Target {
				t.Fatalf("excluded node %s used", x)
			}
		}
		for _, x := range req.ExcludeChannels {
			if x == h.Channel {
				t.Fatalf("excluded channel %s used", x)
			}
		}
		info, ok := rg.infos[h.Channel]
		if !ok {
			t.Fatalf("unknown channel %s", h.Channel)
		}
		d := DirectionOf(h.From, h.To)
		ends := [2]NodeID{info.Node1, info.Node2}
		if ends[d] != h.From || ends[1-d] != h.To {
			t.Fatalf("channel %s does not join %s→%s", h.Channel, h.From, h.To)
		}
		p := info.Policy[d]
		if p == nil || p.Disabled {
			t.Fatalf("hop %d uses an unusable direction", i)
		}
		if h.Amount < p.HTLCMin || h.Amount > p.HTLCMax || h.Amount > info.Capacity {
			t.Fatalf("hop %d amount %d outside [%d,%d] cap %d", i, h.Amount, p.HTLCMin, p.HTLCMax, info.Capacity)
		}
		if i == 0 {
			if h.Fee != 0 || h.Delta != 0 {
				t.Fatalf("payer charges itself fee %d delta %d", h.Fee, h.Delta)
			}
			continue
		}
		// Fee by big integers: base + floor(amount·ppm/1e6).
		f := new(big.Int).Mul(new(big.Int).SetUint64(h.Amount), big.NewInt(int64(p.FeePPM)))
		f.Div(f, big.NewInt(1_000_000))
		f.Add(f, new(big.Int).SetUint64(p.FeeBase))
		if !f.IsUint64() || f.Uint64() != h.Fee {
			t.Fatalf("hop %d fee %d, policy says %s", i, h.Fee, f)
		}
		if h.Delta != p.ExpiryDelta {
			t.Fatalf("hop %d delta %d, policy says %d", i, h.Delta, p.ExpiryDelta)
		}
		prev := r.Hops[i-1]
		if prev.Amount != h.Amount+h.Fee || prev.Expiry != h.Expiry+h.Delta {
			t.Fatalf("hop %d amounts/expiry do not compound: prev %d/%d, this %d+%d / %d+%d", i, prev.Amount, prev.Expiry, h.Amount, h.Fee, h.Expiry, h.Delta)
		}
	}
	if r.Amount != r.Hops[0].Amount || r.Fee != r.Amount-req.Amount || r.TimeLock != r.Hops[0].Expiry {
		t.Fatalf("totals %d/%d/%d inconsistent", r.Amount, r.Fee, r.TimeLock)
	}
	if req.MaxFee != 0 && r.Fee > req.MaxFee {
		t.Fatalf("fee %d > max %d", r.Fee, req.MaxFee)
	}
	if req.MaxExpiry != 0 && r.TimeLock > req.MaxExpiry {
		t.Fatalf("time lock %d > max %d", r.TimeLock, req.MaxExpiry)
	}
}

func drawRequest(t *rapid.T, rg randGraph, limits bool) Request {
	src := rapid.IntRange(0, rg.n-1).Draw(t, "src")
	dst := rapid.IntRange(0, rg.n-1).Filter(func(d int) bool { return d != src }).Draw(t, "dst")
	req := Request{Source: nodeName(src), Target: nodeName(dst), Amount: rapid.Uint64Range(1, 12_000_000).Draw(t, "amount"),
		FinalExpiryDelta: rapid.Uint64Range(0, 50).Draw(t, "final") * 600_000}
	if limits {
		req.MaxHops = rapid.IntRange(0, 5).Draw(t, "maxhops")
		req.MaxFee = rapid.Uint64Range(0, 100_000).Draw(t, "maxfee")
		req.MaxExpiry = rapid.Uint64Range(0, 200).Draw(t, "maxexpiry") * 600_000
		if rapid.Bool().Draw(t, "exclude") {
			req.ExcludeNodes = []NodeID{nodeName(rapid.IntRange(0, rg.n-1).Draw(t, "exnode"))}
			req.ExcludeChannels = []ChannelID{ChannelID(rapid.IntRange(1, 3*rg.n).Draw(t, "exchan"))}
		}
	}
	return req
}

// TestPropertyRoutesConsistent: every route any strategy returns is
// loop-free, within the request's limits, and its amounts and expiries follow
// each hop's policy exactly.
func TestPropertyRoutesConsistent(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		rg := drawGraph(t, 10_000)
		mc := NewMissionControl(MissionConfig{})
		now := time.Unix(1_700_000_000, 0)
		for range 8 {
			var local LiquidityOracle
			if rapid.Bool().Draw(t, "local") {
				local = rg.balance
			}
			checkAllStrategies(t, rg, drawRequest(t, rg, rapid.Bool().Draw(t, "limits")), mc, now, local)
		}
	})
}

func checkAllStrategies(t *rapid.T, rg randGraph, req Request, mc *MissionControl, now time.Time, local LiquidityOracle) {
	for _, name := range []string{StrategyShortest, StrategyCheapest, StrategyProbabilistic, StrategyOracle, StrategyMPP} {
		st, err := NewStrategy(name, Config{Oracle: rg.balance, MinPartSize: 1})
		if err != nil {
			t.Fatal(err)
		}
		routes, err := st.FindRoutes(Input{Graph: rg.g.Snapshot(), Request: req, Mission: mc, Now: now, Local: local})
		if err != nil {
			if !errors.Is(err, ErrNoRoute) && !errors.Is(err, ErrUnknownNode) {
				t.Fatalf("%s: unexpected error %v", name, err)
			}
			continue
		}
		var delivered, fees uint64
		for _, r := range routes {
			sub := req
			sub.Amount = r.Delivered()
			checkRoute(t, rg, sub, r)
			delivered += r.Delivered()
			fees += r.Fee
			if local != nil && name != StrategyMPP {
				h := r.Hops[0]
				if h.Amount > local.Liquidity(h.Channel, DirectionOf(h.From, h.To)) {
					t.Fatalf("%s: first hop %d exceeds the payer's balance", name, h.Amount)
				}
			}
			if name == StrategyOracle {
				for _, h := range r.Hops {
					if h.Amount > rg.balance[EdgeKey{h.Channel, DirectionOf(h.From, h.To)}] {
						t.Fatalf("oracle route exceeds true balance at %s", h.Channel)
					}
				}
			}
		}
		if delivered != req.Amount {
			t.Fatalf("%s: parts deliver %d, want %d", name, delivered, req.Amount)
		}
		if req.MaxFee != 0 && fees > req.MaxFee {
			t.Fatalf("%s: total fee %d > %d", name, fees, req.MaxFee)
		}
		if name == StrategyProbabilistic && len(routes) == 1 {
			// Learn something so later strategies see observations.
			mc.ReportFailure(routes[0], len(routes[0].Hops)-1, routes[0].Hops[len(routes[0].Hops)-1].Amount, now)
		}
	}
}

// feasible reports whether some simple path delivers req.Amount within the
// true balances, HTLC limits and MaxFee (exhaustive search).
func feasible(rg randGraph, req Request) bool {
	var dfs func(at NodeID, visited map[NodeID]bool, path []ChannelInfo, dirs []Direction) bool
	dfs = func(at NodeID, visited map[NodeID]bool, path []ChannelInfo, dirs []Direction) bool {
		if at == req.Target {
			amt := req.Amount
			for i := len(path) - 1; i >= 0; i-- {
				p := path[i].Policy[dirs[i]]
				if amt < p.HTLCMin || amt > p.HTLCMax || amt > rg.balance[EdgeKey{path[i].ID, dirs[i]}] {
					return false
				}
				if i > 0 {
					amt += p.Fee(amt)
				}
			}
			return req.MaxFee == 0 || amt-req.Amount <= req.MaxFee
		}
		for _, info := range rg.infos {
			var d Direction
			var next NodeID
			switch at {
			case info.Node1:
				d, next = 0, info.Node2
			case info.Node2:
				d, next = 1, info.Node1
			default:
				continue
			}
			if visited[next] || info.Policy[d] == nil || info.Policy[d].Disabled {
				continue
			}
			visited[next] = true
			ok := dfs(next, visited, append(path, info), append(dirs, d))
			delete(visited, next)
			if ok {
				return true
			}
		}
		return false
	}
	return dfs(req.Source, map[NodeID]bool{req.Source: true}, nil, nil)
}

// TestPropertyOracleComplete: with HTLC minimums not above the amount and
// no hop or expiry limit binding, oracle finds a route whenever one with
// enough true liquidity (and within MaxFee) exists.
func TestPropertyOracleComplete(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		rg := drawGraph(t, 1)
		for range 8 {
			checkOracleComplete(t, rg, drawRequest(t, rg, false))
		}
	})
}

func checkOracleComplete(t *rapid.T, rg randGraph, req Request) {
	if rapid.Bool().Draw(t, "feecap") {
		req.MaxFee = rapid.Uint64Range(1, 50_000).Draw(t, "maxfee")
	}
	want := feasible(rg, req)
	st, _ := NewStrategy(StrategyOracle, Config{Oracle: rg.balance})
	routes, err := st.FindRoutes(Input{Graph: rg.g.Snapshot(), Request: req})
	if errors.Is(err, ErrUnknownNode) {
		if want {
			t.Fatal("unknown node but feasible")
		}
		return
	}
	if want && err != nil {
		t.Fatalf("a feasible route exists but oracle failed: %v", err)
	}
	if !want && err == nil {
		t.Fatalf("oracle found %v but exhaustive search found none", routes)
	}
	if err == nil {
		checkRoute(t, rg, req, routes[0])
	}
}
