package sim

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadCLoTHReal(t *testing.T) {
	d := dataDir(t, "cloth")
	topo, err := LoadCLoTH(filepath.Join(d, "nodes_ln.csv"), filepath.Join(d, "channels_ln.csv"), filepath.Join(d, "edges_ln.csv"))
	if err != nil {
		t.Fatal(err)
	}
	st := Inspect(topo)
	// Counts from shared/data/README.md.
	if st.Nodes != 6006 || st.Channels != 30457 || st.CapacityMedMsat != 800_000_000 {
		t.Fatalf("stats %+v", st)
	}
	if got := float64(st.TotalCapacityMsat) / 1e11; got < 1040.5 || got > 1040.7 {
		t.Fatalf("total capacity %.2f BTC, README says 1040.6", got)
	}
	if st.FeeBaseMedianMsat != 1000 || st.FeePPMMedian != 1 || st.CLTVDeltaMedian != 40 {
		t.Fatalf("policy medians %+v", st)
	}
}

func TestLoadSpiderReal(t *testing.T) {
	d := dataDir(t, "spider")
	full, err := LoadSpider(filepath.Join(d, "lnd_july15_2019.edgelist"), SpiderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st := Inspect(full); st.Nodes != 5630 || st.Channels != 34069 || st.CapacityMedMsat != 500_000_000 {
		t.Fatalf("full: %+v", st)
	}
	red, err := LoadSpider(filepath.Join(d, "lnd_july15_2019_reducedsize.edgelist"), SpiderOptions{UnitMsat: 9158 * 1000})
	if err != nil {
		t.Fatal(err)
	}
	if st := Inspect(red); st.Nodes != 106 || st.Channels != 265 {
		t.Fatalf("reduced: %+v", st)
	}
}

func TestLoadCLNReal(t *testing.T) {
	d := dataDir(t, "ln-cln-2021-04-16")
	topo, err := loadViaRouting("cln", filepath.Join(d, "topo-20210416.json.gz"))
	if err != nil {
		t.Fatal(err)
	}
	st := Inspect(topo)
	t.Logf("%+v", st)
	// README: 29,479 channels with an active direction over 5,918 nodes.
	if st.Channels != 29479 || st.Nodes != 5918 {
		t.Fatalf("stats %+v", st)
	}
	if lcc := LargestComponent(topo); len(lcc.Nodes) != 5883 {
		t.Fatalf("largest component %d nodes, README says 5883", len(lcc.Nodes))
	}
}

func clothFiles(nodes, channels, edges string) CLoTHFiles {
	return CLoTHFiles{NodesName: "nodes.csv", ChannelsName: "channels.csv", EdgesName: "edges.csv",
		Nodes: strings.NewReader(nodes), Channels: strings.NewReader(channels), Edges: strings.NewReader(edges)}
}

const (
	okNodes    = "id\n0\n1\n"
	okChannels = "id,edge1_id,edge2_id,node1_id,node2_id,capacity\n0,0,1,0,1,1000\n"
	okEdges    = "id,channel_id,counter_edge_id,from_node_id,to_node_id,balance,fee_base,fee_proportional,min_htlc,timelock\n0,0,1,0,1,400,1000,1,1,40\n1,0,0,1,0,600,1000,1,1,40\n"
)

func TestParseCLoTHErrors(t *testing.T) {
	edgeHdr := "id,channel_id,counter_edge_id,from_node_id,to_node_id,balance,fee_base,fee_proportional,min_htlc,timelock\n"
	chHdr := "id,edge1_id,edge2_id,node1_id,node2_id,capacity\n"
	tests := []struct {
		name                   string
		nodes, channels, edges string
		want                   string // substring of the error
	}{
		{"ok", okNodes, okChannels, okEdges, ""},
		{"duplicate node", "id\n0\n0\n", okChannels, okEdges, "nodes.csv:3: id: duplicate node id 0"},
		{"negative capacity", okNodes, chHdr + "0,0,1,0,1,-5\n", okEdges, "channels.csv:2: capacity: negative value"},
		{"absurd capacity", okNodes, chHdr + "0,0,1,0,1,99999999999999999999\n", okEdges, "channels.csv:2: capacity"},
		{"self loop", okNodes, okChannels, edgeHdr + "0,0,1,0,0,400,1000,1,1,40\n1,0,0,1,0,600,1000,1,1,40\n", "edges.csv:2: to_node_id: self-loop"},
		{"missing field", okNodes, okChannels, edgeHdr + "0,0,1,0,1,400,1000,1,1\n", "edges.csv:2: 9 columns, header has 10"},
		{"bad header", okNodes, "id,capacity\n", okEdges, "channels.csv:1: header"},
		{"balances", okNodes, okChannels, edgeHdr + "0,0,1,0,1,400,1000,1,1,40\n1,0,0,1,0,601,1000,1,1,40\n", "balance"},
		{"unknown node", okNodes, chHdr + "0,0,1,0,7,1000\n", okEdges, "unknown node"},
		{"empty", "", okChannels, okEdges, "nodes.csv: empty file"},
		{"orphan edge", okNodes, okChannels, okEdges + "2,5,3,0,1,1,1,1,1,1\n", "belong to no channel"},
		{"duplicate channel", okNodes, okChannels + "0,0,1,0,1,1000\n", okEdges, "duplicate channel id 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseCLoTH(clothFiles(tc.nodes, tc.channels, tc.edges))
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestLongLineRejected(t *testing.T) {
	long := "0 1 {'capacity': " + strings.Repeat("9", MaxLineBytes+10) + "}\n"
	_, err := ParseSpider("big.edgelist", strings.NewReader(long), SpiderOptions{})
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "big.edgelist:1: line longer than") {
		t.Fatalf("got %v", err)
	}
	_, err = ParseCLoTH(clothFiles("id\n"+strings.Repeat("1", 2*MaxLineBytes), okChannels, okEdges))
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("got %v", err)
	}
}

func TestParseSpiderErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"0 1 {'capacity': u'250000'}\n1 2 {'capacity': 7}\n", ""},
		{"0 0 {'capacity': 5}\n", "x:1: node: self-loop"},
		{"0 1 {'capacity': 5}\n1 0 {'capacity': 5}\n", "x:2: node: duplicate edge 1-0 (first on line 1)"},
		{"0 1 {'capacity': -5}\n", "x:1: capacity: capacity -5 must be positive"},
		{"0 1 {'fee': 5}\n", "x:1: capacity: no 'capacity' key"},
		{"0 1\n", "x:1: capacity: missing attribute dict"},
		{"a 1 {'capacity': 5}\n", "x:1: node: node id \"a\""},
		{"0 1 {'capacity': 1e300}\n", "out of range"},
		{"", "no nodes"},
	}
	for _, tc := range tests {
		_, err := ParseSpider("x", strings.NewReader(tc.in), SpiderOptions{})
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%q: error %v, want %q", tc.in, err, tc.want)
		}
	}
}

