package fctdata

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// seed 002's data, as the FortiGate printed it
const seed = "VER=1\nFCTVER=7.4.5.1949\nUID=F8A6AFF3531843B4972CBDBEEEB30E3C\nIP=10.160.1.197\n" +
	"MAC=00-0c-29-2c-4d-d7;00-0c-29-2c-4d-e1;00-0c-29-2c-4d-eb;\nHOST=DESKTOP-EMS-TAG-PH2\nUSER=tester\n" +
	"OSVER=Microsoft Windows 8.0 , 64-bit (build 9200)\nREG_STATUS=0\nEMSSN=FCTEMS8826000120\n" +
	"EMSID=00000000000000000000000000000000\nFCTTAGS=1\n"

func TestParseSeed(t *testing.T) {
	d, err := Parse(append([]byte(seed), 0))
	if err != nil {
		t.Fatal(err)
	}
	if d.UID != "F8A6AFF3531843B4972CBDBEEEB30E3C" || d.IP.String() != "10.160.1.197" || len(d.MACs) != 3 ||
		d.EMSSerial != "FCTEMS8826000120" || d.EMSTenant != "00000000000000000000000000000000" || !d.Tags ||
		d.Host != "DESKTOP-EMS-TAG-PH2" || d.User != "tester" || d.FCTVersion != "7.4.5.1949" {
		t.Fatalf("parsed %+v", d)
	}
	if got := d.Encode(); !bytes.Equal(got, append([]byte(seed), 0)) {
		t.Fatalf("encode:\n%q\nwant\n%q", got, seed)
	}
}

func TestParseRefuses(t *testing.T) {
	for name, in := range map[string]string{
		"no uid":      "VER=1\nIP=10.0.0.1\n",
		"bad uid":     "UID=XYZ\n",
		"bad ip":      "UID=F8A6AFF3531843B4972CBDBEEEB30E3C\nIP=10.0.0\n",
		"ipv6":        "UID=F8A6AFF3531843B4972CBDBEEEB30E3C\nIP=::1\n",
		"twice":       "UID=F8A6AFF3531843B4972CBDBEEEB30E3C\nUID=F8A6AFF3531843B4972CBDBEEEB30E3C\n",
		"not kv":      "UID=F8A6AFF3531843B4972CBDBEEEB30E3C\ngarbage\n",
		"unknown key": "UID=F8A6AFF3531843B4972CBDBEEEB30E3C\nEVIL=1\n",
		"control":     "UID=F8A6AFF3531843B4972CBDBEEEB30E3C\nHOST=a\tb\n",
		"after nul":   "UID=F8A6AFF3531843B4972CBDBEEEB30E3C\n\x00EMSSN=x\n",
		"long value":  "UID=F8A6AFF3531843B4972CBDBEEEB30E3C\nHOST=" + strings.Repeat("h", 2000) + "\n",
	} {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	big := bytes.Repeat([]byte("A"), 64<<10)
	if _, err := Parse(big); !errors.Is(err, ErrTooLong) {
		t.Errorf("64 KB: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(seed))
	f.Add(append([]byte(seed), 0))
	f.Add([]byte("UID=F8A6AFF3531843B4972CBDBEEEB30E3C\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Parse(b)
		if err != nil {
			return
		}
		// what parsed encodes to data that parses to the same
		again, err := Parse(d.Encode())
		if err != nil {
			t.Fatalf("re-parse of %q: %v", d.Encode(), err)
		}
		if again.UID != d.UID || again.IP != d.IP || again.EMSSerial != d.EMSSerial || again.Tags != d.Tags {
			t.Fatalf("round trip changed %+v into %+v", d, again)
		}
	})
}
