package suite

import (
	"bytes"
	"math/big"
	"testing"
)

// The MODP primes are the safe primes of RFC 2409 / RFC 3526: a mistyped
// digit would not be one.
func TestMODPPrimesAreSafePrimes(t *testing.T) {
	bits := map[uint16]int{1: 768, 2: 1024, 5: 1536, 14: 2048, 15: 3072, 16: 4096}
	for g, p := range modpPrimes {
		if p.BitLen() != bits[g] {
			t.Errorf("group %d: %d bits", g, p.BitLen())
		}
		q := new(big.Int).Rsh(p, 1)
		if !p.ProbablyPrime(10) || !q.ProbablyPrime(10) {
			t.Errorf("group %d is not a safe prime", g)
		}
	}
}

func TestDHAgreement(t *testing.T) {
	for _, g := range SupportedGroups {
		a, err := NewDH(g)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := NewDH(g)
		s1, err1 := a.Shared(b.Public())
		s2, err2 := b.Shared(a.Public())
		if err1 != nil || err2 != nil || !bytes.Equal(s1, s2) {
			t.Fatalf("group %d: %v %v", g, err1, err2)
		}
	}
}