func FuzzParseCLoTH(f *testing.F) {
	f.Add([]byte(okNodes), []byte(okChannels), []byte(okEdges))
	f.Add([]byte("id\n0\n1\n2\n"), []byte(okChannels), []byte(okEdges))
	f.Fuzz(func(t *testing.T, nodes, channels, edges []byte) {
		topo, err := ParseCLoTH(CLoTHFiles{NodesName: "n", ChannelsName: "c", EdgesName: "e",
			Nodes: bytes.NewReader(nodes), Channels: bytes.NewReader(channels), Edges: bytes.NewReader(edges)})
		if err != nil {
			return
		}
		if err := topo.Validate(); err != nil {
			t.Fatalf("loader accepted an invalid topology: %v", err)
		}
	})
}

func FuzzParseSpider(f *testing.F) {
	f.Add([]byte("0 1 {'capacity': u'250000'}\n1 2 {'capacity': 7}\n"))
	f.Add([]byte("0 43 {'capacity': 218}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		topo, err := ParseSpider("f", bytes.NewReader(data), SpiderOptions{})
		if err != nil {
			return
		}
		if err := topo.Validate(); err != nil {
			t.Fatalf("loader accepted an invalid topology: %v", err)
		}
	})
}

// TestLoadLNDViaRouting: lnd describegraph dumps go through routing's
// loader; policies, units and missing directions survive the conversion.
func TestLoadLNDViaRouting(t *testing.T) {
	topo, err := loadViaRouting("lnd", "testdata/lnd-small.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(topo.Nodes) != 3 || len(topo.Channels) != 2 {
		t.Fatalf("%d nodes %d channels", len(topo.Nodes), len(topo.Channels))
	}
	var ab, bc *Channel
	for i := range topo.Channels {
		switch topo.Channels[i].CapacityMsat {
		case 100_000_000:
			ab = &topo.Channels[i]
		case 200_000_000:
			bc = &topo.Channels[i]
		}
	}
	if ab == nil || bc == nil {
		t.Fatalf("capacities not converted from sat to msat: %+v", topo.Channels)
	}
	deltas := []uint32{ab.Policy[0].CLTVDelta, ab.Policy[1].CLTVDelta}
	if !(deltas[0] == 40 && deltas[1] == 144 || deltas[0] == 144 && deltas[1] == 40) {
		t.Fatalf("expiry deltas %v, want 40 and 144 blocks", deltas)
	}
	if !bc.Policy[0].Disabled && !bc.Policy[1].Disabled {
		t.Fatal("direction without a policy should be disabled")
	}
	if _, err := loadViaRouting("lnd", "testdata/small.toml"); err == nil {
		t.Fatal("a TOML file loaded as lnd JSON")
	}
}
