// Prints reference vectors for tortie's IPAM block walk (test/fixtures/ipam/go_block_walk.json).
// Dev-only. It mirrors the behaviour of Calico's randomBlockGenerator (libcalico-go/lib/ipam,
// ipam_block_reader_writer.go): FNV-32 of the hostname seeds Go's math/rand, big.Int.Rand picks the start
// block, and the walk visits every block once, wrapping at the end of the pool.
package main

import (
	"encoding/json"
	"hash/fnv"
	"math/big"
	"math/rand"
	"net"
	"os"
)

type walk struct {
	Host      string   `json:"host"`
	Pool      string   `json:"pool"`
	BlockSize int      `json:"blockSize"`
	Seed      int64    `json:"seed"`
	NumBlocks string   `json:"numBlocks"`
	Start     string   `json:"startIndex"`
	First     []string `json:"first"`
}

type sequence struct {
	Seed   int64    `json:"seed"`
	Int63  []string `json:"int63"`
	Uint32 []uint32 `json:"uint32AfterInt63"`
}

type bigRand struct {
	Seed   int64    `json:"seed"`
	Limit  string   `json:"limit"`
	Values []string `json:"values"`
}

func seedFor(host string) int64 {
	h := fnv.New32()
	h.Write([]byte(host))
	return int64(h.Sum32())
}

func blockWalk(pool string, blockSize int, host string, n int) walk {
	_, ipnet, _ := net.ParseCIDR(pool)
	ones, bits := ipnet.Mask.Size()
	numIP := new(big.Int).Lsh(big.NewInt(1), uint(bits-ones))
	blockIPs := new(big.Int).Lsh(big.NewInt(1), uint(bits-blockSize))
	numBlocks := new(big.Int).Div(numIP, blockIPs)
	seed := seedFor(host)
	r := rand.New(rand.NewSource(seed))
	start := new(big.Int).Rand(r, numBlocks)
	base := new(big.Int).SetBytes(ipnet.IP)
	w := walk{Host: host, Pool: pool, BlockSize: blockSize, Seed: seed, NumBlocks: numBlocks.String(), Start: start.String()}
	i := new(big.Int).Set(start)
	for k := 0; k < n && big.NewInt(int64(k)).Cmp(numBlocks) < 0; k++ {
		addr := new(big.Int).Add(base, new(big.Int).Mul(i, blockIPs))
		b := addr.Bytes()
		ip := make(net.IP, len(ipnet.IP))
		copy(ip[len(ip)-len(b):], b)
		w.First = append(w.First, (&net.IPNet{IP: ip, Mask: net.CIDRMask(blockSize, bits)}).String())
		i.Add(i, big.NewInt(1))
		if i.Cmp(numBlocks) >= 0 {
			i.SetInt64(0)
		}
	}
	return w
}

func main() {
	out := map[string]interface{}{}
	var walks []walk
	hosts := []string{"control", "node1", "node2", "master1", "worker1", "worker2", "host-a", "host-b",
		"ip-10-0-0-1.eu-west-1.compute.internal", "nodé-ünicode"}
	pools := []struct {
		cidr string
		size int
	}{{"198.19.16.0/21", 26}, {"198.19.24.0/21", 29}, {"10.48.0.0/16", 26}, {"192.168.0.0/16", 26},
		{"10.0.0.0/8", 26}, {"10.0.0.0/24", 32}, {"fd00:10::/112", 122}, {"fd00::/64", 122}, {"2001:db8::/32", 116}}
	for _, p := range pools {
		for _, h := range hosts {
			walks = append(walks, blockWalk(p.cidr, p.size, h, 12))
		}
	}
	out["walks"] = walks
	var seqs []sequence
	for _, s := range []int64{1, 42, 0, -7, 2147483647, 4294967295, seedFor("node1")} {
		r := rand.New(rand.NewSource(s))
		q := sequence{Seed: s}
		for i := 0; i < 700; i++ { // more than the 607-word state, so the whole table is exercised
			q.Int63 = append(q.Int63, big.NewInt(r.Int63()).String())
		}
		for i := 0; i < 5; i++ {
			q.Uint32 = append(q.Uint32, r.Uint32())
		}
		seqs = append(seqs, q)
	}
	out["sequences"] = seqs
	var rands []bigRand
	for _, l := range []string{"1", "2", "3", "32", "64", "1000", "4294967296", "18446744073709551615", "18446744073709551616", "1208925819614629174706176"} {
		limit, _ := new(big.Int).SetString(l, 10)
		r := rand.New(rand.NewSource(12345))
		br := bigRand{Seed: 12345, Limit: l}
		for i := 0; i < 8; i++ {
			br.Values = append(br.Values, new(big.Int).Rand(r, limit).String())
		}
		rands = append(rands, br)
	}
	out["bigRand"] = rands
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	_ = enc.Encode(out)
}
